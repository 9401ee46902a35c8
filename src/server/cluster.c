/*
 * Cluster secrets and published CRLs (cluster.h, docs/CLUSTER.md).
 */
#include "server/cluster.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "common/log.h"
#include "common/util.h"
#include "pki/pki.h"

struct sp_cluster {
	bool have_key;
	uint8_t key[SP_CLUSTER_KEY_LEN];
	char *key_file;
	int64_t rotate, lead;
	char *crl_file;
	bool crl_from_store;
	/* The ticket keys installed: versions, keys[0]'s first. */
	int64_t installed[SP_TLS_TICKET_KEYS_EXT];
	size_t ninstalled;
};

/* ---- the key file ------------------------------------------------------ */

sp_result
sp_cluster_key_load(const char *path, uint8_t key[SP_CLUSTER_KEY_LEN])
{
	sp_result res = SP_OK;
	struct stat sb;
	sp_buf text;
	size_t n;

	sp_buf_init_secret(&text, SP_CLUSTER_KEY_FILE_MAX);
	ENSURE(stat(path, &sb) == 0, SP_E_IO, "cluster-key-file %s: %s", path,
	    strerror(errno));
	ENSURE(S_ISREG(sb.st_mode), SP_E_POLICY, "cluster-key-file %s: not a regular "
	    "file", path);
	ENSURE((sb.st_mode & 07777) == 0600 || (sb.st_mode & 07777) == 0400,
	    SP_E_POLICY, "cluster-key-file %s: mode %04o, must be 0600 or 0400 (only "
	    "the nodes may read it)", path, (unsigned)(sb.st_mode & 07777));
	TRY(sp_error_wrap(sp_read_file_secret(path, SP_CLUSTER_KEY_FILE_MAX, &text),
	    "cluster-key-file %s", path));
	if (text.len == SP_CLUSTER_KEY_LEN) {
		memcpy(key, text.p, SP_CLUSTER_KEY_LEN);
		goto out;
	}
	n = text.len;
	if (n > 0 && text.p[n - 1] == '\n')
		n--;
	ENSURE(n == 2 * SP_CLUSTER_KEY_LEN, SP_E_PARSE, "cluster-key-file %s: %zu "
	    "bytes; must be exactly %d bytes or %d hex digits", path, text.len,
	    SP_CLUSTER_KEY_LEN, 2 * SP_CLUSTER_KEY_LEN);
	for (size_t i = 0; i < SP_CLUSTER_KEY_LEN; i++) {
		int hi = OPENSSL_hexchar2int((unsigned char)text.p[2 * i]);
		int lo = OPENSSL_hexchar2int((unsigned char)text.p[2 * i + 1]);

		if (hi < 0 || lo < 0) {
			OPENSSL_cleanse(key, SP_CLUSTER_KEY_LEN);
			res = sp_error(SP_E_PARSE, "cluster-key-file %s: 64 bytes but not "
			    "hex (byte %zu); must be exactly %d bytes or %d hex digits",
			    path, hi < 0 ? 2 * i : 2 * i + 1, SP_CLUSTER_KEY_LEN,
			    2 * SP_CLUSTER_KEY_LEN);
			goto out;
		}
		key[i] = (uint8_t)(hi << 4 | lo);
	}
out:
	sp_buf_free_secret(&text);
	return res;
}

/* ---- sealing ----------------------------------------------------------- */

/* "sprov-cluster" NUL name NUL version (8 bytes, big-endian). */
static size_t
seal_aad(const char *name, int64_t version, unsigned char *aad, size_t cap)
{
	static const char tag[] = "sprov-cluster";
	size_t nlen = strlen(name), n = 0;

	if (sizeof(tag) + nlen + 1 + 8 > cap)
		return 0;
	memcpy(aad, tag, sizeof(tag));
	n = sizeof(tag);
	memcpy(aad + n, name, nlen + 1);
	n += nlen + 1;
	for (int i = 7; i >= 0; i--)
		aad[n++] = (unsigned char)((uint64_t)version >> (8 * i));
	return n;
}

