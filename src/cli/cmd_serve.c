/* sprov serve: run the provisioning server (src/server, docs/SERVER.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "common/log.h"
#include "console/console.h"
#include "server/config.h"
#include "server/server.h"

static const char serve_help[] =
    "usage: sprov serve --listen HOST:PORT --cert provserver.crt --key privkey.pem\n"
    "                   --client-ca device-ca.crt [--crl device-ca.crl]\n"
    "                   [--store sqlite:sprov.db] [--workers N] [--admin HOST:PORT|off]\n"
    "                   [--config sprov.conf] [--check-config] [--user USER]\n"
    "                   [--identity auto|sprov|spa] [--path TEMPLATE]...\n"
    "                   [--unknown-device 404|defaults] [--access-log FILE|-|off]\n"
    "                   [--access-log-format text|json] [--log stderr|syslog|journal]\n"
    "                   [--reuse-port yes|no] [--etag-key-file FILE]\n"
    "                   [--cluster-key-file FILE] [--crl-from-store on|off]\n"
    "                   [--crl-grace S] [--crl-poll S] [--verify-depth N]\n"
    "                   [--tls-backend openssl|gnutls] [--key-process on|off]\n"
    "                   [--sandbox on|off]\n"
    "                   [--handshake-timeout S|Nms] [--header-timeout S|Nms]\n"
    "                   [--idle-timeout S|Nms] [--drain-timeout S|Nms]\n"
    "                   [--max-connections N] [--overload-connections N]\n"
    "                   [--handshakes-per-source N] [--proxy-from LIST]\n"
    "                   [--retry-after S] [--max-header-size B] [--max-request-line B]\n"
    "                   [--ticket-rotate S] [--contact-flush S|Nms] [--contact-queue N]\n"
    "                   [--contact-spill FILE|off] [--firmware-path TEMPLATE]\n"
    "                   [--rollout-tick S|Nms] [--node-name NAME]\n"
    "                   [--verbose]\n"
    "\n"
    "Serves each device, identified by its verified client certificate, its own\n"
    "flat profile.  Every option is also a `key = value` of the config file\n"
    "(under [serve]); options given here win over the file.  The store comes\n"
    "from --store, else $SPROV_STORE, else sqlite:sprov.db.  The TLS library\n"
    "comes from --tls-backend, else $SPROV_TLS_BACKEND, else the default.\n"
    "Signals: SIGHUP reloads certificate, key, CRL and config (a bad config is\n"
    "refused and the old one keeps serving); SIGTERM drains and exits.\n"
    "--check-config validates the settings, the TLS files and the store, then exits.\n"
    "\n"
    "Options (S is seconds, Nms milliseconds):\n"
    "  --listen              where devices connect (default 0.0.0.0:443)\n"
    "  --cert                the server certificate, from `sprov ca sign`\n"
    "  --key                 its private key, from `sprov req`, or a PKCS#11 URI\n"
    "                        'pkcs11:...' (PIN from $SPROV_PKCS11_PIN)\n"
    "  --client-ca           the device CAs (PEM, several allowed)\n"
    "  --crl                 the device CAs' CRLs, re-read when the file changes\n"
    "  --store               the device database (default sqlite:sprov.db)\n"
    "  --workers             worker threads (default 0: one per core)\n"
    "  --admin               /healthz, /metrics and the console: HTTP on loopback,\n"
    "                        else TLS (default 127.0.0.1:9443)\n"
    "  --config              read the settings from this file first\n"
    "  --check-config        check everything, then exit instead of serving\n"
    "  --user                switch to USER after start-up (when started as root)\n"
    "  --identity            which certificate subject names a device (default auto)\n"
    "  --path                a URL path template, repeatable (default\n"
    "                        /profiles/$MA.xml and /spa$PSN.cfg)\n"
    "  --unknown-device      what an unknown or disabled device gets (default 404)\n"
    "  --access-log          one line per request (default -: standard output)\n"
    "  --access-log-format   text (default) or json: one object per line\n"
    "  --log                 the server's messages also to syslog or the journal\n"
    "  --reuse-port          yes: share the port with another server (default no)\n"
    "  --etag-key-file       the ETag key, 64 hex digits (default: random per start)\n"
    "  --cluster-key-file    nodes sharing a store share their session-ticket\n"
    "                        keys and ETag key, kept there sealed with this key\n"
    "                        (mode 0600/0400, 32 bytes or 64 hex digits)\n"
    "  --crl-from-store      on: --crl is this node's copy of the CRLs that\n"
    "                        `sprov ca crl` published to the store (default off)\n"
    "  --crl-grace           how long an expired CRL stays in force (default 0)\n"
    "  --crl-poll            how often the CRL file (and the store, with\n"
    "                        --cluster-key-file or --crl-from-store) is checked\n"
    "                        (default 2)\n"
    "  --verify-depth        the longest device chain accepted (default 4)\n"
    "  --tls-backend         the TLS library (default gnutls)\n"
    "  --key-process         on (default): the private key in its own process,\n"
    "                        which signs for this one; off: read here\n"
    "  --sandbox             on (default): seccomp filters on the serving and key\n"
    "                        processes; off for debugging\n"
    "  --handshake-timeout   accept to the end of the TLS handshake (default 10)\n"
    "  --header-timeout      first request byte to the end of headers (default 10)\n"
    "  --idle-timeout        keep-alive wait for the next request (default 60)\n"
    "  --drain-timeout       SIGTERM grace for open requests (default 10)\n"
    "  --max-connections     open connections, whole server (default 4096)\n"
    "  --handshakes-per-source  connections still in the TLS handshake from one\n"
    "                        address (/32, /64), more are closed (default 64, 0 off)\n"
    "  --proxy-from          addresses and CIDR prefixes (comma-separated) whose\n"
    "                        connections must start with a PROXY v2 header\n"
    "                        (HAProxy send-proxy-v2); default empty: none\n"
    "  --overload-connections  above this many, 503 (default 0: 90 % of max)\n"
    "  --retry-after         a 503's Retry-After is random in [S+1, 2S] (default 30)\n"
    "  --max-header-size     request line and headers, else 431 (default 8192)\n"
    "  --max-request-line    the request line, else 414 (default 2048)\n"
    "  --ticket-rotate       a new session ticket key this often (default 3600)\n"
    "  --contact-flush       write the contact records this often (default 1)\n"
    "  --contact-queue       contacts waiting to be written, at most (default 100000)\n"
    "  --contact-spill       contacts past the queue while the store is unreachable\n"
    "                        (default contacts.spill next to a SQLite store)\n"
    "  --firmware-path       where devices fetch firmware images, with $PN and\n"
    "                        $VERSION (default /firmware/$PN/$VERSION.sfw)\n"
    "  --rollout-tick        how often rollouts are driven (default 5)\n"
    "  --node-name           this node in the console's overview (default: the\n"
    "                        host name)\n"
    "  -v, --verbose         debug messages\n"
    "\n"
    "Examples:\n"
    "  sprov serve --listen 127.0.0.1:18443 --admin off --cert provserver.crt \\\n"
    "      --key privkey.pem --client-ca vendor/device-ca.crt \\\n"
    "      --crl vendor/device-ca.crl --check-config\n"
    "  sprov serve --listen 127.0.0.1:18443 --admin off --cert provserver.crt \\\n"
    "      --key privkey.pem --client-ca vendor/device-ca.crt \\\n"
    "      --proxy-from 127.0.0.1,10.0.0.0/8 --check-config\n"
    "  sprov serve --config /etc/sprov/sprov.conf\n"
    "\n"
    "Exit status:\n"
    "  0  drained and stopped after SIGTERM, or --check-config found it all good\n"
    "  1  a setting, a TLS file or the store was refused, or serving failed\n"
    "  2  usage error: an unknown option, a bad address or user, or a required\n"
    "     setting (cert, key, client-ca) missing\n";

int
sp_cmd_serve(int argc, char **argv)
{
	sp_serve_overrides ov = { .n = 0 };
	const char *config_path = NULL;
	bool check = false;
	sp_serve_config *cfg = NULL;
	sp_serve_ext ext;
	sp_result r;
	int rc = SP_EXIT_OK;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			sp_cli_help(stdout, serve_help, NULL);
			return SP_EXIT_OK;
		}
		if (strcmp(a, "--check-config") == 0) {
			check = true;
			continue;
		}
		if (strcmp(a, "--verbose") == 0 || strcmp(a, "-v") == 0) {
			sp_log_set_level(SP_LOG_DEBUG);
			continue;
		}
		if (strncmp(a, "--", 2) != 0 || a[2] == '\0')
			return sp_cli_usage("serve", "unexpected argument '%s'", a);
		if (i + 1 >= argc)
			return sp_cli_usage("serve", "option '%s' needs a value", a);
		if (strcmp(a, "--config") == 0) {
			config_path = argv[++i];
			continue;
		}
		if (ov.n == SP_CLI_OVERRIDES_MAX)
			return sp_cli_usage("serve", "more than %d options", SP_CLI_OVERRIDES_MAX);
		ov.key[ov.n] = a + 2;
		ov.value[ov.n] = argv[++i];
		ov.n++;
	}
	if (check) {
		if ((cfg = malloc(sizeof(*cfg))) == NULL)
			return sp_cli_fail("serve", sp_error(SP_E_NOMEM, "out of memory"));
		r = sp_serve_config_load(config_path, &ov, cfg);
		if (sp_ok(r))
			r = sp_serve_check(cfg);
		if (sp_failed(r)) {
			rc = sp_cli_fail("serve", r);
		} else {
			printf("configuration OK: listen %s, %zu path template(s), identity %s\n",
			    cfg->listen, cfg->npaths, sp_idstyle_name(cfg->identity));
		}
		free(cfg);
		return rc;
	}
	sp_console_ext(&ext);
	sp_serve_set_ext(&ext);
	r = sp_serve_run(config_path, &ov);
	if (sp_failed(r))
		return sp_cli_fail("serve", r);
	return SP_EXIT_OK;
}
