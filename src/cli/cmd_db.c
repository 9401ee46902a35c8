/*
 * sprov db: the provider's device database (docs/STORE.md).
 *
 *   sprov db init
 *   sprov db devices add|list|show|rm|enable|disable|import
 *   sprov db params set|unset|list
 *   sprov db import DIR
 *   sprov db migrate (cmd_db_migrate.c)
 *   sprov db dump FILE | sprov db restore FILE
 *   sprov db firmware add|list|rm (cmd_db_firmware.c)
 *   sprov db audit list|verify (cmd_db_audit.c)
 *
 * Every command takes --store URI, else $SPROV_STORE, else sqlite:sprov.db.
 * Exit status: 0 done, 1 refused or failed, 2 usage.  Commands that change
 * several rows (imports) run in one transaction: all or nothing.
 * `devices show` and `params list` print parameter values: they are
 * operator commands on the operator's terminal.  Nothing here logs them.
 */
#include "cli/cmd_db.h"

#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "common/text.h"

/* ---- shared helpers ----------------------------------------------------- */

void
sp_dbcli_actor(char actor[SP_AUDIT_ACTOR_MAX + 1])
{
	const char *sudo = getenv("SUDO_USER");
	struct passwd *pw = getpwuid(geteuid());
	char uid[24];

	snprintf(uid, sizeof(uid), "uid %lu", (unsigned long)geteuid());
	if (sudo && *sudo)
		snprintf(actor, SP_AUDIT_ACTOR_MAX + 1, "cli:%s via sudo", sudo);
	else
		snprintf(actor, SP_AUDIT_ACTOR_MAX + 1, "cli:%s", pw ? pw->pw_name : uid);
}

sp_result
sp_dbcli_open_store(const char *opt, int flags, sp_store **out)
{
	sp_result res = SP_OK;
	const char *uri = sp_store_uri_default(opt);
	char actor[SP_AUDIT_ACTOR_MAX + 1];

	TRY(sp_store_open_ex(uri, flags, out));
	sp_dbcli_actor(actor);
	sp_store_set_actor(*out, actor);
out:
	return res;
}

sp_result
sp_dbcli_parse_mac(const char *s, sp_mac *out)
{
	return sp_mac_parse(sp_slice_of(s), out);
}

void
sp_dbcli_fmt_time(int64_t t, char out[32])
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t <= 0 || gmtime_r(&tt, &tm) == NULL ||
	    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, 32, "-");
}

sp_result
sp_dbcli_json_secret(sp_slice s)
{
	sp_result res = SP_OK;
	sp_buf b;

	sp_buf_init(&b, s.len * 6 + 2);
	TRY(sp_json_str(&b, s));
	if (b.len && fwrite(b.p, 1, b.len, stdout) != b.len)
		res = sp_error(SP_E_IO, "write: short write");
out:
	sp_buf_free_secret(&b);
	return res;
}

int
sp_dbcli_list_cmd(int argc, char **argv, const char *what, const char *help,
    sp_result (*run)(sp_dbcli_list *l), const char *empty)
{
	static const struct option lo[] = {
		OPT_STORE_ENTRY,
		{ "json", no_argument, NULL, OPT_JSON },
		SP_OPT_HELP_AND_END,
	};
	sp_opts opt;
	const char *store = NULL;
	sp_dbcli_list l = { NULL, false, 0 };
	sp_result res = SP_OK;
	int c;

	sp_opts_init(&opt, what, help, "", lo, argc, argv);
	while ((c = sp_opt_next(&opt)) > 0) {
		switch (c) {
		case OPT_STORE: store = opt.arg; break;
		case OPT_JSON: l.json = true; break;
		}
	}
	if (c < 0)
		return opt.rc;
	if (opt.ind != argc)
		return sp_cli_usage(what, "unexpected argument '%s'", argv[opt.ind]);
	TRY(sp_dbcli_open_store(store, 0, &l.s));
	if (l.json)
		printf("[");
	TRY(run(&l));
	if (l.json)
		printf("%s]\n", l.n ? "\n" : "");
	else if (l.n == 0)
		printf("%s\n", empty);
out:
	sp_store_close(l.s);
	return sp_failed(res) ? sp_cli_fail(what, res) : SP_EXIT_OK;
}