/* ctx set up for AES-256-GCM (enc 1: seal, 0: open), the row's AAD fed. */
static sp_result
gcm_start(EVP_CIPHER_CTX *ctx, int enc, const uint8_t *key, const unsigned char *nonce,
    const unsigned char *aad, size_t alen)
{
	sp_result res = SP_OK;
	int len = 0;

	TRY_OSSL(EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL, enc),
	    "AES-256-GCM");
	TRY_OSSL(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, SP_CLUSTER_NONCE_LEN,
	    NULL), "AES-256-GCM nonce length");
	TRY_OSSL(EVP_CipherInit_ex(ctx, NULL, NULL, key, nonce, enc), "AES-256-GCM key");
	TRY_OSSL(EVP_CipherUpdate(ctx, NULL, &len, aad, (int)alen), "AES-256-GCM AAD");
out:
	return res;
}

sp_result
sp_cluster_seal(const uint8_t key[SP_CLUSTER_KEY_LEN], const char *name,
    int64_t version, sp_slice plain, sp_buf *out)
{
	sp_result res = SP_OK;
	EVP_CIPHER_CTX *ctx = NULL;
	unsigned char aad[SP_CLUSTER_NAME_MAX + 32], hdr[1 + SP_CLUSTER_NONCE_LEN];
	unsigned char tag[SP_CLUSTER_TAG_LEN], *ct = NULL;
	size_t alen = seal_aad(name, version, aad, sizeof(aad));
	int len = 0, fin = 0;

	ENSURE(alen > 0, SP_E_USAGE, "cluster data name too long");
	ENSURE(plain.len <= SP_CLUSTER_DATA_MAX - SP_CLUSTER_SEAL_OVERHEAD, SP_E_LIMIT,
	    "%s: %zu bytes to seal, too many", name, plain.len);
	hdr[0] = SP_CLUSTER_SEAL_FORMAT;
	TRY_OSSL(RAND_bytes(hdr + 1, SP_CLUSTER_NONCE_LEN), "nonce for %s", name);
	TRY_ALLOC(ct, malloc(plain.len + 1));
	TRY_OSSL_PTR(ctx, EVP_CIPHER_CTX_new(), "AES-256-GCM");
	TRY(gcm_start(ctx, 1, key, hdr + 1, aad, alen));
	TRY_OSSL(EVP_EncryptUpdate(ctx, ct, &len, (const unsigned char *)plain.p,
	    (int)plain.len), "AES-256-GCM");
	TRY_OSSL(EVP_EncryptFinal_ex(ctx, ct + len, &fin), "AES-256-GCM");
	TRY_OSSL(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, SP_CLUSTER_TAG_LEN, tag),
	    "AES-256-GCM tag");
	TRY(sp_buf_append(out, hdr, sizeof(hdr)));
	TRY(sp_buf_append(out, ct, (size_t)(len + fin)));
	TRY(sp_buf_append(out, tag, sizeof(tag)));
out:
	EVP_CIPHER_CTX_free(ctx);
	free(ct);
	return res;
}

sp_result
sp_cluster_open(const uint8_t key[SP_CLUSTER_KEY_LEN], const char *name,
    int64_t version, sp_slice sealed, sp_buf *out)
{
	sp_result res = SP_OK;
	EVP_CIPHER_CTX *ctx = NULL;
	unsigned char aad[SP_CLUSTER_NAME_MAX + 32], *pt = NULL;
	const unsigned char *p = (const unsigned char *)sealed.p;
	size_t alen = seal_aad(name, version, aad, sizeof(aad)), clen;
	int len = 0, fin = 0;
	bool ok;

	ENSURE(alen > 0, SP_E_USAGE, "cluster data name too long");
	ENSURE(sealed.len >= SP_CLUSTER_SEAL_OVERHEAD && p[0] == SP_CLUSTER_SEAL_FORMAT,
	    SP_E_CRYPTO, "%s version %lld: not sealed cluster data", name,
	    (long long)version);
	clen = sealed.len - SP_CLUSTER_SEAL_OVERHEAD;
	TRY_ALLOC(pt, malloc(clen + 1));
	TRY_OSSL_PTR(ctx, EVP_CIPHER_CTX_new(), "AES-256-GCM");
	TRY(gcm_start(ctx, 0, key, p + 1, aad, alen));
	TRY_OSSL(EVP_DecryptUpdate(ctx, pt, &len, p + 1 + SP_CLUSTER_NONCE_LEN, (int)clen),
	    "AES-256-GCM");
	TRY_OSSL(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, SP_CLUSTER_TAG_LEN,
	    (void *)(p + sealed.len - SP_CLUSTER_TAG_LEN)), "AES-256-GCM tag");
	ok = EVP_DecryptFinal_ex(ctx, pt + len, &fin) == 1;
	ERR_clear_error();
	ENSURE(ok, SP_E_CRYPTO, "%s version %lld does not open with the cluster key "
	    "(another cluster-key-file, or the row was altered)", name,
	    (long long)version);
	sp_buf_mark_secret(out);
	TRY(sp_buf_append(out, pt, (size_t)(len + fin)));
