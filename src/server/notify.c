/*
 * systemd readiness and watchdog (srv.h), through libsystemd's sd_notify:
 * a no-op when NOTIFY_SOCKET is unset, so the server behaves the same
 * outside systemd.
 */
#include <stdarg.h>
#include <stdio.h>

#include <systemd/sd-daemon.h>

#include "server/srv.h"

void
srv_notify(const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	(void)sd_notify(0, msg);
}

uint64_t
srv_watchdog_usec(void)
{
	uint64_t usec = 0;

	return sd_watchdog_enabled(0, &usec) > 0 ? usec : 0;
}
