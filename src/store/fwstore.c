/*
 * Firmware images above the backends (store.h "firmware images"): a
 * container file checked as it is copied into SP_FW_CHUNK rows (read
 * once, never held whole), metadata, and range reads for the server.
 */
#include "store/store.h"
#include "store/store_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "common/text.h"
#include "common/util.h"

/* Fill buf with up to n bytes of fd; *got < n only at the end of the file. */
static sp_result
read_full(int fd, const char *path, unsigned char *buf, size_t n, size_t *got)
{
	*got = 0;
	while (*got < n) {
		ssize_t r = read(fd, buf + *got, n - *got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return sp_error(SP_E_IO, "reading %s: %s", path, strerror(errno));
		if (r == 0)
			break;
		*got += (size_t)r;
	}
	return SP_OK;
}

static sp_result
names_check(const char *product, const char *version)
{
	sp_result res = SP_OK;
	char q[2 * SP_FW_PRODUCT_MAX + 8];

	ENSURE(product && sp_fw_product_ok(sp_slice_of(product)), SP_E_USAGE,
	    "product '%s': 1 to %d of [A-Za-z0-9._-]",
	    (sp_quote(sp_slice_of(product ? product : ""), q, sizeof(q)), q),
	    SP_FW_PRODUCT_MAX);
	ENSURE(version && sp_fw_version_ok(sp_slice_of(version)), SP_E_USAGE,
	    "version '%s': 1 to %d of [A-Za-z0-9._()-]",
	    (sp_quote(sp_slice_of(version ? version : ""), q, sizeof(q)), q),
	    SP_FW_VERSION_MAX);
out:
	return res;
}

sp_result
sp_store_fw_add(sp_store *s, const char *path, EVP_PKEY *pub, int64_t now,
    sp_fw_info *out)
{
	sp_result res = SP_OK;
	unsigned char *buf = NULL, whole_md[32], pay_md[32];
	EVP_MD_CTX *whole = NULL, *pay = NULL;
	sp_fw_header h;
	sp_fw_info fw;
	uint64_t total = 0, want;
	size_t got = 0;
	int64_t seq = 0;
	bool tx = false, found = false;
	int fd = -1;

	memset(&fw, 0, sizeof(fw));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	ENSURE(fd >= 0, SP_E_IO, "%s: %s", path, strerror(errno));
	TRY_ALLOC(buf, malloc(SP_FW_CHUNK));
	TRY(read_full(fd, path, buf, SP_FW_CHUNK, &got));
	res = sp_fw_header_parse(sp_slice_mk((const char *)buf, got), &h);
	if (sp_failed(res)) {
		res = sp_error_wrap(res, "%s", path);
		goto out;
	}
	if (pub) {
		res = sp_fw_verify_sig(&h, sp_slice_mk((const char *)buf,
		    h.signed_len), pub);
		if (sp_failed(res)) {
			res = sp_error_wrap(res, "%s", path);
			goto out;
		}
	}
	want = (uint64_t)h.header_len + h.payload_len;
	TRY(sp_store_fw_get(s, h.product, h.version, &fw, &found));
	ENSURE(!found, SP_E_EXISTS, "firmware %s %s is stored already (remove "
	    "it first with 'sprov db firmware rm %s %s')", h.product, h.version,
	    h.product, h.version);
	TRY_OSSL_PTR(whole, EVP_MD_CTX_new(), "digest");
	TRY_OSSL_PTR(pay, EVP_MD_CTX_new(), "digest");
	TRY_OSSL(EVP_DigestInit_ex(whole, EVP_sha256(), NULL), "digest");
	TRY_OSSL(EVP_DigestInit_ex(pay, EVP_sha256(), NULL), "digest");
	/* A random id: chunks go in before the row that names them. */
	do {
		TRY_OSSL(RAND_bytes((unsigned char *)&fw.id, sizeof(fw.id)), "id");
		fw.id &= INT64_MAX;
	} while (fw.id == 0);
	TRY(sp_store_begin(s));
	tx = true;
	while (got > 0) {
		size_t skip = 0;
		if (total < h.header_len)
			skip = (size_t)(h.header_len - total) < got ?
			    (size_t)(h.header_len - total) : got;
		ENSURE(total + got <= want, SP_E_PARSE, "%s: trailing bytes after "
		    "the payload (the container says %llu bytes)", path,
		    (unsigned long long)want);
		TRY_OSSL(EVP_DigestUpdate(whole, buf, got), "digest");
		TRY_OSSL(EVP_DigestUpdate(pay, buf + skip, got - skip), "digest");
		TRY(s->ops->fw_chunk_put(s, fw.id, seq++,
		    sp_slice_mk((const char *)buf, got)));
		total += got;
		if (got < SP_FW_CHUNK)
			break;
		TRY(read_full(fd, path, buf, SP_FW_CHUNK, &got));
	}
	ENSURE(total == want, SP_E_PARSE, "%s: truncated: %llu of %llu bytes",
	    path, (unsigned long long)total, (unsigned long long)want);
	TRY_OSSL(EVP_DigestFinal_ex(whole, whole_md, NULL), "digest");
	TRY_OSSL(EVP_DigestFinal_ex(pay, pay_md, NULL), "digest");
	ENSURE(memcmp(pay_md, h.digest, sizeof(pay_md)) == 0, SP_E_VERIFY,
	    "%s: the payload does not match the container's SHA-256", path);
	snprintf(fw.product, sizeof(fw.product), "%s", h.product);
	snprintf(fw.version, sizeof(fw.version), "%s", h.version);
	fw.length = total;
	memcpy(fw.sha256, whole_md, sizeof(fw.sha256));
	fw.created = now;
	TRY(s->ops->fw_insert(s, &fw));
	TRY(sp_store_audit_firmware(s, "firmware.add", fw.product, fw.version, &fw));
	TRY(sp_store_commit(s));
	tx = false;
	if (out)
		*out = fw;
out:
	if (tx)
		sp_store_rollback(s);
	EVP_MD_CTX_free(whole);
	EVP_MD_CTX_free(pay);
	free(buf);
	if (fd >= 0)
		close(fd);
	return res;
}

sp_result
sp_store_fw_get(sp_store *s, const char *product, const char *version,
    sp_fw_info *out, bool *found)
{
	sp_result res = SP_OK;

	*found = false;
	TRY(names_check(product, version));
	TRY(s->ops->fw_get(s, product, version, out, found));
out:
	return res;
}

typedef struct read_ctx {
	uint64_t off;        /* wanted range [off, off + len) */
	size_t len;
	unsigned char *dst;
	size_t got;
	int64_t next;        /* the chunk expected next */
} read_ctx;

static sp_result
read_cb(void *arg, int64_t seq, sp_slice data)
{
	read_ctx *c = arg;
	uint64_t start = (uint64_t)seq * SP_FW_CHUNK, from, to;

	if (seq != c->next)
		return sp_error(SP_E_DB, "firmware chunk %lld missing",
		    (long long)c->next);
	c->next++;
	from = c->off > start ? c->off - start : 0;
	to = c->off + c->len - start;
	if (to > data.len)
		to = data.len;
	if (from >= to)
		return SP_OK;
	memcpy(c->dst + (start + from - c->off), data.p + from, (size_t)(to - from));
	c->got += (size_t)(to - from);
	return SP_OK;
}

sp_result
sp_store_fw_read(sp_store *s, const sp_fw_info *img, uint64_t off, void *dst,
    size_t len, size_t *got)
{
	sp_result res = SP_OK;
	sp_fw_info now;
	read_ctx c;
	bool found = false;

	*got = 0;
	ENSURE(len <= SP_FW_READ_MAX, SP_E_LIMIT, "firmware read of %zu bytes "
	    "(at most %d)", len, SP_FW_READ_MAX);
	if (off >= img->length || len == 0)
		goto out;
	if (len > img->length - off)
		len = (size_t)(img->length - off);
	memset(&c, 0, sizeof(c));
	c.off = off;
	c.len = len;
	c.dst = dst;
	c.next = (int64_t)(off / SP_FW_CHUNK);
	TRY(s->ops->fw_chunks(s, img->id, c.next,
	    (int64_t)((off + len - 1) / SP_FW_CHUNK), read_cb, &c));
	if (c.got != len) {
		/* Removed, or removed and added again, since img was read. */
		TRY(s->ops->fw_get(s, img->product, img->version, &now, &found));
		ENSURE(found && now.id == img->id, SP_E_NOTFOUND,
		    "firmware %s %s was removed or replaced", img->product,
		    img->version);
		res = sp_error(SP_E_DB, "firmware %s %s: %zu of %zu bytes stored "
		    "at offset %llu", img->product, img->version, c.got, len,
		    (unsigned long long)off);
		goto out;
	}
	*got = c.got;
out:
	return res;
}

sp_result
sp_store_fw_list(sp_store *s, sp_store_fw_cb cb, void *arg)
{
	return s->ops->fw_list(s, cb, arg);
}

typedef struct fw_user {
	const char *product, *version;
	char name[SP_ROLLOUT_NAME_MAX + 1];
} fw_user;

static sp_result
fw_user_cb(void *arg, const sp_rollout *r)
{
	fw_user *u = arg;

	if (u->name[0] == '\0' && r->kind == SP_ROLLOUT_FIRMWARE &&
	    r->state != SP_ROLLOUT_ROLLED_BACK &&
	    strcmp(r->target_key, u->product) == 0 &&
	    strcmp(r->fw_version, u->version) == 0)
		memcpy(u->name, r->name, sizeof(u->name));
	return SP_OK;
}

sp_result
sp_store_fw_rm(sp_store *s, const char *product, const char *version)
{
	sp_result res = SP_OK;
	fw_user u = { product, version, "" };
	bool tx = false, found = false;

	TRY(names_check(product, version));
	TRY(sp_store_begin(s));
	tx = true;
	TRY(sp_store_rollout_list(s, fw_user_cb, &u));
	ENSURE(u.name[0] == '\0', SP_E_STATE, "firmware %s %s is the target of "
	    "rollout %s: roll it back first", product, version, u.name);
	TRY(s->ops->fw_rm(s, product, version, &found));
	ENSURE(found, SP_E_NOTFOUND, "no firmware %s %s in the store", product,
	    version);
	TRY(sp_store_audit_firmware(s, "firmware.rm", product, version, NULL));
	TRY(sp_store_commit(s));
	tx = false;
out:
	if (tx)
		sp_store_rollback(s);
	return res;
}
