/* sprov device: the device side (resync, offline rule and certificate checks, daemon). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "cli/cli.h"
#include "common/log.h"
#include "common/util.h"
#include "device/check.h"
#include "device/daemon.h"
#include "device/device.h"
#include "device/dns.h"
#include "device/resync.h"
#include "device/upgrade.h"

#define SP_SET_ARGS_MAX 64

/* --dns-server IP[:PORT][,IP[:PORT]...] into a c-ares CSV list. */
static sp_result
dns_arg(const char *arg, sp_buf *csv)
{
	sp_result res = SP_OK;
	sp_slice s = sp_slice_of(arg);

	for (;;) {
		size_t c = sp_slice_find(s, ',');
		res = sp_dns_server_add(csv, sp_slice_mk(s.p, c));
		if (sp_failed(res)) {
			res = sp_error_wrap((sp_result){ SP_E_USAGE }, "--dns-server");
			goto out;
		}
		if (c >= s.len)
			break;
		s = sp_slice_mk(s.p + c + 1, s.len - c - 1);
	}
out:
	return res;
}

/* ---- init ---- */

static const char init_help[] =
    "usage: sprov device init DIR --bundle BUNDLEDIR [--rule RULE] [--set NAME=VALUE]...\n"
    "                         [--mac MAC] [--serial SN] [--product PN] [--series PSN]\n"
    "                         [--swver V] [--hwver V] [--force]\n"
    "                         [--provision-domain DOMAIN[,DOMAIN...]]\n"
    "\n"
    "Create a device state directory from a bundle of `sprov ca issue` (client.crt,\n"
    "client.key, server-ca.crt, and firmware-ca.crt when the bundle has it).  The MAC, serial and product come from client.crt's\n"
    "subject; the options override them (and are needed when the subject names no\n"
    "device).  DIR/device.conf holds the identity and the provisioning parameters.\n"
    "\n"
    "Options:\n"
    "  --bundle BUNDLEDIR client.crt, client.key and server-ca.crt (required)\n"
    "  --rule RULE        Profile_Rule, e.g. 'https://prov.example.com/$MA.xml'\n"
    "  --set NAME=VALUE   any other parameter (Primary_DNS, Resync_Periodic, GPP_A, ...)\n"
    "  --provision-domain DOMAIN[,DOMAIN...]\n"
    "                     Provision_Domain: accept only a server certificate whose FQDN\n"
    "                     is one of these domains or below one (a profile may narrow it)\n"
    "  --mac MAC          the device's MAC, instead of client.crt's\n"
    "  --serial SN        its serial number, instead of client.crt's\n"
    "  --product PN       its product name, instead of client.crt's\n"
    "  --series PSN       its product series (default: from the product name)\n"
    "  --swver V          its software version (default 1.0.0)\n"
    "  --hwver V          its hardware version (default 1.0)\n"
    "  --force            replace an existing device.conf (the store is kept)\n"
    "\n"
    "Examples:\n"
    "  sprov device init dev/ --bundle bundles/000e08aabbcc \\\n"
    "      --rule 'https://prov.telco.net:18443/profiles/$MA.xml'\n";

