/*
 * The engine of `sprov fleet`, shared by its two halves: fleet.c runs the
 * workers (timer heap, libcurl multi loop, bundles, the whole run) and
 * attempt.c runs one device's attempt as the device would (its rule and
 * macros, DNS, the fetch with every check, redirects, decode, apply).
 * Private to src/fleet.
 */
#ifndef SPROV_FLEET_ENGINE_H
#define SPROV_FLEET_ENGINE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <curl/curl.h>

#include "device/fetch.h"
#include "firmware/image.h"
#include "fleet/fleet.h"
#include "fleet/plan.h"
#include "identity/mac.h"
#include "profile/rule.h"

/*
 * --keepalive: a kept connection waits in a libcurl connection pool, and
 * libcurl (7.88) finds a device's own connection by walking the pool's list
 * for the host and port, testing each idle connection on the way (a
 * recv(MSG_PEEK) for liveness, a compare of the TLS settings).  With one
 * pool per worker a reuse cost O(the worker's devices): the second round of
 * 10 000 kept connections ran at ~60 requests/s, the workers busy in recv and
 * strcmp (perf).  So every FL_POOL_DEVICES devices of a worker get a pool of
 * their own: a share object holding only the connection cache (no TLS
 * sessions), used by that worker's thread alone.
 */
#define FL_POOL_DEVICES 64
#define FL_KEEP_MAXAGE_S (7L * 86400) /* --keepalive: libcurl's idle limit for a kept connection */

enum { DEV_IDLE, DEV_QUEUED, DEV_ACTIVE, DEV_DONE };

/* What a transfer fetches: the profile, then maybe the image Upgrade_Rule chose. */
enum { FL_PHASE_PROFILE, FL_PHASE_IMAGE };

#define FL_VERSIONS_MAX 1024      /* distinct software versions in one run */
#define FL_DIGESTS_MAX 4096       /* distinct images whose signature was checked */
/*
 * XXX: the fleet holds an image in memory while it checks it (the device
 * streams it to a file); the transfer cap bounds the sum.  Test images are
 * kilobytes.
 */
#define FL_IMAGE_MAX (64u * 1024 * 1024)
#define FL_UA_MAX 256
#define FL_STATE_FILE "firmware"  /* --apply DIR/<mac>/firmware: version [bricked] */
#define FL_FIRMWARE_CA "firmware-ca.crt" /* the bundle's firmware-signing root */

/* One simulated device while idle: a few dozen bytes. */
typedef struct fl_dev {
	sp_mac mac;
	uint8_t state;
	uint8_t gave_up;          /* a round was given up: the device did not finish well */
	uint32_t rounds;          /* rounds finished (success or given up) */
	uint32_t tries;           /* attempts in this round */
	uint16_t ver;             /* its software version: an index into fleet.vers */
	uint8_t bricked;          /* a simulated upgrade failure: never comes back */
	uint32_t upg_once;        /* an unconditional Upgrade_Rule URL tried (hash), 0: none */
	int64_t round_start_us;
	sp_fetch_xfer *keep;      /* --resume/--keepalive: the device's easy handle */
	/*
	 * Its bundle's files, loaded (creds.c) at the first attempt of a
	 * round and kept until the round ends, or while it keeps its handle.
	 */
	sp_fetch_creds *creds;
} fl_dev;

#define FL_ROOTS_MAX 16           /* distinct server-ca.crt kept by a worker */

/* A worker's own caches for loading bundles (creds.c). */
typedef struct fl_loader {
	OSSL_DECODER_CTX *dec;    /* PKCS#8 DER private keys */
	EVP_PKEY *dec_out;
	struct {
		char *pem;                /* the server-ca.crt bytes */
		size_t len;
		X509_STORE *st;           /* sp_srvcheck_load_roots of them */
	} roots[FL_ROOTS_MAX];
	size_t nroots;
} fl_loader;

typedef struct fl_heap_ent {
	int64_t due_us;
	uint32_t dev;
} fl_heap_ent;

/* One transfer in flight: freed when it ends. */
typedef struct fl_xfer {
	struct fl_xfer *prev, *next;  /* the worker's transfers in flight */
	uint32_t dev;
	sp_fetch_xfer *x;
	sp_fetch_opts fo;
	sp_addrlist answers;
	size_t addr_idx;
	unsigned redirects;       /* 301/302 followed in this attempt */
	sp_buf body;
	int64_t start_us;
	char *key;                /* the rule's --key (secret), NULL: none */
	sp_url url;               /* this attempt's: the rule's, then a redirect's */
	char ca[SP_FLEET_PATH_MAX], crt[SP_FLEET_PATH_MAX], keyfile[SP_FLEET_PATH_MAX];
	char ua[FL_UA_MAX];
	char pn[SP_FW_PRODUCT_MAX + 1]; /* $PN from client.crt, "" if it names none */
	uint8_t phase;            /* FL_PHASE_* */
	/* FL_PHASE_IMAGE: what chose the image, for the no-loop check */
	sp_rule *urule;
	sp_macros *umacros;
	int ualt;
	bool ucond;               /* the alternative had a condition */
	uint32_t uhash;           /* rule text and URL (upg_once) */
} fl_xfer;

