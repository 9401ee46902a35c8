/*
 * Logging: one line per event to stderr (and optionally syslog or the journal).
 * Never pass secrets (keys, parameter values, passwords) to these functions.
 */
#ifndef SPROV_COMMON_LOG_H
#define SPROV_COMMON_LOG_H

#include <stdbool.h>

#include "common/result.h"

typedef enum { SP_LOG_ERR, SP_LOG_WARN, SP_LOG_INFO, SP_LOG_DEBUG } sp_log_level;

void sp_log_set_level(sp_log_level lvl);
void sp_log_set_syslog(bool on, const char *ident);
/*
 * Also to the systemd journal (sd_journal_send, with PRIORITY and
 * SYSLOG_IDENTIFIER), besides stderr.
 */
void sp_log_set_journal(bool on, const char *ident);
void sp_log(sp_log_level lvl, const char *fmt, ...) SP_PRINTF(2, 3);

#define sp_err(...) sp_log(SP_LOG_ERR, __VA_ARGS__)
#define sp_warn(...) sp_log(SP_LOG_WARN, __VA_ARGS__)
#define sp_info(...) sp_log(SP_LOG_INFO, __VA_ARGS__)
#define sp_debug(...) sp_log(SP_LOG_DEBUG, __VA_ARGS__)

#endif
