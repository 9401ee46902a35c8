/*
 * The `sprov` command: dispatch table and shared helpers for subcommands.
 * Each subcommand lives in its own cmd_*.c and returns the process exit
 * status: 0 done, 1 refused or failed, 2 usage error.
 */
#ifndef SPROV_CLI_CLI_H
#define SPROV_CLI_CLI_H

#include <stdbool.h>

#include "common/result.h"

#define SP_EXIT_OK 0
#define SP_EXIT_FAIL 1
#define SP_EXIT_USAGE 2

typedef struct sp_cmd {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
} sp_cmd;

/* Subcommands (argv[0] is the subcommand name). */
int sp_cmd_req(int argc, char **argv);
int sp_cmd_ca(int argc, char **argv);
int sp_cmd_db(int argc, char **argv);
int sp_cmd_serve(int argc, char **argv);
int sp_cmd_device(int argc, char **argv);
int sp_cmd_fleet(int argc, char **argv);

/*
 * Print "sprov <what>: <message>" for a failed result and return the exit
 * status it maps to (2 for SP_E_USAGE, else 1).
 */
int sp_cli_fail(const char *what, sp_result r);
/* Print a usage error with a hint to --help; returns 2. */
int sp_cli_usage(const char *what, const char *fmt, ...) SP_PRINTF(2, 3);
/* Dispatch argv[1] among cmds; prints help for "help", -h, --help. */
int sp_cli_dispatch(const char *prefix, const sp_cmd *cmds, int argc, char **argv,
    const char *help_text);
/* True if stderr is a terminal (progress bars). */
bool sp_cli_isatty(void);

#endif
