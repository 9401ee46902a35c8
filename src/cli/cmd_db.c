/*
 * sprov db: the provider's device database (docs/STORE.md).
 *
 *   sprov db init
 *   sprov db devices add|list|show|rm|enable|disable|import
 *   sprov db params set|unset|list
 *   sprov db import DIR
 *
 * Every command takes --store URI, else $SPROV_STORE, else sqlite:sprov.db.
 * Exit status: 0 done, 1 refused or failed, 2 usage.  Commands that change
 * several rows (imports) run in one transaction: all or nothing.
 * `devices show` and `params list` print parameter values: they are
 * operator commands on the operator's terminal.  Nothing here logs them.
 */
#include "cli/cli.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "common/csv.h"
#include "common/text.h"
#include "common/util.h"
#include "identity/mac.h"
#include "profile/profile.h"
#include "store/store.h"

#define SP_CSV_MAX (16u * 1024 * 1024)   /* devices.csv */
#define SP_IMPORT_FILES_MAX 200000        /* profile files in one import */

/* ---- shared helpers ----------------------------------------------------- */

enum { OPT_STORE = 0x100, OPT_JSON, OPT_SERIAL, OPT_PRODUCT,
	OPT_GROUP, OPT_DISABLED, OPT_DEFAULT, OPT_DEVICE, OPT_ACCESS, OPT_FIELD,
	OPT_STDIN };

static sp_result
open_store(const char *opt, int flags, sp_store **out)
{
	const char *uri = sp_store_uri_default(opt);

	return sp_store_open_ex(uri, flags, out);
}

static sp_result
parse_mac(const char *s, sp_mac *out)
{
	return sp_mac_parse(sp_slice_of(s), out);
}

static void
fmt_time(int64_t t, char out[32])
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t <= 0 || gmtime_r(&tt, &tm) == NULL ||
	    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, 32, "-");
}

/* JSON output goes through common/text; a failed write ends the listing. */
#define JSON_STR(p, n) TRY(sp_json_fput(stdout, sp_slice_mk((p), (n))))
#define JSON_CSTR(s) TRY(sp_json_fput(stdout, sp_slice_of(s)))

/* ---- db init ------------------------------------------------------------ */

static const char init_help[] =
    "usage: sprov db init [--store URI]\n"
    "\n"
    "Create the device database (mode 0600) with its schema, or upgrade an\n"
    "older schema.  Running it again on a current database changes nothing.\n"
    "The store is --store URI, else $SPROV_STORE, else sqlite:sprov.db.\n";

static int
cmd_init(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "store", required_argument, NULL, OPT_STORE },
		SP_OPT_HELP_ENTRY,
		{ NULL, 0, NULL, 0 },
	};
	sp_opts opt;
	const char *store = NULL;
	sp_store *s = NULL;
	sp_result res = SP_OK;
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
	res = open_store(store, SP_STORE_CREATE, &s);
	if (sp_failed(res))
		return sp_cli_fail("db init", res);
	printf("store %s is ready\n", sp_store_uri_default(store));
	sp_store_close(s);
	return SP_EXIT_OK;
}

/* ---- db devices --------------------------------------------------------- */

static const char add_help[] =
    "usage: sprov db devices add MAC [--serial SN] [--product PN] [--group G]\n"
    "                            [--disabled] [--store URI]\n"
    "\n"
    "Add a device.  MAC is 000e08aabbcc or 00:0e:08:aa:bb:cc in any case; it\n"
    "is stored as 12 lowercase hex digits.  A MAC already in the database is\n"
    "refused, unless it is a pending device (seen by the server): then the\n"
    "pending record is adopted.  Product and group select the parameter\n"
    "levels that apply to the device.\n";