static int
dev_init(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "bundle", required_argument, NULL, 'b' },
		{ "rule", required_argument, NULL, 'r' },
		{ "provision-domain", required_argument, NULL, 'D' },
		{ "set", required_argument, NULL, 's' },
		{ "mac", required_argument, NULL, 'm' },
		{ "serial", required_argument, NULL, 'S' },
		{ "product", required_argument, NULL, 'p' },
		{ "series", required_argument, NULL, 'P' },
		{ "swver", required_argument, NULL, 'w' },
		{ "hwver", required_argument, NULL, 'W' },
		{ "force", no_argument, NULL, 'f' },
		SP_OPT_HELP_AND_END,
	};
	sp_opts opt;
	sp_device_init_opts io;
	const char *sets[SP_SET_ARGS_MAX];
	size_t nsets = 0;
	int c;
	sp_result res = SP_OK;

	memset(&io, 0, sizeof(io));
	sp_opts_init(&opt, "device init", init_help, "h", opts, argc, argv);
	while ((c = sp_opt_next(&opt)) > 0) {
		switch (c) {
		case 'b': io.bundle = opt.arg; break;
		case 'r': io.rule = opt.arg; break;
		case 'D': io.provision_domain = opt.arg; break;
		case 's':
			if (nsets == SP_SET_ARGS_MAX)
				return sp_cli_usage("device init", "too many --set");
			if (strchr(opt.arg, '=') == NULL)
				return sp_cli_usage("device init", "--set wants NAME=VALUE");
			sets[nsets++] = opt.arg;
			break;
		case 'm': io.mac = opt.arg; break;
		case 'S': io.serial = opt.arg; break;
		case 'p': io.product = opt.arg; break;
		case 'P': io.series = opt.arg; break;
		case 'w': io.swver = opt.arg; break;
		case 'W': io.hwver = opt.arg; break;
		case 'f': io.force = true; break;
		}
	}
	if (c < 0)
		return opt.rc;
	if (argc - opt.ind != 1)
		return sp_cli_usage("device init", "expected one DIR");
	if (io.bundle == NULL)
		return sp_cli_usage("device init", "--bundle BUNDLEDIR is required");
	io.sets = sets;
	io.n_sets = nsets;
	res = sp_device_create(argv[opt.ind], &io);
	if (sp_failed(res))
		return sp_cli_fail("device init", res);
	printf("created device in %s\n", argv[opt.ind]);
	return SP_EXIT_OK;
}

/* ---- resync ---- */

static const char resync_help[] =
    "usage: sprov device resync DIR [--rule RULE] [--dns-server IP[:PORT]] [--json]\n"
    "                           [--syslog] [--no-report]\n"
    "\n"
    "One resync: run Profile_Rule, _B, _C, _D (or RULE alone), fetch each profile\n"
    "over mutual-TLS HTTPS after the four server checks (chain, CN, host, DNS\n"
    "address), decode it and apply everything or nothing.\n"
    "\n"
    "Options:\n"
    "  --rule RULE            run this rule instead of the device's rules\n"
    "  --dns-server IP[:PORT] resolve through this server (repeatable by comma);\n"
    "                         default Primary_DNS/Secondary_DNS, else the system's\n"
    "  --json                 print the outcome as one JSON object on stdout\n"
    "  --syslog               also log the Log_Resync_* messages to syslog\n"
    "  --no-report            skip Report_Rule after a success\n"
    "\n"
    "Examples:\n"
    "  sprov device resync dev/ --dns-server 127.0.0.1:15353 --json\n"
    "\n"
    "Exit status:\n"
    "  0  the resync succeeded\n"
    "  1  it failed: the message on standard error names the step that failed\n";

static int
dev_resync(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "rule", required_argument, NULL, 'r' },
		{ "dns-server", required_argument, NULL, 'd' },
		{ "json", no_argument, NULL, 'j' },
		{ "syslog", no_argument, NULL, 's' },
		{ "no-report", no_argument, NULL, 'n' },
		SP_OPT_HELP_AND_END,
	};
	sp_opts opt;
	sp_resync_opts ro;
	sp_resync_outcome out;
	sp_buf dns, json;
	bool want_json = false;
	int c, rc = SP_EXIT_OK;
	sp_result res;

	memset(&ro, 0, sizeof(ro));
	ro.prvst = SP_PRVST_REQUESTED;
	ro.report = true;
	sp_buf_init(&dns, SP_DNS_SERVERS_MAX);
	sp_buf_init(&json, SP_DEVICE_OUT_MAX);
	sp_resync_outcome_init(&out);
	sp_opts_init(&opt, "device resync", resync_help, "h", opts, argc, argv);
	while ((c = sp_opt_next(&opt)) > 0) {
		switch (c) {
		case 'r': ro.rule = opt.arg; break;
		case 'd':
			res = dns_arg(opt.arg, &dns);
			if (sp_failed(res)) {
				rc = sp_cli_usage("device resync", "%s", sp_errmsg());
				goto out;
			}
			ro.dns_servers = sp_buf_cstr(&dns);
			break;
		case 'j': want_json = true; break;
		case 's': sp_log_set_syslog(true, "sprov-device"); break;
		case 'n': ro.report = false; break;
		}
	}
	if (c < 0) {
		rc = opt.rc;
		goto out;
	}
	if (argc - opt.ind != 1) {
		rc = sp_cli_usage("device resync", "expected one DIR");
		goto out;
	}
	res = sp_resync(argv[opt.ind], &ro, &out);
	if (want_json) {
		if (sp_ok(sp_resync_json(&out, &json)))
			fputs(sp_buf_cstr(&json), stdout);
	}
	if (sp_failed(res)) {
		rc = res.code == SP_E_USAGE ? SP_EXIT_USAGE : SP_EXIT_FAIL;
		fprintf(stderr, "sprov device resync: %s\n", out.err);
	}
