/*
 * sprov rollout: staged changes with automatic halt (docs/ROLLOUTS.md).
 *
 *   sprov rollout create NAME (--param NAME=VALUE LEVEL | --firmware PN:VERSION)
 *   sprov rollout status|pause|resume|rollback NAME, list, tick
 *
 * Everything lives in the store (store.h "rollouts"), so every server
 * node applies the same waves; the servers tick on their own, `rollout
 * tick` lets cron and tests drive it.  A parameter value is a secret: it
 * is never printed, only the parameter's name.
 */
#include "cli/cmd_db.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/text.h"
#include "common/util.h"

enum { OPT_PARAM = 0x300, OPT_FIRMWARE, OPT_FW_PATH, OPT_WAVES, OPT_INTERVAL,
	OPT_HALT_IF, OPT_WINDOW, OPT_NOW, OPT_NAME };

#define RO_DEFAULT_INTERVAL 3600
#define RO_DEFAULT_WINDOW 3600

static const char create_help[] =
    "usage: sprov rollout create NAME --param NAME=VALUE (--defaults | --product PN |\n"
    "           --group G) --waves LIST [--wave-interval D] [--halt-if RULE]\n"
    "           [--success-window D] [--store URI]\n"
    "       sprov rollout create NAME --firmware PN:VERSION [--firmware-path T]\n"
    "           --waves LIST [...]\n"
    "\n"
    "Start a staged change.  --param gives the targeted devices (all, one\n"
    "product's or one group's) a new value; --firmware gives product PN's\n"
    "devices Upgrade_Rule = (! VERSION)? PATH, the image being in the store.\n"
    "Devices join waves by a keyed hash of their MAC; wave 1 is released at\n"
    "once, each next one --wave-interval later (default 1h) unless a wave's\n"
    "failure rate passed --halt-if: then the rollout halts by itself.  A\n"
    "device succeeds when it fetches its profile (firmware: reports VERSION)\n"
    "within --success-window (default 1h) of its wave's release.\n"
    "\n"
    "Options:\n"
    "  --param NAME=VALUE the parameter and its new value\n"
    "  --defaults         target every device\n"
    "  --product PN       target the devices of product PN\n"
    "  --group G          target the devices of group G\n"
    "  --firmware PN:VERSION  a firmware target instead of --param\n"
    "  --firmware-path T  the image's path (default /firmware/$PN/$VERSION.sfw)\n"
    "  --waves LIST       cumulative percentages, e.g. 1,10,50,100\n"
    "  --wave-interval D  time between waves: 90s, 15m, 2h, 1d (default 1h)\n"
    "  --halt-if RULE     failure-rate>N% (default: never halt)\n"
    "  --success-window D how long a device has to come back (default 1h)\n"
    DB_HELP_STORE
    "\n"
    "Examples:\n"
    "  sprov rollout create proxy2 --param Proxy_1_=sip2.example.net --defaults \\\n"
    "      --waves 1,10,50,100 --wave-interval 2h --halt-if 'failure-rate>2%'\n"
    "  sprov rollout create fw201 --firmware SPA-962:2.0.1 --waves 5,100 \\\n"
    "      --success-window 30m --halt-if 'failure-rate>5%'\n"
    "\n"
    "Exit status:\n"
    "  1  refused (name in use, image not stored, another rollout changes the\n"
    "     same parameter) or failed: nothing was written\n";

/* NAME=VALUE: the value is a secret, never echoed. */
static int
split_param(const char *arg, char *name, size_t namesz, sp_slice *value)
{
	const char *eq = strchr(arg, '=');

	if (eq == NULL || eq == arg || (size_t)(eq - arg) >= namesz)
		return sp_cli_usage("rollout create", "--param needs NAME=VALUE");
	memcpy(name, arg, (size_t)(eq - arg));
	name[eq - arg] = '\0';
	*value = sp_slice_of(eq + 1);
	return SP_EXIT_OK;
}

/* A duration option's value; false (o->rc set) when it is not one. */
static bool
duration_opt(sp_opts *o, int64_t *out)
{
	if (sp_ok(sp_rollout_duration_parse(sp_slice_of(o->arg), out)))
		return true;
	(void)sp_opt_fail(o, "%s", sp_errmsg());
	return false;
}

