/*
 * The access log (server/accesslog.h).
 */
#include "server/accesslog.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/text.h"
#include "common/util.h"

#define ACCESSLOG_PATH_MAX 512   /* bytes of the request target looked at */
#define ACCESSLOG_FIELD_MAX 600  /* a quoted field, NUL included */
/* Created owner rw, group r: it names devices, addresses and ETags. */
#define ACCESSLOG_MODE 0640

struct sp_accesslog {
	FILE *f;
	bool owned; /* fclose at the end (not stdout) */
	pthread_mutex_t mu;
};

sp_result
sp_accesslog_open(const char *where, sp_accesslog **out)
{
	sp_result res = SP_OK;
	sp_accesslog *a = NULL;
	int fd = -1;

	*out = NULL;
	if (strcmp(where, "off") == 0)
		goto out;
	TRY_ALLOC(a, calloc(1, sizeof(*a)));
	ENSURE(pthread_mutex_init(&a->mu, NULL) == 0, SP_E_INTERNAL, "access log lock");
	if (strcmp(where, "-") == 0) {
		a->f = stdout;
	} else {
		fd = open(where, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, ACCESSLOG_MODE);
		ENSURE(fd >= 0 && (a->f = fdopen(fd, "a")) != NULL, SP_E_IO, "access log %s: %s",
		    where, strerror(errno));
		fd = -1;
		a->owned = true;
	}
	*out = a;
	a = NULL;
out:
	if (fd >= 0)
		close(fd);
	free(a);
	return res;
}

void
sp_accesslog_close(sp_accesslog *a)
{
	if (a == NULL)
		return;
	if (a->owned)
		fclose(a->f);
	pthread_mutex_destroy(&a->mu);
	free(a);
}

void
sp_accesslog_write(sp_accesslog *a, const sp_reqlog *l)
{
	char ua[ACCESSLOG_FIELD_MAX], path[ACCESSLOG_FIELD_MAX], ts[32];
	char line[SP_ACCESSLOG_LINE_MAX];
	time_t now = time(NULL);
	struct tm tm;

	if (a == NULL)
		return;
	gmtime_r(&now, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
	sp_quote_field(sp_slice_mk(l->ua ? l->ua : "", l->ua ? strnlen(l->ua, SP_UA_MAX) : 0), ua,
	    sizeof(ua));
	sp_quote_field(sp_slice_mk(l->path ? l->path : "",
	    l->path ? strnlen(l->path, ACCESSLOG_PATH_MAX) : 0), path, sizeof(path));
	snprintf(line, sizeof(line),
	    "%s mac=%s serial=%s cert=%s ip=%s ua=\"%s\" method=%s path=\"%s\" "
	    "status=%d bytes=%zu dur_us=%llu etag=%s tls=%s resumed=%d%s%s\n",
	    ts, l->mac[0] ? l->mac : "-", l->serial[0] ? l->serial : "-",
	    l->cert_serial[0] ? l->cert_serial : "-", l->ip[0] ? l->ip : "-", ua,
	    l->method ? l->method : "-", path, l->status, l->bytes,
	    (unsigned long long)((sp_mono_ns() - l->t0) / 1000),
	    l->etag && l->etag[0] ? l->etag : "-", l->tlsver && l->tlsver[0] ? l->tlsver : "-",
	    l->resumed ? 1 : 0, l->note ? " note=" : "", l->note ? l->note : "");
	pthread_mutex_lock(&a->mu);
	fputs(line, a->f);
	fflush(a->f);
	pthread_mutex_unlock(&a->mu);
}