typedef struct fleet fleet;

typedef struct worker {
	fleet *f;
	unsigned id;
	pthread_t th;
	bool started;
	uint32_t first, n;        /* its devices: [first, first + n) of f->dev */
	unsigned cap;             /* transfers in flight */
	unsigned active;
	fl_xfer *live;            /* transfers in flight, for the end of the run */
	uint32_t done;            /* devices DEV_DONE */
	uint32_t done_ok;         /* ... with every round a success */
	CURLM *multi;
	CURLSH **pools;           /* --keepalive: connection pools, FL_POOL_DEVICES devices each */
	size_t npools;
	fl_heap_ent *heap;
	size_t heap_n;
	sp_rng rng;
	int64_t next_arrival_us;  /* --rate */
	int64_t end_us;           /* when its loop ended: the run's end is the last one */
	uint64_t arrivals_left;   /* --rate; UINT64_MAX: until the deadline */
	uint32_t rr;              /* --rate: next device to look at */
	fl_loader ld;
	sp_fleet_stats st;
	sp_result res;
	char err[256];
} worker;

struct fleet {
	const sp_fleet_opts *o;
	fl_dev *dev;
	size_t ndev;
	sp_rule *rule;
	bool rule_ident;          /* the rule may name $SN/$PN/$PSN: read each certificate */
	int64_t t0_us, deadline_us;
	_Atomic uint64_t attempts, successes, failures, in_flight, done;
	/* Software versions (interned, never moved) and checked image digests. */
	pthread_mutex_t fw_mu;
	char (*vers)[SP_FW_VERSION_MAX + 1];
	size_t nvers;
	uint8_t (*digests)[SP_FW_DIGEST_LEN];
	size_t ndigests;
	/* The outage figure, fleet-wide: every judged attempt, in order. */
	pthread_mutex_t outage_mu;
	sp_outage outage;
};

int64_t fl_now_us(void);
void fl_live_add(worker *w, fl_xfer *xf);
void fl_live_del(worker *w, fl_xfer *xf);
void fl_heap_push(worker *w, uint32_t dev, int64_t due);

/* Start device di now.  A failure before any transfer is counted and retried. */
void fl_start(worker *w, uint32_t di);
/* libcurl ended the transfer of xf with cc: judge it, follow or retry. */
void fl_finished(worker *w, fl_xfer *xf, CURLcode cc);
/* A device's own macros but the certificate's: MAC styles, CCERT, PRVST, SWVER. */
SP_MUST_CHECK sp_result fl_device_macros(const fleet *f, const fl_dev *d, sp_macros *m);
/* Free xf, not the device's kept easy handle. */
void fl_xfer_free(fl_xfer *xf, fl_dev *d);
/* Set xf's transfer up again (next address, redirect, image) and hand it to libcurl. */
SP_MUST_CHECK sp_result fl_rearm(worker *w, fl_xfer *xf);

/* ---- creds.c: a device's bundle in memory ----------------------------------- */

/* server-ca.crt, client.crt and client.key (the key must match), with ld's caches. */
SP_MUST_CHECK sp_result fl_creds_load(fl_loader *ld, const char *ca, const char *crt,
    const char *key, sp_fetch_creds **out);
void fl_creds_free(sp_fetch_creds *c);
void fl_loader_free(fl_loader *ld);

/* ---- upgrade.c: Upgrade_Rule, the image, the simulated flash ---------------- */

/* The version's index in f->vers, added when new (SP_E_LIMIT past FL_VERSIONS_MAX). */
SP_MUST_CHECK sp_result fl_version_intern(fleet *f, const char *v, uint16_t *out);
/* Each device's version and brick from --apply DIR/<mac>/firmware, if there. */
SP_MUST_CHECK sp_result fl_state_load(fleet *f);
/*
 * After a good profile: when its Upgrade_Rule chooses an image, turn xf
 * into the image's transfer and return true (the attempt goes on);
 * false: nothing to upgrade, or the fetch could not start (counted).
 */
bool fl_upgrade_begin(worker *w, fl_xfer *xf, const sp_params *prof);
/* The image's transfer ended (r, fr): check it, and flash or fail. */
void fl_upgrade_end(worker *w, fl_xfer *xf, sp_result r, const sp_fetch_result *fr,
    CURLcode cc);

#endif
