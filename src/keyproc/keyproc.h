/*
 * The server's private keys in their own process, as OpenBSD relayd's `ca`
 * process and acme-client's keyproc.c hold theirs.
 *
 * `sprov serve` forks the key process (keyproc.c) before it drops its
 * privileges and before it parses anything from the network.  The key
 * process reads the configured key files, closes every descriptor but its
 * socketpairs, and then only answers requests: "load slot N" (read the key
 * file of slot N again, answer its public key) and "sign this digest with
 * key K".  The key bytes never leave it.  The serving process builds its
 * TLS configuration from the certificate, the public key and a private key
 * whose signing goes over a socketpair (client.c; OpenSSL: ossl_key.c,
 * GnuTLS: tls_gnutls.c).
 *
 * The wire format (proto.c) is one fixed 12-byte header and at most
 * SP_KP_IN_MAX / SP_KP_OUT_MAX bytes of payload, one request or response
 * per SOCK_SEQPACKET message, parsed strictly in one place
 * (fuzz/fuzz_keyproc.c).  Big-endian:
 *
 *   request:  version(1) op(1) alg(1) md(1) id(4) len(2) zero(2) input[len]
 *   response: version(1) status(1) zero(2) id(4) len(2) zero(2) data[len]
 *
 * A LOAD request's id is the slot; its answer's id is the key id and its
 * data the key's SubjectPublicKeyInfo (DER).  A SIGN answer's data is the
 * signature.  A failed answer's data is a short message (printable ASCII).
 *
 * The key process loads only the files it was started with (the slots): a
 * serving process taken over cannot make it read, or sign with, any other
 * key on the machine.  A new key path therefore needs a restart; a new key
 * in the same file is picked up on reload.
 */
#ifndef SPROV_KEYPROC_KEYPROC_H
#define SPROV_KEYPROC_KEYPROC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/buf.h"
#include "common/result.h"

#define SP_KP_VERSION 1
#define SP_KP_HDR 12
#define SP_KP_IN_MAX 512       /* an RSA-4096 block */
#define SP_KP_OUT_MAX 1024     /* an RSA-4096 SPKI is ~550 bytes */
#define SP_KP_REQ_MAX (SP_KP_HDR + SP_KP_IN_MAX)
#define SP_KP_RESP_MAX (SP_KP_HDR + SP_KP_OUT_MAX)
#define SP_KP_MSG_MAX 200      /* an error answer's message */
#define SP_KP_SLOTS_MAX 4      /* key files per key process */
#define SP_KP_KEYS_MAX 8       /* keys held: current ones and a few older */
#define SP_KP_CHANNELS_MAX 64  /* socketpairs; more threads wait for one */
#define SP_KP_TIMEOUT_MS 5000  /* a round-trip longer than this fails */

typedef enum { SP_KP_OP_LOAD = 1, SP_KP_OP_SIGN = 2 } sp_kp_op;

typedef enum {
	SP_KP_ALG_NONE = 0,
	SP_KP_ECDSA = 1,       /* input: a digest; data: DER ECDSA-Sig-Value */
	SP_KP_RSA_RAW = 2,     /* input: a TLS EMSA-PSS block of the modulus' size */
	SP_KP_RSA_PKCS1 = 3,   /* md set: input is the digest; else a DigestInfo */
	SP_KP_RSA_PSS = 4,     /* input: the digest; MGF1 with md, salt = digest size */
	SP_KP_ALG_N
} sp_kp_alg;

typedef enum {
	SP_KP_MD_NONE = 0, SP_KP_MD_SHA1, SP_KP_MD_SHA256, SP_KP_MD_SHA384, SP_KP_MD_SHA512,
	SP_KP_MD_N
} sp_kp_md;

typedef enum {
	SP_KP_ST_OK = 0,
	SP_KP_ST_BADREQ = 1,   /* malformed request */
	SP_KP_ST_NOKEY = 2,    /* no such slot or key id */
	SP_KP_ST_FAILED = 3,   /* the load or the signature failed */
	SP_KP_ST_N
} sp_kp_status;

typedef struct sp_kp_req {
	sp_kp_op op;
	sp_kp_alg alg;
	sp_kp_md md;
	uint32_t id;           /* LOAD: slot; SIGN: key id */
	const uint8_t *in;     /* points into the parsed message */
	size_t inlen;
} sp_kp_req;

typedef struct sp_kp_resp {
	sp_kp_status status;
	uint32_t id;
	const uint8_t *data;
	size_t len;
} sp_kp_resp;

/* --- framing (proto.c): pure, no I/O --- */

