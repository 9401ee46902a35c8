/*
 * Keys, CSRs, certificates and CRLs: the only code of the CA and of `sprov req`
 * that touches OpenSSL's X509 API.  The callers (src/ca, src/cli) see OpenSSL's
 * opaque types only as pointers; they never build ASN.1 themselves.
 *
 * Everything here uses OpenSSL 3 APIs only (the build defines
 * OPENSSL_NO_DEPRECATED).
 */
#ifndef SPROV_PKI_PKI_H
#define SPROV_PKI_PKI_H

#include <stdint.h>
#include <time.h>

#include <openssl/x509.h>

#include "common/buf.h"
#include "common/result.h"

#define SP_PEM_MAX (256 * 1024)   /* largest key, CSR or certificate file we read */
#define SP_SERIAL_LEN 16          /* 128-bit serials */
#define SP_SERIAL_HEXLEN (2 * SP_SERIAL_LEN)
#define SP_RSA_MIN_BITS 2048

/* notAfter of device certificates (IEEE 802.1AR) and of our roots. */
#define SP_NOTAFTER_FOREVER "99991231235959Z"
#define SP_NOTAFTER_FOREVER_EPOCH INT64_C(253402300799)

typedef enum {
	SP_KEY_EC_P256 = 0,
	SP_KEY_EC_P384,
	SP_KEY_RSA_2048,
	SP_KEY_RSA_3072,
	SP_KEY_RSA_4096,
} sp_key_type;

SP_MUST_CHECK sp_result sp_key_type_parse(const char *s, sp_key_type *out);
const char *sp_key_type_name(sp_key_type t);

/* Generate one key (slow path: one context per key). */
SP_MUST_CHECK sp_result sp_key_gen(sp_key_type t, EVP_PKEY **out);

/*
 * Many keys of one type: the EVP_PKEY_CTX (and the provider fetch behind it)
 * is made once and reused.
 */
typedef struct sp_keygen sp_keygen;
SP_MUST_CHECK sp_result sp_keygen_new(sp_key_type t, sp_keygen **out);
SP_MUST_CHECK sp_result sp_keygen_next(sp_keygen *g, EVP_PKEY **out);
void sp_keygen_free(sp_keygen *g);

/* Read a PEM private key (any type OpenSSL knows; policy is the caller's). */
SP_MUST_CHECK sp_result sp_key_load(const char *path, EVP_PKEY **out);
/* PKCS#8 PEM of the private key, appended to `out` (wipe it with sp_buf_free_secret). */
SP_MUST_CHECK sp_result sp_key_pem(EVP_PKEY *key, sp_buf *out);
/*
 * The same bytes as sp_key_pem, for P-256 keys from a fixed DER template
 * (bulk issuance; the generic encoder costs more than the key generation);
 * other keys go through sp_key_pem.
 */
SP_MUST_CHECK sp_result sp_key_pem_fast(EVP_PKEY *key, sp_buf *out);
/* PEM of DER bytes under "-----BEGIN <label>-----", 64 columns, as PEM_write does. */
SP_MUST_CHECK sp_result sp_pem_encode(const char *label, const void *der, size_t n,
    sp_buf *out);

/*
 * The key policy shared by `sprov req` and `sprov ca sign`: RSA of at least
 * 2048 bits, or EC on P-256 or P-384.  The message names the rule.
 */
SP_MUST_CHECK sp_result sp_key_policy(EVP_PKEY *key);
/*
 * The signature floor shared by the CA's CSR policy and the device: a
 * digest NID that is refused (SHA-1, MD5, MD5+SHA1, MD4, MD2).
 */
bool sp_digest_weak(int md_nid);
/* "EC P-256", "RSA 2048", ... for messages. */
void sp_key_describe(EVP_PKEY *key, char *out, size_t outsz);

/* A CSR from PEM or DER bytes (whole input must be one CSR). */
SP_MUST_CHECK sp_result sp_csr_parse(const uint8_t *p, size_t n, X509_REQ **out);
SP_MUST_CHECK sp_result sp_csr_load(const char *path, X509_REQ **out);
/* A CSR with subject CN=cn only, signed by key with SHA-256. */
SP_MUST_CHECK sp_result sp_csr_build(EVP_PKEY *key, const char *cn, X509_REQ **out);
SP_MUST_CHECK sp_result sp_csr_pem(X509_REQ *req, sp_buf *out);