static int
cmd_create(int argc, char **argv)
{
	static const struct option lo[] = {
		OPT_STORE_ENTRY,
		{ "param", required_argument, NULL, OPT_PARAM },
		{ "defaults", no_argument, NULL, OPT_DEFAULT },
		{ "product", required_argument, NULL, OPT_PRODUCT },
		{ "group", required_argument, NULL, OPT_GROUP },
		{ "firmware", required_argument, NULL, OPT_FIRMWARE },
		{ "firmware-path", required_argument, NULL, OPT_FW_PATH },
		{ "waves", required_argument, NULL, OPT_WAVES },
		{ "wave-interval", required_argument, NULL, OPT_INTERVAL },
		{ "halt-if", required_argument, NULL, OPT_HALT_IF },
		{ "success-window", required_argument, NULL, OPT_WINDOW },
		SP_OPT_HELP_AND_END,
	};
	static const char *const W = "rollout create";
	sp_opts opt;
	const char *store = NULL, *param = NULL, *fwarg = NULL;
	sp_rollout_spec sp;
	sp_store *s = NULL;
	sp_rollout r;
	sp_result res = SP_OK;
	char pname[SP_PARAM_NAME_MAX + 2], fwp[SP_FW_PRODUCT_MAX + 1];
	int c, nlevels = 0, rc;
	bool waves = false;

	memset(&sp, 0, sizeof(sp));
	sp.wave_interval = RO_DEFAULT_INTERVAL;
	sp.success_window = RO_DEFAULT_WINDOW;
	sp.halt_bp = -1;
	sp_opts_init(&opt, W, create_help, "", lo, argc, argv);
	while ((c = sp_opt_next(&opt)) > 0) {
		switch (c) {
		case OPT_STORE: store = opt.arg; break;
		case OPT_PARAM: param = opt.arg; break;
		case OPT_DEFAULT:
			sp.target = (sp_level_ref){ SP_LEVEL_DEFAULTS, NULL };
			nlevels++;
			break;
		case OPT_PRODUCT:
			sp.target = (sp_level_ref){ SP_LEVEL_PRODUCT, opt.arg };
			nlevels++;
			break;
		case OPT_GROUP:
			sp.target = (sp_level_ref){ SP_LEVEL_GROUP, opt.arg };
			nlevels++;
			break;
		case OPT_FIRMWARE: fwarg = opt.arg; break;
		case OPT_FW_PATH: sp.fw_path = opt.arg; break;
		case OPT_WAVES:
			if (sp_failed(sp_rollout_waves_parse(sp_slice_of(opt.arg), &sp)))
				return sp_cli_usage(W, "%s", sp_errmsg());
			waves = true;
			break;
		case OPT_INTERVAL:
			if (!duration_opt(&opt, &sp.wave_interval))
				return opt.rc;
			break;
		case OPT_WINDOW:
			if (!duration_opt(&opt, &sp.success_window))
				return opt.rc;
			if (sp.success_window < 1)
				return sp_cli_usage(W, "--success-window must be at least 1s");
			break;
		case OPT_HALT_IF:
			if (sp_failed(sp_rollout_halt_parse(sp_slice_of(opt.arg),
			    &sp.halt_bp)))
				return sp_cli_usage(W, "%s", sp_errmsg());
			break;
		}
	}
	if (c < 0)
		return opt.rc;
	if (opt.ind == argc)
		return sp_cli_usage(W, "a rollout NAME is needed");
	if (opt.ind + 1 != argc)
		return sp_cli_usage(W, "unexpected argument '%s'", argv[opt.ind + 1]);
	sp.name = argv[opt.ind];
	if (sp_failed(sp_rollout_name_check(sp_slice_of(sp.name))))
		return sp_cli_usage(W, "%s", sp_errmsg());
	if ((param != NULL) == (fwarg != NULL))
		return sp_cli_usage(W, "give --param NAME=VALUE or --firmware "
		    "PN:VERSION");
	if (!waves)
		return sp_cli_usage(W, "--waves is needed, e.g. --waves 1,10,50,100");
	if (param) {
		if (nlevels != 1)
			return sp_cli_usage(W, "--param needs exactly one of "
			    "--defaults, --product PN, --group G");
		if (sp.fw_path)
			return sp_cli_usage(W, "--firmware-path goes with --firmware");
		if ((rc = split_param(param, pname, sizeof(pname), &sp.value)) !=
		    SP_EXIT_OK)
			return rc;
		sp.kind = SP_ROLLOUT_PARAM;
		sp.param = pname;
	} else {
		const char *colon = strchr(fwarg, ':');
		if (nlevels != 0)
			return sp_cli_usage(W, "--firmware PN:VERSION targets product "
			    "PN: no --defaults, --product or --group");
		if (colon == NULL || colon == fwarg ||
		    (size_t)(colon - fwarg) > SP_FW_PRODUCT_MAX ||
		    !sp_fw_product_ok(sp_slice_mk(fwarg, (size_t)(colon - fwarg))) ||
		    !sp_fw_version_ok(sp_slice_of(colon + 1)))
			return sp_cli_usage(W, "--firmware needs PN:VERSION (product "
			    "[A-Za-z0-9._-], version [A-Za-z0-9._()-])");
		memcpy(fwp, fwarg, (size_t)(colon - fwarg));
		fwp[colon - fwarg] = '\0';
		sp.kind = SP_ROLLOUT_FIRMWARE;
		sp.fw_product = fwp;
		sp.fw_version = colon + 1;
	}
	TRY(sp_dbcli_open_store(store, 0, &s));
	TRY(sp_store_rollout_create(s, &sp, sp_now(), &r));
	printf("rollout %s created: wave 1 of %d (%d%%) released\n", r.name,
	    r.nwaves, r.waves[0].pct);
out:
	sp_store_close(s);
	return sp_failed(res) ? sp_cli_fail(W, res) : SP_EXIT_OK;
}

