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
	bool json;
	char *path; /* owned files: reopened by name */
	pthread_mutex_t mu;
	bool mu_ok;
};

static sp_result
open_file(const char *path, FILE **f)
{
	sp_result res = SP_OK;
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, ACCESSLOG_MODE);

	ENSURE(fd >= 0 && (*f = fdopen(fd, "a")) != NULL, SP_E_IO, "access log %s: %s",
	    path, strerror(errno));
	fd = -1;
out:
	if (fd >= 0)
		close(fd);
	return res;
}

sp_result
sp_accesslog_open(const char *where, bool json, sp_accesslog **out)
{
	sp_result res = SP_OK;
	sp_accesslog *a = NULL;

	*out = NULL;
	if (strcmp(where, "off") == 0)
		goto out;
	TRY_ALLOC(a, calloc(1, sizeof(*a)));
	a->json = json;
	ENSURE(pthread_mutex_init(&a->mu, NULL) == 0, SP_E_INTERNAL, "access log lock");
	a->mu_ok = true;
	if (strcmp(where, "-") == 0) {
		a->f = stdout;
	} else {
		TRY_ALLOC(a->path, strdup(where));
		TRY(open_file(where, &a->f));
		a->owned = true;
	}
	*out = a;
	a = NULL;
out:
	sp_accesslog_close(a);
	return res;
}

sp_result
sp_accesslog_reopen(sp_accesslog *a)
{
	sp_result res = SP_OK;
	FILE *f = NULL, *old;

	if (a == NULL || !a->owned)
		goto out;
	TRY(open_file(a->path, &f));
	pthread_mutex_lock(&a->mu);
	old = a->f;
	a->f = f;
	pthread_mutex_unlock(&a->mu);
	fclose(old);
out:
	return res;
}

void
sp_accesslog_close(sp_accesslog *a)
{
	if (a == NULL)
		return;
	if (a->owned && a->f != NULL)
		fclose(a->f);
	if (a->mu_ok)
		pthread_mutex_destroy(&a->mu);
	free(a->path);
	free(a);
}

static const char *
dash(const char *s)
{
	return s != NULL && s[0] != '\0' ? s : "-";
}

/* The JSON form: the text line's fields, untrusted ones via sp_json_*. */
static void
json_line(sp_buf *b, const sp_reqlog *l, const char *ts, sp_slice ua, sp_slice path,
    unsigned long long dur_us)
{
	char num[160];
	sp_result r = SP_OK;

#define J(key, val) do { if (sp_ok(r)) r = sp_buf_append(b, key, strlen(key)); \
	if (sp_ok(r)) r = (val); } while (0)
#define JC(key, s) J(key, sp_json_cstr(b, dash(s)))
	JC("{\"time\":", ts);
	JC(",\"mac\":", l->mac);
	JC(",\"serial\":", l->serial);
	JC(",\"cert\":", l->cert_serial);
	JC(",\"ip\":", l->ip);
	J(",\"ua\":", sp_json_str(b, ua));
	JC(",\"method\":", l->method);
	J(",\"path\":", sp_json_str(b, path));
	snprintf(num, sizeof(num), ",\"status\":%d,\"bytes\":%zu,\"dur_us\":%llu", l->status,
	    l->bytes, dur_us);
	if (sp_ok(r))
		r = sp_buf_append(b, num, strlen(num));
	JC(",\"etag\":", l->etag);
	JC(",\"tls\":", l->tlsver);
	snprintf(num, sizeof(num), ",\"resumed\":%s", l->resumed ? "true" : "false");
	if (sp_ok(r))
		r = sp_buf_append(b, num, strlen(num));
	if (l->note != NULL)
		JC(",\"note\":", l->note);
	if (sp_ok(r))
		r = sp_buf_append(b, "}\n", 2);
#undef JC
#undef J
	if (sp_failed(r))
		sp_buf_free(b); /* over the ceiling: no line rather than half a one */
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
	if (a->json) {
		sp_buf b;
		sp_buf_init(&b, SP_ACCESSLOG_LINE_MAX * 4);
		json_line(&b, l, ts, sp_slice_mk(l->ua ? l->ua : "", l->ua ?
		    strnlen(l->ua, SP_UA_MAX) : 0), sp_slice_mk(l->path ? l->path : "",
		    l->path ? strnlen(l->path, ACCESSLOG_PATH_MAX) : 0),
		    (unsigned long long)((sp_mono_ns() - l->t0) / 1000));
		pthread_mutex_lock(&a->mu);
		if (b.p != NULL)
			fwrite(b.p, 1, b.len, a->f);
		fflush(a->f);
		pthread_mutex_unlock(&a->mu);
		sp_buf_free(&b);
		return;
	}
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