out:
	sp_buf_free(&dns);
	sp_buf_free(&json);
	sp_resync_outcome_free(&out);
	return rc;
}

/* ---- upgrade ---- */

static const char upgrade_help[] =
    "usage: sprov device upgrade DIR [--rule RULE] [--dns-server IP[:PORT]] [--json]\n"
    "                            [--syslog]\n"
    "\n"
    "One upgrade attempt: run Upgrade_Rule (or RULE); fetch the chosen image over\n"
    "mutual-TLS HTTPS after the four server checks, streamed to a temporary file;\n"
    "verify it against firmware-ca.crt (signature, product $PN, Downgrade_Rev_Limit,\n"
    "exact length, and that its version no longer satisfies the condition that\n"
    "chose it); then replace firmware.img atomically and set Software_Version.\n"
    "A refused image leaves firmware.img and device.conf as they were.\n"
    "\n"
    "Options:\n"
    "  --rule RULE            run this rule instead of the device's Upgrade_Rule\n"
    "  --dns-server IP[:PORT] resolve through this server (repeatable by comma);\n"
    "                         default Primary_DNS/Secondary_DNS, else the system's\n"
    "  --json                 print the outcome as one JSON object on stdout\n"
    "  --syslog               also log the Log_Upgrade_* messages to syslog\n"
    "\n"
    "Examples:\n"
    "  sprov device upgrade dev/ --dns-server 127.0.0.1:15353 --json\n"
    "\n"
    "Exit status:\n"
    "  0  the image was flashed, or there was nothing to do (the result says which)\n"
    "  1  the upgrade failed: the message on standard error says why\n";

static int
dev_upgrade(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "rule", required_argument, NULL, 'r' },
		{ "dns-server", required_argument, NULL, 'd' },
		{ "json", no_argument, NULL, 'j' },
		{ "syslog", no_argument, NULL, 's' },
		SP_OPT_HELP_AND_END,
	};
	sp_opts opt;
	sp_upgrade_opts uo;
	sp_upgrade_outcome out;
	sp_buf dns, json;
	bool want_json = false;
	int c, rc = SP_EXIT_OK;
	sp_result res;

	memset(&uo, 0, sizeof(uo));
	sp_buf_init(&dns, SP_DNS_SERVERS_MAX);
	sp_buf_init(&json, SP_DEVICE_OUT_MAX);
	sp_upgrade_outcome_init(&out);
	sp_opts_init(&opt, "device upgrade", upgrade_help, "h", opts, argc, argv);
	while ((c = sp_opt_next(&opt)) > 0) {
		switch (c) {
		case 'r': uo.rule = opt.arg; break;
		case 'd':
			res = dns_arg(opt.arg, &dns);
			if (sp_failed(res)) {
				rc = sp_cli_usage("device upgrade", "%s", sp_errmsg());
				goto out;
			}
			uo.dns_servers = sp_buf_cstr(&dns);
			break;
		case 'j': want_json = true; break;
		case 's': sp_log_set_syslog(true, "sprov-device"); break;
		}
	}
	if (c < 0) {
		rc = opt.rc;
		goto out;
	}
	if (argc - opt.ind != 1) {
		rc = sp_cli_usage("device upgrade", "expected one DIR");
		goto out;
	}
	res = sp_upgrade(argv[opt.ind], &uo, &out);
	if (want_json && sp_ok(sp_upgrade_json(&out, &json)))
		fputs(sp_buf_cstr(&json), stdout);
	if (sp_failed(res)) {
		rc = SP_EXIT_FAIL;
		fprintf(stderr, "sprov device upgrade: %s\n", out.err);
	} else if (!want_json) {
		printf("%s\n", out.err);
	}
