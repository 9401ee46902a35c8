/*
 * The signed firmware container: layout in image.h and docs/FIRMWARE.md.
 */
#include "firmware/image.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "common/text.h"
#include "common/util.h"

#define FW_IO_CHUNK (64u * 1024)

static bool
fw_name_ok(sp_slice s, size_t max, const char *extra)
{
	if (s.len == 0 || s.len > max)
		return false;
	for (size_t i = 0; i < s.len; i++) {
		unsigned char c = (unsigned char)s.p[i];
		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9'))
			continue;
		if (c == 0 || strchr(extra, c) == NULL)
			return false;
	}
	return true;
}

bool
sp_fw_product_ok(sp_slice s)
{
	return fw_name_ok(s, SP_FW_PRODUCT_MAX, "._-");
}

bool
sp_fw_version_ok(sp_slice s)
{
	return fw_name_ok(s, SP_FW_VERSION_MAX, "._()-");
}

/* A cursor over the header bytes; every read is bounds-checked. */
typedef struct fw_cur {
	const uint8_t *p;
	size_t n, off;
} fw_cur;

static bool
cur_take(fw_cur *c, size_t k, const uint8_t **out)
{
	if (c->n - c->off < k)
		return false;
	*out = c->p + c->off;
	c->off += k;
	return true;
}

static uint64_t
be(const uint8_t *p, size_t k)
{
	uint64_t v = 0;
	for (size_t i = 0; i < k; i++)
		v = (v << 8) | p[i];
	return v;
}

#define TAKE(k, ptr, field)                                                     \
	ENSURE(cur_take(&c, (k), &(ptr)), SP_E_PARSE,                           \
	    "firmware container: truncated header (%s at offset %zu)", (field), \
	    c.off)

sp_result
sp_fw_header_parse(sp_slice in, sp_fw_header *out)
{
	sp_result res = SP_OK;
	fw_cur c = { (const uint8_t *)in.p, in.len, 0 };
	const uint8_t *p;
	size_t n;

	memset(out, 0, sizeof(*out));
	TAKE(SP_FW_MAGIC_LEN, p, "magic");
	ENSURE(memcmp(p, SP_FW_MAGIC, SP_FW_MAGIC_LEN) == 0, SP_E_PARSE,
	    "firmware container: bad magic at offset 0 (not a signed sprov image)");

	TAKE(1, p, "product length");
	n = p[0];
	ENSURE(n >= 1 && n <= SP_FW_PRODUCT_MAX, SP_E_PARSE,
	    "firmware container: product length %zu at offset %zu (1..%d)", n,
	    c.off - 1, SP_FW_PRODUCT_MAX);
	TAKE(n, p, "product");
	ENSURE(sp_fw_product_ok((sp_slice){ (const char *)p, n }), SP_E_PARSE,
	    "firmware container: bad product at offset %zu", c.off - n);
	memcpy(out->product, p, n);

	TAKE(1, p, "version length");
	n = p[0];
	ENSURE(n >= 1 && n <= SP_FW_VERSION_MAX, SP_E_PARSE,
	    "firmware container: version length %zu at offset %zu (1..%d)", n,
	    c.off - 1, SP_FW_VERSION_MAX);
	TAKE(n, p, "version");
	ENSURE(sp_fw_version_ok((sp_slice){ (const char *)p, n }), SP_E_PARSE,
	    "firmware container: bad version at offset %zu", c.off - n);
	memcpy(out->version, p, n);

	TAKE(8, p, "payload length");
	out->payload_len = be(p, 8);
	ENSURE(out->payload_len >= 1 && out->payload_len <= SP_FW_PAYLOAD_MAX,
	    SP_E_PARSE, "firmware container: payload length %llu at offset %zu "
	    "(1..%llu)", (unsigned long long)out->payload_len, c.off - 8,
	    (unsigned long long)SP_FW_PAYLOAD_MAX);

	TAKE(SP_FW_DIGEST_LEN, p, "digest");
	memcpy(out->digest, p, SP_FW_DIGEST_LEN);
	out->signed_len = c.off;

	TAKE(2, p, "signature length");
	n = (size_t)be(p, 2);
	ENSURE(n >= 1 && n <= SP_FW_SIG_MAX, SP_E_PARSE,
	    "firmware container: signature length %zu at offset %zu (1..%d)", n,
	    c.off - 2, SP_FW_SIG_MAX);
	TAKE(n, p, "signature");
	memcpy(out->sig, p, n);
	out->sig_len = n;
	out->header_len = c.off;
out:
	return res;
}

#undef TAKE