static int
cmd_devices_add(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "store", required_argument, NULL, OPT_STORE },
		{ "serial", required_argument, NULL, OPT_SERIAL },
		{ "product", required_argument, NULL, OPT_PRODUCT },
		{ "group", required_argument, NULL, OPT_GROUP },
		{ "disabled", no_argument, NULL, OPT_DISABLED },
		SP_OPT_HELP_ENTRY,
		{ NULL, 0, NULL, 0 },
	};
	sp_opts opt;
	const char *store = NULL, *serial = "", *product = "", *group = "";
	sp_store *s = NULL;
	sp_result res = SP_OK;
	sp_device d, old;
	bool found = false;
	char ma[SP_MAC_STRLEN];
	int c;

	memset(&d, 0, sizeof(d));
	d.enabled = true;
	sp_opts_init(&opt, "db devices add", add_help, "", lo, argc, argv);
	while ((c = sp_opt_next(&opt)) > 0) {
		switch (c) {
		case OPT_STORE: store = opt.arg; break;
		case OPT_SERIAL: serial = opt.arg; break;
		case OPT_PRODUCT: product = opt.arg; break;
		case OPT_GROUP: group = opt.arg; break;
		case OPT_DISABLED: d.enabled = false; break;
		}
	}
	if (c < 0)
		return opt.rc;
	if (argc - opt.ind != 1)
		return sp_cli_usage("db devices add", "expected one MAC");
	TRY(parse_mac(argv[opt.ind], &d.mac));
	TRY(sp_store_field_check("serial", sp_slice_of(serial)));
	TRY(sp_store_field_check("product", sp_slice_of(product)));
	TRY(sp_store_field_check("group", sp_slice_of(group)));
	snprintf(d.serial, sizeof(d.serial), "%s", serial);
	snprintf(d.product, sizeof(d.product), "%s", product);
	snprintf(d.group, sizeof(d.group), "%s", group);
	TRY(open_store(store, 0, &s));
	TRY(sp_store_device_get(s, &d.mac, &old, &found));
	TRY(sp_store_device_add(s, &d));
	sp_mac_format(&d.mac, SP_MAC_MA, ma);
	printf("%s device %s\n", found ? "adopted pending" : "added", ma);
out:
	sp_store_close(s);
	return sp_ok(res) ? SP_EXIT_OK : sp_cli_fail("db devices add", res);
}

static const char list_help[] =
    "usage: sprov db devices list [--json] [--store URI]\n"
    "\n"
    "List every device, pending ones (seen by the server, not added by an\n"
    "operator) included and marked, with the time of its last contact.\n";

typedef struct list_ctx {
	sp_store *s;
	bool json;
	size_t n;
} list_ctx;

static sp_result
list_one(void *arg, const sp_device *d)
{
	sp_result res = SP_OK;
	list_ctx *lc = arg;
	char ma[SP_MAC_STRLEN], created[32], last[32] = "-";
	sp_contact c;
	bool found;
	const char *state = d->pending ? "pending" :
	    d->enabled ? "enabled" : "disabled";

	sp_mac_format(&d->mac, SP_MAC_MA, ma);
	fmt_time(d->created, created);
	TRY(sp_store_contact_get(lc->s, &d->mac, &c, &found));
	if (found)
		fmt_time(c.time, last);
	if (lc->json) {
		printf("%s\n  {\"mac\": \"%s\", \"serial\": ", lc->n ? "," : "", ma);
		JSON_CSTR(d->serial);
		printf(", \"product\": ");
		JSON_CSTR(d->product);
		printf(", \"group\": ");
		JSON_CSTR(d->group);
		printf(", \"enabled\": %s, \"pending\": %s, \"state\": \"%s\", "
		    "\"created\": \"%s\", \"last_contact\": ",
		    d->enabled ? "true" : "false", d->pending ? "true" : "false",
		    state, created);
		if (found)
			printf("\"%s\"}", last);
		else
			printf("null}");
	} else {
		if (lc->n == 0)
			printf("%-12s  %-16s  %-16s  %-16s  %-8s  %s\n", "MAC",
			    "SERIAL", "PRODUCT", "GROUP", "STATE", "LAST-CONTACT");
		printf("%-12s  %-16s  %-16s  %-16s  %-8s  %s\n", ma,
		    *d->serial ? d->serial : "-", *d->product ? d->product : "-",
		    *d->group ? d->group : "-", state, last);
	}
	lc->n++;
out:
	return res;
}

