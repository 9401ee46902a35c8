/* sprov db params: set, unset, list at one of four levels. */
#include "cli/cmd_db.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/text.h"
#include "common/util.h"
#include "profile/profile.h"

/* ---- db params ---------------------------------------------------------- */

typedef struct level_opt {
	sp_level_ref ref;
	int count;
} level_opt;

#define LEVEL_USAGE \
    "Exactly one level: --default (or --defaults), --product PN, --group G or\n" \
    "--device MAC.\n" \
    "Levels apply in that order, each overriding the one before.\n"
/* The level options' lines in Options (column 21, as DB_HELP_STORE). */
#define LEVEL_OPTIONS_HELP \
    "  --default          the defaults level\n" \
    "  --defaults         the same\n" \
    "  --product PN       the level of product PN\n" \
    "  --group G          the level of group G\n" \
    "  --device MAC       the level of one device\n"

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
    LEVEL_USAGE
    "\n"
    "Options:\n"
    LEVEL_OPTIONS_HELP
    "  --access na|ro|rw  web page access: none, read-only, read-write\n"
    "  --field 'WEB NAME' the parameter by its web page field name\n"
    "  --stdin            read the value from standard input\n"
    DB_HELP_STORE
    "\n"
    "Examples:\n"
    "  sprov db params set --default Proxy_1_=sip.telco.net --access na\n"
    "  sprov db params set --product SPA2102 --field 'Dial Plan[1]' '(xx.)'\n"
    "  echo s3cret | sprov db params set --device 000e08aabbcc Password_1_ --stdin\n";

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
		OPT_STORE_ENTRY,
		{ "access", required_argument, NULL, OPT_ACCESS },
		{ "field", required_argument, NULL, OPT_FIELD },
		{ "stdin", no_argument, NULL, OPT_STDIN },
		LEVEL_OPTIONS,
		SP_OPT_HELP_AND_END,
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
	TRY(sp_dbcli_open_store(store, 0, &s));
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
    LEVEL_USAGE
    "\n"
    "Options:\n"
    LEVEL_OPTIONS_HELP
    "  --field 'WEB NAME' the parameter by its web page field name\n"
    DB_HELP_STORE
    "\n"
    "Examples:\n"
    "  sprov db params unset --product SPA2102 --field 'Dial Plan[1]'\n";

static int
cmd_params_unset(int argc, char **argv)
{
	static const struct option lo[] = {
		OPT_STORE_ENTRY,
		{ "field", required_argument, NULL, OPT_FIELD },
		LEVEL_OPTIONS,
		SP_OPT_HELP_AND_END,
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
	TRY(sp_dbcli_open_store(store, 0, &s));
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
    LEVEL_USAGE
    "\n"
    "Options:\n"
    LEVEL_OPTIONS_HELP
    "  --json             one JSON array of {name, value, access} objects\n"
    DB_HELP_STORE
    "\n"
    "Examples:\n"
    "  sprov db params list --device 000e08aabbcc --json\n";

static int
cmd_params_list(int argc, char **argv)
{
	static const struct option lo[] = {
		OPT_STORE_ENTRY,
		{ "json", no_argument, NULL, OPT_JSON },
		LEVEL_OPTIONS,
		SP_OPT_HELP_AND_END,
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
	TRY(sp_dbcli_open_store(store, 0, &s));
	TRY(sp_store_params_level(s, &lv.ref, &ps));
	if (json)
		printf("[");
	for (size_t i = 0; i < ps.n; i++) {
		const sp_param *p = &ps.v[i];
		if (json) {
			printf("%s\n  {\"name\": ", i ? "," : "");
			JSON_CSTR(p->name);
			printf(", \"value\": ");
			TRY(sp_dbcli_json_secret(sp_slice_mk(p->value, p->value_len)));
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
    "attribute (na, ro, rw, or none).\n"
    "\n"
    "Examples:\n"
    "  sprov db params list --default\n";

static const sp_cmd params_cmds[] = {
	{ "set", cmd_params_set, "set a parameter at a level" },
	{ "unset", cmd_params_unset, "remove a parameter from a level" },
	{ "list", cmd_params_list, "the parameters of one level" },
	{ NULL, NULL, NULL },
};

int
sp_dbcli_params(int argc, char **argv)
{
	return sp_cli_dispatch("db params", params_cmds, argc, argv, params_help);
}

