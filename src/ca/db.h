/*
 * The issuance database, DIR/ca.db: every certificate the CA signs is a row
 * before it leaves the process.  SQLite in WAL mode with synchronous=FULL, so
 * a commit survives a crash or power loss; writers use BEGIN IMMEDIATE and a
 * busy timeout, so concurrent `sprov ca` processes queue instead of failing.
 *
 * Invariants held by the schema itself, not by our code:
 *  - a serial appears at most once (PRIMARY KEY), revoked ones included,
 *    so a serial is never reused;
 *  - at most one valid device certificate per MAC (partial unique index);
 *  - CRL numbers only grow (updated as number = number + 1 in a write
 *    transaction).
 */
#ifndef SPROV_CA_DB_H
#define SPROV_CA_DB_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/result.h"

#define SP_CADB_BUSY_MS 60000
#define SP_CADB_SUBJECT_MAX 1024
#define SP_RUNID_HEXLEN 16

typedef struct sp_cadb sp_cadb;

typedef struct sp_certrow {
	char serial[65];        /* lower-case hex */
	char ca[8];             /* "server" or "device" */
	char subject[SP_CADB_SUBJECT_MAX];
	char mac[13];           /* device certificates, else "" */
	int64_t not_before, not_after, issued_at;
	bool revoked;
	int64_t revoked_at;
	int reason;             /* CRL_REASON_* when revoked */
	char outdir[PATH_MAX];  /* device bundles: the OUTDIR realpath */
	bool delivered;         /* bundle renamed into place (devices) */
	char run_id[SP_RUNID_HEXLEN + 1]; /* the issuing process (devices) */
} sp_certrow;

SP_MUST_CHECK sp_result sp_cadb_create(const char *path, const char *org);
SP_MUST_CHECK sp_result sp_cadb_open(const char *path, sp_cadb **out);
void sp_cadb_close(sp_cadb *db);

SP_MUST_CHECK sp_result sp_cadb_begin(sp_cadb *db);  /* BEGIN IMMEDIATE */
SP_MUST_CHECK sp_result sp_cadb_begin_read(sp_cadb *db); /* BEGIN: one snapshot, no lock */
SP_MUST_CHECK sp_result sp_cadb_commit(sp_cadb *db);
void sp_cadb_rollback(sp_cadb *db);                  /* no-op outside a transaction */

/* meta: "org" and "schema". */
SP_MUST_CHECK sp_result sp_cadb_meta_get(sp_cadb *db, const char *key, char *out,
    size_t outsz);

/* Set (value non-empty) or remove (value "") a meta key, inside a transaction. */
SP_MUST_CHECK sp_result sp_cadb_meta_set(sp_cadb *db, const char *key, const char *value);

/* Allowed domains for `ca sign`. */
SP_MUST_CHECK sp_result sp_cadb_domains(sp_cadb *db, char ***out, size_t *n);
void sp_cadb_domains_free(char **d, size_t n);
SP_MUST_CHECK sp_result sp_cadb_domain_add(sp_cadb *db, const char *d);
SP_MUST_CHECK sp_result sp_cadb_domain_remove(sp_cadb *db, const char *d, bool *found);
SP_MUST_CHECK sp_result sp_cadb_domain_clear(sp_cadb *db);

/*
 * Insert a certificate row.  A duplicate serial fails with SP_E_EXISTS
 * ("serial ... already in the database"), a second valid certificate for a
 * MAC with SP_E_EXISTS naming the MAC.
 */
SP_MUST_CHECK sp_result sp_cadb_insert(sp_cadb *db, const sp_certrow *r,
    const void *der, size_t derlen);
SP_MUST_CHECK sp_result sp_cadb_find_serial(sp_cadb *db, const char *serial,
    sp_certrow *out, bool *found);
SP_MUST_CHECK sp_result sp_cadb_find_valid_mac(sp_cadb *db, const char *mac,
    sp_certrow *out, bool *found);
/* Revoke a valid certificate; *changed is false if it was not valid. */
SP_MUST_CHECK sp_result sp_cadb_revoke(sp_cadb *db, const char *serial, int reason,
    int64_t at, bool *changed);
SP_MUST_CHECK sp_result sp_cadb_mark_delivered(sp_cadb *db, const char *serial);

/* In a write transaction: the next CRL number of `ca` (1, 2, ...). */
SP_MUST_CHECK sp_result sp_cadb_next_crl_number(sp_cadb *db, const char *ca,
    int64_t *out);

/* Walk rows (ca NULL = both; revoked_only), oldest first. */
typedef sp_result (*sp_cadb_row_fn)(const sp_certrow *r, void *arg);
SP_MUST_CHECK sp_result sp_cadb_each(sp_cadb *db, const char *ca, bool revoked_only,
    sp_cadb_row_fn fn, void *arg);
SP_MUST_CHECK sp_result sp_cadb_count(sp_cadb *db, int64_t *out);

#endif
