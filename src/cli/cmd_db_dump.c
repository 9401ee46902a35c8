/*
 * sprov db dump FILE and sprov db restore FILE: a whole store as JSON Lines
 * (store/dump.h), to back it up or move it to another store or backend.
 */
#include "cli/cmd_db.h"

#include <stdio.h>
#include <string.h>

#include "common/util.h"
#include "store/dump.h"

static const char dump_help[] =
    "usage: sprov db dump FILE [--store URI]\n"
    "\n"
    "Write the whole store to FILE: every device (pending ones included),\n"
    "every parameter at every level with its access, every contact record.\n"
    "The format is JSON Lines, version 1, the same for every backend, so\n"
    "`sprov db restore` can load it into another store.  The store is read\n"
    "in one snapshot; the server may keep running.  FILE is written\n"
    "atomically with mode 0600 (it holds SIP passwords) and replaced if it\n"
    "exists; FILE - writes to standard output.\n"
    "\n"
    "  --store URI  the database (default $SPROV_STORE, else sqlite:sprov.db)\n"
    "\n"
    "Examples:\n"
    "  sprov db dump backup.jsonl --store sqlite:/var/lib/sprov/sprov.db\n"
    "  sprov db dump - --store sqlite:old.db | sprov db restore - --store sqlite:new.db\n"
    "Exit status: 0 written, 1 error (FILE unchanged), 2 usage.\n";

int
sp_dbcli_dump(int argc, char **argv)
{
	static const struct option lo[] = {
		OPT_STORE_ENTRY,
		SP_OPT_HELP_AND_END,
	};
	sp_opts opt;
	const char *store = NULL, *path;
	sp_store *s = NULL;
	sp_result res = SP_OK;
	sp_dump_counts n;
	sp_buf out;
	int c;

	sp_buf_init_secret(&out, SP_DUMP_MAX);
	sp_opts_init(&opt, "db dump", dump_help, "", lo, argc, argv);
	while ((c = sp_opt_next(&opt)) > 0) {
		switch (c) {
		case OPT_STORE: store = opt.arg; break;
		}
	}
	if (c < 0)
		return opt.rc;
	if (argc - opt.ind != 1)
		return sp_cli_usage("db dump", "expected one FILE (- for standard "
		    "output)");
	path = argv[opt.ind];
	TRY(sp_dbcli_open_store(store, 0, &s));
	TRY(sp_store_dump(s, &out, &n));
	if (strcmp(path, "-") == 0) {
		ENSURE(fwrite(out.p, 1, out.len, stdout) == out.len &&
		    fflush(stdout) == 0, SP_E_IO, "standard output: write failed");
	} else {
		TRY(sp_write_file(path, out.p, out.len, 0600, 0));
		printf("dumped %zu device%s, %zu parameter%s, %zu contact%s to %s\n",
		    n.devices, n.devices == 1 ? "" : "s", n.params,
		    n.params == 1 ? "" : "s", n.contacts, n.contacts == 1 ? "" : "s",
		    path);
	}
out:
	sp_store_close(s);
	sp_buf_free_secret(&out);
	return sp_ok(res) ? SP_EXIT_OK : sp_cli_fail("db dump", res);
}

static const char restore_help[] =
    "usage: sprov db restore FILE [--force] [--store URI]\n"
    "\n"
    "Load a dump written by `sprov db dump` into the store, which must exist\n"
    "(`sprov db init`) and be empty.  The whole file is checked before\n"
    "anything is written (a bad line is reported as FILE:LINE), then written\n"
    "in one transaction: all or nothing.  FILE - reads standard input.\n"
    "\n"
    "  --force      replace the content of a store that is not empty\n"
    "  --store URI  the database (default $SPROV_STORE, else sqlite:sprov.db)\n"
    "\n"
    "Examples:\n"
    "  sprov db init --store sqlite:new.db\n"
    "  sprov db restore backup.jsonl --store sqlite:new.db\n"
    "Exit status: 0 restored, 1 refused or failed (the store unchanged),\n"
    "2 usage.\n";

int
sp_dbcli_restore(int argc, char **argv)
{
	enum { OPT_FORCE = 0x200 };
	static const struct option lo[] = {
		OPT_STORE_ENTRY,
		{ "force", no_argument, NULL, OPT_FORCE },
		SP_OPT_HELP_AND_END,
	};
	sp_opts opt;
	const char *store = NULL, *path, *label;
	sp_store *s = NULL;
	sp_result res = SP_OK;
	sp_dump_counts n;
	sp_buf in;
	bool force = false;
	int c;

	sp_buf_init_secret(&in, SP_DUMP_MAX);
	sp_opts_init(&opt, "db restore", restore_help, "", lo, argc, argv);
	while ((c = sp_opt_next(&opt)) > 0) {
		switch (c) {
		case OPT_STORE: store = opt.arg; break;
		case OPT_FORCE: force = true; break;
		}
	}
	if (c < 0)
		return opt.rc;
	if (argc - opt.ind != 1)
		return sp_cli_usage("db restore", "expected one FILE (- for standard "
		    "input)");
	path = label = argv[opt.ind];
	if (strcmp(path, "-") == 0) {
		path = "/dev/stdin";
		label = "standard input";
	}
	TRY(sp_read_file_secret(path, SP_DUMP_MAX, &in));
	/* The file first: a bad one never opens the store. */
	TRY(sp_dump_check(label, sp_slice_mk(in.p, in.len), NULL));
	TRY(sp_dbcli_open_store(store, 0, &s));
	TRY(sp_store_restore(s, sp_store_uri_default(store), label,
	    sp_slice_mk(in.p, in.len), force, &n));
	printf("restored %zu device%s, %zu parameter%s, %zu contact%s into %s\n",
	    n.devices, n.devices == 1 ? "" : "s", n.params,
	    n.params == 1 ? "" : "s", n.contacts, n.contacts == 1 ? "" : "s",
	    sp_store_uri_default(store));
out:
	sp_store_close(s);
	sp_buf_free_secret(&in);
	return sp_ok(res) ? SP_EXIT_OK : sp_cli_fail("db restore", res);
}
