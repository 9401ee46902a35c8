/* sprov db devices: add, list, show, rm, enable, disable (import: cmd_db_import.c). */
#include "cli/cmd_db.h"

#include <stdio.h>
#include <string.h>

#include "common/text.h"
#include "common/util.h"
#include "profile/profile.h"

/* ---- db devices --------------------------------------------------------- */

static const char add_help[] =
    "usage: sprov db devices add MAC [--serial SN] [--product PN] [--group G]\n"
    "                            [--disabled] [--store URI]\n"
    "\n"
    "Add a device.  MAC is 000e08aabbcc or 00:0e:08:aa:bb:cc in any case; it\n"
    "is stored as 12 lowercase hex digits.  A MAC already in the database is\n"
    "refused, unless it is a pending device (seen by the server): then the\n"
    "pending record is adopted.  Product and group select the parameter\n"
    "levels that apply to the device.\n"
    "\n"
    "Options:\n"
    "  --serial SN        its serial number (default: none)\n"
    "  --product PN       its product: the product level PN applies to it\n"
    "  --group G          its group: the group level G applies to it\n"
    "  --disabled         add it disabled: not served until `db devices enable`\n"
    DB_HELP_STORE
    "\n"
    "Examples:\n"
    "  sprov db devices add 00:0e:08:aa:bb:ce --serial 88012BA01236 \\\n"
    "      --product SPA2102 --group office\n";

