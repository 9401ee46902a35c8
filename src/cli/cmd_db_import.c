/*
 * sprov db devices import FILE.csv and sprov db import DIR: the two bulk
 * loads, each checked whole and then written in one transaction.
 */
#include "cli/cmd_db.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "common/csv.h"
#include "common/text.h"
#include "common/util.h"
#include "profile/profile.h"

#define SP_CSV_MAX (16u * 1024 * 1024)   /* devices.csv */
#define SP_IMPORT_FILES_MAX 200000        /* profile files in one import */

/* ---- devices import CSV ------------------------------------------------- */

static const char dimport_help[] =
    "usage: sprov db devices import FILE.csv [--store URI]\n"
    "\n"
    "Add devices from a CSV file with the columns mac,serial,product[,group]\n"
    "(the file `sprov ca issue --csv` reads).  A first row whose first field\n"
    "is 'mac' is a header and skipped; empty lines and lines starting with '#'\n"
    "are skipped; fields may be quoted with \"...\" (\"\" for a quote).  All or\n"
    "nothing: the whole file is checked first, and any bad line or duplicate\n"
    "MAC aborts with FILE:LINE and changes nothing.\n"
    "\n"
    "Options:\n"
    DB_HELP_STORE
    "\n"
    "Examples:\n"
    "  sprov db devices import devices.csv\n";

/* One device row: its fields checked as `devices add` checks them. */
static sp_result
csv_device(const sp_csv_device *cd, sp_device *d)
{
	sp_result res = SP_OK;

	memset(d, 0, sizeof(*d));
	d->enabled = true;
	TRY(sp_dbcli_parse_mac(cd->mac, &d->mac));
	TRY(sp_store_field_check("serial", sp_slice_of(cd->serial)));
	TRY(sp_store_field_check("product", sp_slice_of(cd->product)));
	TRY(sp_store_field_check("group", sp_slice_of(cd->group)));
	snprintf(d->serial, sizeof(d->serial), "%s", cd->serial);
	snprintf(d->product, sizeof(d->product), "%s", cd->product);
	snprintf(d->group, sizeof(d->group), "%s", cd->group);
out:
	return res;
}

int
sp_dbcli_devices_import(int argc, char **argv)
{
	static const struct option lo[] = {
		OPT_STORE_ENTRY,
		SP_OPT_HELP_AND_END,
	};
	sp_opts opt;
	const char *store = NULL, *path;
	sp_store *s = NULL;
	sp_result res = SP_OK;
	sp_buf file;
	sp_csv r;
	sp_csv_row *row = NULL;
	sp_csv_device cd;
	sp_device *devs = NULL, *nd;
	size_t *lines = NULL, *nl, n = 0, cap = 0;
	bool got, in_tx = false;
	int c;

	sp_buf_init(&file, SP_CSV_MAX);
	sp_opts_init(&opt, "db devices import", dimport_help, "", lo, argc, argv);
	while ((c = sp_opt_next(&opt)) > 0) {
		switch (c) {
		case OPT_STORE: store = opt.arg; break;
		}
	}
	if (c < 0)
		return opt.rc;
	if (argc - opt.ind != 1)
		return sp_cli_usage("db devices import", "expected one CSV file");
	path = argv[opt.ind];
	TRY(sp_read_file(path, SP_CSV_MAX, &file));
	TRY_ALLOC(row, malloc(sizeof(*row)));
	/* Every row is checked before the store is opened. */
	sp_csv_init(&r, path, sp_slice_mk(file.p ? file.p : "", file.len));
	for (;;) {
		TRY(sp_csv_next_device(&r, row, &cd, &got));
		if (!got)
			break;
		if (n == cap) {
			cap = cap ? cap * 2 : 256;
			TRY_ALLOC(nd, realloc(devs, cap * sizeof(*devs)));
			devs = nd;
			TRY_ALLOC(nl, realloc(lines, cap * sizeof(*lines)));
			lines = nl;
		}
		res = csv_device(&cd, &devs[n]);
		if (sp_failed(res))
			TRY(sp_error_wrap(res, "%s:%zu", path, cd.line));
		lines[n++] = cd.line;
	}
	ENSURE(n > 0, SP_E_PARSE, "%s: no devices in the file", path);
	TRY(sp_dbcli_open_store(store, 0, &s));
	TRY(sp_store_begin(s));
	in_tx = true;
	for (size_t i = 0; i < n; i++) {
		res = sp_store_device_add(s, &devs[i]);
		if (sp_failed(res))
			TRY(sp_error_wrap(res, "%s:%zu", path, lines[i]));
	}
	in_tx = false;
	TRY(sp_store_commit(s));
	printf("imported %zu device%s from %s\n", n, n == 1 ? "" : "s", path);
out:
	if (in_tx)
		sp_store_rollback(s);
	sp_store_close(s);
	free(devs);
	free(lines);
	free(row);
	sp_buf_free(&file);
	return sp_ok(res) ? SP_EXIT_OK : sp_cli_fail("db devices import", res);
}


