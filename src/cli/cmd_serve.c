/* sprov serve: run the provisioning server (src/server, docs/SERVER.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "common/log.h"
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
    "                   [--crl-grace S] [--crl-poll S] [--verify-depth N]\n"
    "                   [--tls-backend openssl|gnutls] [--key-process on|off]\n"
    "                   [--sandbox on|off]\n"
    "                   [--handshake-timeout S|Nms] [--header-timeout S|Nms]\n"
    "                   [--idle-timeout S|Nms] [--drain-timeout S|Nms]\n"
    "                   [--max-connections N] [--overload-connections N]\n"
    "                   [--retry-after S] [--max-header-size B] [--max-request-line B]\n"
    "                   [--ticket-rotate S] [--contact-flush S|Nms] [--contact-queue N]\n"
    "                   [--verbose]\n"
    "\n"
    "Serves each device, identified by its verified client certificate, its own\n"
    "flat profile.  Every option is also a `key = value` of the config file\n"
    "(under [serve]); options given here win over the file.  The store comes\n"
    "from --store, else $SPROV_STORE, else sqlite:sprov.db.  The TLS library\n"
    "comes from --tls-backend, else $SPROV_TLS_BACKEND, else the default.\n"
    "Signals: SIGHUP reloads certificate, key, CRL and config (a bad config is\n"
    "refused and the old one keeps serving); SIGTERM drains and exits.\n"
    "--check-config validates the settings, the TLS files and the store, then exits.\n";

int
sp_cmd_serve(int argc, char **argv)
{
	sp_serve_overrides ov = { .n = 0 };
	const char *config_path = NULL;
	bool check = false;
	sp_serve_config *cfg = NULL;
	sp_result r;
	int rc = SP_EXIT_OK;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			fputs(serve_help, stdout);
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
	r = sp_serve_run(config_path, &ov);
	if (sp_failed(r))
		return sp_cli_fail("serve", r);
	return SP_EXIT_OK;
}
