/* sprov: mutual-TLS provisioning for IP phones and adapters. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "common/version.h"

static const sp_cmd commands[] = {
	/* One line per subcommand, in the order `sprov help` lists them. */
	{ "req", sp_cmd_req, "make a provisioning server key and CSR (service provider)" },
	{ "ca", sp_cmd_ca, "vendor PKI: server CA, device CA, firmware key, devices" },
	{ "db", sp_cmd_db, "the provider's device database: devices and parameters" },
	{ "rollout", sp_cmd_rollout, "staged parameter and firmware rollouts with automatic halt" },
	{ "serve", sp_cmd_serve, "run the provisioning server" },
	{ "admin", sp_cmd_admin, "operator console access: API tokens, login links" },
	{ "device", sp_cmd_device, "the device: resync, rule check, certificate check, daemon" },
	{ "fleet", sp_cmd_fleet, "simulate many devices: load, storms, soak" },
	{ NULL, NULL, NULL },
};

static const char help[] =
    "usage: sprov COMMAND [ARGS...]\n"
    "       sprov help COMMAND | sprov COMMAND --help | sprov --version\n"
    "\n"
    "sprov provisions IP phones and adapters over mutual-TLS HTTPS.\n"
    "\n"
    "Examples:\n"
    "  sprov help ca issue\n"
    "  sprov --version\n";

int
main(int argc, char **argv)
{
	if (argc > 1 && (strcmp(argv[1], "--version") == 0 ||
	    strcmp(argv[1], "version") == 0)) {
		sp_libversion v[SP_LIBVERSIONS];
		sp_libversions(v);
		printf("sprov %s\n", SPROV_VERSION);
		for (int i = 0; i < SP_LIBVERSIONS; i++)
			printf("%s %s\n", v[i].name, v[i].version);
		return 0;
	}
	return sp_cli_dispatch("", commands, argc, argv, help);
}