out:
	sp_buf_free(&dns);
	sp_buf_free(&json);
	return rc;
}

/* ---- rule ---- */

static const char rule_help[] =
    "usage: sprov device rule DIR [--rule RULE | --upgrade-rule RULE]\n"
    "\n"
    "Offline: show what a resync would do with the device's current parameters:\n"
    "for each of Profile_Rule, _B, _C, _D (or RULE), the alternatives tried, the\n"
    "chosen one, its assignments and options, and the expanded URL; then what\n"
    "Upgrade_Rule would do (the image's URL, with the server taken from\n"
    "Profile_Rule when the URL names none).  Contacts nothing and changes\n"
    "nothing.  Secret macros ($SA..$SD) are never shown.\n"
    "\n"
    "Options:\n"
    "  --rule RULE          show this rule instead of the device's profile rules\n"
    "  --upgrade-rule RULE  show this rule as the Upgrade_Rule, and nothing else\n"
    "\n"
    "Examples:\n"
    "  sprov device rule dev/\n"
    "  sprov device rule dev/ --rule 'https://prov.telco.net/$PN/$MA.xml'\n"
    "  sprov device rule dev/ --upgrade-rule '(! 2.0.1)? /firmware/$PN/2.0.1.sfw'\n";

static int
dev_rule(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "rule", required_argument, NULL, 'r' },
		{ "upgrade-rule", required_argument, NULL, 'u' },
		SP_OPT_HELP_AND_END,
	};
	sp_opts opt;
	const char *rule = NULL, *urule = NULL;
	sp_buf out;
	int c, rc = SP_EXIT_OK;
	sp_result res;

	sp_buf_init(&out, SP_DEVICE_OUT_MAX);
	sp_opts_init(&opt, "device rule", rule_help, "h", opts, argc, argv);
	while ((c = sp_opt_next(&opt)) > 0) {
		switch (c) {
		case 'r': rule = opt.arg; break;
		case 'u': urule = opt.arg; break;
		}
	}
	if (c < 0) {
		rc = opt.rc;
		goto out;
	}
	if (argc - opt.ind != 1) {
		rc = sp_cli_usage("device rule", "expected one DIR");
		goto out;
	}
	if (rule && urule) {
		rc = sp_cli_usage("device rule", "--rule and --upgrade-rule exclude each other");
		goto out;
	}
	if (urule)
		res = sp_upgrade_describe(argv[opt.ind], urule, &out);
	else {
		res = sp_resync_describe(argv[opt.ind], rule, &out);
		if (sp_ok(res) && rule == NULL) {
			/* Upgrade_Rule only when it is set: the profile rules' output stays. */
			sp_buf up;
			sp_buf_init(&up, SP_DEVICE_OUT_MAX);
			res = sp_upgrade_describe(argv[opt.ind], NULL, &up);
			if (sp_ok(res) && strstr(sp_buf_cstr(&up), "no upgrade rule is set") == NULL)
				res = sp_buf_printf(&out, "\n%s", sp_buf_cstr(&up));
			sp_buf_free(&up);
		}
	}
	fputs(sp_buf_cstr(&out), stdout);
	if (sp_failed(res))
		rc = sp_cli_fail("device rule", res);
out:
	sp_buf_free(&out);
	return rc;
}

/* ---- check-cert ---- */

