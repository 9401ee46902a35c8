/*
 * What the operator console reads (schema 7; docs/CONSOLE.md): why devices
 * fail, whether they run their current profile, and the paged inventory.
 * Same rules as store.h: one handle per thread, messages never carry a
 * parameter value, every backend fills the same functions.
 *
 * Device status, one per device, kept current by the writes that change
 * it (contact and failure batches, device and parameter changes, rollout
 * releases), so that a status filter is an index range, never a scan:
 *   disabled    enabled is false (pending devices are not in the
 *               inventory: see sp_store_unknown_list);
 *   revoked     its newest event is a failure with reason revoked;
 *   failing     its newest event is another failure, or a contact answered
 *               >= 400;
 *   never-seen  no contact and no failure recorded;
 *   behind      its last 200/304 served a profile rendered at a generation
 *               below the newest change to any level it inherits (defaults,
 *               its product, its group, itself) or to a rollout targeting
 *               one of them: it has not fetched its current profile;
 *   ok          otherwise.
 */
#ifndef SPROV_STORE_CONSOLE_H
#define SPROV_STORE_CONSOLE_H

#include "store/store.h"

/* ---- failure records ----------------------------------------------------- */

typedef enum {
	SP_FAIL_REVOKED = 0,     /* "revoked": on the CRL */
	SP_FAIL_EXPIRED,         /* "expired": past notAfter */
	SP_FAIL_NOT_YET_VALID,   /* "not-yet-valid" */
	SP_FAIL_WRONG_PURPOSE,   /* "wrong-purpose": not a TLS client certificate,
	                            or issued by the server CA */
	SP_FAIL_UNTRUSTED,       /* "untrusted": does not chain to a device CA
	                            (wrong CA, self-signed, chain too long) */
	SP_FAIL_NO_CRL,          /* "no-crl": no CRL from its issuer */
	SP_FAIL_NO_CERT,         /* "no-certificate": none presented */
	SP_FAIL_BAD_IDENTITY,    /* "bad-identity": names no single device */
	SP_FAIL_UNKNOWN_DEVICE,  /* "unknown-device": valid, not in the database */
	SP_FAIL_DISABLED,        /* "disabled": the device is disabled */
	SP_FAIL_MISMATCH,        /* "identity-mismatch": asked for another
	                            device's file (the 403) */
	SP_FAIL_HANDSHAKE,       /* "handshake": any other TLS failure */
	SP_FAIL_N
} sp_fail_reason;

const char *sp_fail_reason_name(sp_fail_reason r);
SP_MUST_CHECK sp_result sp_fail_reason_parse(const char *s, sp_fail_reason *out);

#define SP_FAIL_EVENTS_KEEP 8        /* newest events kept per device */
#define SP_FAIL_SOURCES_MAX 10000    /* nameless (reason, address) rows kept */
#define SP_FAIL_BATCH_MAX 10000      /* entries per sp_store_failure_batch */

/*
 * One refused handshake or request, or several folded into one by the
 * server's queue (count > 1: same MAC or address and reason; time is the
 * newest).  Fixed-size, queued by value like sp_contact.
 */
typedef struct sp_failure {
	bool has_mac;            /* the certificate named a device */
	sp_mac mac;
	sp_fail_reason reason;
	uint32_t count;          /* >= 1 */
	int64_t time;            /* unix seconds */
	char ip[SP_CONTACT_IP_MAX + 1];
	char cert_serial[SP_CERT_SERIAL_HEX_MAX + 1];  /* "" if none */
	char detail[96];         /* the refusal as logged, e.g. "certificate
	                            revoked (CRL of sprov device CA)"; no secret */
} sp_failure;

/*
 * Write n failures in ONE transaction, all or nothing, n <=
 * SP_FAIL_BATCH_MAX.  has_mac: the MAC's count for the reason grows by
 * count, the event joins its newest SP_FAIL_EVENTS_KEEP, its status is
 * recomputed; a MAC not in the database is kept too (it is listed by
 * sp_store_unknown_list).  !has_mac: the count of (reason, ip) grows; at
 * most SP_FAIL_SOURCES_MAX such rows are kept, the least recently seen
 * dropped first.  The five-minute series (sp_store_summary) grows too.
 */
SP_MUST_CHECK sp_result sp_store_failure_batch(sp_store *s,
    const sp_failure *v, size_t n);

/* ---- inventory ---------------------------------------------------------- */

typedef enum {
	SP_DST_OK = 0, SP_DST_BEHIND, SP_DST_FAILING, SP_DST_NEVER_SEEN,
	SP_DST_DISABLED, SP_DST_REVOKED, SP_DST_N
} sp_dev_status;

const char *sp_dev_status_name(sp_dev_status st);   /* "ok", "never-seen", ... */
SP_MUST_CHECK sp_result sp_dev_status_parse(const char *s, sp_dev_status *out);

typedef enum {
	SP_INV_SORT_MAC = 0,      /* "mac" */
	SP_INV_SORT_LAST_SEEN,    /* "last-seen": last contact, then MAC */
	SP_INV_SORT_SERIAL,       /* "serial", then MAC */
} sp_inv_sort;

#define SP_INV_LIMIT_MAX 500
#define SP_INV_CURSOR_MAX 160     /* opaque, URL-safe ([A-Za-z0-9_-]) */
#define SP_INV_Q_MAX 64

