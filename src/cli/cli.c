#include "cli/cli.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int
sp_cli_fail(const char *what, sp_result r)
{
	fprintf(stderr, "sprov %s: %s\n", what, sp_errmsg());
	return r.code == SP_E_USAGE ? SP_EXIT_USAGE : SP_EXIT_FAIL;
}

int
sp_cli_usage(const char *what, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "sprov%s%s: ", *what ? " " : "", what);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'sprov%s%s --help'.\n", *what ? " " : "", what);
	return SP_EXIT_USAGE;
}

int
sp_cli_dispatch(const char *prefix, const sp_cmd *cmds, int argc, char **argv,
    const char *help_text)
{
	const char *name = argc > 1 ? argv[1] : NULL;

	if (name == NULL || strcmp(name, "help") == 0 || strcmp(name, "-h") == 0 ||
	    strcmp(name, "--help") == 0) {
		/* `sprov X help Y` is `sprov X Y --help`. */
		if (name && strcmp(name, "help") == 0 && argc > 2) {
			for (const sp_cmd *c = cmds; c->name; c++) {
				if (strcmp(c->name, argv[2]) == 0) {
					char *hargv[] = { argv[2], "--help", NULL };
					return c->run(2, hargv);
				}
			}
		}
		FILE *f = name ? stdout : stderr;
		fputs(help_text, f);
		fprintf(f, "\nCommands:\n");
		for (const sp_cmd *c = cmds; c->name; c++)
			fprintf(f, "  %-10s %s\n", c->name, c->summary);
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
