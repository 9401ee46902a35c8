#include "cli/cli.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"

int
sp_cli_fail(const char *what, sp_result r)
{
	fprintf(stderr, "sprov %s: %s\n", what, sp_errmsg());
	return r.code == SP_E_USAGE ? SP_EXIT_USAGE : SP_EXIT_FAIL;
}

static void SP_PRINTF(2, 0)
usage_v(const char *what, const char *fmt, va_list ap)
{
	const char *sp = *what ? " " : "";

	fprintf(stderr, "sprov%s%s: ", sp, what);
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, " (see 'sprov%s%s --help')\n", sp, what);
}

int
sp_cli_usage(const char *what, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	usage_v(what, fmt, ap);
	va_end(ap);
	return SP_EXIT_USAGE;
}

#define SP_CLI_HELP_DEPTH 8 /* words after `help` passed on */
#define SP_CLI_EXAMPLES "\nExamples:\n"
#define SP_CLI_STATUS "\nExit status:\n"

/* The exit status of every command unless its help says otherwise. */
static const char *const status_std[] = {
	"  0  done\n",
	"  1  refused or failed: the message on standard error says why\n",
	"  2  usage error: an unknown option, a missing or bad argument\n",
};
static const char status_group_usage[] =
    "  2  usage error, or no COMMAND (this help then goes to standard error)\n";

void
sp_cli_help(FILE *f, const char *help, const sp_cmd *cmds)
{
	const char *st = strstr(help, SP_CLI_STATUS);
	const char *end = st ? st : help + strlen(help);
	const char *ex = strstr(help, SP_CLI_EXAMPLES);
	const char *line, *nl;
	int next = 0;

	if (ex == NULL || ex > end)
		ex = end;
	fwrite(help, 1, (size_t)(ex - help), f);
	if (cmds) {
		int w = 10;   /* summaries line up past the longest name */

		for (const sp_cmd *c = cmds; c->name; c++)
			if ((int)strlen(c->name) > w)
				w = (int)strlen(c->name);
		fprintf(f, "\nCommands:\n");
		for (const sp_cmd *c = cmds; c->name; c++)
			fprintf(f, "  %-*s %s\n", w, c->name, c->summary);
	}
	fwrite(ex, 1, (size_t)(end - ex), f);
	fputs(SP_CLI_STATUS, f);
	/* The text's own lines in code order; standard ones fill the gaps. */
	for (line = st ? st + strlen(SP_CLI_STATUS) : end; *line; line = nl) {
		nl = strchr(line, '\n');
		nl = nl ? nl + 1 : line + strlen(line);
		if (line[0] == ' ' && line[1] == ' ' && line[2] >= '0' && line[2] <= '9' &&
		    line[3] == ' ') {
			for (; next < line[2] - '0' && next < 3; next++)
				fputs(next == 2 && cmds ? status_group_usage : status_std[next], f);
			if (next == line[2] - '0')
				next++;
		}
		fwrite(line, 1, (size_t)(nl - line), f);
	}
	for (; next < 3; next++)
		fputs(next == 2 && cmds ? status_group_usage : status_std[next], f);
	if (cmds)
		fprintf(f, "Each COMMAND's --help states its own exit status.\n");
}

int
sp_cli_dispatch(const char *prefix, const sp_cmd *cmds, int argc, char **argv,
    const char *help_text)
{
	const char *name = argc > 1 ? argv[1] : NULL;

	if (name == NULL || strcmp(name, "help") == 0 || strcmp(name, "-h") == 0 ||
	    strcmp(name, "--help") == 0) {
		/*
		 * `sprov X help Y Z...` is `sprov X Y Z... --help`, so the help of
		 * a nested command (`sprov help db params set`) is that command's.
		 */
		if (name && strcmp(name, "help") == 0 && argc > 2) {
			char *hargv[SP_CLI_HELP_DEPTH + 2];
			int n = 0;
			for (int i = 2; i < argc && n < SP_CLI_HELP_DEPTH; i++)
				hargv[n++] = argv[i];
			hargv[n++] = "--help";
			hargv[n] = NULL;
			for (const sp_cmd *c = cmds; c->name; c++)
				if (strcmp(c->name, argv[2]) == 0)
					return c->run(n, hargv);
			return sp_cli_usage(prefix, "unknown command '%s'", argv[2]);
		}
		sp_cli_help(name ? stdout : stderr, help_text, cmds);
		return name ? SP_EXIT_OK : SP_EXIT_USAGE;
	}
	for (const sp_cmd *c = cmds; c->name; c++)
		if (strcmp(c->name, name) == 0)
			return c->run(argc - 1, argv + 1);
	return sp_cli_usage(prefix, "unknown command '%s'", name);
}