/* ---- db import DIR ------------------------------------------------------ */

static const char import_help[] =
    "usage: sprov db import DIR [--store URI]\n"
    "\n"
    "Load an existing tree of per-device flat-profile XML files (the nginx or\n"
    "Apache layout).  Accepted names, directly in DIR:\n"
    "  000e08aabbcc.xml      12 hex digits, any case\n"
    "  spa000e08aabbcc.xml   the same with a 'spa' prefix, any case\n"
    "  _defaults.xml         optional: the defaults level\n"
    "Other names are skipped and listed.  Each device file's parameters are\n"
    "set at that device's level (devices that do not exist are created,\n"
    "enabled, with no serial, product or group); parameters already in the\n"
    "database and absent from the file are kept.  All or nothing: a malformed\n"
    "file aborts the import with its name and nothing changes.\n"
    "\n"
    "Options:\n"
    DB_HELP_STORE
    "\n"
    "Examples:\n"
    "  sprov db import profiles/\n";

typedef struct import_file {
	char *name;
	bool defaults;
	sp_mac mac;
} import_file;

static int
import_file_cmp(const void *a, const void *b)
{
	const import_file *x = a, *y = b;

	/* _defaults.xml first, then by MAC, then by name. */
	if (x->defaults != y->defaults)
		return x->defaults ? -1 : 1;
	int c = memcmp(x->mac.b, y->mac.b, sizeof(x->mac.b));
	return c ? c : strcmp(x->name, y->name);
}

/* 000e08aabbcc.xml or spa000e08aabbcc.xml, any case. */
static bool
profile_name(const char *n, sp_mac *mac)
{
	size_t len = strlen(n), off = 0;

	if (len < 4 || strcasecmp(n + len - 4, ".xml") != 0)
		return false;
	len -= 4;
	if (len == 15 && strncasecmp(n, "spa", 3) == 0)
		off = 3;
	if (len - off != 12)
		return false;
	return sp_ok(sp_mac_parse(sp_slice_mk(n + off, 12), mac));
}

static sp_result
import_one(sp_store *s, const char *dir, const import_file *f, size_t *nparams,
    bool *created)
{
	sp_result res = SP_OK;
	sp_buf path, xml;
	sp_params ps;
	sp_level_ref lvl;
	sp_device d;
	char ma[SP_MAC_STRLEN];
	struct stat sb;
	bool found = false;

	*created = false;
	sp_buf_init(&path, 8192);
	sp_buf_init(&xml, SP_PROFILE_MAX);
	sp_params_init(&ps);
	TRY(sp_buf_printf(&path, "%s/%s", dir, f->name));
	ENSURE(stat(sp_buf_cstr(&path), &sb) == 0 && S_ISREG(sb.st_mode),
	    SP_E_IO, "%s: not a regular file", sp_buf_cstr(&path));
	TRY(sp_read_file(sp_buf_cstr(&path), SP_PROFILE_MAX, &xml));
	TRY(sp_profile_parse(sp_slice_mk(xml.p ? xml.p : "", xml.len), &ps));
	if (f->defaults) {
		lvl = (sp_level_ref){ SP_LEVEL_DEFAULTS, NULL };
	} else {
		sp_mac_format(&f->mac, SP_MAC_MA, ma);
		lvl = (sp_level_ref){ SP_LEVEL_DEVICE, ma };
		TRY(sp_store_device_get(s, &f->mac, &d, &found));
		if (!found) {
			memset(&d, 0, sizeof(d));
			d.mac = f->mac;
			d.enabled = true;
			TRY(sp_store_device_add(s, &d));
			*created = true;
		}
	}
	for (size_t i = 0; i < ps.n; i++)
		TRY(sp_store_param_set(s, &lvl, ps.v[i].name,
		    sp_slice_mk(ps.v[i].value, ps.v[i].value_len), ps.v[i].access));
	*nparams += ps.n;
out:
	if (sp_failed(res))
		res = sp_error_wrap(res, "%s", f->name);
	sp_params_free(&ps);
	sp_buf_free_secret(&xml);
	sp_buf_free(&path);
	return res;
}