out:
	EVP_CIPHER_CTX_free(ctx);
	if (pt != NULL)
		OPENSSL_cleanse(pt, clen + 1);
	free(pt);
	return res;
}

/* ---- the handle --------------------------------------------------------- */

sp_result
sp_cluster_new(const sp_cluster_config *cfg, sp_cluster **out)
{
	sp_result res = SP_OK;
	sp_cluster *c = NULL;

	*out = NULL;
	TRY_ALLOC(c, calloc(1, sizeof(*c)));
	c->rotate = cfg->ticket_rotate > 0 ? cfg->ticket_rotate : SP_TLS_TICKET_ROTATE_DEFAULT;
	c->lead = 2 * cfg->poll;
	if (c->lead < SP_CLUSTER_LEAD_MIN)
		c->lead = SP_CLUSTER_LEAD_MIN;
	if (c->lead > c->rotate / 2)
		c->lead = c->rotate / 2;
	if (cfg->key_file != NULL && cfg->key_file[0] != '\0') {
		TRY(sp_cluster_key_load(cfg->key_file, c->key));
		c->have_key = true;
		TRY_ALLOC(c->key_file, strdup(cfg->key_file));
	}
	c->crl_from_store = cfg->crl_from_store;
	if (cfg->crl_from_store) {
		ENSURE(cfg->crl_file != NULL && cfg->crl_file[0] != '\0', SP_E_USAGE,
		    "crl-from-store = on needs crl = FILE (the node's copy)");
		TRY_ALLOC(c->crl_file, strdup(cfg->crl_file));
	}
	*out = c;
	c = NULL;
out:
	sp_cluster_free(c);
	return res;
}

void
sp_cluster_free(sp_cluster *c)
{
	if (c == NULL)
		return;
	OPENSSL_cleanse(c->key, sizeof(c->key));
	free(c->key_file);
	free(c->crl_file);
	free(c);
}

bool
sp_cluster_active(const sp_cluster *c)
{
	return c != NULL && (c->have_key || c->crl_from_store);
}

bool
sp_cluster_has_key(const sp_cluster *c)
{
	return c != NULL && c->have_key;
}

/* ---- sealed rows -------------------------------------------------------- */

#define SEALED_MAX SP_TLS_TICKET_KEYS_EXT

/* Up to SEALED_MAX opened rows of one name, newest first. */
typedef struct opened {
	const sp_cluster *c;
	size_t n;
	int64_t version[SEALED_MAX], created[SEALED_MAX];
	sp_buf plain[SEALED_MAX];
} opened;

static void
opened_init(opened *o, const sp_cluster *c)
{
	memset(o, 0, sizeof(*o));
	o->c = c;
	for (size_t i = 0; i < SEALED_MAX; i++)
		sp_buf_init_secret(&o->plain[i], SP_CLUSTER_DATA_MAX);
}

static void
opened_free(opened *o)
{
	for (size_t i = 0; i < SEALED_MAX; i++)
		sp_buf_free_secret(&o->plain[i]);
}

static sp_result
open_row(void *arg, const sp_cluster_row *row)
{
	sp_result res = SP_OK;
	opened *o = arg;

	ENSURE(o->n < SEALED_MAX, SP_E_LIMIT, "more than %d rows", SEALED_MAX);
	TRY(sp_cluster_open(o->c->key, row->name, row->version, row->data,
	    &o->plain[o->n]));
	o->version[o->n] = row->version;
	o->created[o->n] = row->created;
	o->n++;
out:
	return res;
}

