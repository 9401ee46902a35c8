/*
 * Connections in the TLS handshake, per source address (tls_internal.h).
 *
 * A connection is counted from accept until its handshake completes or it
 * closes; the key is the peer's IPv4 /32 or IPv6 /64 (an IPv4-mapped IPv6
 * address counts as its IPv4 address).  One fixed table for the whole
 * server, shared by every worker thread under one mutex: open addressing,
 * linear probing bounded to SP_TLS_SRC_PROBES slots, and backward-shift
 * deletion, so an entry is gone the moment its count drops to 0 and the
 * memory never grows.  The hash is keyed with a random seed per table, so a
 * client cannot pick addresses that pile up in one run of slots.
 *
 * A source that finds no slot within the probe bound, or a table already
 * 3/4 full (thousands of distinct sources handshaking at once), is admitted
 * uncounted: at that point max-connections, not this cap, is what holds.
 * The load bound also keeps an empty slot, which ends every probe run.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "tls/tls_internal.h"

typedef struct src_slot {
	uint64_t v;          /* the /32 or /64 */
	uint8_t fam;         /* 0: empty, 4 or 6 */
	uint32_t n;          /* connections in the handshake */
	uint64_t logged_ns;  /* last "refused" line; 0: none yet */
	uint64_t refused;    /* refused since that line */
} src_slot;

struct sp_tls_srcmap {
	pthread_mutex_t mu;
	uint64_t seed;
	size_t used;
	src_slot slot[SP_TLS_SRC_SLOTS];
};

_Static_assert((SP_TLS_SRC_SLOTS & (SP_TLS_SRC_SLOTS - 1)) == 0,
    "SP_TLS_SRC_SLOTS is a power of two");

#define SP_TLS_SRC_MAX_USED (SP_TLS_SRC_SLOTS / 4 * 3)
#define SRC_LOG_EVERY_NS 1000000000ull /* one "refused" line a second per source */