static int
cmd_devices_list(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "store", required_argument, NULL, OPT_STORE },
		{ "json", no_argument, NULL, OPT_JSON },
		SP_OPT_HELP_ENTRY,
		{ NULL, 0, NULL, 0 },
	};
	sp_opts opt;
	const char *store = NULL;
	list_ctx lc = { NULL, false, 0 };
	sp_result res = SP_OK;
	int c;

	sp_opts_init(&opt, "db devices list", list_help, "", lo, argc, argv);
	while ((c = sp_opt_next(&opt)) > 0) {
		switch (c) {
		case OPT_STORE: store = opt.arg; break;
		case OPT_JSON: lc.json = true; break;
		}
	}
	if (c < 0)
		return opt.rc;
	if (opt.ind != argc)
		return sp_cli_usage("db devices list", "unexpected argument '%s'",
		    argv[opt.ind]);
	TRY(open_store(store, 0, &lc.s));
	if (lc.json)
		printf("[");
	TRY(sp_store_device_list(lc.s, list_one, &lc));
	if (lc.json)
		printf("%s]\n", lc.n ? "\n" : "");
	else if (lc.n == 0)
		printf("no devices\n");
out:
	sp_store_close(lc.s);
	return sp_ok(res) ? SP_EXIT_OK : sp_cli_fail("db devices list", res);
}

static const char show_help[] =
    "usage: sprov db devices show MAC [--json] [--store URI]\n"
    "\n"
    "Show a device: its record, its last contact (time, IP, User-Agent, ETag\n"
    "served, HTTP status) and its effective profile (defaults, product,\n"
    "group and device levels merged) rendered as the server would serve it.\n"
    "This prints parameter values, SIP passwords included.\n";

static int
cmd_devices_show(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "store", required_argument, NULL, OPT_STORE },
		{ "json", no_argument, NULL, OPT_JSON },
		SP_OPT_HELP_ENTRY,
		{ NULL, 0, NULL, 0 },
	};
	sp_opts opt;
	const char *store = NULL;
	bool json = false, found = false, cfound = false;
	sp_store *s = NULL;
	sp_result res = SP_OK;
	sp_device d;
	sp_contact ct;
	sp_mac mac;
	sp_params ps;
	sp_buf xml;
	sp_ua ua;
	bool ua_ok = false;
	char ma[SP_MAC_STRLEN], created[32], last[32], q[SP_UA_MAX * 4 + 8];
	int c;

	sp_params_init(&ps);
	sp_buf_init(&xml, SP_PROFILE_MAX);
	sp_opts_init(&opt, "db devices show", show_help, "", lo, argc, argv);
	while ((c = sp_opt_next(&opt)) > 0) {
		switch (c) {
		case OPT_STORE: store = opt.arg; break;
		case OPT_JSON: json = true; break;
		}
	}
	if (c < 0)
		return opt.rc;
	if (argc - opt.ind != 1)
		return sp_cli_usage("db devices show", "expected one MAC");
	TRY(parse_mac(argv[opt.ind], &mac));
	sp_mac_format(&mac, SP_MAC_MA, ma);
	TRY(open_store(store, 0, &s));
	TRY(sp_store_device_get(s, &mac, &d, &found));
	ENSURE(found, SP_E_NOTFOUND, "no device %s", ma);
	TRY(sp_store_params_effective(s, &d, &ps, NULL));
	TRY(sp_profile_render(&ps, &xml));
	TRY(sp_store_contact_get(s, &mac, &ct, &cfound));
	if (cfound)
		ua_ok = sp_ok(sp_ua_parse(sp_slice_of(ct.ua), &ua));
	fmt_time(d.created, created);
	fmt_time(cfound ? ct.time : 0, last);

	if (json) {
		printf("{\"mac\": \"%s\", \"serial\": ", ma);
		JSON_CSTR(d.serial);
		printf(", \"product\": ");
		JSON_CSTR(d.product);
		printf(", \"group\": ");
		JSON_CSTR(d.group);
		printf(", \"enabled\": %s, \"pending\": %s, \"created\": \"%s\",\n",
		    d.enabled ? "true" : "false", d.pending ? "true" : "false",
		    created);
		printf(" \"last_contact\": ");
		if (cfound) {
			printf("{\"time\": \"%s\", \"ip\": ", last);
			JSON_CSTR(ct.ip);
			printf(", \"user_agent\": ");
			JSON_CSTR(ct.ua);
			if (ua_ok) {
				printf(", \"ua_vendor\": ");
				JSON_STR(ua.vendor.p, ua.vendor.len);
				printf(", \"ua_product\": ");
				JSON_STR(ua.product.p, ua.product.len);
				printf(", \"ua_swver\": ");
				JSON_STR(ua.swver.p, ua.swver.len);
				printf(", \"ua_serial\": ");
				JSON_STR(ua.serial.p, ua.serial.len);
			}
			printf(", \"etag\": ");
			JSON_CSTR(ct.etag);
			printf(", \"status\": %d}", ct.status);
		} else {
			printf("null");
		}
		printf(",\n \"parameters\": %zu, \"profile\": ", ps.n);
		JSON_STR(xml.p ? xml.p : "", xml.len);
		printf("}\n");
	} else {
		printf("mac          %s\n", ma);
		printf("serial       %s\n", *d.serial ? d.serial : "-");
		printf("product      %s\n", *d.product ? d.product : "-");
		printf("group        %s\n", *d.group ? d.group : "-");
		printf("state        %s\n", d.pending ? "pending" :
		    d.enabled ? "enabled" : "disabled");
		printf("created      %s\n", created);
		if (cfound) {
			sp_quote(sp_slice_of(ct.ip), q, sizeof(q));
			printf("last contact %s from %s, status %d", last, q,
			    ct.status);
			sp_quote(sp_slice_of(ct.etag), q, sizeof(q));
			printf(", etag %s\n", *ct.etag ? q : "-");
			sp_quote(sp_slice_of(ct.ua), q, sizeof(q));
			printf("user agent   %s\n", q);
			if (ua_ok)
				printf("             vendor %.*s, product %.*s, "
				    "version %.*s, serial %.*s\n",
				    (int)ua.vendor.len, ua.vendor.p,
				    (int)ua.product.len, ua.product.p,
				    (int)ua.swver.len, ua.swver.p,
				    (int)ua.serial.len, ua.serial.p);
		} else {
			printf("last contact never\n");
		}
		if (!d.enabled)
			printf("served       not this profile: a %s device gets 404 or "
			    "the defaults-only profile (server setting)\n",
			    d.pending ? "pending" : "disabled");
		printf("profile      %zu parameters\n", ps.n);
		fwrite(xml.p ? xml.p : "", 1, xml.len, stdout);
		if (xml.len && xml.p[xml.len - 1] != '\n')
			putchar('\n');
	}
