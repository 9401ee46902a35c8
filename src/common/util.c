#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

sp_result
sp_parse_i64_slice(sp_slice s, int64_t min, int64_t max, const char *what,
    int64_t *out)
{
	bool neg = false;
	uint64_t v = 0, lim;
	size_t i = 0;

	if (s.len == 0)
		return sp_error(SP_E_PARSE, "%s: empty number", what);
	if (s.p[0] == '-') {
		neg = true;
		i = 1;
	}
	if (i == s.len)
		return sp_error(SP_E_PARSE, "%s: '%.*s' is not a number", what,
		    (int)s.len, s.p);
	lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	for (; i < s.len; i++) {
		unsigned d = (unsigned char)s.p[i] - '0';
		if (d > 9)
			return sp_error(SP_E_PARSE, "%s: '%.*s' is not a number",
			    what, (int)(s.len > 64 ? 64 : s.len), s.p);
		if (v > (lim - d) / 10)
			return sp_error(SP_E_PARSE, "%s: '%.*s' is out of range",
			    what, (int)(s.len > 64 ? 64 : s.len), s.p);
		v = v * 10 + d;
	}
	int64_t r = neg ? (int64_t)(0 - v) : (int64_t)v;
	if (r < min || r > max)
		return sp_error(SP_E_PARSE,
		    "%s: %lld is out of range (%lld to %lld)", what,
		    (long long)r, (long long)min, (long long)max);
	*out = r;
	return SP_OK;
}

sp_result
sp_parse_i64(const char *s, int64_t min, int64_t max, const char *what,
    int64_t *out)
{
	return sp_parse_i64_slice(sp_slice_of(s), min, max, what, out);
}

void
sp_hex(const uint8_t *p, size_t n, char *out)
{
	static const char d[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = d[p[i] >> 4];
		out[2 * i + 1] = d[p[i] & 15];
	}
	out[2 * n] = '\0';
}

int64_t
sp_now(void)
{
	return (int64_t)time(NULL);
}

uint64_t
sp_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

bool
sp_has_ctl(sp_slice s)
{
	for (size_t i = 0; i < s.len; i++) {
		unsigned char c = (unsigned char)s.p[i];
		if (c < 0x20 || c == 0x7f)
			return true;
	}
	return false;
}

static sp_result
dir_of(const char *path, char *dir, size_t dirsz)
{
	const char *slash = strrchr(path, '/');

	if (slash == NULL) {
		snprintf(dir, dirsz, ".");
		return SP_OK;
	}
	if ((size_t)(slash - path) + 1 > dirsz)
		return sp_error(SP_E_LIMIT, "%s: path too long", path);
	if (slash == path)
		snprintf(dir, dirsz, "/");
	else
		snprintf(dir, dirsz, "%.*s", (int)(slash - path), path);
	return SP_OK;
}

sp_result
sp_fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return sp_error(SP_E_IO, "%s: %s", dir, strerror(errno));
	if (fsync(fd) != 0 && errno != EINVAL) {
		int e = errno;
		close(fd);
		return sp_error(SP_E_IO, "%s: fsync: %s", dir, strerror(e));
	}
	close(fd);
	return SP_OK;
}