static sp_result
fw_trailer_check(const sp_fw_header *h, uint64_t total)
{
	sp_result res = SP_OK;
	uint64_t want = (uint64_t)h->header_len + h->payload_len;

	ENSURE(total >= want, SP_E_PARSE,
	    "firmware container: truncated: %llu of %llu bytes",
	    (unsigned long long)total, (unsigned long long)want);
	ENSURE(total == want, SP_E_PARSE,
	    "firmware container: %llu trailing bytes after the payload",
	    (unsigned long long)(total - want));
out:
	return res;
}

static sp_result
fw_digest_check(const sp_fw_header *h, const uint8_t md[SP_FW_DIGEST_LEN])
{
	sp_result res = SP_OK;

	ENSURE(CRYPTO_memcmp(md, h->digest, SP_FW_DIGEST_LEN) == 0, SP_E_VERIFY,
	    "firmware container: the payload's SHA-256 is not the signed one");
out:
	return res;
}

sp_result
sp_fw_check(sp_slice whole, sp_fw_header *out)
{
	sp_result res = SP_OK;
	uint8_t md[SP_FW_DIGEST_LEN];
	unsigned int mdlen = 0;

	TRY(sp_fw_header_parse(whole, out));
	TRY(fw_trailer_check(out, whole.len));
	TRY_OSSL(EVP_Digest(whole.p + out->header_len, (size_t)out->payload_len, md,
	    &mdlen, EVP_sha256(), NULL), "firmware container: SHA-256");
	TRY(fw_digest_check(out, md));
out:
	return res;
}

sp_result
sp_fw_verify_sig(const sp_fw_header *h, sp_slice signed_hdr, EVP_PKEY *pub)
{
	sp_result res = SP_OK;
	EVP_MD_CTX *md = NULL;

	ENSURE(signed_hdr.len == h->signed_len, SP_E_INTERNAL,
	    "firmware container: signed header is %zu bytes, not %zu", signed_hdr.len,
	    h->signed_len);
	TRY_OSSL_PTR(md, EVP_MD_CTX_new(), "firmware container: digest context");
	TRY_OSSL(EVP_DigestVerifyInit_ex(md, NULL, "SHA256", NULL, NULL, pub, NULL),
	    "firmware container: verify init");
	if (EVP_DigestVerify(md, h->sig, h->sig_len, (const uint8_t *)signed_hdr.p,
	    signed_hdr.len) != 1) {
		sp_error_clear();
		res = sp_error(SP_E_VERIFY,
		    "firmware container: not signed by the firmware key");
		goto out;
	}
out:
	EVP_MD_CTX_free(md);
	return res;
}

/* Read up to n bytes (short only at end of file). */
static sp_result
fw_read(int fd, const char *path, uint8_t *p, size_t n, size_t *got)
{
	sp_result res = SP_OK;

	*got = 0;
	while (*got < n) {
		ssize_t r = read(fd, p + *got, n - *got);
		if (r < 0 && errno == EINTR)
			continue;
		ENSURE(r >= 0, SP_E_IO, "%s: read: %s", path, strerror(errno));
		if (r == 0)
			break;
		*got += (size_t)r;
	}
out:
	return res;
}