out:
	sp_buf_free_secret(&xml);
	sp_params_free(&ps);
	sp_store_close(s);
	return sp_ok(res) ? SP_EXIT_OK : sp_cli_fail("db devices show", res);
}

/* rm, enable, disable: one MAC, one call. */
static int
mac_command(int argc, char **argv, const char *what, const char *help,
    int op)
{
	static const struct option lo[] = {
		{ "store", required_argument, NULL, OPT_STORE },
		SP_OPT_HELP_ENTRY,
		{ NULL, 0, NULL, 0 },
	};
	sp_opts opt;
	const char *store = NULL;
	sp_store *s = NULL;
	sp_result res = SP_OK;
	sp_mac mac;
	char ma[SP_MAC_STRLEN];
	int c;

	sp_opts_init(&opt, what, help, "", lo, argc, argv);
	while ((c = sp_opt_next(&opt)) > 0) {
		switch (c) {
		case OPT_STORE: store = opt.arg; break;
		}
	}
	if (c < 0)
		return opt.rc;
	if (argc - opt.ind != 1)
		return sp_cli_usage(what, "expected one MAC");
	TRY(parse_mac(argv[opt.ind], &mac));
	sp_mac_format(&mac, SP_MAC_MA, ma);
	TRY(open_store(store, 0, &s));
	switch (op) {
	case 0:
		TRY(sp_store_device_rm(s, &mac));
		printf("removed device %s\n", ma);
		break;
	default:
		TRY(sp_store_device_set_enabled(s, &mac, op == 1));
		printf("%s device %s\n", op == 1 ? "enabled" : "disabled", ma);
		break;
	}
out:
	sp_store_close(s);
	return sp_ok(res) ? SP_EXIT_OK : sp_cli_fail(what, res);
}

static const char rm_help[] =
    "usage: sprov db devices rm MAC [--store URI]\n"
    "\n"
    "Remove a device with its device-level parameters and its contact record.\n";
static const char enable_help[] =
    "usage: sprov db devices enable MAC [--store URI]\n"
    "\n"
    "Serve this device again.  Enabling a pending device adopts it.\n";
static const char disable_help[] =
    "usage: sprov db devices disable MAC [--store URI]\n"
    "\n"
    "Stop serving this device (it gets what an unknown device gets) and\n"
    "keep its record and parameters.\n";

