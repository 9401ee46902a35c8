/*
 * Remote syslog for the device's Log_Resync_* messages, the way phones send
 * them: one UDP datagram per message to Syslog_Server (IP[:PORT], default
 * port 514), BSD syslog format "<PRI>TAG: MSG", facility daemon.  Fire and
 * forget: a lost datagram never fails a resync.
 */
#ifndef SPROV_DEVICE_RSYSLOG_H
#define SPROV_DEVICE_RSYSLOG_H

#include <stdint.h>

#include "common/buf.h"
#include "common/result.h"
#include "device/addr.h"

#define SP_SYSLOG_PORT 514
#define SP_SYSLOG_MSG_MAX 1024  /* RFC 3164 keeps datagrams at most 1024 bytes */

typedef struct sp_rsyslog {
	sp_ipaddr ip;
	uint16_t port;
	int fd;          /* -1 until the first message */
} sp_rsyslog;

/* "IP", "IP:PORT", "[IPv6]:PORT"; names are refused (no DNS for logging). */
SP_MUST_CHECK sp_result sp_rsyslog_parse(sp_slice target, sp_rsyslog *out);
/* severity: LOG_ERR, LOG_INFO, ... */
void sp_rsyslog_send(sp_rsyslog *s, int severity, const char *msg);
void sp_rsyslog_close(sp_rsyslog *s);

#endif