/* ---- status and list ---------------------------------------------------- */

static void
print_target(const sp_rollout *r)
{
	if (r->kind == SP_ROLLOUT_FIRMWARE)
		printf("firmware %s %s", r->target_key, r->fw_version);
	else if (r->target_level == SP_LEVEL_DEFAULTS)
		printf("%s on the defaults", r->param);
	else
		printf("%s on %s %s", r->param, sp_level_name(r->target_level),
		    r->target_key);
}

static sp_result
json_head(const sp_rollout *r)
{
	sp_result res = SP_OK;
	char t[32];

	printf("{\"name\":");
	JSON_CSTR(r->name);
	printf(",\"kind\":\"%s\",\"state\":\"%s\",\"level\":\"%s\",\"key\":",
	    sp_rollout_kind_name(r->kind), sp_rollout_state_name(r->state),
	    sp_level_name(r->target_level));
	JSON_CSTR(r->target_key);
	printf(",\"param\":");
	JSON_CSTR(r->param);
	printf(",\"version\":");
	JSON_CSTR(r->fw_version);
	printf(",\"parent\":");
	JSON_CSTR(r->parent);
	printf(",\"rolled_back_by\":");
	JSON_CSTR(r->rolled_back_by);
	printf(",\"waves\":%d,\"released\":%d,\"wave_interval\":%" PRId64
	    ",\"success_window\":%" PRId64 ",\"halt_bp\":%d", r->nwaves,
	    r->released, r->wave_interval, r->success_window, r->halt_bp);
	sp_dbcli_fmt_time(r->created, t);
	printf(",\"created\":\"%s\"", t);
	sp_dbcli_fmt_time(r->updated, t);
	printf(",\"updated\":\"%s\",\"reason\":", t);
	JSON_CSTR(r->reason);
out:
	return res;
}

static const char status_help[] =
    "usage: sprov rollout status NAME [--json] [--now UNIX] [--store URI]\n"
    "\n"
    "A rollout and each of its waves: targeted devices, released, succeeded,\n"
    "failed and pending, as of now, from the devices' last contacts.\n"
    "\n"
    "Options:\n"
    "  --json             one JSON object (waves in an array)\n"
    "  --now UNIX         judge as of this time (unix seconds), for replays\n"
    DB_HELP_STORE
    "\n"
    "Examples:\n"
    "  sprov rollout status proxy2\n"
    "  sprov rollout status fw201 --json\n";