static int
cmd_devices_rm(int argc, char **argv)
{
	return mac_command(argc, argv, "db devices rm", rm_help, 0);
}

static int
cmd_devices_enable(int argc, char **argv)
{
	return mac_command(argc, argv, "db devices enable", enable_help, 1);
}

static int
cmd_devices_disable(int argc, char **argv)
{
	return mac_command(argc, argv, "db devices disable", disable_help, 2);
}

/* ---- devices import CSV ------------------------------------------------- */

static const char dimport_help[] =
    "usage: sprov db devices import FILE.csv [--store URI]\n"
    "\n"
    "Add devices from a CSV file with the columns mac,serial,product[,group]\n"
    "(the file `sprov ca issue --csv` reads).  A first row whose first field\n"
    "is 'mac' is a header and skipped; empty lines and lines starting with '#'\n"
    "are skipped; fields may be quoted with \"...\" (\"\" for a quote).  All or\n"
    "nothing: the whole file is checked first, and any bad line or duplicate\n"
    "MAC aborts with FILE:LINE and changes nothing.\n";

/* One device row: its fields checked as `devices add` checks them. */
static sp_result
csv_device(const sp_csv_device *cd, sp_device *d)
{
	sp_result res = SP_OK;

	memset(d, 0, sizeof(*d));
	d->enabled = true;
	TRY(parse_mac(cd->mac, &d->mac));
	TRY(sp_store_field_check("serial", sp_slice_of(cd->serial)));
	TRY(sp_store_field_check("product", sp_slice_of(cd->product)));
	TRY(sp_store_field_check("group", sp_slice_of(cd->group)));
	snprintf(d->serial, sizeof(d->serial), "%s", cd->serial);
	snprintf(d->product, sizeof(d->product), "%s", cd->product);
	snprintf(d->group, sizeof(d->group), "%s", cd->group);
out:
	return res;
}

static int
cmd_devices_import(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "store", required_argument, NULL, OPT_STORE },
		SP_OPT_HELP_ENTRY,
		{ NULL, 0, NULL, 0 },
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
	TRY(open_store(store, 0, &s));
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

static const char devices_help[] =
    "usage: sprov db devices COMMAND [ARGS...] [--store URI]\n"
    "\n"
    "The devices the server knows: MAC, serial, product, group, enabled.\n";

static const sp_cmd devices_cmds[] = {
	{ "add", cmd_devices_add, "add a device" },
	{ "list", cmd_devices_list, "list devices (pending ones marked)" },
	{ "show", cmd_devices_show, "a device, its last contact and its profile" },
	{ "rm", cmd_devices_rm, "remove a device" },
	{ "enable", cmd_devices_enable, "serve a device (adopts a pending one)" },
	{ "disable", cmd_devices_disable, "stop serving a device" },
	{ "import", cmd_devices_import, "add devices from a CSV file" },
	{ NULL, NULL, NULL },
};

static int
cmd_devices(int argc, char **argv)
{
	return sp_cli_dispatch("db devices", devices_cmds, argc, argv,
	    devices_help);
}

/* ---- db params ---------------------------------------------------------- */

typedef struct level_opt {
	sp_level_ref ref;
	int count;
} level_opt;

#define LEVEL_USAGE \
    "Exactly one level: --default, --product PN, --group G or --device MAC.\n" \
    "Levels apply in that order, each overriding the one before.\n"

static bool
level_take(level_opt *lo, int c, const char *arg)
{
	switch (c) {
	case OPT_DEFAULT: lo->ref.level = SP_LEVEL_DEFAULTS; lo->ref.key = NULL; break;
	case OPT_PRODUCT: lo->ref.level = SP_LEVEL_PRODUCT; lo->ref.key = arg; break;
	case OPT_GROUP: lo->ref.level = SP_LEVEL_GROUP; lo->ref.key = arg; break;
	case OPT_DEVICE: lo->ref.level = SP_LEVEL_DEVICE; lo->ref.key = arg; break;
	default: return false;
	}
	lo->count++;
	return true;
}

#define LEVEL_OPTIONS                                                    \
	{ "default", no_argument, NULL, OPT_DEFAULT },                   \
	{ "defaults", no_argument, NULL, OPT_DEFAULT },                  \
	{ "product", required_argument, NULL, OPT_PRODUCT },             \
	{ "group", required_argument, NULL, OPT_GROUP },                 \
	{ "device", required_argument, NULL, OPT_DEVICE }