static const char check_help[] =
    "usage: sprov device check-cert --root ROOTS.pem [--chain INTERMEDIATES.pem]\n"
    "                               [--host NAME|IP] [--at TIME] SERVER.pem\n"
    "\n"
    "Offline: would a device accept this server certificate?  Runs the device's own\n"
    "checks: 1 the chain to the roots (validity at TIME: UNIX seconds or ISO 8601,\n"
    "default now) and TLS server use; 2 the CN rule (FQDN[/extra], SAN agreement);\n"
    "3 the host match (skipped without --host; an IP passes to check 4).  Check 4\n"
    "(the DNS answer) needs the network and is skipped.  Certificates after the\n"
    "first in SERVER.pem are used as intermediates too.\n"
    "\n"
    "Options:\n"
    "  --root ROOTS.pem   the roots a device trusts: its server-ca.crt (required)\n"
    "  --chain FILE       intermediate certificates, as the server would send them\n"
    "  --host NAME|IP     the host of the device's rule, for check 3\n"
    "  --at TIME          check validity at TIME instead of now\n"
    "\n"
    "Examples:\n"
    "  sprov device check-cert --root vendor/server-ca.crt --host prov.telco.net \\\n"
    "      provserver.crt\n"
    "\n"
    "Exit status:\n"
    "  0  a device would accept the certificate\n"
    "  1  a device would refuse it (the output names the check that failed), or a\n"
    "     file could not be read\n";

/* UNIX seconds, or ISO 8601: 2026-01-31, 2026-01-31T12:00:00[Z], "2026-01-31 12:00:00". */
static sp_result
parse_time(const char *s, int64_t *out)
{
	static const char *const fmts[] = {
		"%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S",
		"%Y-%m-%dT%H:%MZ", "%Y-%m-%dT%H:%M", "%Y-%m-%d",
	};

	if (sp_ok(sp_parse_i64(s, 0, INT64_C(253402300799), "--at", out)))
		return SP_OK;
	for (size_t i = 0; i < SP_ARRAY_LEN(fmts); i++) {
		struct tm tm;
		const char *end;
		memset(&tm, 0, sizeof(tm));
		end = strptime(s, fmts[i], &tm);
		if (end != NULL && *end == '\0') {
			*out = (int64_t)timegm(&tm);
			sp_error_clear();
			return SP_OK;
		}
	}
	return sp_error(SP_E_USAGE, "--at '%.64s' is neither UNIX seconds nor ISO 8601 (UTC)", s);
}

static sp_result
read_certs(const char *path, STACK_OF(X509) *sk)
{
	sp_result res = SP_OK;
	BIO *bio = NULL;
	X509 *x;
	int n = 0;

	bio = BIO_new_file(path, "r");
	if (bio == NULL) {
		res = sp_error_ossl(SP_E_IO, "%s: cannot read", path);
		goto out;
	}
	while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
		if (!sk_X509_push(sk, x)) {
			X509_free(x);
			ENSURE(0, SP_E_NOMEM, "out of memory");
		}
		n++;
	}
	ERR_clear_error(); /* the end of the file */
	ENSURE(n > 0, SP_E_PARSE, "%s: holds no PEM certificate", path);
out:
	BIO_free(bio);
	return res;
}

