/*
 * The contact queue: an array in arrival order plus an open-addressing
 * index MAC -> slot.
 *
 * The store keeps the LAST contact per MAC, so a queue holds at most one
 * record per MAC: a device asking again before the next flush (keep-alive,
 * retries) overwrites its record in place.  perf on keep-alive requests put
 * the growing queue (page faults of a realloc'd array, one row written per
 * request) at ~10 % of the server's CPU.  A pending mark is kept once set:
 * the store ignores it for a device it knows.
 */
#include "server/contacts.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"

#define CQ_FIRST_CAP 256      /* records, first allocation */
#define CQ_FIRST_IDX_CAP 512  /* index slots, a power of two */

struct sp_contacts {
	pthread_mutex_t mu;
	sp_contact *v;
	size_t n, cap;
	uint32_t *idx;    /* MAC -> slot + 1; 0: empty */
	size_t idx_cap;   /* a power of two, >= 2 * cap */
	atomic_uint_fast64_t written, dropped, failed;
};

static size_t
cq_hash(const sp_mac *m, size_t cap)
{
	uint64_t h = sp_fnv1a(m->b, sizeof(m->b));

	return (size_t)(h ^ (h >> 29)) & (cap - 1);
}

/* Slot of mac in the index (empty or holding mac); mu held. */
static uint32_t *
cq_probe(sp_contacts *q, const sp_mac *mac)
{
	size_t h = cq_hash(mac, q->idx_cap);

	for (;;) {
		uint32_t *e = &q->idx[h];
		if (*e == 0 || memcmp(q->v[*e - 1].mac.b, mac->b, sizeof(mac->b)) == 0)
			return e;
		h = (h + 1) & (q->idx_cap - 1);
	}
}

/* Room for one more record, and an index for it; false: full or no memory. */
static bool
cq_room(sp_contacts *q, size_t max)
{
	size_t icap;
	uint32_t *ni;

	if (q->n == q->cap) {
		size_t ncap = q->cap ? q->cap * 2 : CQ_FIRST_CAP;
		sp_contact *nv;

		if (q->cap >= max)
			return false;
		if (ncap > max)
			ncap = max;
		if ((nv = realloc(q->v, ncap * sizeof(*nv))) == NULL)
			return false;
		q->v = nv;
		q->cap = ncap;
	}
	if (q->idx != NULL && q->idx_cap >= 2 * q->cap)
		return true;
	for (icap = CQ_FIRST_IDX_CAP; icap < 2 * q->cap; icap *= 2)
		;
	if ((ni = calloc(icap, sizeof(*ni))) == NULL)
		return false;
	free(q->idx);
	q->idx = ni;
	q->idx_cap = icap;
	for (size_t k = 0; k < q->n; k++)
		*cq_probe(q, &q->v[k].mac) = (uint32_t)(k + 1);
	return true;
}

/* Overwrite a queued record with a newer contact of the same MAC. */
static void
cq_overwrite(sp_contact *old, const sp_contact *c)
{
	bool pending = old->record_pending && !c->record_pending;
	char serial[sizeof(old->serial)], product[sizeof(old->product)];

	if (pending) {
		memcpy(serial, old->serial, sizeof(serial));
		memcpy(product, old->product, sizeof(product));
	}
	*old = *c;
	if (pending) {
		old->record_pending = true;
		memcpy(old->serial, serial, sizeof(serial));
		memcpy(old->product, product, sizeof(product));
	}
}

sp_result
sp_contacts_new(sp_contacts **out)
{
	sp_result res = SP_OK;
	sp_contacts *q = NULL;

	TRY_ALLOC(q, calloc(1, sizeof(*q)));
	ENSURE(pthread_mutex_init(&q->mu, NULL) == 0, SP_E_INTERNAL, "contact queue lock");
	*out = q;
	q = NULL;
out:
	free(q);
	return res;
}

void
sp_contacts_free(sp_contacts *q)
{
	if (q == NULL)
		return;
	pthread_mutex_destroy(&q->mu);
	free(q->v);
	free(q->idx);
	free(q);
}

bool
sp_contacts_put(sp_contacts *q, const sp_contact *c, size_t max)
{
	uint32_t *e = NULL;
	bool queued = true;

	pthread_mutex_lock(&q->mu);
	if (q->idx != NULL && q->idx_cap >= 2 * q->cap)
		e = cq_probe(q, &c->mac);
	if (e != NULL && *e != 0) {
		cq_overwrite(&q->v[*e - 1], c);
	} else if (cq_room(q, max > 0 ? max : 1)) {
		q->v[q->n] = *c;
		*cq_probe(q, &c->mac) = (uint32_t)(++q->n);
	} else {
		atomic_fetch_add(&q->dropped, 1);
		queued = false;
	}
	pthread_mutex_unlock(&q->mu);
	return queued;
}

void
sp_contacts_flush(sp_contacts *q, sp_contact_sink sink, void *arg)
{
	sp_contact *v;
	size_t n;

	/* Detach the records so requests never wait for the database. */
	pthread_mutex_lock(&q->mu);
	v = q->v;
	n = q->n;
	q->v = NULL;
	q->n = q->cap = 0;
	if (q->idx != NULL)
		memset(q->idx, 0, q->idx_cap * sizeof(*q->idx));
	pthread_mutex_unlock(&q->mu);
	for (size_t off = 0; off < n && sink != NULL;) {
		size_t k = n - off > SP_CONTACT_BATCH_MAX ? SP_CONTACT_BATCH_MAX : n - off;
		sp_result r = sink(arg, v + off, k);
		if (sp_failed(r)) {
			atomic_fetch_add(&q->failed, k);
			sp_err("serve: writing %zu contact records failed: %s", k, sp_errmsg());
		} else {
			atomic_fetch_add(&q->written, k);
		}
		off += k;
	}
	free(v);
}

sp_result
sp_contacts_store_sink(void *arg, const sp_contact *v, size_t n)
{
	return sp_store_contact_batch(arg, v, n);
}

void
sp_contacts_stats_get(sp_contacts *q, sp_contacts_stats *out)
{
	pthread_mutex_lock(&q->mu);
	out->queued = q->n;
	pthread_mutex_unlock(&q->mu);
	out->written = atomic_load(&q->written);
	out->dropped = atomic_load(&q->dropped);
	out->failed = atomic_load(&q->failed);
}