static void
level_desc(const sp_level_ref *l, char *out, size_t outsz)
{
	if (l->level == SP_LEVEL_DEFAULTS)
		snprintf(out, outsz, "defaults");
	else
		snprintf(out, outsz, "%s %s", sp_level_name(l->level), l->key);
}

static const char set_help[] =
    "usage: sprov db params set LEVEL NAME=VALUE [--access na|ro|rw] [--store URI]\n"
    "       sprov db params set LEVEL --field 'WEB NAME' VALUE [--access ...]\n"
    "       sprov db params set LEVEL (NAME | --field 'WEB NAME') --stdin [...]\n"
    "\n"
    "Set one parameter at one level.  NAME is the element name (Dial_Plan_1_);\n"
    "--field takes the web page's field name instead (\"Dial Plan[1]\").\n"
    "--stdin reads the value from standard input (one trailing newline is\n"
    "dropped): passwords then stay out of ps and the shell history.\n"
    "Without --access an existing access is kept (a new one has none; a\n"
    "level without access inherits the access of the level below).\n"
    "A --device level needs an existing device.\n"
    "\n"
    LEVEL_USAGE;

static sp_result
name_from(const char *field, const char *name, sp_buf *out)
{
	sp_result res = SP_OK;

	if (field) {
		TRY(sp_param_name_from_field(sp_slice_of(field), out));
	} else {
		TRY(sp_param_name_check(sp_slice_of(name)));
		TRY(sp_buf_append_str(out, name));
	}
out:
	return res;
}

/* The value from stdin, one trailing newline (LF or CRLF) dropped. */
static sp_result
read_stdin_value(sp_buf *out)
{
	sp_result res = SP_OK;
	char chunk[4096];
	size_t n;

	while ((n = fread(chunk, 1, sizeof(chunk), stdin)) > 0) {
		res = sp_buf_append(out, chunk, n);
		explicit_bzero(chunk, sizeof(chunk));
		if (sp_failed(res)) {
			res = sp_error(SP_E_LIMIT, "value on stdin longer than %d bytes",
			    SP_PARAM_VALUE_MAX);
			goto out;
		}
	}
	ENSURE(!ferror(stdin), SP_E_IO, "reading the value from stdin: %s",
	    strerror(errno));
	if (out->len && out->p[out->len - 1] == '\n')
		out->len--;
	if (out->len && out->p[out->len - 1] == '\r')
		out->len--;
out:
	return res;
}

static int
cmd_params_set(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "store", required_argument, NULL, OPT_STORE },
		{ "access", required_argument, NULL, OPT_ACCESS },
		{ "field", required_argument, NULL, OPT_FIELD },
		{ "stdin", no_argument, NULL, OPT_STDIN },
		SP_OPT_HELP_ENTRY,
		LEVEL_OPTIONS,
		{ NULL, 0, NULL, 0 },
	};
	sp_opts opt;
	const char *store = NULL, *field = NULL, *access_s = NULL;
	bool from_stdin = false;
	sp_buf in;
	level_opt lv = { { SP_LEVEL_DEFAULTS, NULL }, 0 };
	sp_store *s = NULL;
	sp_result res = SP_OK;
	sp_access access = SP_ACCESS_UNSET;
	sp_buf name;
	sp_slice value;
	char *arg, *eq, where[SP_STORE_FIELD_MAX + 16];
	int c;

	sp_buf_init(&name, SP_PARAM_NAME_MAX + 1);
	sp_buf_init(&in, SP_PARAM_VALUE_MAX + 2);
	sp_opts_init(&opt, "db params set", set_help, "", lo, argc, argv);
	while ((c = sp_opt_next(&opt)) > 0) {
		if (level_take(&lv, c, opt.arg))
			continue;
		switch (c) {
		case OPT_STORE: store = opt.arg; break;
		case OPT_STDIN: from_stdin = true; break;
		case OPT_ACCESS: access_s = opt.arg; break;
		case OPT_FIELD: field = opt.arg; break;
		}
	}
	if (c < 0)
		return opt.rc;
	if (lv.count != 1)
		return sp_cli_usage("db params set", "%s", "expected exactly one of "
		    "--default, --product PN, --group G, --device MAC");
	if (from_stdin && argc - opt.ind != (field ? 0 : 1))
		return sp_cli_usage("db params set", field ?
		    "--stdin with --field takes no argument" :
		    "--stdin takes one NAME (no =VALUE)");
	if (!from_stdin && argc - opt.ind != 1)
		return sp_cli_usage("db params set", field ? "expected one VALUE" :
		    "expected one NAME=VALUE");
	arg = opt.ind < argc ? argv[opt.ind] : NULL;
	if (from_stdin) {
		if (arg && strchr(arg, '='))
			return sp_cli_usage("db params set",
			    "--stdin takes one NAME (no =VALUE)");
		TRY(read_stdin_value(&in));
		value = sp_slice_mk(in.p ? in.p : "", in.len);
	} else if (field) {
		value = sp_slice_of(arg);
	} else {
		eq = strchr(arg, '=');
		if (eq == NULL)
			return sp_cli_usage("db params set",
			    "expected NAME=VALUE, got no '='");
		*eq = '\0';
		value = sp_slice_of(eq + 1);
	}
	if (access_s && sp_failed(sp_access_parse(sp_slice_of(access_s), &access)))
		return sp_cli_usage("db params set",
		    "--access takes na, ro or rw");
	TRY(name_from(field, arg, &name));
	TRY(open_store(store, 0, &s));
	TRY(sp_store_param_set(s, &lv.ref, sp_buf_cstr(&name), value, access));
	level_desc(&lv.ref, where, sizeof(where));
	/* The value is a secret: say what was set, never to what. */
	printf("set %s for %s\n", sp_buf_cstr(&name), where);
