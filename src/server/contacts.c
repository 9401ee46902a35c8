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
	size_t soft;      /* kick past this many records; 0: never */
	void (*kick)(void *);
	void *kick_arg;
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

/*
 * Index every record again (the order or the capacity changed).  Out of
 * memory: no index (put rebuilds one when it next finds room).  mu held.
 */
static bool
cq_reindex(sp_contacts *q)
{
	size_t icap;
	uint32_t *ni;

	for (icap = CQ_FIRST_IDX_CAP; icap < 2 * q->cap; icap *= 2)
		;
	ni = calloc(icap, sizeof(*ni));
	free(q->idx);
	q->idx = ni;
	q->idx_cap = ni != NULL ? icap : 0;
	if (ni == NULL)
		return false;
	for (size_t k = 0; k < q->n; k++)
		*cq_probe(q, &q->v[k].mac) = (uint32_t)(k + 1);
	return true;
}

/* Room for one more record, and an index for it; false: full or no memory. */
static bool
cq_room(sp_contacts *q, size_t max)
{
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
	return cq_reindex(q);
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
	bool queued = true, kick = false;

	pthread_mutex_lock(&q->mu);
	if (q->idx != NULL && q->idx_cap >= 2 * q->cap)
		e = cq_probe(q, &c->mac);
	if (e != NULL && *e != 0) {
		cq_overwrite(&q->v[*e - 1], c);
	} else if (cq_room(q, max > 0 ? max : 1)) {
		q->v[q->n] = *c;
		*cq_probe(q, &c->mac) = (uint32_t)(++q->n);
		kick = q->soft > 0 && q->n == q->soft + 1 && q->kick != NULL;
	} else {
		atomic_fetch_add(&q->dropped, 1);
		queued = false;
	}
	pthread_mutex_unlock(&q->mu);
	if (kick)
		q->kick(q->kick_arg);
	return queued;
}

void
sp_contacts_set_kick(sp_contacts *q, size_t soft, void (*kick)(void *), void *arg)
{
	pthread_mutex_lock(&q->mu);
	q->soft = soft;
	q->kick = kick;
	q->kick_arg = arg;
	pthread_mutex_unlock(&q->mu);
}

/*
 * Replace the queue with front[0..nf) (older) followed by what is queued
 * now; a front record whose MAC is queued now is superseded and left out.
 * Takes ownership of front.  mu held.  false: out of memory (front lost).
 */
static bool
cq_prepend(sp_contacts *q, sp_contact *front, size_t nf)
{
	size_t k = 0;
	sp_contact *nv;

	for (size_t i = 0; i < nf; i++) {
		uint32_t *e = q->n > 0 && q->idx != NULL && q->idx_cap >= 2 * q->cap ?
		    cq_probe(q, &front[i].mac) : NULL;
		if (e == NULL || *e == 0)
			front[k++] = front[i];
	}
	if (k == 0) {
		free(front);
		return true;
	}
	if ((nv = realloc(front, (k + q->n) * sizeof(*nv))) == NULL) {
		free(front);
		return false;
	}
	if (q->n > 0)
		memcpy(nv + k, q->v, q->n * sizeof(*nv));
	free(q->v);
	q->v = nv;
	q->n = q->cap = k + q->n;
	cq_reindex(q);
	return true;
}

bool
sp_contacts_flush(sp_contacts *q, sp_contact_sink sink, void *arg)
{
	sp_contact *v;
	size_t n, off = 0;
	bool ok = true;

	/* Detach the records so requests never wait for the database. */
	pthread_mutex_lock(&q->mu);
	v = q->v;
	n = q->n;
	q->v = NULL;
	q->n = q->cap = 0;
	if (q->idx != NULL)
		memset(q->idx, 0, q->idx_cap * sizeof(*q->idx));
	pthread_mutex_unlock(&q->mu);
	while (off < n && sink != NULL) {
		size_t k = n - off > SP_CONTACT_BATCH_MAX ? SP_CONTACT_BATCH_MAX : n - off;
		sp_result r = sink(arg, v + off, k);
		if (sp_failed(r) && r.code != SP_E_POLICY) {
			ok = false;
			break;
		}
		if (sp_failed(r)) {
			atomic_fetch_add(&q->failed, k);
			sp_err("serve: %zu contact records refused for good: %s", k, sp_errmsg());
		} else {
			atomic_fetch_add(&q->written, k);
		}
		off += k;
	}
	if (ok || off == n) {
		free(v);
		return ok;
	}
	/* Refused: this batch and the rest go back in front, oldest first. */
	memmove(v, v + off, (n - off) * sizeof(*v));
	pthread_mutex_lock(&q->mu);
	if (!cq_prepend(q, v, n - off))
		atomic_fetch_add(&q->dropped, n - off);
	pthread_mutex_unlock(&q->mu);
	return false;
}

sp_result
sp_contacts_take_oldest(sp_contacts *q, size_t keep, sp_contact **v, size_t *n)
{
	sp_result res = SP_OK;
	size_t m;

	*v = NULL;
	*n = 0;
	pthread_mutex_lock(&q->mu);
	if (q->n <= keep)
		goto out;
	m = q->n - keep;
	TRY_ALLOC(*v, malloc(m * sizeof(**v)));
	memcpy(*v, q->v, m * sizeof(**v));
	memmove(q->v, q->v + m, keep * sizeof(*q->v));
	q->n = keep;
	*n = m;
	cq_reindex(q);
out:
	pthread_mutex_unlock(&q->mu);
	return res;
}

void
sp_contacts_count_dropped(sp_contacts *q, size_t n)
{
	atomic_fetch_add(&q->dropped, n);
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
