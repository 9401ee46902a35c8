/*
 * What the nodes of a cluster share through the store (docs/CLUSTER.md):
 * the session-ticket keys and the ETag key, sealed with the key in
 * cluster-key-file, and the CRLs `sprov ca crl --publish` stored.
 *
 * Sealing: AES-256-GCM, a random 96-bit nonce per seal, the additional
 * data binds the row's name and version (a sealed value moved to another
 * row does not open).  Stored as 0x01 || nonce (12) || ciphertext || tag
 * (16).  The cluster key is never logged and is wiped on free.
 *
 * Every store call here runs from one function, sp_cluster_sync, which the
 * store thread (storethread.c) calls every crl-poll seconds, never a
 * worker's event loop.
 */
#ifndef SPROV_SERVER_CLUSTER_H
#define SPROV_SERVER_CLUSTER_H

#include <stdbool.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/result.h"
#include "server/cache.h"
#include "store/store.h"
#include "tls/tls.h"

#define SP_CLUSTER_KEY_LEN 32
#define SP_CLUSTER_KEY_FILE_MAX 4096
#define SP_CLUSTER_SEAL_FORMAT 1
#define SP_CLUSTER_NONCE_LEN 12
#define SP_CLUSTER_TAG_LEN 16
#define SP_CLUSTER_SEAL_OVERHEAD (1 + SP_CLUSTER_NONCE_LEN + SP_CLUSTER_TAG_LEN)
#define SP_CLUSTER_TICKET_NAME "tls/ticket-key"
#define SP_CLUSTER_ETAG_NAME "http/etag-key"
#define SP_CLUSTER_CRL_PREFIX "crl/"   /* + the issuer id (pki.h) */
/*
 * A new ticket key is made this long before the current one is due and
 * used for new tickets only this long after it was made, so every node
 * has loaded it before any node issues a ticket under it: at least two
 * polls, at least SP_CLUSTER_LEAD_MIN s, at most half of ticket-rotate.
 */
#define SP_CLUSTER_LEAD_MIN 10

/*
 * cluster-key-file: a regular file of mode 0600 or 0400 holding exactly 32
 * bytes, or 64 hex digits (one end of line allowed).  Anything else is
 * refused with one line naming the file.
 */
SP_MUST_CHECK sp_result sp_cluster_key_load(const char *path,
    uint8_t key[SP_CLUSTER_KEY_LEN]);

/* Seal plain for row (name, version); out gets plain.len + overhead bytes. */
SP_MUST_CHECK sp_result sp_cluster_seal(const uint8_t key[SP_CLUSTER_KEY_LEN],
    const char *name, int64_t version, sp_slice plain, sp_buf *out);
/*
 * Open what sp_cluster_seal made for the same row; out (make it a secret
 * buffer) gets the plain text.  SP_E_CRYPTO, out untouched, when the key
 * is not the one that sealed it or a byte (or the row) changed.
 */
SP_MUST_CHECK sp_result sp_cluster_open(const uint8_t key[SP_CLUSTER_KEY_LEN],
    const char *name, int64_t version, sp_slice sealed, sp_buf *out);

typedef struct sp_cluster_config {
	const char *key_file;   /* "" or NULL: no cluster secrets */
	int64_t ticket_rotate;  /* s */
	int64_t poll;           /* s between sp_cluster_sync calls */
	const char *crl_file;   /* with crl_from_store: the node's copy */
	bool crl_from_store;
} sp_cluster_config;

typedef struct sp_cluster sp_cluster;

/* Reads the key file (if any). */
SP_MUST_CHECK sp_result sp_cluster_new(const sp_cluster_config *cfg, sp_cluster **out);
void sp_cluster_free(sp_cluster *c); /* NULL-safe; wipes the key */
/* Is there anything to take from the store (a key file, or crl-from-store)? */
bool sp_cluster_active(const sp_cluster *c);
bool sp_cluster_has_key(const sp_cluster *c);

/*
 * The ETag key of the cluster: version 1 of SP_CLUSTER_ETAG_NAME, made
 * (random) and stored by whichever node asks first.  Needs the key file.
 */
SP_MUST_CHECK sp_result sp_cluster_etag_key(sp_cluster *c, sp_store *st,
    uint8_t key[SP_ETAG_KEY_LEN]);

/*
 * Ticket keys: read the newest ones; if the newest is due (older than
 * ticket-rotate less the lead), store the next version (one node wins;
 * the others read the winner's); install them in tls when they changed.
 * A key that does not open: SP_E_CRYPTO, nothing installed, the keys in
 * use stay.  *changed (optional): new keys went in.
 */
SP_MUST_CHECK sp_result sp_cluster_sync_tickets(sp_cluster *c, sp_store *st,
    sp_tls_server *tls, int64_t now, bool *changed);

/*
 * CRLs: the newest published CRL of every issuer, written (PEM, 0644) to
 * crl_file when that changes it.  Refused, nothing written: a stored CRL
 * that does not parse or does not match its row, or one with a lower
 * number than the file's CRL of the same issuer (rollback).  The usual
 * CRL reload (sp_tls_server_poll_crl) then takes the file, with its own
 * checks (signature, rollback against the CRL in force).
 */
SP_MUST_CHECK sp_result sp_cluster_sync_crl(sp_cluster *c, sp_store *st,
    bool *written);

/*
 * Both of the above as configured, each failure logged in one line; the
 * one call the server's timer makes.
 */
void sp_cluster_sync(sp_cluster *c, sp_store *st, sp_tls_server *tls, int64_t now);

/*
 * At start, before the TLS configuration loads, on a store handle of its
 * own (closed after): the ticket keys into tls; with etag_from_store the
 * ETag key into etag_key (*etag_set); with crl-from-store the CRL copy (a
 * failure is logged and the copy on disk, if any, is used).
 */
SP_MUST_CHECK sp_result sp_cluster_start(sp_cluster *c, const char *store_uri,
    sp_tls_server *tls, bool etag_from_store, uint8_t etag_key[SP_ETAG_KEY_LEN],
    bool *etag_set);

/* The row name of an issuer's published CRL: "crl/" + issuer id. */
void sp_cluster_crl_name(const char *issuer_id, char *out, size_t outsz);

#endif