out:
	sp_store_close(s);
	sp_buf_free(&name);
	sp_buf_free_secret(&in);
	return sp_ok(res) ? SP_EXIT_OK : sp_cli_fail("db params set", res);
}

static const char unset_help[] =
    "usage: sprov db params unset LEVEL NAME [--store URI]\n"
    "       sprov db params unset LEVEL --field 'WEB NAME' [--store URI]\n"
    "\n"
    "Remove one parameter from one level (the level below shows through).\n"
    "\n"
    LEVEL_USAGE;

static int
cmd_params_unset(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "store", required_argument, NULL, OPT_STORE },
		{ "field", required_argument, NULL, OPT_FIELD },
		SP_OPT_HELP_ENTRY,
		LEVEL_OPTIONS,
		{ NULL, 0, NULL, 0 },
	};
	sp_opts opt;
	const char *store = NULL, *field = NULL;
	level_opt lv = { { SP_LEVEL_DEFAULTS, NULL }, 0 };
	sp_store *s = NULL;
	sp_result res = SP_OK;
	sp_buf name;
	char where[SP_STORE_FIELD_MAX + 16];
	int c;

	sp_buf_init(&name, SP_PARAM_NAME_MAX + 1);
	sp_opts_init(&opt, "db params unset", unset_help, "", lo, argc, argv);
	while ((c = sp_opt_next(&opt)) > 0) {
		if (level_take(&lv, c, opt.arg))
			continue;
		switch (c) {
		case OPT_STORE: store = opt.arg; break;
		case OPT_FIELD: field = opt.arg; break;
		}
	}
	if (c < 0)
		return opt.rc;
	if (lv.count != 1)
		return sp_cli_usage("db params unset", "%s", "expected exactly one "
		    "of --default, --product PN, --group G, --device MAC");
	if (argc - opt.ind != (field ? 0 : 1))
		return sp_cli_usage("db params unset", field ?
		    "--field replaces NAME" : "expected one NAME");
	TRY(name_from(field, field ? NULL : argv[opt.ind], &name));
	TRY(open_store(store, 0, &s));
	TRY(sp_store_param_unset(s, &lv.ref, sp_buf_cstr(&name)));
	level_desc(&lv.ref, where, sizeof(where));
	printf("unset %s for %s\n", sp_buf_cstr(&name), where);
out:
	sp_store_close(s);
	sp_buf_free(&name);
	return sp_ok(res) ? SP_EXIT_OK : sp_cli_fail("db params unset", res);
}

static const char plist_help[] =
    "usage: sprov db params list LEVEL [--json] [--store URI]\n"
    "\n"
    "The parameters set at one level (not merged; `devices show` shows a\n"
    "device's effective profile).  This prints values.\n"
    "\n"
    LEVEL_USAGE;

