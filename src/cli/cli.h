/*
 * The `sprov` command: dispatch table and shared helpers for subcommands.
 * Each subcommand lives in its own cmd_*.c and returns the process exit
 * status: 0 done, 1 refused or failed, 2 usage error.
 */
#ifndef SPROV_CLI_CLI_H
#define SPROV_CLI_CLI_H

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

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
int sp_cmd_rollout(int argc, char **argv);
int sp_cmd_admin(int argc, char **argv);

/*
 * Print "sprov <what>: <message>" for a failed result and return the exit
 * status it maps to (2 for SP_E_USAGE, else 1).
 */
int sp_cli_fail(const char *what, sp_result r);
/*
 * Print a usage error, one line with a hint to --help, and return 2:
 *   sprov WHAT: MESSAGE (see 'sprov WHAT --help')
 */
int sp_cli_usage(const char *what, const char *fmt, ...) SP_PRINTF(2, 3);
/*
 * Print a command's help: `help`, then (for a group) its commands, then the
 * exit status.  The text is a usage line, a description, "Options:" (or,
 * for a group, the "Commands:" list printed here), "Examples:" and
 * optionally "Exit status:" with the lines that differ from the standard
 * ones, e.g. "  1  a device would refuse it\n"; every code it does not
 * name gets its standard line (0 done, 1 refused or failed, 2 usage
 * error), so the wording is the same everywhere.
 */
void sp_cli_help(FILE *f, const char *help, const sp_cmd *cmds);
/* Dispatch argv[1] among cmds; prints help for "help", -h, --help. */
int sp_cli_dispatch(const char *prefix, const sp_cmd *cmds, int argc, char **argv,
    const char *help_text);
/*
 * The getopt_long loop of every subcommand, with one wording for its errors:
 *   sprov WHAT: unknown option '--foo' (see 'sprov WHAT --help')
 *   sprov WHAT: option '--days' needs a value (see ...)
 *   sprov WHAT: option '--json' takes no value (see ...)
 *   sprov WHAT: --days: 'x' is not a number (see ...)       (sp_opt_i64)
 * The option whose val is SP_OPT_HELP prints `help` to stdout.
 *
 *   sp_opts o;
 *   sp_opts_init(&o, "ca sign", sign_help, "o:", longopts, argc, argv);
 *   while ((c = sp_opt_next(&o)) > 0)
 *           switch (c) { case 'o': out = o.arg; break; ... }
 *   if (c < 0)
 *           return o.rc;
 *   ... positional arguments are argv[o.ind .. argc)
 *
 * sp_opt_next returns an option's val (> 0), SP_OPT_END after the last one,
 * or SP_OPT_STOP after --help (o.rc 0) or a usage error (o.rc 2).
 */
#define SP_OPT_HELP 'h'
#define SP_OPT_HELP_ENTRY { "help", no_argument, NULL, SP_OPT_HELP }
/* The end of every option table: --help, then the terminator. */
#define SP_OPT_HELP_AND_END SP_OPT_HELP_ENTRY, { NULL, 0, NULL, 0 }
#define SP_OPT_END 0
#define SP_OPT_STOP (-1)

typedef struct sp_opts {
	const char *what, *help;
	const struct option *longopts;
	int argc;
	char **argv;
	const char *arg;      /* the current option's value, or NULL */
	char name[64];        /* the current option as "--days" or "-o" */
	int ind;              /* the first positional argument at SP_OPT_END */
	int rc;               /* the exit status at SP_OPT_STOP */
	char shortopts[32];   /* ':' added: missing values are told apart */
} sp_opts;

void sp_opts_init(sp_opts *o, const char *what, const char *help,
    const char *shortopts, const struct option *longopts, int argc, char **argv);
int sp_opt_next(sp_opts *o);
/* The current option's value as a number in [min, max]; else prints the
 * usage error, sets o->rc and returns false. */
bool sp_opt_i64(sp_opts *o, int64_t min, int64_t max, int64_t *out);
/* The same for a decimal number (strtod syntax, finite) in [min, max]. */
bool sp_opt_double(sp_opts *o, double min, double max, double *out);
/* A usage error about the current option; sets o->rc, returns SP_OPT_STOP. */
int sp_opt_fail(sp_opts *o, const char *fmt, ...) SP_PRINTF(2, 3);

/* True if stderr is a terminal (progress bars). */
bool sp_cli_isatty(void);

#endif