static int
cmd_status(int argc, char **argv)
{
	static const struct option lo[] = {
		OPT_STORE_ENTRY,
		{ "json", no_argument, NULL, OPT_JSON },
		{ "now", required_argument, NULL, OPT_NOW },
		SP_OPT_HELP_AND_END,
	};
	static const char *const W = "rollout status";
	sp_opts opt;
	const char *store = NULL;
	sp_store *s = NULL;
	sp_rollout r;
	sp_rollout_wave_stat st[SP_ROLLOUT_WAVES_MAX];
	sp_result res = SP_OK;
	int64_t now = sp_now();
	bool json = false;
	char t[32];
	int c;

	sp_opts_init(&opt, W, status_help, "", lo, argc, argv);
	while ((c = sp_opt_next(&opt)) > 0) {
		switch (c) {
		case OPT_STORE: store = opt.arg; break;
		case OPT_JSON: json = true; break;
		case OPT_NOW:
			if (!sp_opt_i64(&opt, 0, INT64_MAX / 2, &now))
				return opt.rc;
			break;
		}
	}
	if (c < 0)
		return opt.rc;
	if (argc - opt.ind != 1)
		return sp_cli_usage(W, "one rollout NAME is needed");
	TRY(sp_dbcli_open_store(store, 0, &s));
	TRY(sp_store_rollout_status(s, argv[opt.ind], now, &r, st));
	if (json) {
		TRY(json_head(&r));
		printf(",\"wave_list\":[");
		for (int i = 0; i < r.nwaves; i++) {
			sp_dbcli_fmt_time(r.waves[i].released_at, t);
			printf("%s{\"wave\":%d,\"percent\":%d,\"released_at\":\"%s\","
			    "\"targeted\":%" PRIu64 ",\"released\":%" PRIu64
			    ",\"succeeded\":%" PRIu64 ",\"failed\":%" PRIu64
			    ",\"pending\":%" PRIu64 "}", i ? "," : "", i + 1,
			    r.waves[i].pct, t, st[i].targeted, st[i].released,
			    st[i].succeeded, st[i].failed, st[i].pending);
		}
		printf("]}\n");
		goto out;
	}
	printf("rollout %s (%s): ", r.name, sp_rollout_kind_name(r.kind));
	print_target(&r);
	printf(", %s", sp_rollout_state_name(r.state));
	if (r.parent[0])
		printf(", undoes %s", r.parent);
	if (r.rolled_back_by[0])
		printf(", rolled back by %s", r.rolled_back_by);
	printf("\n");
	if (r.reason[0])
		printf("halted: %s\n", r.reason);
	printf("%-5s %7s  %-20s %9s %9s %9s %7s %8s\n", "WAVE", "PERCENT",
	    "RELEASED-AT", "TARGETED", "RELEASED", "SUCCEEDED", "FAILED", "PENDING");
	for (int i = 0; i < r.nwaves; i++) {
		sp_dbcli_fmt_time(r.waves[i].released_at, t);
		printf("%-5d %7d  %-20s %9" PRIu64 " %9" PRIu64 " %9" PRIu64
		    " %7" PRIu64 " %8" PRIu64 "\n", i + 1, r.waves[i].pct, t,
		    st[i].targeted, st[i].released, st[i].succeeded, st[i].failed,
		    st[i].pending);
	}
out:
	sp_store_close(s);
	return sp_failed(res) ? sp_cli_fail(W, res) : SP_EXIT_OK;
}

static const char list_help[] =
    "usage: sprov rollout list [--json] [--store URI]\n"
    "\n"
    "Every rollout, oldest first: its state, target and waves released.\n"
    "\n"
    "Options:\n"
    "  --json             one JSON array of objects instead of a table\n"
    DB_HELP_STORE
    "\n"
    "Examples:\n"
    "  sprov rollout list\n"
    "  sprov rollout list --json\n";

