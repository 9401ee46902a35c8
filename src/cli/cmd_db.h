/*
 * What the `sprov db` files share (cmd_db.c, cmd_db_devices.c,
 * cmd_db_params.c, cmd_db_import.c): option values, the store, MACs, times.
 */
#ifndef SPROV_CLI_CMD_DB_H
#define SPROV_CLI_CMD_DB_H

#include <stdint.h>

#include "cli/cli.h"
#include "common/result.h"
#include "identity/mac.h"
#include "store/store.h"

enum { OPT_STORE = 0x100, OPT_JSON, OPT_SERIAL, OPT_PRODUCT,
	OPT_GROUP, OPT_DISABLED, OPT_DEFAULT, OPT_DEVICE, OPT_ACCESS, OPT_FIELD,
	OPT_STDIN };

#define OPT_STORE_ENTRY { "store", required_argument, NULL, OPT_STORE }
/* Its line in every db command's Options (the column is 21 in all of them). */
#define DB_HELP_STORE \
    "  --store URI        the database (default $SPROV_STORE, else sqlite:sprov.db)\n"

/* JSON output goes through common/text; a failed write ends the listing. */
#define JSON_STR(p, n) TRY(sp_json_fput(stdout, sp_slice_mk((p), (n))))
#define JSON_CSTR(s) TRY(sp_json_fput(stdout, sp_slice_of(s)))

/* A parameter value or a profile as a JSON string; the copy is wiped. */
SP_MUST_CHECK sp_result sp_dbcli_json_secret(sp_slice s);

/*
 * A listing command (db devices list, db firmware list, rollout list):
 * --json and --store, no argument.  run lists through l->s, printing each
 * row: with l->json as "%s\n  {...}" (l->n ? "," : ""), else as a table
 * line (the header first, when l->n is 0); it counts rows in l->n.
 * Without rows a table prints `empty` instead.
 */
typedef struct sp_dbcli_list {
	sp_store *s;
	bool json;
	size_t n;
} sp_dbcli_list;
int sp_dbcli_list_cmd(int argc, char **argv, const char *what,
    const char *help, sp_result (*run)(sp_dbcli_list *l), const char *empty);

/*
 * A command with --store only and exactly nargs arguments (db firmware rm,
 * rollout pause and resume): run gets the open store and the arguments;
 * with another count, `need` is the usage message.
 */
int sp_dbcli_store_cmd(int argc, char **argv, const char *what,
    const char *help, int nargs, const char *need,
    sp_result (*run)(sp_store *s, char **args));

/*
 * --store URI, else $SPROV_STORE, else sqlite:sprov.db.  Changes made
 * through it are the audit trail's "cli:USER" (the OS user; under sudo
 * "cli:SUDO_USER via sudo").
 */
SP_MUST_CHECK sp_result sp_dbcli_open_store(const char *opt, int flags,
    sp_store **out);
/* That actor: "cli:USER" (or "cli:SUDO_USER via sudo"). */
void sp_dbcli_actor(char actor[SP_AUDIT_ACTOR_MAX + 1]);
SP_MUST_CHECK sp_result sp_dbcli_parse_mac(const char *s, sp_mac *out);
/* 2026-01-31T12:00:00Z, or "-" for 0 (never). */
void sp_dbcli_fmt_time(int64_t t, char out[32]);

/* Subcommands of `sprov db` (argv[0] is the subcommand name). */
int sp_dbcli_devices(int argc, char **argv);
int sp_dbcli_devices_import(int argc, char **argv);
int sp_dbcli_params(int argc, char **argv);
int sp_dbcli_import(int argc, char **argv);
int sp_dbcli_migrate(int argc, char **argv);
int sp_dbcli_dump(int argc, char **argv);
int sp_dbcli_restore(int argc, char **argv);
int sp_dbcli_firmware(int argc, char **argv);
int sp_dbcli_audit(int argc, char **argv);

#endif