/* Serial numbers: 128 random bits, positive, never with a leading zero byte. */
SP_MUST_CHECK sp_result sp_serial_new(uint8_t out[SP_SERIAL_LEN]);
void sp_serial_hex(const uint8_t s[SP_SERIAL_LEN], char out[SP_SERIAL_HEXLEN + 1]);
/* Hex of any certificate serial (lower case, no leading zero bytes). */
SP_MUST_CHECK sp_result sp_cert_serial_hex(X509 *cert, char *out, size_t outsz);

/* The serial of a PEM certificate, read from the DER without decoding the rest. */
SP_MUST_CHECK sp_result sp_cert_pem_serial_hex(const char *pem, size_t n, char *out,
    size_t outsz);

/* Certificates. */
SP_MUST_CHECK sp_result sp_cert_load(const char *path, X509 **out);
SP_MUST_CHECK sp_result sp_cert_parse_pem(const uint8_t *p, size_t n, X509 **out);
SP_MUST_CHECK sp_result sp_cert_pem(X509 *cert, sp_buf *out);
SP_MUST_CHECK sp_result sp_cert_der(X509 *cert, sp_buf *out);
/* "O=sprov, CN=x" style one-line subject. */
SP_MUST_CHECK sp_result sp_cert_subject(X509 *cert, sp_buf *out);
/* notBefore / notAfter as Unix time. */
SP_MUST_CHECK sp_result sp_cert_dates(X509 *cert, int64_t *not_before, int64_t *not_after);

typedef enum { SP_ROOT_SERVER, SP_ROOT_DEVICE, SP_ROOT_FIRMWARE } sp_root_kind;

/* A self-signed root: CA:TRUE, pathlen 0, keyCertSign|cRLSign, SKI. */
SP_MUST_CHECK sp_result sp_cert_make_root(EVP_PKEY *key, const char *org,
    const char *cn, const uint8_t serial[SP_SERIAL_LEN], X509 **out);

/*
 * The firmware-signing root (docs/FIRMWARE.md): self-signed, valid until
 * 99991231235959Z like the other roots, but an end entity that signs
 * firmware containers and nothing else: CA:FALSE (critical), keyUsage
 * digitalSignature alone (critical), EKU codeSigning, SKI.  So no X.509
 * verifier accepts it as the issuer of a certificate, and no TLS stack as
 * a server or client certificate, even if it lands in a trust store.
 */
SP_MUST_CHECK sp_result sp_cert_make_fwroot(EVP_PKEY *key, const char *org,
    const char *cn, const uint8_t serial[SP_SERIAL_LEN], X509 **out);

/*
 * A provisioning server certificate from a CSR that passed the policy: the
 * subject is CN=cn alone (UTF8String; nothing else of the CSR's subject is
 * copied, so a CSR cannot borrow a device's ST/L/OU identity), SAN dNSName =
 * fqdn, EKU serverAuth, keyUsage digitalSignature (+keyEncipherment for RSA),
 * SKI/AKI, CA:FALSE.  Only the CSR's public key is used.
 */
SP_MUST_CHECK sp_result sp_cert_make_server(X509 *ca, EVP_PKEY *ca_key, X509_REQ *req,
    const char *cn, const char *fqdn, const uint8_t serial[SP_SERIAL_LEN], int64_t not_before,
    int64_t not_after, const char *crl_url, X509 **out);

/*
 * A non-critical CRL distribution point extension with one fullName URI
 * (RFC 5280 4.2.1.13).  The URL was checked by the CA (sp_ca_crl_url_check);
 * this refuses only what the extension syntax cannot carry.  Issuers take
 * crl_url NULL or "" for none.
 */
SP_MUST_CHECK sp_result sp_cert_crl_dp_ext(const char *url, X509_EXTENSION **out);

