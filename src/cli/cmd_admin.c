/*
 * sprov admin: who may use the operator console (docs/CONSOLE.md "Access").
 *
 *   sprov admin token add NAME --role read|admin
 *   sprov admin token list [--json]
 *   sprov admin token revoke NAME
 *   sprov admin login-url [--config FILE | --url BASE]
 *
 * Secrets are printed once and only their SHA-256 is stored
 * (store/tokens.h); every command takes --store like `sprov db`.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "cli/cmd_db.h"
#include "common/text.h"
#include "common/util.h"
#include "console/auth.h"
#include "server/admin.h"
#include "server/server.h"
#include "store/tokens.h"

enum { OPT_ROLE = 0x200, OPT_CONFIG, OPT_URL };

#define ADMIN_DEFAULT_ADDR "127.0.0.1:9443"   /* serve's default admin */
#define LOGIN_URL_MAX 1200

static const char add_help[] =
    "usage: sprov admin token add NAME --role read|admin [--store URI]\n"
    "\n"
    "Create an API token for the console's JSON API and print it once, as\n"
    "spv_<id>_<secret>.  Only a hash of it is stored: keep it where the\n"
    "client reads it.  A read token may only read; an admin token may\n"
    "change parameters.  NAME ([A-Za-z0-9._@-], at most 64) is what the\n"
    "audit trail records as api:NAME.\n"
    "\n"
    "Options:\n"
    "  --role ROLE        read or admin (required)\n"
    DB_HELP_STORE
    "\n"
    "Examples:\n"
    "  sprov admin token add grafana --role read\n"
    "  sprov admin token add ops@example.net --role admin\n"
    "\n"
    "Exit status:\n"
    "  1  a token of that name exists, or the store refused it\n";

static int
cmd_token_add(int argc, char **argv)
{
	static const struct option lo[] = {
		OPT_STORE_ENTRY,
		{ "role", required_argument, NULL, OPT_ROLE },
		SP_OPT_HELP_AND_END,
	};
	sp_opts opt;
	const char *store = NULL, *role = NULL;
	sp_store *s = NULL;
	sp_token_info t;
	sp_role r;
	char token[SP_TOKEN_STR_LEN + 1] = "";
	sp_result res = SP_OK;
	int c;

	sp_opts_init(&opt, "admin token add", add_help, "", lo, argc, argv);
	while ((c = sp_opt_next(&opt)) > 0) {
		switch (c) {
		case OPT_STORE: store = opt.arg; break;
		case OPT_ROLE: role = opt.arg; break;
		}
	}
	if (c < 0)
		return opt.rc;
	if (argc - opt.ind != 1)
		return sp_cli_usage("admin token add", "expected one NAME");
	if (role == NULL)
		return sp_cli_usage("admin token add", "--role read|admin is required");
	if (sp_failed(sp_role_parse(role, &r)))
		return sp_cli_usage("admin token add", "--role: %s", sp_errmsg());
	if (sp_failed(sp_token_name_check(argv[opt.ind])))
		return sp_cli_usage("admin token add", "%s", sp_errmsg());
	TRY(sp_dbcli_open_store(store, 0, &s));
	TRY(sp_console_token_new(argv[opt.ind], r, (int64_t)time(NULL), &t, token));
	TRY(sp_store_token_add(s, &t));
	printf("%s\n", token);
	fflush(stdout);
	fprintf(stderr, "token '%s' (role %s) added; it is shown only this once\n",
	    t.name, sp_role_name(r));
out:
	OPENSSL_cleanse(token, sizeof(token));
	sp_store_close(s);
	return sp_failed(res) ? sp_cli_fail("admin token add", res) : SP_EXIT_OK;
}

static const char list_help[] =
    "usage: sprov admin token list [--json] [--store URI]\n"
    "\n"
    "The console's API tokens: name, id, role, when created and last used,\n"
    "and whether revoked.  Secrets are never shown (only hashes are kept).\n"
    "\n"
    "Options:\n"
    "  --json             a JSON array instead of a table\n"
    DB_HELP_STORE
    "\n"
    "Examples:\n"
    "  sprov admin token list\n"
    "  sprov admin token list --json\n";