static sp_result
read_opened(sp_cluster *c, sp_store *st, const char *name, int max, opened *o)
{
	sp_result res = SP_OK;

	/* Again (after a put): wipe what the first read opened. */
	opened_free(o);
	opened_init(o, c);
	res = sp_store_cluster_get(st, name, max, open_row, o);
	if (sp_failed(res) && res.code == SP_E_CRYPTO)
		res = sp_error_wrap(res, "cluster-key-file %s", c->key_file);
	return res;
}

/* Make and store version `version` of name: len random bytes, sealed. */
static sp_result
put_random(sp_cluster *c, sp_store *st, const char *name, int64_t version, size_t len,
    int64_t now, int64_t keep, bool *won)
{
	sp_result res = SP_OK;
	uint8_t rnd[SP_TLS_TICKET_SECRET_LEN];
	sp_buf sealed;

	*won = false;
	sp_buf_init(&sealed, SP_CLUSTER_DATA_MAX);
	ENSURE(len <= sizeof(rnd), SP_E_INTERNAL, "secret too long");
	TRY_OSSL(RAND_bytes(rnd, (int)len), "random %s", name);
	TRY(sp_cluster_seal(c->key, name, version, (sp_slice){ (const char *)rnd, len },
	    &sealed));
	res = sp_store_cluster_put(st, name, version, now,
	    (sp_slice){ sealed.p, sealed.len }, keep);
	if (res.code == SP_E_EXISTS) {
		/* Another node stored it first: use theirs. */
		sp_error_clear();
		res = SP_OK;
		goto out;
	}
	TRY(res);
	*won = true;
out:
	OPENSSL_cleanse(rnd, sizeof(rnd));
	sp_buf_free(&sealed);
	return res;
}

sp_result
sp_cluster_etag_key(sp_cluster *c, sp_store *st, uint8_t key[SP_ETAG_KEY_LEN])
{
	sp_result res = SP_OK;
	opened o;
	bool won = false;

	opened_init(&o, c);
	ENSURE(c->have_key, SP_E_USAGE, "the cluster ETag key needs cluster-key-file");
	TRY(read_opened(c, st, SP_CLUSTER_ETAG_NAME, 1, &o));
	if (o.n == 0) {
		TRY(put_random(c, st, SP_CLUSTER_ETAG_NAME, 1, SP_ETAG_KEY_LEN, sp_now(), 0,
		    &won));
		TRY(read_opened(c, st, SP_CLUSTER_ETAG_NAME, 1, &o));
		if (won)
			sp_info("serve: cluster ETag key made and stored");
	}
	ENSURE(o.n == 1 && o.plain[0].len == SP_ETAG_KEY_LEN, SP_E_STATE,
	    "the cluster ETag key in the store is not %d bytes", SP_ETAG_KEY_LEN);
	memcpy(key, o.plain[0].p, SP_ETAG_KEY_LEN);
out:
	opened_free(&o);
	return res;
}

/* ---- ticket keys -------------------------------------------------------- */