sp_result
sp_write_file(const char *path, const void *data, size_t len, mode_t mode,
    int flags)
{
	sp_result res = SP_OK;
	char dir[PATH_MAX], tmp[PATH_MAX + 32];
	uint8_t rnd[6];
	char rhex[13];
	const char *p = data;
	int fd = -1;
	bool tmp_made = false;

	TRY(dir_of(path, dir, sizeof(dir)));
	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		TRY(sp_error_ossl(SP_E_CRYPTO, "random"));
	sp_hex(rnd, sizeof(rnd), rhex);
	ENSURE((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.%s", path, rhex) < sizeof(tmp),
	    SP_E_LIMIT, "%s: path too long", path);
	if ((flags & SP_WRITE_EXCL) && access(path, F_OK) == 0)
		ENSURE(0, SP_E_EXISTS, "%s: file exists (use --force to replace it)", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	ENSURE(fd >= 0, SP_E_IO, "%s: %s", tmp, strerror(errno));
	tmp_made = true;
	/* open() honours the umask; the mode we promise must not depend on it. */
	ENSURE(fchmod(fd, mode) == 0, SP_E_IO, "%s: chmod: %s", tmp, strerror(errno));
	while (len > 0) {
		ssize_t w = write(fd, p, len);
		if (w < 0 && errno == EINTR)
			continue;
		ENSURE(w > 0, SP_E_IO, "%s: write: %s", tmp, strerror(errno));
		p += w;
		len -= (size_t)w;
	}
	if (!(flags & SP_WRITE_NOSYNC))
		ENSURE(fsync(fd) == 0, SP_E_IO, "%s: fsync: %s", tmp, strerror(errno));
	ENSURE(close(fd) == 0, SP_E_IO, "%s: close: %s", tmp, strerror(errno));
	fd = -1;
	if (flags & SP_WRITE_EXCL) {
		if (link(tmp, path) != 0) {
			ENSURE(errno != EEXIST, SP_E_EXISTS,
			    "%s: file exists (use --force to replace it)", path);
			ENSURE(0, SP_E_IO, "%s: %s", path, strerror(errno));
		}
		unlink(tmp);
	} else {
		ENSURE(rename(tmp, path) == 0, SP_E_IO, "%s: rename: %s", path,
		    strerror(errno));
	}
	tmp_made = false;
	if (!(flags & SP_WRITE_NOSYNC))
		TRY(sp_fsync_dir(dir));
out:
	if (fd >= 0)
		close(fd);
	if (tmp_made)
		unlink(tmp);
	return res;
}

static sp_result
read_file(const char *path, size_t max, bool secret, sp_buf *out)
{
	sp_result res = SP_OK;
	char chunk[16384];
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	sp_buf_init(out, max);
	out->secret = secret;
	ENSURE(fd >= 0, errno == ENOENT ? SP_E_NOTFOUND : SP_E_IO, "%s: %s", path,
	    strerror(errno));
	for (;;) {
		ssize_t r = read(fd, chunk, sizeof(chunk));
		if (r < 0 && errno == EINTR)
			continue;
		ENSURE(r >= 0, SP_E_IO, "%s: read: %s", path, strerror(errno));
		if (r == 0)
			break;
		res = sp_buf_append(out, chunk, (size_t)r);
		if (sp_failed(res)) {
			res = sp_error_wrap(res, "%s", path);
			goto out;
		}
	}
	if (out->p == NULL)
		TRY(sp_buf_append(out, "", 0));
out:
	/* the chunk held file content (maybe a key): leave none on the stack */
	OPENSSL_cleanse(chunk, sizeof(chunk));
	if (fd >= 0)
		close(fd);
	if (sp_failed(res))
		sp_buf_free(out);
	return res;
}

sp_result
sp_read_file(const char *path, size_t max, sp_buf *out)
{
	return read_file(path, max, false, out);
}

sp_result
sp_read_file_secret(const char *path, size_t max, sp_buf *out)
{
	return read_file(path, max, true, out);
}

bool
sp_file_exists(const char *path)
{
	return access(path, F_OK) == 0;
}

sp_result
sp_mkdirs(const char *path, mode_t mode)
{
	char tmp[PATH_MAX];
	size_t n = strlen(path);

	if (n == 0 || n >= sizeof(tmp))
		return sp_error(SP_E_LIMIT, "bad directory path");
	memcpy(tmp, path, n + 1);
	for (size_t i = 1; i <= n; i++) {
		if (tmp[i] == '/' || tmp[i] == '\0') {
			char c = tmp[i];
			tmp[i] = '\0';
			if (mkdir(tmp, mode) != 0 && errno != EEXIST)
				return sp_error(SP_E_IO, "%s: mkdir: %s", tmp, strerror(errno));
			tmp[i] = c;
		}
	}
	return SP_OK;
}

uint64_t
sp_fnv1a(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint64_t h = 14695981039346656037ULL; /* the FNV offset basis */

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 1099511628211ULL;
	return h;
}