int
sp_dbcli_import(int argc, char **argv)
{
	static const struct option lo[] = {
		OPT_STORE_ENTRY,
		SP_OPT_HELP_AND_END,
	};
	sp_opts opt;
	const char *store = NULL, *dir;
	sp_store *s = NULL;
	sp_result res = SP_OK;
	DIR *dh = NULL;
	struct dirent *de;
	import_file *files = NULL;
	size_t nfiles = 0, cap = 0, ndev = 0, nnew = 0, nparams = 0, ndef = 0;
	size_t skipped = 0;
	bool in_tx = false, have_defaults = false;
	char ma[SP_MAC_STRLEN];
	int c;

	sp_opts_init(&opt, "db import", import_help, "", lo, argc, argv);
	while ((c = sp_opt_next(&opt)) > 0) {
		switch (c) {
		case OPT_STORE: store = opt.arg; break;
		}
	}
	if (c < 0)
		return opt.rc;
	if (argc - opt.ind != 1)
		return sp_cli_usage("db import", "expected one directory");
	dir = argv[opt.ind];
	dh = opendir(dir);
	ENSURE(dh, SP_E_IO, "%s: %s", dir, strerror(errno));
	while ((errno = 0, de = readdir(dh)) != NULL) {
		import_file f = { NULL, false, { { 0 } } };

		if (de->d_name[0] == '.')
			continue;
		if (strcmp(de->d_name, "_defaults.xml") == 0) {
			f.defaults = true;
			have_defaults = true;
		} else if (!profile_name(de->d_name, &f.mac)) {
			char q[300];
			sp_quote(sp_slice_of(de->d_name), q, sizeof(q));
			fprintf(stderr, "sprov db import: skipping '%s': not named "
			    "by MAC\n", q);
			skipped++;
			continue;
		}
		ENSURE(nfiles < SP_IMPORT_FILES_MAX, SP_E_LIMIT,
		    "%s: more than %d profile files", dir, SP_IMPORT_FILES_MAX);
		if (nfiles == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			import_file *nf;
			TRY_ALLOC(nf, realloc(files, ncap * sizeof(*files)));
			files = nf;
			cap = ncap;
		}
		TRY_ALLOC(f.name, strdup(de->d_name));
		files[nfiles++] = f;
	}
	ENSURE(errno == 0, SP_E_IO, "%s: %s", dir, strerror(errno));
	ENSURE(nfiles > 0, SP_E_NOTFOUND,
	    "%s: no profile files (000e08aabbcc.xml, spa000e08aabbcc.xml, "
	    "_defaults.xml)", dir);
	qsort(files, nfiles, sizeof(*files), import_file_cmp);
	for (size_t i = 1; i < nfiles; i++) {
		if (!files[i].defaults && !files[i - 1].defaults &&
		    sp_mac_eq(&files[i].mac, &files[i - 1].mac)) {
			sp_mac_format(&files[i].mac, SP_MAC_MA, ma);
			res = sp_error(SP_E_EXISTS, "%s and %s are both for device %s",
			    files[i - 1].name, files[i].name, ma);
			goto out;
		}
	}
	TRY(sp_dbcli_open_store(store, 0, &s));
	TRY(sp_store_begin(s));
	in_tx = true;
	for (size_t i = 0; i < nfiles; i++) {
		size_t before = nparams;
		bool created;

		TRY(import_one(s, dir, &files[i], &nparams, &created));
		if (files[i].defaults) {
			ndef = nparams - before;
			nparams = before;
		} else {
			ndev++;
			nnew += created;
		}
	}
	in_tx = false;
	TRY(sp_store_commit(s));
	printf("imported %zu device file%s (%zu new device%s, %zu parameter%s)",
	    ndev, ndev == 1 ? "" : "s", nnew, nnew == 1 ? "" : "s", nparams,
	    nparams == 1 ? "" : "s");
	if (have_defaults)
		printf(" and _defaults.xml (%zu parameter%s)", ndef,
		    ndef == 1 ? "" : "s");
	printf(" from %s", dir);
	if (skipped)
		printf("; skipped %zu other file%s", skipped,
		    skipped == 1 ? "" : "s");
	printf("\n");
out:
	if (in_tx)
		sp_store_rollback(s);
	sp_store_close(s);
	if (dh)
		closedir(dh);
	for (size_t i = 0; i < nfiles; i++)
		free(files[i].name);
	free(files);
	return sp_ok(res) ? SP_EXIT_OK : sp_cli_fail("db import", res);
}

