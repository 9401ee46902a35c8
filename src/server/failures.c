/*
 * The failure queue (server/failures.h): an array in arrival order of
 * distinct keys plus an open-addressing index key -> slot, both allocated
 * once at their maximum, so a storm never allocates.
 */
#include "server/failures.h"

#include <pthread.h>
#include <stdio.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "tls/tls.h"

#define FQ_IDX_CAP 8192   /* index slots: a power of two >= 2 * SRV_FAIL_KEYS_MAX */

struct srv_failures {
	pthread_mutex_t mu;
	sp_failure *v;        /* max entries */
	size_t n, max;
	uint16_t idx[FQ_IDX_CAP]; /* slot + 1; 0: empty */
	uint64_t by_reason[SP_FAIL_N], dropped, written;
};

static bool
fq_same(const sp_failure *a, const sp_failure *b)
{
	if (a->reason != b->reason || a->has_mac != b->has_mac)
		return false;
	return a->has_mac ? memcmp(a->mac.b, b->mac.b, sizeof(a->mac.b)) == 0 :
	    strcmp(a->ip, b->ip) == 0;
}

static size_t
fq_hash(const sp_failure *f)
{
	uint64_t h = f->has_mac ? sp_fnv1a(f->mac.b, sizeof(f->mac.b)) :
	    sp_fnv1a((const uint8_t *)f->ip, strnlen(f->ip, sizeof(f->ip)));

	h ^= (uint64_t)f->reason * 0x9e3779b97f4a7c15ull;
	return (size_t)(h ^ (h >> 29)) & (FQ_IDX_CAP - 1);
}

/* The index slot of f's key (empty, or holding it); mu held. */
static uint16_t *
fq_probe(srv_failures *q, const sp_failure *f)
{
	size_t h = fq_hash(f);

	for (;;) {
		uint16_t *e = &q->idx[h];
		if (*e == 0 || fq_same(&q->v[*e - 1], f))
			return e;
		h = (h + 1) & (FQ_IDX_CAP - 1);
	}
}

sp_result
srv_failures_new(size_t max, srv_failures **out)
{
	sp_result res = SP_OK;
	srv_failures *q = NULL;

	ENSURE(max >= 1 && max <= SRV_FAIL_KEYS_MAX, SP_E_USAGE,
	    "failure queue of %zu keys is not in 1..%d", max, SRV_FAIL_KEYS_MAX);
	TRY_ALLOC(q, calloc(1, sizeof(*q)));
	TRY_ALLOC(q->v, calloc(max, sizeof(*q->v)));
	q->max = max;
	ENSURE(pthread_mutex_init(&q->mu, NULL) == 0, SP_E_INTERNAL, "failure queue lock");
	*out = q;
	q = NULL;
out:
	if (q != NULL)
		free(q->v);
	free(q);
	return res;
}

void
srv_failures_free(srv_failures *q)
{
	if (q == NULL)
		return;
	pthread_mutex_destroy(&q->mu);
	free(q->v);
	free(q);
}

/* Fold f in; mu held.  false: a new key and no room. */
static bool
fq_fold(srv_failures *q, const sp_failure *f)
{
	uint16_t *e = fq_probe(q, f);
	sp_failure *o;

	if (*e == 0) {
		if (q->n >= q->max)
			return false;
		q->v[q->n] = *f;
		if (q->v[q->n].count == 0)
			q->v[q->n].count = 1;
		*e = (uint16_t)(++q->n);
		return true;
	}
	o = &q->v[*e - 1];
	o->count = o->count > UINT32_MAX - (f->count ? f->count : 1) ? UINT32_MAX :
	    o->count + (f->count ? f->count : 1);
	if (f->time >= o->time) {
		o->time = f->time;
		memcpy(o->ip, f->ip, sizeof(o->ip));
		memcpy(o->cert_serial, f->cert_serial, sizeof(o->cert_serial));
		memcpy(o->detail, f->detail, sizeof(o->detail));
	}
	return true;
}

bool
srv_failures_put(srv_failures *q, const sp_failure *f)
{
	bool ok;

	if ((unsigned)f->reason >= SP_FAIL_N)
		return false;
	pthread_mutex_lock(&q->mu);
	q->by_reason[f->reason] += f->count ? f->count : 1;
	if (!(ok = fq_fold(q, f)))
		q->dropped += f->count ? f->count : 1;
	pthread_mutex_unlock(&q->mu);
	return ok;
}