bool
sp_tls_srckey_of(const struct sockaddr *sa, socklen_t len, sp_tls_srckey *k)
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	const uint8_t *a;
	uint64_t v = 0;

	memset(k, 0, sizeof(*k));
	if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
		a = (const uint8_t *)&((const struct sockaddr_in *)(const void *)sa)->sin_addr;
		k->fam = 4;
		k->v = (uint64_t)a[0] << 24 | (uint64_t)a[1] << 16 | (uint64_t)a[2] << 8 | a[3];
		return true;
	}
	if (sa->sa_family != AF_INET6 || len < (socklen_t)sizeof(struct sockaddr_in6))
		return false;
	a = ((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr.s6_addr;
	if (memcmp(a, mapped, sizeof(mapped)) == 0) {
		k->fam = 4;
		k->v = (uint64_t)a[12] << 24 | (uint64_t)a[13] << 16 | (uint64_t)a[14] << 8 | a[15];
		return true;
	}
	for (int i = 0; i < 8; i++)
		v = v << 8 | a[i];
	k->fam = 6;
	k->v = v;
	return true;
}

void
sp_tls_srckey_str(const sp_tls_srckey *k, char *buf, size_t n)
{
	uint8_t a[16] = { 0 };
	char s[INET6_ADDRSTRLEN];

	if (k->fam == 4) {
		for (int i = 0; i < 4; i++)
			a[i] = (uint8_t)(k->v >> (24 - 8 * i));
		inet_ntop(AF_INET, a, s, sizeof(s));
		snprintf(buf, n, "%s", s);
		return;
	}
	for (int i = 0; i < 8; i++)
		a[i] = (uint8_t)(k->v >> (56 - 8 * i));
	inet_ntop(AF_INET6, a, s, sizeof(s));
	snprintf(buf, n, "%s/64", s);
}

sp_result
sp_tls_srcmap_new(sp_tls_srcmap **out)
{
	sp_result res = SP_OK;
	sp_tls_srcmap *m = NULL;

	TRY_ALLOC(m, calloc(1, sizeof(*m)));
	ENSURE(RAND_bytes((unsigned char *)&m->seed, sizeof(m->seed)) == 1, SP_E_INTERNAL,
	    "no randomness for the handshakes-per-source table");
	pthread_mutex_init(&m->mu, NULL);
	*out = m;
	m = NULL;
out:
	free(m);
	return res;
}

void
sp_tls_srcmap_free(sp_tls_srcmap *m)
{
	if (m == NULL)
		return;
	pthread_mutex_destroy(&m->mu);
	free(m);
}

/* Home slot: splitmix64's finalizer over the key and the seed. */
static size_t
home(const sp_tls_srcmap *m, uint64_t v, uint8_t fam)
{
	uint64_t x = (v ^ m->seed) + ((uint64_t)fam << 56) + 0x9e3779b97f4a7c15ull;

	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	x ^= x >> 31;
	return (size_t)(x & (SP_TLS_SRC_SLOTS - 1));
}

/* The key's slot, or the first empty slot on its probe run (*found false). */
static src_slot *
lookup(sp_tls_srcmap *m, const sp_tls_srckey *k, bool *found)
{
	size_t i = home(m, k->v, k->fam);

	*found = false;
	for (int p = 0; p < SP_TLS_SRC_PROBES; p++, i = (i + 1) & (SP_TLS_SRC_SLOTS - 1)) {
		src_slot *s = &m->slot[i];
		if (s->fam == 0)
			return s;
		if (s->fam == k->fam && s->v == k->v) {
			*found = true;
			return s;
		}
	}
	return NULL;
}

sp_tls_src_verdict
sp_tls_srcmap_enter(sp_tls_srcmap *m, const sp_tls_srckey *k, uint32_t cap,
    uint64_t now_ns, sp_tls_src_refusal *r)
{
	sp_tls_src_verdict v;
	bool found;
	src_slot *s;

	memset(r, 0, sizeof(*r));
	pthread_mutex_lock(&m->mu);
	s = lookup(m, k, &found);
	if (s == NULL) {
		v = SP_TLS_SRC_UNTRACKED;
	} else if (!found && m->used >= SP_TLS_SRC_MAX_USED) {
		v = SP_TLS_SRC_UNTRACKED;
	} else if (!found) {
		s->fam = k->fam;
		s->v = k->v;
		s->n = 1;
		s->logged_ns = 0;
		s->refused = 0;
		m->used++;
		v = SP_TLS_SRC_COUNTED;
	} else if (s->n < cap) {
		s->n++;
		v = SP_TLS_SRC_COUNTED;
	} else {
		v = SP_TLS_SRC_REFUSED;
		s->refused++;
		r->in_handshake = s->n;
		if (s->logged_ns == 0 || now_ns - s->logged_ns >= SRC_LOG_EVERY_NS) {
			r->log = true;
			r->refused = s->refused;
			s->logged_ns = now_ns ? now_ns : 1;
			s->refused = 0;
		}
	}
	pthread_mutex_unlock(&m->mu);
	return v;
}

/* Empty slot i, moving later entries of its run back (no tombstones). */
static void
remove_at(sp_tls_srcmap *m, size_t i)
{
	size_t j = i;

	for (;;) {
		size_t h;
		bool stays;

		j = (j + 1) & (SP_TLS_SRC_SLOTS - 1);
		/* Past the probe bound nothing can move back into slot i. */
		if (m->slot[j].fam == 0 || ((j - i) & (SP_TLS_SRC_SLOTS - 1)) >= SP_TLS_SRC_PROBES)
			break;
		h = home(m, m->slot[j].v, m->slot[j].fam);
		/* Stays if its home lies cyclically in (i, j]. */
		stays = i <= j ? (i < h && h <= j) : (i < h || h <= j);
		if (stays)
			continue;
		m->slot[i] = m->slot[j];
		i = j;
	}
	memset(&m->slot[i], 0, sizeof(m->slot[i]));
	m->used--;
}

void
sp_tls_srcmap_leave(sp_tls_srcmap *m, const sp_tls_srckey *k)
{
	bool found;
	src_slot *s;

	pthread_mutex_lock(&m->mu);
	s = lookup(m, k, &found);
	if (found && --s->n == 0)
		remove_at(m, (size_t)(s - m->slot));
	pthread_mutex_unlock(&m->mu);
}

uint32_t
sp_tls_srcmap_count(sp_tls_srcmap *m, const sp_tls_srckey *k, size_t *sources)
{
	bool found;
	src_slot *s;
	uint32_t n;

	pthread_mutex_lock(&m->mu);
	s = lookup(m, k, &found);
	n = found ? s->n : 0;
	if (sources != NULL)
		*sources = m->used;
	pthread_mutex_unlock(&m->mu);
	return n;
}
