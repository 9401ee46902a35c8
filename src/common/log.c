#include "common/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <syslog.h>
#include <time.h>

#include <systemd/sd-journal.h>

static sp_log_level level = SP_LOG_INFO;
static bool use_syslog, use_journal;
static const char *journal_ident = "sprov";

void
sp_log_set_level(sp_log_level lvl)
{
	level = lvl;
}

void
sp_log_set_syslog(bool on, const char *ident)
{
	if (on && !use_syslog)
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
	else if (!on && use_syslog)
		closelog();
	use_syslog = on;
}

void
sp_log_set_journal(bool on, const char *ident)
{
	use_journal = on;
	if (ident != NULL)
		journal_ident = ident;
}

void
sp_log(sp_log_level lvl, const char *fmt, ...)
{
	static const char *const tag[] = { "error", "warning", "info", "debug" };
	static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };
	char line[2048];
	va_list ap;

	if (lvl > level)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (use_syslog)
		syslog(prio[lvl], "%s", line);
	if (use_journal)
		(void)sd_journal_send("MESSAGE=%s", line, "PRIORITY=%d", prio[lvl],
		    "SYSLOG_IDENTIFIER=%s", journal_ident, NULL);
	/* One write per line so concurrent workers do not interleave. */
	fprintf(stderr, "sprov: %s: %s\n", tag[lvl], line);
}