static int
cmd_devices_add(int argc, char **argv)
{
	static const struct option lo[] = {
		OPT_STORE_ENTRY,
		{ "serial", required_argument, NULL, OPT_SERIAL },
		{ "product", required_argument, NULL, OPT_PRODUCT },
		{ "group", required_argument, NULL, OPT_GROUP },
		{ "disabled", no_argument, NULL, OPT_DISABLED },
		SP_OPT_HELP_AND_END,
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
	TRY(sp_dbcli_parse_mac(argv[opt.ind], &d.mac));
	TRY(sp_store_field_check("serial", sp_slice_of(serial)));
	TRY(sp_store_field_check("product", sp_slice_of(product)));
	TRY(sp_store_field_check("group", sp_slice_of(group)));
	snprintf(d.serial, sizeof(d.serial), "%s", serial);
	snprintf(d.product, sizeof(d.product), "%s", product);
	snprintf(d.group, sizeof(d.group), "%s", group);
	TRY(sp_dbcli_open_store(store, 0, &s));
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
    "operator) included and marked, with the time of its last contact.\n"
    "\n"
    "Options:\n"
    "  --json             one JSON array of objects instead of a table\n"
    DB_HELP_STORE
    "\n"
    "Examples:\n"
    "  sprov db devices list --json\n";

static sp_result
list_one(void *arg, const sp_device *d)
{
	sp_result res = SP_OK;
	sp_dbcli_list *lc = arg;
	char ma[SP_MAC_STRLEN], created[32], last[32] = "-";
	sp_contact c;
	bool found;
	const char *state = d->pending ? "pending" :
	    d->enabled ? "enabled" : "disabled";

	sp_mac_format(&d->mac, SP_MAC_MA, ma);
	sp_dbcli_fmt_time(d->created, created);
	TRY(sp_store_contact_get(lc->s, &d->mac, &c, &found));
	if (found)
		sp_dbcli_fmt_time(c.time, last);
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

static sp_result
list_all(sp_dbcli_list *l)
{
	return sp_store_device_list(l->s, list_one, l);
}

static int
cmd_devices_list(int argc, char **argv)
{
	return sp_dbcli_list_cmd(argc, argv, "db devices list", list_help,
	    list_all, "no devices");
}

static const char show_help[] =
    "usage: sprov db devices show MAC [--json] [--store URI]\n"
    "\n"
    "Show a device: its record, its last contact (time, IP, User-Agent, ETag\n"
    "served, HTTP status) and its effective profile (defaults, product,\n"
    "group and device levels merged) rendered as the server would serve it.\n"
    "This prints parameter values, SIP passwords included.\n"
    "\n"
    "Options:\n"
    "  --json             one JSON object, the profile in it as a string\n"
    DB_HELP_STORE
    "\n"
    "Examples:\n"
    "  sprov db devices show 000e08aabbcc\n";

static int
cmd_devices_show(int argc, char **argv)
{
	static const struct option lo[] = {
		OPT_STORE_ENTRY,
		{ "json", no_argument, NULL, OPT_JSON },
		SP_OPT_HELP_AND_END,
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
	TRY(sp_dbcli_parse_mac(argv[opt.ind], &mac));
	sp_mac_format(&mac, SP_MAC_MA, ma);
	TRY(sp_dbcli_open_store(store, 0, &s));
	TRY(sp_store_device_get(s, &mac, &d, &found));
	ENSURE(found, SP_E_NOTFOUND, "no device %s", ma);
	TRY(sp_store_params_effective(s, &d, &ps, NULL));
	TRY(sp_profile_render(&ps, &xml));
	TRY(sp_store_contact_get(s, &mac, &ct, &cfound));
	if (cfound)
		ua_ok = sp_ok(sp_ua_parse(sp_slice_of(ct.ua), &ua));
	sp_dbcli_fmt_time(d.created, created);
	sp_dbcli_fmt_time(cfound ? ct.time : 0, last);

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
		TRY(sp_dbcli_json_secret(sp_slice_mk(xml.p ? xml.p : "", xml.len)));
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
		OPT_STORE_ENTRY,
		SP_OPT_HELP_AND_END,
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
	TRY(sp_dbcli_parse_mac(argv[opt.ind], &mac));
	sp_mac_format(&mac, SP_MAC_MA, ma);
	TRY(sp_dbcli_open_store(store, 0, &s));
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
    "Remove a device with its device-level parameters and its contact record.\n"
    "\n"
    "Options:\n"
    DB_HELP_STORE
    "\n"
    "Examples:\n"
    "  sprov db devices rm 000e08aabbce\n";
static const char enable_help[] =
    "usage: sprov db devices enable MAC [--store URI]\n"
    "\n"
    "Serve this device again.  Enabling a pending device adopts it.\n"
    "\n"
    "Options:\n"
    DB_HELP_STORE
    "\n"
    "Examples:\n"
    "  sprov db devices enable 000e08aabbce\n";
static const char disable_help[] =
    "usage: sprov db devices disable MAC [--store URI]\n"
    "\n"
    "Stop serving this device (it gets what an unknown device gets) and\n"
    "keep its record and parameters.\n"
    "\n"
    "Options:\n"
    DB_HELP_STORE
    "\n"
    "Examples:\n"
    "  sprov db devices disable 000e08aabbce\n";

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


static const char devices_help[] =
    "usage: sprov db devices COMMAND [ARGS...] [--store URI]\n"
    "\n"
    "The devices the server knows: MAC, serial, product, group, enabled.\n"
    "\n"
    "Examples:\n"
    "  sprov db devices list\n";

static const char export_help[] =
    "usage: sprov db devices export --csv [--store URI]\n"
    "\n"
    "Write the devices an operator added (pending ones left out) to standard\n"
    "output as CSV with the header mac,serial,product,group: the file\n"
    "`sprov db devices import` reads, so export, import into another store\n"
    "and export again gives the same bytes.  The enabled state is not a CSV\n"
    "column: imported devices are enabled.\n"
    "\n"
    "Options:\n"
    "  --csv              the format (the only one, required so others can follow)\n"
    DB_HELP_STORE
    "\n"
    "Examples:\n"
    "  sprov db devices export --csv >export.csv\n";

/* Store fields are [A-Za-z0-9._:-] and the like: no CSV quoting needed. */
static sp_result
export_one(void *arg, const sp_device *d)
{
	sp_result res = SP_OK;
	const char *f[] = { d->serial, d->product, d->group };
	char ma[SP_MAC_STRLEN];

	(void)arg;
	if (d->pending)
		goto out;
	sp_mac_format(&d->mac, SP_MAC_MA, ma);
	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		ENSURE(strpbrk(f[i], ",\"\r\n") == NULL, SP_E_STATE,
		    "device %s: a field holds a CSV separator or quote", ma);
	ENSURE(printf("%s,%s,%s,%s\n", ma, d->serial, d->product, d->group) > 0, SP_E_IO,
	    "standard output: write failed");
out:
	return res;
}

static int
cmd_devices_export(int argc, char **argv)
{
	enum { OPT_CSV = 0x200 };
	static const struct option lo[] = {
		OPT_STORE_ENTRY,
		{ "csv", no_argument, NULL, OPT_CSV },
		SP_OPT_HELP_AND_END,
	};
	sp_opts opt;
	const char *store = NULL;
	sp_store *st = NULL;
	bool csv = false;
	sp_result res = SP_OK;
	int c;

	sp_opts_init(&opt, "db devices export", export_help, "", lo, argc, argv);
	while ((c = sp_opt_next(&opt)) > 0) {
		switch (c) {
		case OPT_STORE: store = opt.arg; break;
		case OPT_CSV: csv = true; break;
		}
	}
	if (c < 0)
		return opt.rc;
	if (opt.ind != argc)
		return sp_cli_usage("db devices export", "unexpected argument '%s'",
		    argv[opt.ind]);
	if (!csv)
		return sp_cli_usage("db devices export", "--csv is required");
	TRY(sp_dbcli_open_store(store, 0, &st));
	printf("mac,serial,product,group\n");
	TRY(sp_store_device_list(st, export_one, NULL));
	ENSURE(fflush(stdout) == 0, SP_E_IO, "standard output: write failed");
out:
	sp_store_close(st);
	return sp_ok(res) ? SP_EXIT_OK : sp_cli_fail("db devices export", res);
}

static const sp_cmd devices_cmds[] = {
	{ "add", cmd_devices_add, "add a device" },
	{ "list", cmd_devices_list, "list devices (pending ones marked)" },
	{ "show", cmd_devices_show, "a device, its last contact and its profile" },
	{ "rm", cmd_devices_rm, "remove a device" },
	{ "enable", cmd_devices_enable, "serve a device (adopts a pending one)" },
	{ "disable", cmd_devices_disable, "stop serving a device" },
	{ "import", sp_dbcli_devices_import, "add devices from a CSV file" },
	{ "export", cmd_devices_export, "write the devices as CSV (import reads it)" },
	{ NULL, NULL, NULL },
};

int
sp_dbcli_devices(int argc, char **argv)
{
	return sp_cli_dispatch("db devices", devices_cmds, argc, argv,
	    devices_help);
}