static sp_result
list_one(void *arg, const sp_rollout *r)
{
	sp_result res = SP_OK;
	sp_dbcli_list *l = arg;

	if (l->json) {
		printf("%s\n  ", l->n ? "," : "");
		TRY(json_head(r));
		printf("}");
	} else {
		if (l->n == 0)
			printf("%-20s %-9s %-12s %-7s %s\n", "NAME", "KIND", "STATE",
			    "WAVES", "TARGET");
		printf("%-20s %-9s %-12s %d/%-5d ", r->name,
		    sp_rollout_kind_name(r->kind), sp_rollout_state_name(r->state),
		    r->released, r->nwaves);
		print_target(r);
		printf("\n");
	}
	l->n++;
out:
	return res;
}

static sp_result
list_all(sp_dbcli_list *l)
{
	return sp_store_rollout_list(l->s, list_one, l);
}

static int
cmd_list(int argc, char **argv)
{
	return sp_dbcli_list_cmd(argc, argv, "rollout list", list_help, list_all,
	    "no rollouts");
}

/* ---- pause, resume, rollback, tick -------------------------------------- */

static const char pause_help[] =
    "usage: sprov rollout pause NAME [--store URI]\n"
    "\n"
    "Stop releasing waves.  Released devices keep the new value.\n"
    "\n"
    "Options:\n"
    DB_HELP_STORE
    "\n"
    "Examples:\n"
    "  sprov rollout pause proxy2\n"
    "\n"
    "Exit status:\n"
    "  1  no such rollout, or it is not running: nothing changed\n";

static const char resume_help[] =
    "usage: sprov rollout resume NAME [--store URI]\n"
    "\n"
    "Release waves again after 'rollout pause'.\n"
    "\n"
    "Options:\n"
    DB_HELP_STORE
    "\n"
    "Examples:\n"
    "  sprov rollout resume proxy2\n"
    "\n"
    "Exit status:\n"
    "  1  no such rollout, or it is not paused: nothing changed\n";

static sp_result
pause_run(sp_store *s, char **args)
{
	sp_result res = SP_OK;

	TRY(sp_store_rollout_pause(s, args[0], sp_now()));
	printf("rollout %s paused\n", args[0]);
out:
	return res;
}

static sp_result
resume_run(sp_store *s, char **args)
{
	sp_result res = SP_OK;

	TRY(sp_store_rollout_resume(s, args[0], sp_now()));
	printf("rollout %s resumed\n", args[0]);
out:
	return res;
}

static int
cmd_pause(int argc, char **argv)
{
	return sp_dbcli_store_cmd(argc, argv, "rollout pause", pause_help, 1,
	    "one rollout NAME is needed", pause_run);
}

static int
cmd_resume(int argc, char **argv)
{
	return sp_dbcli_store_cmd(argc, argv, "rollout resume", resume_help, 1,
	    "one rollout NAME is needed", resume_run);
}

static const char rollback_help[] =
    "usage: sprov rollout rollback NAME [--name RB] [--store URI]\n"
    "\n"
    "Put a rollout's released waves back: a rollout of its own (named RB,\n"
    "default NAME-rollback) over the same devices, released at once, whose\n"
    "status shows who came back for the old value.  NAME stops applying.\n"
    "\n"
    "Options:\n"
    "  --name RB          the rollback's name (default NAME-rollback)\n"
    DB_HELP_STORE
    "\n"
    "Examples:\n"
    "  sprov rollout rollback proxy2\n"
    "\n"
    "Exit status:\n"
    "  1  no such rollout, rolled back already, a rollback itself, or RB in\n"
    "     use: nothing changed\n";

