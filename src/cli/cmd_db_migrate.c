/*
 * sprov db migrate: bring a store's schema up to this sprov's version
 * (either backend).  Opening a store migrates an older schema too; this
 * command does it on purpose, before the servers are restarted, and says
 * what it found.  A store newer than this sprov is refused, unchanged.
 */
#include "cli/cmd_db.h"

#include <stdio.h>

static const char migrate_help[] =
    "usage: sprov db migrate [--store URI]\n"
    "\n"
    "Upgrade the store's schema to this sprov's version, in one transaction.\n"
    "A store already current is left as it is; a store with a newer schema\n"
    "(written by a newer sprov) is refused and left as it is.  An empty\n"
    "database is refused too: 'sprov db init' creates one.  A PostgreSQL\n"
    "store is any libpq URI, several hosts included, e.g.\n"
    "  'postgresql://sprov@db1,db2/sprov?target_session_attrs=read-write'\n"
    "\n"
    "Options:\n"
    "  --store URI  the database (default $SPROV_STORE, else sqlite:sprov.db)\n"
    "\n"
    "Examples:\n"
    "  sprov db migrate\n"
    "  sprov db migrate --store sqlite:new.db\n"
    "\n"
    "Exit status:\n"
    "  0  the schema is current (upgraded, or already so)\n"
    "  1  refused (a newer or an empty store) or failed: nothing changed\n";

int
sp_dbcli_migrate(int argc, char **argv)
{
	static const struct option lo[] = {
		OPT_STORE_ENTRY,
		SP_OPT_HELP_AND_END,
	};
	sp_opts opt;
	const char *store = NULL;
	sp_store *s = NULL;
	sp_result res = SP_OK;
	int c, found = 0, cur = 0;

	sp_opts_init(&opt, "db migrate", migrate_help, "", lo, argc, argv);
	while ((c = sp_opt_next(&opt)) > 0) {
		switch (c) {
		case OPT_STORE: store = opt.arg; break;
		}
	}
	if (c < 0)
		return opt.rc;
	if (opt.ind != argc)
		return sp_cli_usage("db migrate", "unexpected argument '%s'",
		    argv[opt.ind]);
	res = sp_dbcli_open_store(store, 0, &s);
	if (sp_ok(res))
		res = sp_store_schema_version(s, &found, &cur);
	if (sp_failed(res)) {
		sp_store_close(s);
		return sp_cli_fail("db migrate", res);
	}
	if (found == cur)
		printf("schema version %d: already current\n", cur);
	else
		printf("schema version %d: migrated from version %d\n", cur, found);
	sp_store_close(s);
	return SP_EXIT_OK;
}