static int
dev_check_cert(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "root", required_argument, NULL, 'r' },
		{ "chain", required_argument, NULL, 'c' },
		{ "host", required_argument, NULL, 'H' },
		{ "at", required_argument, NULL, 'a' },
		SP_OPT_HELP_AND_END,
	};
	sp_opts opt;
	const char *roots_path = NULL, *chain_path = NULL, *host = NULL;
	int64_t at = sp_now();
	X509_STORE *roots = NULL;
	STACK_OF(X509) *certs = NULL, *untrusted = NULL;
	X509 *leaf;
	char fqdn[SP_FQDN_MAX + 1];
	sp_ipaddr ip;
	int c, rc = SP_EXIT_FAIL;
	sp_result res = SP_OK;
	sp_srvcheck failed = SP_CHECK_CHAIN;
	const char *what = "device check-cert";

	sp_opts_init(&opt, what, check_help, "h", opts, argc, argv);
	while ((c = sp_opt_next(&opt)) > 0) {
		switch (c) {
		case 'r': roots_path = opt.arg; break;
		case 'c': chain_path = opt.arg; break;
		case 'H': host = opt.arg; break;
		case 'a':
			if (sp_failed(parse_time(opt.arg, &at)))
				return sp_cli_usage(what, "%s", sp_errmsg());
			break;
		}
	}
	if (c < 0)
		return opt.rc;
	if (argc - opt.ind != 1)
		return sp_cli_usage(what, "expected one SERVER.pem");
	if (roots_path == NULL)
		return sp_cli_usage(what, "--root ROOTS.pem is required");
	TRY_OSSL_PTR(certs, sk_X509_new_null(), "sk_X509_new_null");
	TRY_OSSL_PTR(untrusted, sk_X509_new_null(), "sk_X509_new_null");
	TRY(sp_srvcheck_load_roots(roots_path, &roots));
	TRY(read_certs(argv[opt.ind], certs));
	if (chain_path != NULL)
		TRY(read_certs(chain_path, untrusted));
	leaf = sk_X509_value(certs, 0);
	for (int i = 1; i < sk_X509_num(certs); i++) {
		X509 *x = sk_X509_value(certs, i);
		TRY_OSSL(X509_up_ref(x), "X509_up_ref");
		if (sk_X509_push(untrusted, x) <= 0) {
			X509_free(x);
			ENSURE(0, SP_E_NOMEM, "out of memory");
		}
	}

	/* The same functions, in the same order, as the handshake of a resync. */
	failed = SP_CHECK_CHAIN;
	TRY(sp_srvcheck_chain(roots, leaf, untrusted, at));
	TRY(sp_srvcheck_purpose(leaf));
	printf("check 1 (chain): ok\n");
	failed = SP_CHECK_CN;
	TRY(sp_srvcheck_cn(leaf, fqdn));
	printf("check 2 (cn): ok: FQDN %s\n", fqdn);
	failed = SP_CHECK_HOST;
	if (host == NULL) {
		printf("check 3 (host): skipped (no --host)\n");
	} else if (sp_ipaddr_parse(sp_slice_of(host), &ip)) {
		printf("check 3 (host): ok: %s is an IP address; a device passes it to check 4\n",
		    host);
	} else {
		TRY(sp_srvcheck_host(sp_slice_of(host), fqdn));
		printf("check 3 (host): ok: %s\n", host);
	}
	failed = SP_CHECK_NONE;
	printf("check 4 (address): skipped (offline: a device also requires the server's "
	    "address among the DNS answers for %s)\n", fqdn);
	printf("accepted: a device would accept this certificate\n");
	rc = SP_EXIT_OK;
out:
	if (sp_failed(res)) {
		if (failed != SP_CHECK_NONE && res.code == SP_E_VERIFY)
			printf("check %d (%s): FAILED\nrefused: a device would refuse this certificate\n",
			    (int)failed, sp_srvcheck_name(failed));
		rc = sp_cli_fail(what, res);
	}
	X509_STORE_free(roots);
	sk_X509_pop_free(untrusted, X509_free);
	sk_X509_pop_free(certs, X509_free);
	return rc;
}

/* ---- run ---- */

static const char run_help[] =
    "usage: sprov device run DIR [--dns-server IP[:PORT]] [--time-scale N] [--rounds N]\n"
    "                            [--syslog]\n"
    "\n"
    "The device as a daemon: resync after a random delay of up to\n"
    "Resync_Random_Delay seconds, then every Resync_Periodic (schedules such as\n"
    "1800+300,3600+600), Resync_Error_Retry_Delay after a failure, or at Resync_At\n"
    "(HHmm, plus up to Resync_At_Random_Delay).  Report_Rule is posted after each\n"
    "success.  Upgrades run on their own timer: Upgrade_Rule after each successful\n"
    "resync, again Upgrade_Error_Retry_Delay after a failed upgrade; a flashed\n"
    "image restarts the timers as a reboot would.  SIGHUP resyncs now; SIGTERM\n"
    "stops.\n"
    "\n"
    "Options:\n"
    "  --dns-server IP[:PORT]  resolve the rule's host there (default: the system's)\n"
    "  --time-scale N          run the device's clock N times faster (tests)\n"
    "  --rounds N              stop after N resyncs (tests)\n"
    "  --syslog                log to syslog as well as stderr\n"
    "\n"
    "Examples:\n"
    "  sprov device run dev/ --dns-server 127.0.0.1:15353\n"
    "  sprov device run /var/lib/sprov/devices/000e08aabbcc --syslog\n"
    "\n"
    "Exit status:\n"
    "  0  stopped by SIGTERM or SIGINT, or after --rounds N resyncs (a failed\n"
    "     resync is retried, never an exit)\n"
    "  1  the daemon could not run: the message on standard error says why\n";