sp_result
sp_cluster_sync_tickets(sp_cluster *c, sp_store *st, sp_tls_server *tls, int64_t now,
    bool *changed)
{
	sp_result res = SP_OK;
	opened o;
	uint8_t (*keys)[SP_TLS_TICKET_SECRET_LEN] = NULL;
	int64_t order[SEALED_MAX];
	size_t active, n = 0;
	bool won = false;

	if (changed)
		*changed = false;
	opened_init(&o, c);
	ENSURE(c->have_key, SP_E_USAGE, "cluster ticket keys need cluster-key-file");
	TRY(read_opened(c, st, SP_CLUSTER_TICKET_NAME, SEALED_MAX, &o));
	if (o.n == 0 || now - o.created[0] >= c->rotate - c->lead) {
		TRY(put_random(c, st, SP_CLUSTER_TICKET_NAME, o.n ? o.version[0] + 1 : 1,
		    SP_TLS_TICKET_SECRET_LEN, now, SEALED_MAX, &won));
		TRY(read_opened(c, st, SP_CLUSTER_TICKET_NAME, SEALED_MAX, &o));
		if (won)
			sp_info("serve: cluster ticket key %lld made and stored",
			    (long long)o.version[0]);
	}
	ENSURE(o.n > 0, SP_E_STATE, "no cluster ticket key in the store");
	for (size_t i = 0; i < o.n; i++)
		ENSURE(o.plain[i].len == SP_TLS_TICKET_SECRET_LEN, SP_E_STATE,
		    "cluster ticket key %lld is not %d bytes", (long long)o.version[i],
		    SP_TLS_TICKET_SECRET_LEN);
	/*
	 * New tickets: the newest key made at least `lead` ago (every node
	 * has it by now), else the oldest we have (a young cluster).
	 */
	active = o.n - 1;
	for (size_t i = 0; i < o.n; i++)
		if (now - o.created[i] >= c->lead) {
			active = i;
			break;
		}
	order[n++] = (int64_t)active;
	for (size_t i = 0; i < o.n; i++)
		if (i != active)
			order[n++] = (int64_t)i;
	if (n == c->ninstalled) {
		bool same = true;

		for (size_t i = 0; i < n; i++)
			same = same && c->installed[i] == o.version[order[i]];
		if (same)
			goto out;
	}
	TRY_ALLOC(keys, calloc(SEALED_MAX, sizeof(*keys)));
	for (size_t i = 0; i < n; i++) {
		memcpy(keys[i], o.plain[order[i]].p, SP_TLS_TICKET_SECRET_LEN);
		c->installed[i] = o.version[order[i]];
	}
	c->ninstalled = n;
	sp_tls_server_set_ticket_keys(tls, (const uint8_t (*)[SP_TLS_TICKET_SECRET_LEN])keys,
	    n);
	sp_info("serve: cluster ticket keys in use: %lld for new tickets, %zu in all",
	    (long long)c->installed[0], n);
	if (changed)
		*changed = true;
out:
	if (keys != NULL)
		OPENSSL_cleanse(keys, SEALED_MAX * sizeof(*keys));
	free(keys);
	opened_free(&o);
	return res;
}

/* ---- CRLs --------------------------------------------------------------- */

void
sp_cluster_crl_name(const char *issuer_id, char *out, size_t outsz)
{
	snprintf(out, outsz, "%s%s", SP_CLUSTER_CRL_PREFIX, issuer_id);
}

#define CRL_ISSUERS_MAX SP_CRLS_EACH_MAX

/* The CRLs of a file: issuer id and number of each. */
typedef struct crl_numbers {
	size_t n;
	char id[CRL_ISSUERS_MAX][SP_CRL_ISSUER_ID_LEN + 1];
	int64_t number[CRL_ISSUERS_MAX];
} crl_numbers;

static sp_result
note_number(void *arg, const sp_crl_info *crl)
{
	crl_numbers *cn = arg;

	if (cn->n >= CRL_ISSUERS_MAX)
		return sp_error(SP_E_LIMIT, "more than %d CRLs", CRL_ISSUERS_MAX);
	memcpy(cn->id[cn->n], crl->issuer_id, sizeof(cn->id[0]));
	cn->number[cn->n++] = crl->number;
	return SP_OK;
}

/* Building the file from the store's rows. */
typedef struct crl_build {
	const crl_numbers *file;   /* the copy on disk now */
	sp_buf pem;
	const char *row;           /* the row being read */
	int64_t row_version;
	size_t crls_in_row;
} crl_build;

static sp_result
add_crl(void *arg, const sp_crl_info *crl)
{
	sp_result res = SP_OK;
	crl_build *b = arg;
	char name[SP_CLUSTER_NAME_MAX + 1];

	sp_cluster_crl_name(crl->issuer_id, name, sizeof(name));
	ENSURE(++b->crls_in_row == 1, SP_E_PARSE, "store CRL %s: more than one CRL",
	    b->row);
	ENSURE(strcmp(name, b->row) == 0 && crl->number == b->row_version, SP_E_PARSE,
	    "store CRL %s version %lld: it is the CRL number %lld of '%s', not this "
	    "row's", b->row, (long long)b->row_version, (long long)crl->number,
	    crl->issuer);
	for (size_t i = 0; i < b->file->n; i++)
		ENSURE(strcmp(b->file->id[i], crl->issuer_id) != 0 ||
		    b->file->number[i] <= crl->number, SP_E_POLICY,
		    "store CRL of '%s' has number %lld, below the %lld in force: refused "
		    "(rollback)", crl->issuer, (long long)crl->number,
		    (long long)b->file->number[i]);
	TRY(sp_crl_der_to_pem(crl->der, &b->pem));
out:
	return res;
}