sp_result
sp_fw_verify_file(const char *path, EVP_PKEY *pub, sp_fw_header *out)
{
	sp_result res = SP_OK;
	int fd = -1;
	uint8_t *io = NULL;
	uint8_t hdr[SP_FW_HEADER_MAX];
	EVP_MD_CTX *md = NULL;
	uint8_t digest[SP_FW_DIGEST_LEN];
	size_t got = 0;
	uint64_t total, left;
	struct stat st;

	memset(out, 0, sizeof(*out));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	ENSURE(fd >= 0, SP_E_IO, "%s: %s", path, strerror(errno));
	ENSURE(fstat(fd, &st) == 0 && S_ISREG(st.st_mode), SP_E_IO,
	    "%s: not a regular file", path);
	total = (uint64_t)st.st_size;
	TRY(fw_read(fd, path, hdr, sizeof(hdr), &got));
	res = sp_fw_header_parse((sp_slice){ (const char *)hdr, got }, out);
	if (sp_failed(res)) {
		res = sp_error_wrap(res, "%s", path);
		goto out;
	}
	res = sp_fw_verify_sig(out, (sp_slice){ (const char *)hdr, out->signed_len }, pub);
	if (sp_ok(res))
		res = fw_trailer_check(out, total);
	if (sp_failed(res)) {
		res = sp_error_wrap(res, "%s", path);
		goto out;
	}

	TRY_ALLOC(io, malloc(FW_IO_CHUNK));
	TRY_OSSL_PTR(md, EVP_MD_CTX_new(), "firmware container: digest context");
	TRY_OSSL(EVP_DigestInit_ex(md, EVP_sha256(), NULL), "firmware container: SHA-256");
	/* The payload bytes already read with the header, then the rest. */
	left = out->payload_len;
	{
		size_t have = got - out->header_len;
		if (have > left)
			have = (size_t)left;
		TRY_OSSL(EVP_DigestUpdate(md, hdr + out->header_len, have),
		    "firmware container: SHA-256");
		left -= have;
	}
	while (left > 0) {
		size_t want = left < FW_IO_CHUNK ? (size_t)left : FW_IO_CHUNK;
		TRY(fw_read(fd, path, io, want, &got));
		ENSURE(got == want, SP_E_PARSE, "%s: firmware container: truncated while "
		    "reading (the file changed?)", path);
		TRY_OSSL(EVP_DigestUpdate(md, io, got), "firmware container: SHA-256");
		left -= got;
	}
	TRY_OSSL(EVP_DigestFinal_ex(md, digest, NULL), "firmware container: SHA-256");
	res = fw_digest_check(out, digest);
	if (sp_failed(res))
		res = sp_error_wrap(res, "%s", path);
out:
	EVP_MD_CTX_free(md);
	free(io);
	if (fd >= 0)
		close(fd);
	return res;
}

static void
put_be(uint8_t *p, uint64_t v, size_t k)
{
	for (size_t i = 0; i < k; i++)
		p[k - 1 - i] = (uint8_t)(v >> (8 * i));
}

static sp_result
fw_write_all(int fd, const char *path, const uint8_t *p, size_t n)
{
	sp_result res = SP_OK;

	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		ENSURE(w > 0, SP_E_IO, "%s: write: %s", path, strerror(errno));
		p += w;
		n -= (size_t)w;
	}
out:
	return res;
}

/* SHA-256 and length of a payload file (first pass of the build). */
static sp_result
fw_hash_file(int fd, const char *path, uint8_t digest[SP_FW_DIGEST_LEN], uint64_t *len)
{
	sp_result res = SP_OK;
	EVP_MD_CTX *md = NULL;
	uint8_t *io = NULL;
	size_t got;

	*len = 0;
	TRY_ALLOC(io, malloc(FW_IO_CHUNK));
	TRY_OSSL_PTR(md, EVP_MD_CTX_new(), "firmware container: digest context");
	TRY_OSSL(EVP_DigestInit_ex(md, EVP_sha256(), NULL), "firmware container: SHA-256");
	do {
		TRY(fw_read(fd, path, io, FW_IO_CHUNK, &got));
		TRY_OSSL(EVP_DigestUpdate(md, io, got), "firmware container: SHA-256");
		*len += got;
		ENSURE(*len <= SP_FW_PAYLOAD_MAX, SP_E_LIMIT,
		    "%s: larger than the container's limit of %llu bytes", path,
		    (unsigned long long)SP_FW_PAYLOAD_MAX);
	} while (got == FW_IO_CHUNK);
	ENSURE(*len > 0, SP_E_POLICY, "%s: empty image", path);
	TRY_OSSL(EVP_DigestFinal_ex(md, digest, NULL), "firmware container: SHA-256");
out:
	EVP_MD_CTX_free(md);
	free(io);
	return res;
}