bool
sp_cli_isatty(void)
{
	return isatty(STDERR_FILENO) == 1;
}

void
sp_opts_init(sp_opts *o, const char *what, const char *help,
    const char *shortopts, const struct option *longopts, int argc, char **argv)
{
	bool order = shortopts[0] == '+';

	memset(o, 0, sizeof(*o));
	o->what = what;
	o->help = help;
	o->longopts = longopts;
	o->argc = argc;
	o->argv = argv;
	/* "+" (stop at the first argument) stays first, then ':'. */
	snprintf(o->shortopts, sizeof(o->shortopts), "%s:%s", order ? "+" : "",
	    shortopts + order);
	optind = 0;     /* glibc: start afresh */
	opterr = 0;
}

/* The option as written, up to any "=value". */
static void
opt_text(sp_opts *o, const char *a)
{
	size_t n = strcspn(a, "=");

	snprintf(o->name, sizeof(o->name), "%.*s", (int)n, a);
}

static bool
takes_no_value(const sp_opts *o, int val)
{
	for (const struct option *l = o->longopts; l && l->name; l++)
		if (l->val == val && l->has_arg == no_argument)
			return true;
	return false;
}

int
sp_opt_next(sp_opts *o)
{
	const char *last;
	int c, li = -1;

	c = getopt_long(o->argc, o->argv, o->shortopts, o->longopts, &li);
	o->arg = optarg;
	last = optind > 0 && optind - 1 < o->argc ? o->argv[optind - 1] : "";
	if (c == -1) {
		o->ind = optind;
		return SP_OPT_END;
	}
	if (li >= 0)
		snprintf(o->name, sizeof(o->name), "--%s", o->longopts[li].name);
	else if (c != '?' && c != ':')
		snprintf(o->name, sizeof(o->name), "-%c", c);
	if (c == ':') {
		if (strncmp(last, "--", 2) == 0)
			opt_text(o, last);
		else
			snprintf(o->name, sizeof(o->name), "-%c", optopt);
		return sp_opt_fail(o, "option '%s' needs a value", o->name);
	}
	if (c == '?') {
		if (optopt && strncmp(last, "--", 2) == 0 && strchr(last, '=') &&
		    takes_no_value(o, optopt)) {
			opt_text(o, last);
			return sp_opt_fail(o, "option '%s' takes no value", o->name);
		}
		if (optopt)
			snprintf(o->name, sizeof(o->name), "-%c", optopt);
		else
			opt_text(o, last);
		return sp_opt_fail(o, "unknown option '%s'", o->name);
	}
	if (c == SP_OPT_HELP) {
		sp_cli_help(stdout, o->help, NULL);
		o->rc = SP_EXIT_OK;
		return SP_OPT_STOP;
	}
	return c;
}

int
sp_opt_fail(sp_opts *o, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	usage_v(o->what, fmt, ap);
	va_end(ap);
	o->rc = SP_EXIT_USAGE;
	return SP_OPT_STOP;
}

bool
sp_opt_i64(sp_opts *o, int64_t min, int64_t max, int64_t *out)
{
	if (sp_ok(sp_parse_i64(o->arg ? o->arg : "", min, max, o->name, out)))
		return true;
	(void)sp_opt_fail(o, "%s", sp_errmsg());
	return false;
}

bool
sp_opt_double(sp_opts *o, double min, double max, double *out)
{
	const char *s = o->arg ? o->arg : "";
	char *end = NULL;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (*s == '\0' || end == NULL || *end != '\0' || errno != 0 || !isfinite(v) ||
	    v < min || v > max) {
		(void)sp_opt_fail(o, "%s: '%.40s' is not a number in [%g, %g]", o->name,
		    s, min, max);
		return false;
	}
	*out = v;
	return true;
}
