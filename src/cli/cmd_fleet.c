/* sprov fleet: many simulated devices against a provisioning server (docs/FLEET.md). */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "common/log.h"
#include "common/util.h"
#include "device/dns.h"
#include "fleet/fleet.h"

#define FLEET_SCALE_MIN 1e-6
#define FLEET_DURATION_MAX (30.0 * 86400)
#define FLEET_RATE_MAX 1e7

static const char fleet_help[] =
    "usage: sprov fleet --bundles DIR --rule URL [--dns-server IP:PORT] [--devices N]\n"
    "                   [--concurrency C] [--rate R | --storm] [--duration S | --rounds K]\n"
    "                   [--resume] [--keepalive] [--json] [--apply DIR] [--time-scale F]\n"
    "                   [--retries N] [--retry-delay S] [--interval S] [--timeout S]\n"
    "                   [--workers W] [--seed N] [--swver V]\n"
    "                   [--fail-upgrade-rate R] [--fail-upgrade-mode brick|old|mix]\n"
    "\n"
    "Simulate many devices, each with its own bundle from `sprov ca issue --csv`\n"
    "(DIR/<mac>/client.crt, client.key, server-ca.crt), running exactly a device's\n"
    "resync: its rule with its own macros, DNS through c-ares, the four server\n"
    "checks inside the handshake, and the profile decode.  A profile's\n"
    "Upgrade_Rule is run as the device runs it: the image is fetched with the\n"
    "same checks, its container and signature checked (firmware-ca.crt of the\n"
    "bundle), and the device reports the new version in its User-Agent\n"
    "(Sprov/PN-SWVER (MAC)(SN)) from then on.\n"
    "\n"
    "Options:\n"
    "  --bundles DIR       the device bundles, one DIR/<mac>/ each (required)\n"
    "  --rule URL          the devices' Profile_Rule, macros allowed (required)\n"
    "  --dns-server IP:PORT  resolve through this server (comma-separated list)\n"
    "  --devices N         use only the first N bundles (default: all)\n"
    "  --seed N            seed of the random delays and arrivals (repeatable runs)\n"
    "  --storm             every device starts at once, at most C in flight (default)\n"
    "  --rate R            Poisson arrivals of R resyncs per second\n"
    "  --rounds K          successful resyncs per device (default 1; 0 with --duration:\n"
    "                      until the time is up)\n"
    "  --duration S        stop after S seconds (transfers in flight are cut and counted)\n"
    "  --concurrency C     transfers in flight, whole fleet (default 100)\n"
    "  --resume            each device keeps its own TLS session for its next round\n"
    "  --keepalive         each device keeps its connection for its next round\n"
    "  --interval S        pause between a device's rounds (storm mode; default 0)\n"
    "  --apply DIR         write each device's profile to DIR/<mac>/params.xml\n"
    "  --retries N         retries per round before a device gives up (default 100)\n"
    "  --retry-delay S     Resync_Error_Retry_Delay (default 3600), times --time-scale\n"
    "  --time-scale F      multiply the device timers and Retry-After by F (default 1)\n"
    "  --timeout S         one transfer's limit (default: the device's, 10 s connect, 60 s)\n"
    "  --workers W         worker threads (default: one per core)\n"
    "  --json              the figures as one JSON object on stdout\n"
    "  --swver V           every device's software version at the start (default 1.0.0)\n"
    "  --fail-upgrade-rate R  this fraction (0..1) of upgrading devices fail, the same\n"
    "                      devices for the same --seed and version (default 0)\n"
    "  --fail-upgrade-mode M  how they fail: brick (never come back; the default),\n"
    "                      old (come back on the old version) or mix (half each)\n"
    "\n"
    "Examples:\n"
    "  sprov fleet --bundles bundles/ \\\n"
    "      --rule 'https://prov.telco.net:18443/profiles/$MA.xml' \\\n"
    "      --dns-server 127.0.0.1:15353 --storm --concurrency 500\n"
    "  sprov fleet --bundles bundles/ --rule 'https://prov.example.net/$MA.xml' \\\n"
    "      --devices 1000 --rate 50 --duration 60\n"
    "  sprov fleet --bundles bundles/ --rule 'https://prov.example.net/$MA.xml' \\\n"
    "      --swver 2.0.0 --fail-upgrade-rate 0.2 --fail-upgrade-mode mix \\\n"
    "      --apply state/ --rounds 3 --interval 5\n"
    "\n"
    "Exit status:\n"
    "  0  every device finished every round (with --rounds 0: gave up no round\n"
    "     and is not left retrying a failure); a device bricked on purpose\n"
    "     (--fail-upgrade-rate) counts as finished\n"
    "  1  otherwise: a device gave up or did not finish, or the run failed\n";