static int
cmd_params_list(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "store", required_argument, NULL, OPT_STORE },
		{ "json", no_argument, NULL, OPT_JSON },
		SP_OPT_HELP_ENTRY,
		LEVEL_OPTIONS,
		{ NULL, 0, NULL, 0 },
	};
	sp_opts opt;
	const char *store = NULL;
	level_opt lv = { { SP_LEVEL_DEFAULTS, NULL }, 0 };
	bool json = false;
	sp_store *s = NULL;
	sp_result res = SP_OK;
	sp_params ps;
	int c;

	sp_params_init(&ps);
	sp_opts_init(&opt, "db params list", plist_help, "", lo, argc, argv);
	while ((c = sp_opt_next(&opt)) > 0) {
		if (level_take(&lv, c, opt.arg))
			continue;
		switch (c) {
		case OPT_STORE: store = opt.arg; break;
		case OPT_JSON: json = true; break;
		}
	}
	if (c < 0)
		return opt.rc;
	if (lv.count != 1)
		return sp_cli_usage("db params list", "%s", "expected exactly one "
		    "of --default, --product PN, --group G, --device MAC");
	if (opt.ind != argc)
		return sp_cli_usage("db params list", "unexpected argument '%s'",
		    argv[opt.ind]);
	TRY(open_store(store, 0, &s));
	TRY(sp_store_params_level(s, &lv.ref, &ps));
	if (json)
		printf("[");
	for (size_t i = 0; i < ps.n; i++) {
		const sp_param *p = &ps.v[i];
		if (json) {
			printf("%s\n  {\"name\": ", i ? "," : "");
			JSON_CSTR(p->name);
			printf(", \"value\": ");
			JSON_STR(p->value, p->value_len);
			if (p->access != SP_ACCESS_UNSET)
				printf(", \"access\": \"%s\"}",
				    sp_access_name(p->access));
			else
				printf(", \"access\": null}");
		} else {
			printf("%-32s %-2s %.*s\n", p->name,
			    p->access ? sp_access_name(p->access) : "-",
			    (int)p->value_len, p->value);
		}
	}
	if (json)
		printf("%s]\n", ps.n ? "\n" : "");
out:
	sp_params_free(&ps);
	sp_store_close(s);
	return sp_ok(res) ? SP_EXIT_OK : sp_cli_fail("db params list", res);
}

static const char params_help[] =
    "usage: sprov db params COMMAND LEVEL [ARGS...] [--store URI]\n"
    "\n"
    "Parameters at four levels: defaults, product, group, device, each\n"
    "overriding the one before.  Each has a name, a value and an access\n"
    "attribute (na, ro, rw, or none).\n";

static const sp_cmd params_cmds[] = {
	{ "set", cmd_params_set, "set a parameter at a level" },
	{ "unset", cmd_params_unset, "remove a parameter from a level" },
	{ "list", cmd_params_list, "the parameters of one level" },
	{ NULL, NULL, NULL },
};

static int
cmd_params(int argc, char **argv)
{
	return sp_cli_dispatch("db params", params_cmds, argc, argv, params_help);
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
    "file aborts the import with its name and nothing changes.\n";

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

static int
cmd_import(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "store", required_argument, NULL, OPT_STORE },
		SP_OPT_HELP_ENTRY,
		{ NULL, 0, NULL, 0 },
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
	TRY(open_store(store, 0, &s));
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

/* ---- sprov db ----------------------------------------------------------- */

static const char db_help[] =
    "usage: sprov db COMMAND [ARGS...] [--store URI]\n"
    "\n"
    "The provider's device database: devices and their parameters at four\n"
    "levels (defaults, product, group, device).  Every command takes\n"
    "--store URI, else $SPROV_STORE, else sqlite:sprov.db.  URIs:\n"
    "sqlite:PATH (postgresql://... is planned, not built yet).\n"
    "Exit status: 0 done, 1 refused or failed, 2 usage error.\n";

static const sp_cmd db_cmds[] = {
	{ "init", cmd_init, "create the database or upgrade its schema" },
	{ "devices", cmd_devices, "add, list, show, remove, import devices" },
	{ "params", cmd_params, "set, unset, list parameters at a level" },
	{ "import", cmd_import, "load a directory of per-device profile files" },
	{ NULL, NULL, NULL },
};

int
sp_cmd_db(int argc, char **argv)
{
	return sp_cli_dispatch("db", db_cmds, argc, argv, db_help);
}
