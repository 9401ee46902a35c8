/*
 * sprov db audit list|verify: the store's hash-chained audit trail
 * (store.h "audit trail", docs/STORE.md).  Every change through the store
 * records its entry itself; these commands only read.
 */
#include "cli/cmd_db.h"

#include <stdio.h>
#include <string.h>

#include "common/text.h"
#include "common/util.h"

enum { OPT_LIMIT = 0x200 };

static const char list_help[] =
    "usage: sprov db audit list [--device MAC] [--limit N] [--json] [--store URI]\n"
    "\n"
    "The audit trail, newest first: sequence number, time, who (actor),\n"
    "action, target and detail.  Parameter values appear only as keyed\n"
    "hashes (hmac-sha256:...), never in clear.\n"
    "\n"
    "Options:\n"
    "  --device MAC       only the entries about this device\n"
    "  --limit N          at most N entries (default all)\n"
    "  --json             a JSON array instead of a table\n"
    DB_HELP_STORE
    "\n"
    "Examples:\n"
    "  sprov db audit list --limit 20\n"
    "  sprov db audit list --device 00:0e:08:aa:bb:cc --json\n"
    "\n"
    "Exit status:\n"
    "  1  the store could not be read\n";

typedef struct list_ctx {
	bool json;
	size_t n;
} list_ctx;

/* An object of printable ASCII: written as JSON by audit.c. */
static bool
detail_plain(const char *d)
{
	size_t n = strlen(d);

	if (n < 2 || d[0] != '{' || d[n - 1] != '}')
		return false;
	for (size_t i = 0; i < n; i++)
		if (d[i] < 0x20 || d[i] > 0x7e)
			return false;
	return true;
}

static sp_result
list_one(void *arg, const sp_audit_entry *e)
{
	sp_result res = SP_OK;
	list_ctx *l = arg;
	char t[32];

	sp_dbcli_fmt_time(e->time, t);
	if (l->json) {
		printf("%s\n  {\"seq\": %lld, \"time\": \"%s\", \"actor\": ",
		    l->n ? "," : "", (long long)e->seq, t);
		JSON_CSTR(e->actor);
		printf(", \"action\": ");
		JSON_CSTR(e->action);
		printf(", \"target\": ");
		JSON_CSTR(e->target);
		/* The object the store wrote; anything else (edited) as a string. */
		printf(", \"detail\": ");
		if (detail_plain(e->detail))
			printf("%s", e->detail);
		else
			JSON_CSTR(e->detail);
		printf(", \"hash\": \"%s\"}", e->hash);
	} else {
		char actor[2 * SP_AUDIT_ACTOR_MAX], target[2 * SP_AUDIT_TARGET_MAX];
		char detail[2 * SP_AUDIT_DETAIL_MAX];

		if (l->n == 0)
			printf("%-6s %-20s %-20s %-16s %-18s %s\n", "SEQ", "TIME",
			    "ACTOR", "ACTION", "TARGET", "DETAIL");
		sp_quote(sp_slice_of(e->actor), actor, sizeof(actor));
		sp_quote(sp_slice_of(e->target), target, sizeof(target));
		sp_quote(sp_slice_of(e->detail), detail, sizeof(detail));
		printf("%-6lld %-20s %-20s %-16s %-18s %s\n", (long long)e->seq, t,
		    actor, e->action, target, detail);
	}
	l->n++;
out:
	return res;
}

static int
cmd_list(int argc, char **argv)
{
	static const struct option lo[] = {
		OPT_STORE_ENTRY,
		{ "json", no_argument, NULL, OPT_JSON },
		{ "device", required_argument, NULL, OPT_DEVICE },
		{ "limit", required_argument, NULL, OPT_LIMIT },
		SP_OPT_HELP_AND_END,
	};
	sp_opts opt;
	const char *store = NULL, *dev = NULL, *limit = NULL;
	sp_store *s = NULL;
	list_ctx l = { false, 0 };
	sp_mac mac;
	int64_t n = 0;
	sp_result res = SP_OK;
	int c;

	sp_opts_init(&opt, "db audit list", list_help, "", lo, argc, argv);
	while ((c = sp_opt_next(&opt)) > 0) {
		switch (c) {
		case OPT_STORE: store = opt.arg; break;
		case OPT_JSON: l.json = true; break;
		case OPT_DEVICE: dev = opt.arg; break;
		case OPT_LIMIT: limit = opt.arg; break;
		}
	}
	if (c < 0)
		return opt.rc;
	if (opt.ind != argc)
		return sp_cli_usage("db audit list", "unexpected argument '%s'",
		    argv[opt.ind]);
	if (dev && sp_failed(sp_dbcli_parse_mac(dev, &mac)))
		return sp_cli_usage("db audit list", "--device: %s", sp_errmsg());
	if (limit && sp_failed(sp_parse_i64(limit, 1, INT64_MAX, "--limit", &n)))
		return sp_cli_usage("db audit list", "%s", sp_errmsg());
	TRY(sp_dbcli_open_store(store, 0, &s));
	if (l.json)
		printf("[");
	TRY(sp_store_audit_list(s, dev ? &mac : NULL, n, list_one, &l));
	if (l.json)
		printf("%s]\n", l.n ? "\n" : "");
	else if (l.n == 0)
		printf("no audit entries\n");
out:
	sp_store_close(s);
	return sp_failed(res) ? sp_cli_fail("db audit list", res) : SP_EXIT_OK;
}

static const char verify_help[] =
    "usage: sprov db audit verify [--store URI]\n"
    "\n"
    "Walk the audit trail's hash chain from the first entry to the last and\n"
    "check every entry's hash, that no sequence number is missing, and that\n"
    "the last entry is the one the store's head names.  Prints\n"
    "'audit: N entries, chain intact', or names the first bad entry.\n"
    "\n"
    "Options:\n"
    DB_HELP_STORE
    "\n"
    "Examples:\n"
    "  sprov db audit verify\n"
    "\n"
    "Exit status:\n"
    "  1  an entry was changed or removed, or the store could not be read\n";

static sp_result
verify_run(sp_store *s, char **args)
{
	sp_result res = SP_OK;
	int64_t n = 0;

	(void)args;
	TRY(sp_store_audit_verify(s, &n));
	printf("audit: %lld entries, chain intact\n", (long long)n);
out:
	return res;
}

static int
cmd_verify(int argc, char **argv)
{
	return sp_dbcli_store_cmd(argc, argv, "db audit verify", verify_help, 0,
	    "no arguments are taken", verify_run);
}

static const char audit_help[] =
    "usage: sprov db audit COMMAND [ARGS...] [--store URI]\n"
    "\n"
    "The audit trail: who changed which device, parameter or rollout, and\n"
    "when.  Hash-chained, so an edited or deleted entry is detected.\n"
    "\n"
    "Examples:\n"
    "  sprov db audit list --device 000e08aabbcc\n"
    "  sprov db audit verify\n";

static const sp_cmd audit_cmds[] = {
	{ "list", cmd_list, "list entries, newest first" },
	{ "verify", cmd_verify, "check the hash chain" },
	{ NULL, NULL, NULL },
};

int
sp_dbcli_audit(int argc, char **argv)
{
	return sp_cli_dispatch("db audit", audit_cmds, argc, argv, audit_help);
}