static sp_result
list_one(void *arg, const sp_token_info *t)
{
	sp_result res = SP_OK;
	sp_dbcli_list *l = arg;
	char created[32], used[32];

	sp_dbcli_fmt_time(t->created, created);
	sp_dbcli_fmt_time(t->last_used, used);
	if (l->json) {
		printf("%s\n  {\"name\": ", l->n ? "," : "");
		JSON_CSTR(t->name);
		printf(", \"id\": \"%s\", \"role\": \"%s\", \"created\": %lld, "
		    "\"last_used\": ", t->id, sp_role_name(t->role),
		    (long long)t->created);
		if (t->last_used)
			printf("%lld", (long long)t->last_used);
		else
			printf("null");
		printf(", \"revoked\": %s}", t->revoked ? "true" : "false");
	} else {
		if (l->n == 0)
			printf("%-24s %-8s %-5s %-20s %-20s %s\n", "NAME", "ID", "ROLE",
			    "CREATED", "LAST USED", "REVOKED");
		printf("%-24s %-8s %-5s %-20s %-20s %s\n", t->name, t->id,
		    sp_role_name(t->role), created, used, t->revoked ? "yes" : "no");
	}
	l->n++;
out:
	return res;
}

static sp_result
list_run(sp_dbcli_list *l)
{
	return sp_store_token_list(l->s, list_one, l);
}

static int
cmd_token_list(int argc, char **argv)
{
	return sp_dbcli_list_cmd(argc, argv, "admin token list", list_help,
	    list_run, "no tokens");
}

static const char revoke_help[] =
    "usage: sprov admin token revoke NAME [--store URI]\n"
    "\n"
    "Revoke a token: requests carrying it are refused (401) from then on, on\n"
    "every node.  The row stays, so the name is not reused and the audit\n"
    "trail still names it.  Revoking twice is not an error.\n"
    "\n"
    "Options:\n"
    DB_HELP_STORE
    "\n"
    "Examples:\n"
    "  sprov admin token revoke grafana\n"
    "\n"
    "Exit status:\n"
    "  1  no token has that name, or the store refused it\n";

static sp_result
revoke_run(sp_store *s, char **args)
{
	sp_result res = SP_OK;

	TRY(sp_store_token_revoke(s, args[0]));
	printf("token '%s' revoked\n", args[0]);
out:
	return res;
}

static int
cmd_token_revoke(int argc, char **argv)
{
	return sp_dbcli_store_cmd(argc, argv, "admin token revoke", revoke_help,
	    1, "expected one NAME", revoke_run);
}

static const char token_help[] =
    "usage: sprov admin token COMMAND [ARGS...] [--store URI]\n"
    "\n"
    "API tokens for the console's JSON API (Authorization: Bearer).\n"
    "\n"
    "Examples:\n"
    "  sprov admin token list\n";

static const sp_cmd token_cmds[] = {
	{ "add", cmd_token_add, "create a token and print it once" },
	{ "list", cmd_token_list, "list tokens (never their secrets)" },
	{ "revoke", cmd_token_revoke, "refuse a token from now on" },
	{ NULL, NULL, NULL },
};

static int
cmd_token(int argc, char **argv)
{
	return sp_cli_dispatch("admin token", token_cmds, argc, argv, token_help);
}

static const char login_help[] =
    "usage: sprov admin login-url [--config FILE | --url BASE] [--store URI]\n"
    "\n"
    "Print a link that logs a browser into the console: valid for 60\n"
    "seconds and for one use, it sets a session cookie (8 hours, role\n"
    "admin) whose changes the audit trail records as console:cli:USER.\n"
    "The address is the admin listener's: from the serve config's `admin`\n"
    "with --config, else BASE with --url, else http://" ADMIN_DEFAULT_ADDR ".\n"
    "\n"
    "Options:\n"
    "  --config FILE      the `sprov serve` config to read `admin` (and,\n"
    "                     without --store, `store`) from\n"
    "  --url BASE         the console's base URL, e.g. http://127.0.0.1:9443\n"
    DB_HELP_STORE
    "\n"
    "Examples:\n"
    "  sprov admin login-url\n"
    "  sprov admin login-url --url http://127.0.0.1:9443\n"
    "\n"
    "Exit status:\n"
    "  1  the config or the store could not be read\n";

