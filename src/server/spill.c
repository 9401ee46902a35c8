/*
 * The contact spill file (server/spill.h).
 */
#include "server/spill.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"

static void
put_le(uint8_t *p, uint64_t v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t
get_le(const uint8_t *p, size_t n)
{
	uint64_t v = 0;

	for (size_t i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

/* One string field: u16 length, the bytes (at most max). */
static size_t
enc_str(uint8_t *p, const char *s, size_t max)
{
	size_t n = strnlen(s, max);

	put_le(p, n, 2);
	memcpy(p + 2, s, n);
	return 2 + n;
}

sp_result
sp_spill_encode(const sp_contact *v, size_t n, sp_buf *b)
{
	sp_result res = SP_OK;
	uint8_t rec[SP_SPILL_HEAD + SP_SPILL_PAYLOAD_MAX + SP_SPILL_TAIL];

	for (size_t i = 0; i < n; i++) {
		const sp_contact *c = &v[i];
		uint8_t *p = rec + SP_SPILL_HEAD;
		size_t len;

		memcpy(p, c->mac.b, 6);
		put_le(p + 6, (uint64_t)c->time, 8);
		put_le(p + 14, (uint64_t)(uint32_t)c->status, 4);
		p[18] = c->record_pending ? 1 : 0;
		p += 19;
		p += enc_str(p, c->ip, SP_CONTACT_IP_MAX);
		p += enc_str(p, c->ua, SP_UA_MAX);
		p += enc_str(p, c->etag, SP_ETAG_MAX);
		p += enc_str(p, c->serial, SP_STORE_FIELD_MAX);
		p += enc_str(p, c->product, SP_STORE_FIELD_MAX);
		put_le(p, c->gen, 8);
		put_le(p + 8, (uint64_t)c->cert_not_after, 8);
		p += 16;
		p += enc_str(p, c->cert_serial, SP_CERT_SERIAL_HEX_MAX);
		len = (size_t)(p - (rec + SP_SPILL_HEAD));
		memcpy(rec, SP_SPILL_MAGIC, 4);
		put_le(rec + 4, len, 4);
		put_le(p, sp_fnv1a(rec + 4, 4 + len), 8);
		TRY(sp_buf_append(b, rec, SP_SPILL_HEAD + len + SP_SPILL_TAIL));
	}
out:
	return res;
}

/* A string field into out (max bytes + NUL); false: short or bad bytes. */
static bool
dec_str(const uint8_t **p, const uint8_t *end, char *out, size_t max)
{
	size_t n;

	if (end - *p < 2)
		return false;
	n = (size_t)get_le(*p, 2);
	if (n > max || (size_t)(end - *p - 2) < n || memchr(*p + 2, 0, n) != NULL)
		return false;
	memcpy(out, *p + 2, n);
	out[n] = '\0';
	*p += 2 + n;
	return true;
}

/* One payload into *c (v2: with the schema 7 fields); false: malformed. */
static bool
dec_payload(const uint8_t *p, size_t len, bool v2, sp_contact *c)
{
	const uint8_t *end = p + len;

	memset(c, 0, sizeof(*c));
	if (len < 19 || p[18] > 1)
		return false;
	memcpy(c->mac.b, p, 6);
	c->time = (int64_t)get_le(p + 6, 8);
	c->status = (int)(int32_t)(uint32_t)get_le(p + 14, 4);
	c->record_pending = p[18] == 1;
	p += 19;
	if (!dec_str(&p, end, c->ip, SP_CONTACT_IP_MAX) ||
	    !dec_str(&p, end, c->ua, SP_UA_MAX) ||
	    !dec_str(&p, end, c->etag, SP_ETAG_MAX) ||
	    !dec_str(&p, end, c->serial, SP_STORE_FIELD_MAX) ||
	    !dec_str(&p, end, c->product, SP_STORE_FIELD_MAX))
		return false;
	if (!v2)
		return p == end;
	if (end - p < 16)
		return false;
	c->gen = get_le(p, 8);
	c->cert_not_after = (int64_t)get_le(p + 8, 8);
	p += 16;
	return dec_str(&p, end, c->cert_serial, SP_CERT_SERIAL_HEX_MAX) && p == end;
}

sp_result
sp_spill_parse(sp_slice in, sp_spill_cb cb, void *arg, size_t *n, size_t *used)
{
	sp_result res = SP_OK;
	const uint8_t *p = (const uint8_t *)in.p;
	size_t off = 0;
	sp_contact c;

	*n = 0;
	*used = 0;
	while (in.len - off >= SP_SPILL_HEAD + SP_SPILL_TAIL) {
		const uint8_t *r = p + off;
		size_t len = (size_t)get_le(r + 4, 4);
		bool v2 = memcmp(r, SP_SPILL_MAGIC, 4) == 0;

		if ((!v2 && memcmp(r, SP_SPILL_MAGIC_V1, 4) != 0) ||
		    len > SP_SPILL_PAYLOAD_MAX ||
		    in.len - off - SP_SPILL_HEAD - SP_SPILL_TAIL < len)
			break;
		if (get_le(r + SP_SPILL_HEAD + len, 8) != sp_fnv1a(r + 4, 4 + len) ||
		    !dec_payload(r + SP_SPILL_HEAD, len, v2, &c))
			break;
		if (cb != NULL)
			TRY(cb(arg, &c));
		off += SP_SPILL_HEAD + len + SP_SPILL_TAIL;
		(*n)++;
		*used = off;
	}
out:
	return res;
}

sp_result
sp_spill_check(const char *path)
{
	sp_result res = SP_OK;
	int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	struct stat st;

	if (fd >= 0)
		goto out;
	ENSURE(errno == ENOENT, SP_E_IO, "contact-spill %s: %s", path, strerror(errno));
	/* Not there yet: its directory must take a new file (made at the first spill). */
	snprintf(dir, sizeof(dir), "%.*s", slash == NULL ? 1 : slash == path ? 1 :
	    (int)(slash - path), slash == NULL ? "." : path);
	ENSURE(stat(dir, &st) == 0, SP_E_IO, "contact-spill %s: %s", path, strerror(errno));
	ENSURE(S_ISDIR(st.st_mode), SP_E_IO, "contact-spill %s: %s", path, strerror(ENOTDIR));
	ENSURE(access(dir, W_OK | X_OK) == 0, SP_E_IO, "contact-spill %s: %s", path,
	    strerror(errno));
out:
	if (fd >= 0)
		close(fd);
	return res;
}

sp_result
sp_spill_append(const char *path, const sp_contact *v, size_t n)
{
	sp_result res = SP_OK;
	sp_buf b;
	int fd = -1;
	size_t off = 0;

	sp_buf_init(&b, n * (SP_SPILL_HEAD + SP_SPILL_PAYLOAD_MAX + SP_SPILL_TAIL) + 1);
	TRY(sp_spill_encode(v, n, &b));
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	ENSURE(fd >= 0, SP_E_IO, "contact-spill %s: %s", path, strerror(errno));
	while (off < b.len) {
		ssize_t k = write(fd, b.p + off, b.len - off);
		if (k < 0 && errno == EINTR)
			continue;
		ENSURE(k > 0, SP_E_IO, "contact-spill %s: write: %s", path,
		    k < 0 ? strerror(errno) : "no progress");
		off += (size_t)k;
	}
	ENSURE(fsync(fd) == 0, SP_E_IO, "contact-spill %s: fsync: %s", path, strerror(errno));
out:
	if (fd >= 0)
		close(fd);
	sp_buf_free(&b);
	return res;
}

typedef struct collect {
	sp_contact *v;
	size_t n, cap;
} collect;

static sp_result
collect_one(void *arg, const sp_contact *c)
{
	sp_result res = SP_OK;
	collect *k = arg;

	if (k->n == k->cap) {
		size_t ncap = k->cap ? k->cap * 2 : 64;
		sp_contact *nv;
		TRY_ALLOC(nv, realloc(k->v, ncap * sizeof(*nv)));
		k->v = nv;
		k->cap = ncap;
	}
	k->v[k->n++] = *c;
out:
	return res;
}

sp_result
sp_spill_load(const char *path, sp_contact **v, size_t *n, size_t *dropped)
{
	sp_result res = SP_OK;
	sp_buf text;
	collect k = { NULL, 0, 0 };
	size_t count = 0, used = 0;

	*v = NULL;
	*n = 0;
	*dropped = 0;
	sp_buf_init(&text, SP_SPILL_FILE_MAX);
	if (!sp_file_exists(path))
		goto out;
	TRY(sp_error_wrap(sp_read_file(path, SP_SPILL_FILE_MAX, &text), "contact-spill"));
	TRY(sp_spill_parse(sp_slice_mk(text.p ? text.p : "", text.len), collect_one, &k,
	    &count, &used));
	if (used < text.len) {
		*dropped = text.len - used;
		sp_warn("serve: contact-spill %s: %zu bytes after record %zu (offset %zu) are "
		    "torn or corrupt; dropped, the %zu records before them are kept", path,
		    text.len - used, count, used, count);
	}
	*v = k.v;
	*n = k.n;
	k.v = NULL;
out:
	free(k.v);
	sp_buf_free(&text);
	return res;
}

sp_result
sp_spill_truncate(const char *path)
{
	sp_result res = SP_OK;
	int fd = open(path, O_WRONLY | O_CLOEXEC);

	if (fd < 0 && errno == ENOENT)
		goto out;
	ENSURE(fd >= 0, SP_E_IO, "contact-spill %s: %s", path, strerror(errno));
	ENSURE(ftruncate(fd, 0) == 0, SP_E_IO, "contact-spill %s: truncate: %s", path,
	    strerror(errno));
	ENSURE(fsync(fd) == 0, SP_E_IO, "contact-spill %s: fsync: %s", path, strerror(errno));
out:
	if (fd >= 0)
		close(fd);
	return res;
}