/* Header bytes for product/version/len/digest, signed with key. */
static sp_result
fw_header_make(const char *product, const char *version, uint64_t len,
    const uint8_t digest[SP_FW_DIGEST_LEN], EVP_PKEY *key, uint8_t *hdr,
    size_t *hdr_len)
{
	sp_result res = SP_OK;
	EVP_MD_CTX *md = NULL;
	size_t off = 0, pl = strlen(product), vl = strlen(version), sl = 0;

	char q[2 * SP_FW_PRODUCT_MAX + 8];

	sp_quote(sp_slice_of(product), q, sizeof(q));
	ENSURE(sp_fw_product_ok(sp_slice_of(product)), SP_E_USAGE,
	    "bad product '%s': 1-%d of A-Z a-z 0-9 . _ -", q, SP_FW_PRODUCT_MAX);
	sp_quote(sp_slice_of(version), q, sizeof(q));
	ENSURE(sp_fw_version_ok(sp_slice_of(version)), SP_E_USAGE,
	    "bad version '%s': 1-%d of A-Z a-z 0-9 . _ ( ) -", q, SP_FW_VERSION_MAX);
	memcpy(hdr, SP_FW_MAGIC, SP_FW_MAGIC_LEN);
	off = SP_FW_MAGIC_LEN;
	hdr[off++] = (uint8_t)pl;
	memcpy(hdr + off, product, pl);
	off += pl;
	hdr[off++] = (uint8_t)vl;
	memcpy(hdr + off, version, vl);
	off += vl;
	put_be(hdr + off, len, 8);
	off += 8;
	memcpy(hdr + off, digest, SP_FW_DIGEST_LEN);
	off += SP_FW_DIGEST_LEN;

	TRY_OSSL_PTR(md, EVP_MD_CTX_new(), "firmware container: digest context");
	TRY_OSSL(EVP_DigestSignInit_ex(md, NULL, "SHA256", NULL, NULL, key, NULL),
	    "firmware container: the firmware key cannot sign with SHA-256");
	TRY_OSSL(EVP_DigestSign(md, NULL, &sl, hdr, off),
	    "firmware container: signature size");
	ENSURE(sl >= 1 && sl <= SP_FW_SIG_MAX, SP_E_POLICY,
	    "firmware container: a %zu-byte signature does not fit (at most %d)", sl,
	    SP_FW_SIG_MAX);
	TRY_OSSL(EVP_DigestSign(md, hdr + off + 2, &sl, hdr, off),
	    "firmware container: signing the header");
	put_be(hdr + off, sl, 2);
	*hdr_len = off + 2 + sl;
out:
	EVP_MD_CTX_free(md);
	return res;
}

sp_result
sp_fw_build_file(const char *payload_path, const char *product, const char *version,
    EVP_PKEY *key, const char *out_path)
{
	sp_result res = SP_OK;
	int in = -1, outfd = -1;
	uint8_t hdr[SP_FW_HEADER_MAX];
	uint8_t digest[SP_FW_DIGEST_LEN];
	uint8_t *io = NULL;
	size_t hdr_len = 0, got;
	uint64_t len = 0, copied = 0;
	char tmp[PATH_MAX], dir[PATH_MAX];
	bool linked = false;
	const char *slash;

	ENSURE((size_t)snprintf(tmp, sizeof(tmp), "%s.XXXXXX", out_path) < sizeof(tmp),
	    SP_E_LIMIT, "%s: path too long", out_path);
	in = open(payload_path, O_RDONLY | O_CLOEXEC);
	ENSURE(in >= 0, SP_E_IO, "%s: %s", payload_path, strerror(errno));
	TRY(fw_hash_file(in, payload_path, digest, &len));
	TRY(fw_header_make(product, version, len, digest, key, hdr, &hdr_len));
	ENSURE(lseek(in, 0, SEEK_SET) == 0, SP_E_IO, "%s: seek: %s", payload_path,
	    strerror(errno));

	outfd = mkstemp(tmp);
	ENSURE(outfd >= 0, SP_E_IO, "%s: %s", tmp, strerror(errno));
	linked = true;
	ENSURE(fchmod(outfd, 0644) == 0, SP_E_IO, "%s: chmod: %s", tmp, strerror(errno));
	TRY(fw_write_all(outfd, tmp, hdr, hdr_len));
	TRY_ALLOC(io, malloc(FW_IO_CHUNK));
	while (copied < len) {
		TRY(fw_read(in, payload_path, io, FW_IO_CHUNK, &got));
		ENSURE(got > 0 && copied + got <= len, SP_E_IO,
		    "%s: changed while it was being signed", payload_path);
		TRY(fw_write_all(outfd, tmp, io, got));
		copied += got;
	}
	TRY(fw_read(in, payload_path, io, 1, &got));
	ENSURE(got == 0, SP_E_IO, "%s: changed while it was being signed", payload_path);
	ENSURE(fsync(outfd) == 0, SP_E_IO, "%s: fsync: %s", tmp, strerror(errno));
	ENSURE(close(outfd) == 0, SP_E_IO, "%s: close: %s", tmp, strerror(errno));
	outfd = -1;
	ENSURE(rename(tmp, out_path) == 0, SP_E_IO, "%s: %s", out_path, strerror(errno));
	linked = false;
	slash = strrchr(out_path, '/');
	if (slash == NULL)
		snprintf(dir, sizeof(dir), ".");
	else
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - out_path + (slash == out_path)),
		    out_path);
	TRY(sp_fsync_dir(dir));
out:
	free(io);
	if (outfd >= 0)
		close(outfd);
	if (linked)
		(void)unlink(tmp);
	if (in >= 0)
		close(in);
	return res;
}