sp_result
srv_failures_take(srv_failures *q, sp_failure **v, size_t *n)
{
	sp_result res = SP_OK;
	sp_failure *copy = NULL;

	*v = NULL;
	*n = 0;
	pthread_mutex_lock(&q->mu);
	if (q->n > 0) {
		TRY_ALLOC(copy, malloc(q->n * sizeof(*copy)));
		memcpy(copy, q->v, q->n * sizeof(*copy));
		*v = copy;
		*n = q->n;
		q->n = 0;
		memset(q->idx, 0, sizeof(q->idx));
	}
out:
	pthread_mutex_unlock(&q->mu);
	return res;
}

void
srv_failures_putback(srv_failures *q, const sp_failure *v, size_t n)
{
	pthread_mutex_lock(&q->mu);
	for (size_t i = 0; i < n; i++)
		if (!fq_fold(q, &v[i]))
			q->dropped += v[i].count;
	pthread_mutex_unlock(&q->mu);
}

void
srv_failures_count_written(srv_failures *q, size_t n)
{
	pthread_mutex_lock(&q->mu);
	q->written += n;
	pthread_mutex_unlock(&q->mu);
}

void
srv_failures_stats_get(srv_failures *q, srv_failures_stats *out)
{
	pthread_mutex_lock(&q->mu);
	memcpy(out->by_reason, q->by_reason, sizeof(out->by_reason));
	out->dropped = q->dropped;
	out->written = q->written;
	out->queued = q->n;
	pthread_mutex_unlock(&q->mu);
}

bool
srv_failures_note(srv_failures *q, sp_fail_reason r, const sp_mac *mac, const char *ip,
    const char *cert_serial, const char *detail)
{
	sp_failure f;

	memset(&f, 0, sizeof(f));
	f.reason = r;
	f.count = 1;
	f.time = sp_now();
	if (mac != NULL) {
		f.has_mac = true;
		f.mac = *mac;
	}
	snprintf(f.ip, sizeof(f.ip), "%s", ip ? ip : "");
	snprintf(f.cert_serial, sizeof(f.cert_serial), "%s", cert_serial ? cert_serial : "");
	snprintf(f.detail, sizeof(f.detail), "%s", detail ? detail : "");
	return srv_failures_put(q, &f);
}

sp_fail_reason
srv_fail_reason_of_tls(int tls_fail)
{
	switch ((sp_tls_fail)tls_fail) {
	case SP_TLS_FAIL_REVOKED:
		return SP_FAIL_REVOKED;
	case SP_TLS_FAIL_EXPIRED:
		return SP_FAIL_EXPIRED;
	case SP_TLS_FAIL_NOT_YET_VALID:
		return SP_FAIL_NOT_YET_VALID;
	case SP_TLS_FAIL_WRONG_PURPOSE:
		return SP_FAIL_WRONG_PURPOSE;
	case SP_TLS_FAIL_UNTRUSTED:
		return SP_FAIL_UNTRUSTED;
	case SP_TLS_FAIL_NO_CRL:
		return SP_FAIL_NO_CRL;
	case SP_TLS_FAIL_NO_CERT:
		return SP_FAIL_NO_CERT;
	case SP_TLS_FAIL_BAD_IDENTITY:
		return SP_FAIL_BAD_IDENTITY;
	case SP_TLS_FAIL_HANDSHAKE:
	default:
		return SP_FAIL_HANDSHAKE;
	}
}

sp_result
srv_failures_metrics(srv_failures *q, sp_buf *b)
{
	sp_result res = SP_OK;
	srv_failures_stats st;

	srv_failures_stats_get(q, &st);
	TRY(sp_buf_append_str(b,
	    "# HELP sprov_handshake_failures_total Devices refused (handshake or request), by the reason recorded against them.\n"
	    "# TYPE sprov_handshake_failures_total counter\n"));
	for (int r = 0; r < SP_FAIL_N; r++)
		TRY(sp_buf_printf(b, "sprov_handshake_failures_total{reason=\"%s\"} %llu\n",
		    sp_fail_reason_name((sp_fail_reason)r), (unsigned long long)st.by_reason[r]));
	TRY(sp_buf_printf(b,
	    "# HELP sprov_failure_queue Failure records waiting for the store (distinct device or address and reason).\n"
	    "# TYPE sprov_failure_queue gauge\n"
	    "sprov_failure_queue %zu\n"
	    "# HELP sprov_failure_records_written_total Failure records written to the store.\n"
	    "# TYPE sprov_failure_records_written_total counter\n"
	    "sprov_failure_records_written_total %llu\n"
	    "# HELP sprov_failure_records_dropped_total Refusals not recorded: the failure queue held its maximum of keys.\n"
	    "# TYPE sprov_failure_records_dropped_total counter\n"
	    "sprov_failure_records_dropped_total %llu\n",
	    st.queued, (unsigned long long)st.written, (unsigned long long)st.dropped));
out:
	return res;
}