static volatile sig_atomic_t stop_flag;

static void
on_stop(int sig)
{
	(void)sig;
	stop_flag = 1;
}

/* A strict decimal number: the whole string, finite, within [min, max]. */
enum { O_BUNDLES = 0x100, O_RULE, O_DNS, O_DEVICES, O_CONC, O_RATE, O_STORM, O_DURATION,
       O_ROUNDS, O_RESUME, O_KEEPALIVE, O_JSON, O_APPLY, O_SCALE, O_RETRIES, O_RETRY_DELAY,
       O_INTERVAL, O_TIMEOUT, O_WORKERS, O_SEED, O_SWVER, O_FAIL_RATE, O_FAIL_MODE };

int
sp_cmd_fleet(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "bundles", required_argument, NULL, O_BUNDLES },
		{ "rule", required_argument, NULL, O_RULE },
		{ "dns-server", required_argument, NULL, O_DNS },
		{ "devices", required_argument, NULL, O_DEVICES },
		{ "concurrency", required_argument, NULL, O_CONC },
		{ "rate", required_argument, NULL, O_RATE },
		{ "storm", no_argument, NULL, O_STORM },
		{ "duration", required_argument, NULL, O_DURATION },
		{ "rounds", required_argument, NULL, O_ROUNDS },
		{ "resume", no_argument, NULL, O_RESUME },
		{ "keepalive", no_argument, NULL, O_KEEPALIVE },
		{ "json", no_argument, NULL, O_JSON },
		{ "apply", required_argument, NULL, O_APPLY },
		{ "time-scale", required_argument, NULL, O_SCALE },
		{ "retries", required_argument, NULL, O_RETRIES },
		{ "retry-delay", required_argument, NULL, O_RETRY_DELAY },
		{ "interval", required_argument, NULL, O_INTERVAL },
		{ "timeout", required_argument, NULL, O_TIMEOUT },
		{ "workers", required_argument, NULL, O_WORKERS },
		{ "seed", required_argument, NULL, O_SEED },
		{ "swver", required_argument, NULL, O_SWVER },
		{ "fail-upgrade-rate", required_argument, NULL, O_FAIL_RATE },
		{ "fail-upgrade-mode", required_argument, NULL, O_FAIL_MODE },
		SP_OPT_HELP_AND_END,
	};
	sp_opts opt;
	sp_result res = SP_OK;
	sp_fleet_opts o;
	sp_fleet_stats *st = NULL;
	sp_buf dns, out;
	bool json = false, storm = false;
	int c, rc = SP_EXIT_FAIL;
	int64_t v;
	double d = 0;

	sp_fleet_opts_init(&o);
	sp_buf_init(&dns, SP_DNS_SERVERS_MAX);
	sp_buf_init(&out, SP_FLEET_OUT_MAX);
	sp_opts_init(&opt, "fleet", fleet_help, "h", opts, argc, argv);
	while ((c = sp_opt_next(&opt)) > 0) {
		switch (c) {
		case O_BUNDLES: o.bundles = opt.arg; break;
		case O_RULE: o.rule = opt.arg; break;
		case O_DNS: {
			sp_slice s = sp_slice_of(opt.arg);
			for (;;) {
				size_t k = sp_slice_find(s, ',');
				res = sp_dns_server_add(&dns, sp_slice_mk(s.p, k));
				if (sp_failed(res)) {
					res = sp_error_wrap((sp_result){ SP_E_USAGE }, "--dns-server");
					goto out;
				}
				if (k >= s.len)
					break;
				s = sp_slice_mk(s.p + k + 1, s.len - k - 1);
			}
			break;
		}
		case O_DEVICES:
			if (!sp_opt_i64(&opt, 1, SP_FLEET_DEVICES_MAX, &v))
				goto usage;
			o.devices = (size_t)v;
			break;
		case O_CONC:
			if (!sp_opt_i64(&opt, 1, SP_FLEET_CONCURRENCY_MAX, &v))
				goto usage;
			o.concurrency = (unsigned)v;
			break;
		case O_RATE:
			if (!sp_opt_double(&opt, 1e-3, FLEET_RATE_MAX, &o.rate))
				goto usage;
			break;
		case O_STORM: storm = true; break;
		case O_DURATION:
			if (!sp_opt_double(&opt, 1e-3, FLEET_DURATION_MAX, &o.duration_s))
				goto usage;
			break;
		case O_ROUNDS:
			if (!sp_opt_i64(&opt, 0, UINT32_MAX, &v))
				goto usage;
			o.rounds = (unsigned)v;
			break;
		case O_RESUME: o.resume = true; break;
		case O_KEEPALIVE: o.keepalive = true; break;
		case O_JSON: json = true; break;
		case O_APPLY: o.apply = opt.arg; break;
		case O_SCALE:
			if (!sp_opt_double(&opt, FLEET_SCALE_MIN, 1e6, &o.time_scale))
				goto usage;
			break;
		case O_RETRIES:
			if (!sp_opt_i64(&opt, 0, UINT32_MAX - 1, &v))
				goto usage;
			o.retries = (unsigned)v;
			break;
		case O_RETRY_DELAY:
			if (!sp_opt_i64(&opt, 0, 366 * 86400, &o.error_retry_s))
				goto usage;
			break;
		case O_INTERVAL:
			if (!sp_opt_double(&opt, 0, FLEET_DURATION_MAX, &o.interval_s))
				goto usage;
			break;
		case O_TIMEOUT:
			if (!sp_opt_double(&opt, 1e-3, 3600, &d))
				goto usage;
			o.timeout_ms = (long)(d * 1000);
			break;
		case O_WORKERS:
			if (!sp_opt_i64(&opt, 1, SP_FLEET_WORKERS_MAX, &v))
				goto usage;
			o.workers = (unsigned)v;
			break;
		case O_SEED:
			if (!sp_opt_i64(&opt, 0, INT64_MAX, &v))
				goto usage;
			o.seed = (uint64_t)v;
			break;
		case O_SWVER: o.swver = opt.arg; break;
		case O_FAIL_RATE:
			if (!sp_opt_double(&opt, 0, 1, &o.fail_upgrade_rate))
				goto usage;
			break;
		case O_FAIL_MODE:
			if (strcmp(opt.arg, "brick") == 0)
				o.fail_upgrade_mode = SP_UPG_FAIL_BRICK;
			else if (strcmp(opt.arg, "old") == 0)
				o.fail_upgrade_mode = SP_UPG_FAIL_OLD;
			else if (strcmp(opt.arg, "mix") == 0)
				o.fail_upgrade_mode = SP_UPG_FAIL_MIX;
			else {
				rc = sp_cli_usage("fleet", "--fail-upgrade-mode must be brick, old or mix, "
				    "not '%s'", opt.arg);
				goto done;
			}
			break;
		}
	}
	if (c < 0) {
		rc = opt.rc;
		goto done;
	}
	if (opt.ind != argc) {
		rc = sp_cli_usage("fleet", "unexpected argument '%s'", argv[opt.ind]);
		goto done;
	}
	if (o.bundles == NULL || o.rule == NULL) {
		rc = sp_cli_usage("fleet", "--bundles DIR and --rule URL are required");
		goto done;
	}
	if (storm && o.rate > 0) {
		rc = sp_cli_usage("fleet", "--storm and --rate exclude each other");
		goto done;
	}
	o.dns_servers = dns.len ? sp_buf_cstr(&dns) : NULL;
	o.progress = sp_cli_isatty() ? 2 : 1;
	o.stop = &stop_flag;
	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, on_stop);
	signal(SIGTERM, on_stop);
	TRY_ALLOC(st, malloc(sizeof(*st)));
	TRY(sp_fleet_run(&o, st));
	if (json)
		TRY(sp_fleet_report_json(st, &out));
	else
		TRY(sp_fleet_report_text(st, &out));
	fwrite(out.p, 1, out.len, stdout);
	fflush(stdout);
	rc = st->devices_ok == st->devices ? SP_EXIT_OK : SP_EXIT_FAIL;
out:
	if (sp_failed(res))
		rc = sp_cli_fail("fleet", res);
	goto done;
usage:
	rc = opt.rc;
done:
	free(st);
	sp_buf_free(&dns);
	sp_buf_free(&out);
	return rc;
}