/* http(s)://ADDR from a serve config's admin address. */
static sp_result
base_of_admin(const char *admin, char *out, size_t outsz)
{
	if (admin[0] == '\0' || strcmp(admin, "off") == 0)
		return sp_error(SP_E_USAGE, "admin = off: there is no console to "
		    "log into");
	snprintf(out, outsz, "%s://%s",
	    srv_admin_addr_loopback(admin) ? "http" : "https", admin);
	return SP_OK;
}

static int
cmd_login_url(int argc, char **argv)
{
	static const struct option lo[] = {
		OPT_STORE_ENTRY,
		{ "config", required_argument, NULL, OPT_CONFIG },
		{ "url", required_argument, NULL, OPT_URL },
		SP_OPT_HELP_AND_END,
	};
	sp_opts opt;
	const char *store = NULL, *config = NULL, *url = NULL;
	sp_serve_config *cfg = NULL;
	sp_store *s = NULL;
	char base[LOGIN_URL_MAX], secret[SP_SECRET_B64_LEN + 1] = "";
	char actor[SP_AUDIT_ACTOR_MAX + 1];
	uint8_t hash[SP_SECRET_HASH_LEN];
	size_t n;
	sp_result res = SP_OK;
	int c;

	sp_opts_init(&opt, "admin login-url", login_help, "", lo, argc, argv);
	while ((c = sp_opt_next(&opt)) > 0) {
		switch (c) {
		case OPT_STORE: store = opt.arg; break;
		case OPT_CONFIG: config = opt.arg; break;
		case OPT_URL: url = opt.arg; break;
		}
	}
	if (c < 0)
		return opt.rc;
	if (opt.ind != argc)
		return sp_cli_usage("admin login-url", "unexpected argument '%s'",
		    argv[opt.ind]);
	if (config && url)
		return sp_cli_usage("admin login-url", "--config and --url: give one");
	if (url) {
		if ((strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) ||
		    sp_has_ctl(sp_slice_of(url)) || strlen(url) >= sizeof(base) - 100)
			return sp_cli_usage("admin login-url", "--url: '%s' is not an "
			    "http:// or https:// URL", url);
		snprintf(base, sizeof(base), "%s", url);
	} else if (config) {
		TRY_ALLOC(cfg, calloc(1, sizeof(*cfg)));
		TRY(sp_error_wrap(sp_serve_config_load(config, NULL, cfg), "%s",
		    config));
		TRY(sp_error_wrap(base_of_admin(cfg->admin, base, sizeof(base)),
		    "%s", config));
		if (store == NULL && cfg->store[0])
			store = cfg->store;
	} else {
		snprintf(base, sizeof(base), "http://%s", ADMIN_DEFAULT_ADDR);
	}
	n = strlen(base);
	while (n > 0 && base[n - 1] == '/')
		base[--n] = '\0';
	TRY(sp_dbcli_open_store(store, 0, &s));
	sp_dbcli_actor(actor);
	TRY(sp_console_secret_new(secret, hash));
	TRY(sp_store_login_add(s, hash, actor,
	    (int64_t)time(NULL) + SP_LOGIN_TTL));
	printf("%s/login?t=%s\n", base, secret);
out:
	OPENSSL_cleanse(secret, sizeof(secret));
	sp_store_close(s);
	free(cfg);
	return sp_failed(res) ? sp_cli_fail("admin login-url", res) : SP_EXIT_OK;
}

static const char admin_help[] =
    "usage: sprov admin COMMAND [ARGS...]\n"
    "\n"
    "Access to the operator console that `sprov serve` runs on its admin\n"
    "listener: API tokens and one-time browser login links.\n"
    "\n"
    "Examples:\n"
    "  sprov admin token list\n"
    "  sprov admin login-url\n";

static const sp_cmd admin_cmds[] = {
	{ "token", cmd_token, "API tokens: add, list, revoke" },
	{ "login-url", cmd_login_url, "print a one-time console login link" },
	{ NULL, NULL, NULL },
};

int
sp_cmd_admin(int argc, char **argv)
{
	return sp_cli_dispatch("admin", admin_cmds, argc, argv, admin_help);
}