typedef struct sp_inv_query {
	const char *q;            /* NULL or "": any.  Otherwise a prefix of the
	                             MAC (any separators, any case), or of the
	                             serial, or the product or group
	                             (prefix, byte order) */
	int status;               /* -1: any; else an sp_dev_status */
	int64_t seen_after;       /* 0: none; else last contact >= this */
	int64_t seen_before;      /* 0: none; else last contact < this (a device
	                             never seen matches seen_before) */
	sp_inv_sort sort;
	bool desc;
	const char *after;        /* NULL/"": first page; else a cursor that a
	                             previous call with the same query returned */
	int limit;                /* 1..SP_INV_LIMIT_MAX */
} sp_inv_query;

/* One inventory row. */
typedef struct sp_inv_row {
	sp_device dev;
	sp_dev_status status;
	int64_t last_seen;                    /* last contact, 0: never */
	char last_ip[SP_CONTACT_IP_MAX + 1];
	int last_http;                        /* status of the last contact, 0 */
	char ua[SP_UA_MAX + 1];               /* last User-Agent */
	int64_t last_fail;                    /* newest failure, 0: none */
	sp_fail_reason last_reason;           /* valid when last_fail != 0 */
	char cert_serial[SP_CERT_SERIAL_HEX_MAX + 1]; /* last presented, "" */
	int64_t cert_not_after;               /* 0: unknown */
} sp_inv_row;

typedef sp_result (*sp_store_inv_cb)(void *arg, const sp_inv_row *row);

/*
 * One page: rows in the requested order, at most q->limit; next gets the
 * cursor of the following page ("" when this one is the last).  Served by
 * indexes and keyset paging (no OFFSET, no full scan for a filter that an
 * index serves): the cost of a page does not grow with the store.
 * SP_E_PARSE for a cursor that does not decode, SP_E_USAGE for a bad query.
 */
SP_MUST_CHECK sp_result sp_store_inventory(sp_store *s, const sp_inv_query *q,
    sp_store_inv_cb cb, void *arg, char next[SP_INV_CURSOR_MAX + 1]);

/* One event of a device's timeline. */
typedef struct sp_dev_event {
	int64_t time;
	bool failure;
	int http;                             /* contact: status answered */
	sp_fail_reason reason;                /* failure */
	uint32_t count;                       /* failure: folded occurrences */
	char ip[SP_CONTACT_IP_MAX + 1];
	char etag[SP_ETAG_MAX + 1];           /* contact: as served */
	char detail[96];                      /* failure */
} sp_dev_event;

typedef struct sp_dev_detail {
	sp_inv_row row;
	uint64_t fail_counts[SP_FAIL_N];      /* since the device was first seen */
	int nevents;                          /* newest first, contacts and
	                                         failures, the newest
	                                         SP_FAIL_EVENTS_KEEP of each */
	sp_dev_event events[2 * SP_FAIL_EVENTS_KEEP];
	char fetched_etag[SP_ETAG_MAX + 1];   /* last 200/304, "" none */
	uint64_t fetched_gen;                 /* generation it was rendered at */
	uint64_t changed_gen;                 /* newest change to its levels */
} sp_dev_detail;

/* Everything above for one MAC (pending ones too); *found false if none. */
SP_MUST_CHECK sp_result sp_store_device_detail(sp_store *s, const sp_mac *mac,
    sp_dev_detail *out, bool *found);

/* ---- devices seen but not in the database --------------------------------- */

typedef struct sp_unknown_row {
	bool has_mac;                         /* false: a nameless source */
	sp_mac mac;
	bool pending;                         /* served as unknown, recorded pending */
	char serial[SP_STORE_FIELD_MAX + 1];  /* pending: from its certificate */
	char product[SP_STORE_FIELD_MAX + 1];
	char ip[SP_CONTACT_IP_MAX + 1];       /* last address */
	sp_fail_reason reason;                /* newest failure, when count > 0 */
	uint64_t count;                       /* failures recorded */
	int64_t first_seen, last_seen;
} sp_unknown_row;

/*
 * Pending devices and MACs with failures that are not in the database,
 * then nameless sources, each newest first; at most limit rows in all.
 */
SP_MUST_CHECK sp_result sp_store_unknown_list(sp_store *s, int limit,
    sp_result (*cb)(void *arg, const sp_unknown_row *r), void *arg);

/* ---- overview ------------------------------------------------------------- */

#define SP_SERIES_STEP 300                /* five minutes */
#define SP_SERIES_POINTS 288              /* 24 hours */

typedef struct sp_summary {
	uint64_t devices;                     /* in the inventory (not pending) */
	uint64_t by_status[SP_DST_N];
	uint64_t pending;
	int64_t series_start;                 /* unix time of resyncs[0], a
	                                         multiple of SP_SERIES_STEP */
	uint32_t resyncs[SP_SERIES_POINTS];   /* contacts answered 200/304 per
	                                         five minutes, oldest first,
	                                         the last one holding now */
	uint64_t fail_24h[SP_FAIL_N];         /* failures in the same 24 hours,
	                                         by reason, named or not */
} sp_summary;

/* The overview as of now.  Bounded cost: grouped counts and 288 rows. */
SP_MUST_CHECK sp_result sp_store_summary(sp_store *s, int64_t now,
    sp_summary *out);

#endif