int
sp_dbcli_store_cmd(int argc, char **argv, const char *what, const char *help,
    int nargs, const char *need, sp_result (*run)(sp_store *s, char **args))
{
	static const struct option lo[] = {
		OPT_STORE_ENTRY,
		SP_OPT_HELP_AND_END,
	};
	sp_opts opt;
	const char *store = NULL;
	sp_store *s = NULL;
	sp_result res = SP_OK;
	int c;

	sp_opts_init(&opt, what, help, "", lo, argc, argv);
	while ((c = sp_opt_next(&opt)) > 0) {
		switch (c) {
		case OPT_STORE: store = opt.arg; break;
		}
	}
	if (c < 0)
		return opt.rc;
	if (argc - opt.ind != nargs)
		return sp_cli_usage(what, "%s", need);
	TRY(sp_dbcli_open_store(store, 0, &s));
	TRY(run(s, argv + opt.ind));
out:
	sp_store_close(s);
	return sp_failed(res) ? sp_cli_fail(what, res) : SP_EXIT_OK;
}

/* ---- db init ------------------------------------------------------------ */

static const char init_help[] =
    "usage: sprov db init [--store URI]\n"
    "\n"
    "Create the device database (mode 0600) with its schema, or upgrade an\n"
    "older schema.  Running it again on a current database changes nothing.\n"
    "\n"
    "Options:\n"
    DB_HELP_STORE
    "\n"
    "Examples:\n"
    "  sprov db init\n";

static int
cmd_init(int argc, char **argv)
{
	static const struct option lo[] = {
		OPT_STORE_ENTRY,
		SP_OPT_HELP_AND_END,
	};
	sp_opts opt;
	const char *store = NULL;
	sp_store *s = NULL;
	sp_result res = SP_OK;
	char safe[SP_STORE_URI_MAX + 1];
	int c;

	sp_opts_init(&opt, "db init", init_help, "", lo, argc, argv);
	while ((c = sp_opt_next(&opt)) > 0) {
		switch (c) {
		case OPT_STORE: store = opt.arg; break;
		}
	}
	if (c < 0)
		return opt.rc;
	if (opt.ind != argc)
		return sp_cli_usage("db init", "unexpected argument '%s'",
		    argv[opt.ind]);
	res = sp_dbcli_open_store(store, SP_STORE_CREATE, &s);
	if (sp_failed(res))
		return sp_cli_fail("db init", res);
	/* A postgresql:// URI may hold a password: not on the terminal. */
	sp_store_uri_safe(sp_store_uri_default(store), safe, sizeof(safe));
	printf("store %s is ready\n", safe);
	sp_store_close(s);
	return SP_EXIT_OK;
}

/* ---- sprov db ----------------------------------------------------------- */

static const char db_help[] =
    "usage: sprov db COMMAND [ARGS...] [--store URI]\n"
    "\n"
    "The provider's device database: devices and their parameters at four\n"
    "levels (defaults, product, group, device).  Every command takes\n"
    "--store URI, else $SPROV_STORE, else sqlite:sprov.db.  URIs:\n"
    "sqlite:PATH, postgresql://... (any libpq URI).\n"
    "\n"
    "Examples:\n"
    "  sprov db init --store sqlite:sprov.db\n"
    "  sprov db help params set\n";

static const sp_cmd db_cmds[] = {
	{ "init", cmd_init, "create the database or upgrade its schema" },
	{ "devices", sp_dbcli_devices, "add, list, show, remove, import devices" },
	{ "params", sp_dbcli_params, "set, unset, list parameters at a level" },
	{ "import", sp_dbcli_import, "load a directory of per-device profile files" },
	{ "migrate", sp_dbcli_migrate, "upgrade the store's schema to this sprov's" },
	{ "dump", sp_dbcli_dump, "write the whole store to a file (JSON Lines)" },
	{ "restore", sp_dbcli_restore, "load a dump into an empty store" },
	{ "firmware", sp_dbcli_firmware, "add, list, remove signed firmware images" },
	{ "audit", sp_dbcli_audit, "list the audit trail, verify its hash chain" },
	{ NULL, NULL, NULL },
};

int
sp_cmd_db(int argc, char **argv)
{
	return sp_cli_dispatch("db", db_cmds, argc, argv, db_help);
}