static int
cmd_rollback(int argc, char **argv)
{
	static const struct option lo[] = {
		OPT_STORE_ENTRY,
		{ "name", required_argument, NULL, OPT_NAME },
		SP_OPT_HELP_AND_END,
	};
	static const char *const W = "rollout rollback";
	sp_opts opt;
	const char *store = NULL, *rb = NULL;
	sp_store *s = NULL;
	sp_rollout r;
	sp_result res = SP_OK;
	int c;

	sp_opts_init(&opt, W, rollback_help, "", lo, argc, argv);
	while ((c = sp_opt_next(&opt)) > 0) {
		switch (c) {
		case OPT_STORE: store = opt.arg; break;
		case OPT_NAME: rb = opt.arg; break;
		}
	}
	if (c < 0)
		return opt.rc;
	if (argc - opt.ind != 1)
		return sp_cli_usage(W, "one rollout NAME is needed");
	if (rb && sp_failed(sp_rollout_name_check(sp_slice_of(rb))))
		return sp_cli_usage(W, "%s", sp_errmsg());
	TRY(sp_dbcli_open_store(store, 0, &s));
	TRY(sp_store_rollout_rollback(s, argv[opt.ind], rb, sp_now(), &r));
	printf("rollout %s rolled back by %s (%d wave%s)\n", argv[opt.ind], r.name,
	    r.nwaves, r.nwaves == 1 ? "" : "s");
out:
	sp_store_close(s);
	return sp_failed(res) ? sp_cli_fail(W, res) : SP_EXIT_OK;
}

static const char tick_help[] =
    "usage: sprov rollout tick [--now UNIX] [--store URI]\n"
    "\n"
    "Drive every running rollout once: judge released waves, halt one whose\n"
    "failure rate passed its threshold, release a wave that is due.  The\n"
    "servers do this every few seconds; this is for cron and tests.  Safe to\n"
    "run any number of times, from any number of nodes.\n"
    "\n"
    "Options:\n"
    "  --now UNIX         act as of this time (unix seconds), for tests\n"
    DB_HELP_STORE
    "\n"
    "Examples:\n"
    "  sprov rollout tick\n";

static int
cmd_tick(int argc, char **argv)
{
	static const struct option lo[] = {
		OPT_STORE_ENTRY,
		{ "now", required_argument, NULL, OPT_NOW },
		SP_OPT_HELP_AND_END,
	};
	sp_opts opt;
	const char *store = NULL;
	sp_store *s = NULL;
	sp_rollout_tick_report rep;
	sp_result res = SP_OK;
	int64_t now = sp_now();
	int c;

	sp_opts_init(&opt, "rollout tick", tick_help, "", lo, argc, argv);
	while ((c = sp_opt_next(&opt)) > 0) {
		switch (c) {
		case OPT_STORE: store = opt.arg; break;
		case OPT_NOW:
			if (!sp_opt_i64(&opt, 0, INT64_MAX / 2, &now))
				return opt.rc;
			break;
		}
	}
	if (c < 0)
		return opt.rc;
	if (opt.ind != argc)
		return sp_cli_usage("rollout tick", "unexpected argument '%s'",
		    argv[opt.ind]);
	TRY(sp_dbcli_open_store(store, 0, &s));
	TRY(sp_store_rollout_tick(s, now, &rep));
	printf("released %d wave%s, halted %d, done %d\n", rep.released,
	    rep.released == 1 ? "" : "s", rep.halted, rep.done);
out:
	sp_store_close(s);
	return sp_failed(res) ? sp_cli_fail("rollout tick", res) : SP_EXIT_OK;
}

static const char rollout_help[] =
    "usage: sprov rollout COMMAND [ARGS...] [--store URI]\n"
    "\n"
    "Staged rollouts of a parameter or a firmware version, in waves, halted\n"
    "by themselves when devices stop coming back (docs/ROLLOUTS.md).\n"
    "\n"
    "Examples:\n"
    "  sprov rollout help create\n";

static const sp_cmd rollout_cmds[] = {
	{ "create", cmd_create, "start a staged parameter or firmware change" },
	{ "status", cmd_status, "each wave: targeted, released, succeeded, failed" },
	{ "list", cmd_list, "every rollout and its state" },
	{ "pause", cmd_pause, "stop releasing waves" },
	{ "resume", cmd_resume, "release waves again" },
	{ "rollback", cmd_rollback, "put the released waves back" },
	{ "tick", cmd_tick, "judge and release once (the servers do it too)" },
	{ NULL, NULL, NULL },
};

int
sp_cmd_rollout(int argc, char **argv)
{
	return sp_cli_dispatch("rollout", rollout_cmds, argc, argv, rollout_help);
}