/*
 * Device certificates, many at a time: constant parts are made once.
 * For speed the P-256 public key is set as raw SPKI bits, so the X509 that
 * sp_devcert_make returns is for encoding (sp_cert_pem/sp_cert_der) only:
 * its X509_get0_pubkey() is NULL.  Parse the DER back for anything else.
 */
typedef struct sp_devcert_maker sp_devcert_maker;
typedef enum { SP_DEVSTYLE_SPROV, SP_DEVSTYLE_SPA } sp_devstyle;
typedef struct sp_devcert_req {
	const char *org;      /* sprov style O= */
	const char *mac;      /* 12 lower-case hex */
	const char *serial;   /* "" if none */
	const char *product;  /* "" if none */
	sp_devstyle style;
	int64_t not_before;
	int64_t not_after;    /* SP_NOTAFTER_FOREVER_EPOCH for 99991231235959Z */
} sp_devcert_req;
SP_MUST_CHECK sp_result sp_devcert_maker_new(X509 *ca, EVP_PKEY *ca_key,
    const char *crl_url, sp_devcert_maker **out);
SP_MUST_CHECK sp_result sp_devcert_make(sp_devcert_maker *m, const sp_devcert_req *r,
    EVP_PKEY *key, const uint8_t serial[SP_SERIAL_LEN], X509 **out);
/*
 * The same certificate as DER, appended to out: for a P-256 device key it is
 * assembled from the bytes every certificate of this maker shares (cut from
 * one sp_devcert_make certificate on first use) and signed directly, with no
 * X509 object; any other key goes through sp_devcert_make.
 */
SP_MUST_CHECK sp_result sp_devcert_make_der(sp_devcert_maker *m, const sp_devcert_req *r,
    EVP_PKEY *key, const uint8_t serial[SP_SERIAL_LEN], sp_buf *out);
void sp_devcert_maker_free(sp_devcert_maker *m);
/* The device subject as sp_cert_subject would print it (cheap). */
SP_MUST_CHECK sp_result sp_devcert_subject(const sp_devcert_req *r, sp_buf *out);

/* CRLs. */
typedef struct sp_crl_entry {
	uint8_t serial[64];
	size_t serial_len;
	int64_t revoked_at;
	int reason;  /* CRL_REASON_* (0 unspecified: no extension) */
} sp_crl_entry;
SP_MUST_CHECK sp_result sp_reason_parse(const char *s, int *out);
const char *sp_reason_name(int reason);
SP_MUST_CHECK sp_result sp_crl_make(X509 *ca, EVP_PKEY *ca_key, const sp_crl_entry *e,
    size_t n, int64_t number, int64_t this_update, int64_t next_update, sp_buf *pem_out);

/*
 * Each CRL of data, given to cb in order.  PEM: every block must be an
 * X509 CRL that parses whole (at most SP_CRLS_EACH_MAX); text between
 * blocks is allowed, as openssl writes it.  DER: one CRL and nothing after
 * it.  A block we cannot read is refused rather than skipped: the CRL the
 * operator meant may be the one we would drop.  `what` names the source
 * in messages.  Only the encoding is checked here: the signature is the
 * server's business (it knows the CAs).
 */
#define SP_CRL_ISSUER_ID_LEN 64 /* hex SHA-256 of the issuer name's DER */
#define SP_CRLS_EACH_MAX 64
typedef struct sp_crl_info {
	char issuer_id[SP_CRL_ISSUER_ID_LEN + 1];
	char issuer[256];   /* one-line DN, for messages */
	int64_t number;     /* crlNumber; -1: none, or past int64 */
	sp_slice der;       /* the CRL, DER (valid in cb) */
} sp_crl_info;
typedef sp_result (*sp_crl_cb)(void *arg, const sp_crl_info *crl);
SP_MUST_CHECK sp_result sp_crls_each(sp_slice data, const char *what, sp_crl_cb cb,
    void *arg);
/* One CRL as PEM, appended to out. */
SP_MUST_CHECK sp_result sp_crl_der_to_pem(sp_slice der, sp_buf *out);

/* Hex string -> bytes (for serials typed by a person). */
SP_MUST_CHECK sp_result sp_hex_decode(const char *hex, uint8_t *out, size_t outsz,
    size_t *outlen);

#endif