static int
dev_run(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dns-server", required_argument, NULL, 'd' },
		{ "time-scale", required_argument, NULL, 't' },
		{ "rounds", required_argument, NULL, 'n' },
		{ "syslog", no_argument, NULL, 's' },
		SP_OPT_HELP_AND_END,
	};
	sp_opts opt;
	sp_daemon_opts dopts;
	sp_buf dns;
	int64_t v;
	int c, rc = SP_EXIT_OK;
	sp_result res;

	memset(&dopts, 0, sizeof(dopts));
	dopts.time_scale = 1;
	sp_buf_init(&dns, SP_DNS_SERVERS_MAX);
	sp_opts_init(&opt, "device run", run_help, "h", opts, argc, argv);
	while ((c = sp_opt_next(&opt)) > 0) {
		switch (c) {
		case 'd':
			res = dns_arg(opt.arg, &dns);
			if (sp_failed(res)) {
				rc = sp_cli_usage("device run", "%s", sp_errmsg());
				goto out;
			}
			dopts.dns_servers = sp_buf_cstr(&dns);
			break;
		case 't':
			if (!sp_opt_i64(&opt, 1, SP_TIME_SCALE_MAX, &v)) {
				rc = opt.rc;
				goto out;
			}
			dopts.time_scale = (double)v;
			break;
		case 'n':
			if (!sp_opt_i64(&opt, 1, 1000000, &v)) {
				rc = opt.rc;
				goto out;
			}
			dopts.max_rounds = (long)v;
			break;
		case 's': sp_log_set_syslog(true, "sprov-device"); break;
		}
	}
	if (c < 0) {
		rc = opt.rc;
		goto out;
	}
	if (argc - opt.ind != 1) {
		rc = sp_cli_usage("device run", "expected one DIR");
		goto out;
	}
	res = sp_device_run(argv[opt.ind], &dopts);
	if (sp_failed(res))
		rc = sp_cli_fail("device run", res);
out:
	sp_buf_free(&dns);
	return rc;
}

static const sp_cmd device_cmds[] = {
	{ "init", dev_init, "create a device state directory from a bundle" },
	{ "resync", dev_resync, "one resync: fetch, check, decode, apply" },
	{ "upgrade", dev_upgrade, "one firmware upgrade: Upgrade_Rule, fetch, verify, flash" },
	{ "rule", dev_rule, "offline: what the profile and upgrade rules would do" },
	{ "check-cert", dev_check_cert, "offline: would a device accept this server certificate?" },
	{ "run", dev_run, "the device daemon: timers, SIGHUP, Report_Rule" },
	{ NULL, NULL, NULL },
};

static const char device_help[] =
    "usage: sprov device COMMAND [ARGS...]\n"
    "\n"
    "The device side of provisioning: a reference implementation of what a phone\n"
    "checks and does when it resyncs.\n"
    "\n"
    "Examples:\n"
    "  sprov device rule dev/\n"
    "  sprov device help check-cert\n";

int
sp_cmd_device(int argc, char **argv)
{
	/* A peer closing early must be an error return, never a killed device. */
	signal(SIGPIPE, SIG_IGN);
	return sp_cli_dispatch("device", device_cmds, argc, argv, device_help);
}