static sp_result
add_row(void *arg, const sp_cluster_row *row)
{
	crl_build *b = arg;

	b->row = row->name;
	b->row_version = row->version;
	b->crls_in_row = 0;
	return sp_crls_each(row->data, row->name, add_crl, b);
}

sp_result
sp_cluster_sync_crl(sp_cluster *c, sp_store *st, bool *written)
{
	sp_result res = SP_OK;
	crl_numbers *file = NULL;
	crl_build b;
	sp_buf cur;

	*written = false;
	memset(&b, 0, sizeof(b));
	sp_buf_init(&b.pem, SP_TLS_CERT_MAX);
	sp_buf_init(&cur, SP_TLS_CERT_MAX);
	ENSURE(c->crl_from_store, SP_E_USAGE, "crl-from-store is off");
	TRY_ALLOC(file, calloc(1, sizeof(*file)));
	if (sp_file_exists(c->crl_file)) {
		TRY(sp_read_file(c->crl_file, SP_TLS_CERT_MAX, &cur));
		/* A copy that does not parse is replaced (the CRL in force stays). */
		if (sp_failed(sp_crls_each((sp_slice){ cur.p, cur.len }, c->crl_file,
		    note_number, file))) {
			sp_error_clear();
			file->n = 0;
		}
	}
	b.file = file;
	TRY(sp_store_cluster_newest(st, SP_CLUSTER_CRL_PREFIX, add_row, &b));
	if (b.pem.len == 0 || (b.pem.len == cur.len && memcmp(b.pem.p, cur.p, cur.len) == 0))
		goto out;
	TRY(sp_error_wrap(sp_write_file(c->crl_file, b.pem.p, b.pem.len, 0644, 0),
	    "writing the store's CRLs"));
	*written = true;
out:
	free(file);
	sp_buf_free(&b.pem);
	sp_buf_free(&cur);
	return res;
}

void
sp_cluster_sync(sp_cluster *c, sp_store *st, sp_tls_server *tls, int64_t now)
{
	bool w = false;

	if (c == NULL)
		return;
	if (c->have_key && sp_failed(sp_cluster_sync_tickets(c, st, tls, now, NULL)))
		sp_err("serve: cluster ticket keys: %s; the keys in use stay", sp_errmsg());
	if (c->crl_from_store && sp_failed(sp_cluster_sync_crl(c, st, &w)))
		sp_err("serve: CRL from the store: %s; the CRL in force stays", sp_errmsg());
	else if (w)
		sp_info("serve: CRL from the store written to %s", c->crl_file);
}

sp_result
sp_cluster_start(sp_cluster *c, const char *store_uri, sp_tls_server *tls,
    bool etag_from_store, uint8_t etag_key[SP_ETAG_KEY_LEN], bool *etag_set)
{
	sp_result res = SP_OK;
	sp_store *st = NULL;
	char safe[SP_STORE_URI_MAX + 1];
	bool w = false;

	*etag_set = false;
	if (!sp_cluster_active(c))
		goto out;
	sp_store_uri_safe(store_uri, safe, sizeof(safe));   /* no password */
	TRY(sp_error_wrap(sp_store_open(store_uri, &st), "store %s", safe));
	if (c->have_key) {
		TRY(sp_cluster_sync_tickets(c, st, tls, sp_now(), NULL));
		if (etag_from_store) {
			TRY(sp_cluster_etag_key(c, st, etag_key));
			*etag_set = true;
		}
	}
	if (c->crl_from_store) {
		if (sp_failed(sp_cluster_sync_crl(c, st, &w)))
			sp_err("serve: CRL from the store: %s; starting with %s as it is",
			    sp_errmsg(), c->crl_file);
		else if (w)
			sp_info("serve: CRL from the store written to %s", c->crl_file);
	}
out:
	sp_store_close(st);
	return res;
}