/* Digest size of md (0 for NONE). */
size_t sp_kp_md_size(sp_kp_md md);
/* Strict: exact length, known op/alg/md, zero padding, sizes that fit alg. */
SP_MUST_CHECK sp_result sp_kp_req_parse(const uint8_t *msg, size_t len, sp_kp_req *out);
/* Encode into buf (SP_KP_REQ_MAX bytes); *len set.  Refuses what parse refuses. */
SP_MUST_CHECK sp_result sp_kp_req_encode(const sp_kp_req *req, uint8_t *buf, size_t *len);
SP_MUST_CHECK sp_result sp_kp_resp_parse(const uint8_t *msg, size_t len, sp_kp_resp *out);
SP_MUST_CHECK sp_result sp_kp_resp_encode(const sp_kp_resp *resp, uint8_t *buf,
    size_t *len);

/* --- the key process (keyproc.c) and its client (client.c) --- */

typedef struct sp_keyproc sp_keyproc;

/*
 * Fork the key process for these key files (slots, n <= SP_KP_SLOTS_MAX)
 * with nchan socketpairs (clamped to 1..SP_KP_CHANNELS_MAX).  Call before
 * any thread is started.  The key process loads every file before this
 * returns: a bad key file fails here, with the file named.  sandbox: it
 * then runs under its seccomp allow-list (src/keyproc/sandbox.c).
 */
SP_MUST_CHECK sp_result sp_keyproc_start(const char *const *key_files, size_t n,
    int nchan, bool sandbox, sp_keyproc **out);
/* Close the channels (the key process exits) and reap it. */
void sp_keyproc_free(sp_keyproc *kp);

/*
 * A supervisor keeps one key process across serving processes
 * (src/server/supervise.c).  Each serving process gets channels of its
 * own, so a dead one's half-finished round-trip can never answer the next
 * one's request:
 *   sp_keyproc_renew   (supervisor, before fork) fresh channels, handed
 *                      to the key process over its control socket;
 *   sp_keyproc_release (supervisor, after fork) close its copies;
 *   sp_keyproc_detach  (serving process, after fork) drop the control
 *                      socket and the key process' pid: it neither hands
 *                      out channels nor reaps the key process.
 * The key process ends once the control socket and every channel are
 * closed.
 */
SP_MUST_CHECK sp_result sp_keyproc_renew(sp_keyproc *kp);
void sp_keyproc_release(sp_keyproc *kp);
void sp_keyproc_detach(sp_keyproc *kp);
pid_t sp_keyproc_pid(const sp_keyproc *kp);
/*
 * fn(arg), once, from the thread whose round-trip closed the last channel
 * (a channel that timed out or broke is never reused: a late answer would
 * be taken for the next request's).  With no channel left nothing can be
 * signed: a serving process drains and a new one gets fresh channels.
 * Set before the round-trips start.
 */
void sp_keyproc_on_lost(sp_keyproc *kp, void (*fn)(void *), void *arg);

/*
 * (Re)load key_file in the key process: it must be one of the files it was
 * started with.  *id: the key to sign with; spki: its public key (DER).
 * The same key loaded again keeps its id.
 */
SP_MUST_CHECK sp_result sp_keyproc_load(sp_keyproc *kp, const char *key_file,
    uint32_t *id, sp_buf *spki);

/*
 * Sign in with key id.  sig: room for *siglen bytes; *siglen set to the
 * signature's length.  Safe from any thread; each round-trip uses a
 * channel of its own.
 */
SP_MUST_CHECK sp_result sp_keyproc_sign(sp_keyproc *kp, uint32_t id, sp_kp_alg alg,
    sp_kp_md md, const uint8_t *in, size_t inlen, uint8_t *sig, size_t *siglen);

/*
 * The key process' side, for the process itself and for tests: answer one
 * request message into resp (SP_KP_RESP_MAX bytes).  Never fails: a bad
 * request gets an error answer.
 */
typedef struct sp_kp_keys sp_kp_keys;
SP_MUST_CHECK sp_result sp_kp_keys_new(const char *const *key_files, size_t n,
    sp_kp_keys **out);
void sp_kp_keys_free(sp_kp_keys *ks);
size_t sp_kp_answer(sp_kp_keys *ks, const uint8_t *msg, size_t len, uint8_t *resp);

/* --- OpenSSL (ossl_key.c) --- */

struct evp_pkey_st;
/*
 * An EVP_PKEY with pub's public half whose private operations are signing
 * requests for key id (EC and RSA).  NULL with the error set.
 */
SP_MUST_CHECK sp_result sp_keyproc_evp_pkey(sp_keyproc *kp, uint32_t id,
    const struct evp_pkey_st *pub, struct evp_pkey_st **out);

#endif
