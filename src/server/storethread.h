/*
 * The store thread of `sprov serve` (storethread.c): the one thread of the
 * serving process that calls sp_store_*.  Workers never do; a cache miss
 * becomes a job here and its answer comes back to the worker's event base.
 * The thread also watches the generation (so the cache-hit path reads one
 * atomic), flushes the contact queue, spills it while the store is
 * unreachable, publishes this node's state for the console's overview
 * (srv_node_state), and reconnects with backoff.  docs/SERVER.md, "Outage
 * behaviour" and "Contact spill".
 */
#ifndef SPROV_SERVER_STORETHREAD_H
#define SPROV_SERVER_STORETHREAD_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include "identity/devid.h"
#include "server/cache.h"
#include "server/config.h"
#include "server/srv.h"

#define SRV_STORE_JOBS_MAX 16384    /* cache misses waiting; more: 503 */
#define SRV_GEN_POLL_MS 25          /* generation re-read at least this often */
#define SRV_RECONNECT_MIN_MS 250    /* first retry after the store went away */
#define SRV_RECONNECT_MAX_MS 5000   /* backoff ceiling (jittered +-25 %) */
#define SRV_NODE_PUBLISH_MS 10000   /* this node's state to the store ("node:NAME") */
#define SRV_NODE_KEEP 2             /* versions of it kept */
#define SRV_SPILL_HEADROOM SP_CONTACT_BATCH_MAX /* queued past contact-queue before drops */

enum srv_job_outcome {
	SRV_JOB_OK,           /* e holds the profile */
	SRV_JOB_NOTFOUND,     /* unknown or disabled device (404) */
	SRV_JOB_ERROR,        /* the store answered but rendering failed (500) */
	SRV_JOB_UNAVAILABLE,  /* the store is unreachable (503) */
};

enum srv_job_kind {
	SRV_JOB_PROFILE,      /* render id's profile (a cache miss) */
	SRV_JOB_FW_GET,       /* an image's metadata: fw_product, fw_version -> fw */
	SRV_JOB_FW_READ,      /* len bytes of fw from off into buf -> got */
};

/* A cache miss (or a firmware read) on its way to the store thread and back. */
typedef struct srv_job {
	worker *w;
	void *owner;               /* request.c's waiting request */
	enum srv_job_kind kind;
	sp_devid id;
	sp_unknown_mode unknown;
	enum srv_job_outcome outcome;
	sp_cache_entry *e;         /* SRV_JOB_OK: held for the owner */
	bool pending;              /* unknown device served the defaults */
	bool disabled;             /* SRV_JOB_NOTFOUND: known but disabled */
	/* firmware (firmware.c): OK, NOTFOUND (absent, or replaced since), ERROR */
	char fw_product[SP_FW_PRODUCT_MAX + 1];
	char fw_version[SP_FW_VERSION_MAX + 1];
	sp_fw_info fw;
	uint64_t off;
	size_t len, got;
	uint8_t *buf;              /* the chunk: the request's, len bytes */
	atomic_bool cancelled;     /* its connection closed: skip the render */
	STAILQ_ENTRY(srv_job) link;
} srv_job;

/*
 * Start the thread with *store (taken; NULL: a PostgreSQL store that was
 * down at start, opened by the thread when it answers, with 503s for every
 * request meanwhile).  Fails on an unusable contact-spill, naming it.
 * Call after the workers' done events exist, before the sandbox.
 */
SP_MUST_CHECK sp_result srv_store_start(server *s, sp_store **store);

/*
 * Stop it: it finishes the job in hand, answers the queued ones
 * SRV_JOB_UNAVAILABLE, writes the contact queue (or spills it), and
 * closes its handle.  NULL-safe; idempotent.
 */
void srv_store_stop(server *s);

/*
 * Queue a job (w and owner set); false: the store is down or the queue is
 * full (answer 503; the job is still the caller's).  Worker threads.
 */
bool srv_store_submit(server *s, srv_job *j);

/*
 * This node's state as the console's overview reads it (api14 "nodes"):
 * {"name","started","backend","version","open","requests","store_up"},
 * appended to b.  The store thread puts it every SRV_NODE_PUBLISH_MS with
 * sp_store_cluster_put("node:NAME", version = now, keep SRV_NODE_KEEP).
 */
SP_MUST_CHECK sp_result srv_node_state(server *s, sp_buf *b);

/* request.c: a worker's done event; runs the finished jobs' requests. */
void srv_jobs_done(evutil_socket_t fd, short what, void *arg);
/* request.c: free the finished jobs of a worker whose loop has ended. */
void srv_jobs_discard(worker *w);

/* Jobs finished by the store thread, taken by the worker (mutex-held). */
void srv_jobs_take(worker *w, struct srv_jobq *out);

#endif
