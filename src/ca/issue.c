/*
 * Bulk issuance of device identities, crash-safe and resumable.
 *
 * Per chunk of SP_ISSUE_CHUNK devices:
 *   1. one write transaction (BEGIN IMMEDIATE): decide each device again
 *      under the lock, make key and certificate in memory, insert the row
 *      with delivered=0, the OUTDIR realpath and our run id; COMMIT;
 *   2. write each bundle into OUTDIR/.tmp-<run>-<mac>/;
 *   3. one syncfs() for all of them (instead of an fsync per file);
 *   4. rename each directory to OUTDIR/<mac> (atomic: a bundle is complete
 *      or absent under its final name), fsync OUTDIR;
 *   5. one transaction marking the rows delivered=1.
 *
 * A crash leaves, at worst: rows with delivered=0 whose bundle never reached
 * its final name (the key never left this process: a rerun revokes the row as
 * superseded and issues anew), or a bundle in place whose row still says
 * delivered=0 (a rerun finds the bundle's serial matches and just marks it).
 * Bundles only appear after their row is committed, so every bundle on disk
 * is in the database, and serials come from the PRIMARY KEY, never reused.
 *
 * A run holds an flock on OUTDIR/.run-<run>.lock for its lifetime; the
 * kernel drops it when the process dies, which is how a rerun tells a dead
 * run's leftovers from a live concurrent run's work in progress.
 */
#include "ca/ca.h"

#include <dirent.h>
#include <stdarg.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "ca/db.h"
#include "common/text.h"
#include "common/util.h"
#include "identity/devid.h"
#include "identity/mac.h"

#include "ca/issue_internal.h"

/* ---- runs and their locks ---- */

static sp_result
lock_path(const char *outdir, const char *run, char *out, size_t outsz)
{
	if ((size_t)snprintf(out, outsz, "%s/.run-%s.lock", outdir, run) >= outsz)
		return sp_error(SP_E_LIMIT, "%s: path too long", outdir);
	return SP_OK;
}

/* True if the run that wrote `run` into OUTDIR still holds its lock. */
static bool
run_alive(const issue_ctx *c, const char *run)
{
	char p[PATH_MAX];
	int fd;
	bool alive;

	if (strcmp(run, c->run_id) == 0)
		return true;
	if (c->outdir[0] == '\0' || sp_failed(lock_path(c->outdir, run, p, sizeof(p))))
		return false;
	fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	alive = flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
	close(fd);
	return alive;
}

static sp_result
take_run_lock(issue_ctx *c)
{
	sp_result res = SP_OK;
	char tmp[PATH_MAX + 8];
	uint8_t r[SP_RUNID_HEXLEN / 2];

	if (RAND_bytes(r, sizeof(r)) != 1)
		TRY(sp_error_ossl(SP_E_CRYPTO, "random run id"));
	sp_hex(r, sizeof(r), c->run_id);
	TRY(lock_path(c->outdir, c->run_id, c->lockpath, sizeof(c->lockpath)));
	snprintf(tmp, sizeof(tmp), "%s.new", c->lockpath);
	/* Locked before it gets its name: nobody can see it unlocked and remove it. */
	c->lockfd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	ENSURE(c->lockfd >= 0, SP_E_IO, "%s: %s", tmp, strerror(errno));
	ENSURE(flock(c->lockfd, LOCK_EX) == 0, SP_E_IO, "%s: flock: %s", tmp,
	    strerror(errno));
	ENSURE(rename(tmp, c->lockpath) == 0, SP_E_IO, "%s: %s", c->lockpath,
	    strerror(errno));
out:
	return res;
}

static void
rm_rf_at(int dfd, const char *name)
{
	int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d;
	struct dirent *e;

	if (fd >= 0 && (d = fdopendir(fd)) != NULL) {
		while ((e = readdir(d)) != NULL)
			if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
				unlinkat(dirfd(d), e->d_name, 0);
		closedir(d);
	} else if (fd >= 0) {
		close(fd);
	}
	unlinkat(dfd, name, AT_REMOVEDIR);
}

/*
 * Remove what dead runs left in OUTDIR: .tmp-<run>-<mac> directories (never
 * under a final name, so never a delivered bundle) and their lock files.
 */
static void
clean_stale(issue_ctx *c)
{
	DIR *d = opendir(c->outdir);
	struct dirent *e;
	char run[SP_RUNID_HEXLEN + 1];

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		const char *n = e->d_name;
		if (strncmp(n, ".tmp-", 5) == 0 && strlen(n) > 5 + SP_RUNID_HEXLEN) {
			snprintf(run, sizeof(run), "%.*s", SP_RUNID_HEXLEN, n + 5);
			if (!run_alive(c, run))
				rm_rf_at(dirfd(d), n);
		} else if (strncmp(n, ".run-", 5) == 0 && strlen(n) == 5 +
		    SP_RUNID_HEXLEN + 5 && strcmp(n + 5 + SP_RUNID_HEXLEN, ".lock") == 0) {
			snprintf(run, sizeof(run), "%.*s", SP_RUNID_HEXLEN, n + 5);
			if (!run_alive(c, run))
				unlinkat(dirfd(d), n, 0);
		} else if (strncmp(n, ".run-", 5) == 0 && strstr(n, ".lock.new")) {
			/* A lock file that never got its name: its run died at once. */
			struct stat sb;
			if (fstatat(dirfd(d), n, &sb, 0) == 0 && sb.st_mtime < time(NULL) - 60)
				unlinkat(dirfd(d), n, 0);
		}
	}
	closedir(d);
}

/*
 * A failed run: remove its own .tmp-<run>- entries (bundles it never put in
 * place, and the shared directory), as clean_stale would after it died.
 * Their rows stay committed with delivered=0: the next run reissues them.
 */
static void
clean_own(issue_ctx *c)
{
	char prefix[5 + SP_RUNID_HEXLEN + 2];
	DIR *d;
	struct dirent *e;
	int fd;

	if (c->outfd < 0 || c->run_id[0] == '\0')
		return;
	snprintf(prefix, sizeof(prefix), ".tmp-%s-", c->run_id);
	if ((fd = openat(c->outfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return;
	}
	while ((e = readdir(d)) != NULL)
		if (strncmp(e->d_name, prefix, strlen(prefix)) == 0)
			rm_rf_at(dirfd(d), e->d_name);
	closedir(d);
}

/* ---- bundles ---- */

/* snprintf that reports truncation (a path too long is simply "not there"). */
static bool SP_PRINTF(3, 4)
pjoin(char *out, size_t outsz, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(out, outsz, fmt, ap);
	va_end(ap);
	return n >= 0 && (size_t)n < outsz;
}

static void
bundle_state(issue_ctx *c, dev *d)
{
	char p[PATH_MAX];
	struct stat sb;
	sp_buf b;
	bool ok;
	static const char *const files[] = { "client.crt", "client.key", "server-ca.crt" };

	d->bstate = B_NONE;
	d->bserial[0] = '\0';
	if (c->outdir[0] == '\0')
		return;
	if (!pjoin(p, sizeof(p), "%s/%s", c->outdir, d->mac) || lstat(p, &sb) != 0)
		return;
	d->bstate = B_BROKEN;
	if (!S_ISDIR(sb.st_mode))
		return;
	for (size_t i = 0; i < SP_ARRAY_LEN(files); i++) {
		if (!pjoin(p, sizeof(p), "%s/%s/%s", c->outdir, d->mac, files[i]) ||
		    stat(p, &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_size == 0)
			return;
	}
	if (!pjoin(p, sizeof(p), "%s/%s/client.crt", c->outdir, d->mac))
		return;
	sp_buf_init(&b, SP_PEM_MAX);
	ok = sp_ok(sp_read_file(p, SP_PEM_MAX, &b)) &&
	    sp_ok(sp_cert_pem_serial_hex(b.p, b.len, d->bserial, sizeof(d->bserial)));
	sp_buf_free(&b);
	if (!ok) {
		sp_error_clear();
		d->bserial[0] = '\0';
		return;
	}
	d->bstate = B_COMPLETE;
}

/*
 * What to do with one device, given its bundle in OUTDIR and its valid row.
 * A refusal is returned as SP_E_POLICY/SP_E_STATE with the message set.
 */
static sp_result
decide(issue_ctx *c, dev *d)
{
	sp_result res = SP_OK;
	sp_certrow *row = NULL;
	bool found = false;
	char when[32];

	d->act = A_REFUSE;
	d->revoke_old = d->replace_dir = d->mark_delivered = false;
	TRY_ALLOC(row, malloc(sizeof(*row)));
	TRY(sp_cadb_find_valid_mac(c->db, d->mac, row, &found));
	if (found)
		snprintf(d->old_serial, sizeof(d->old_serial), "%s", row->serial);
	if (d->bstate == B_BROKEN)
		ENSURE(0, SP_E_STATE, "MAC %s: %s/%s exists but is not a complete bundle; "
		    "remove it and rerun", d->mac, c->outdir, d->mac);
	if (d->bstate == B_COMPLETE) {
		bool ours = found && strcmp(row->serial, d->bserial) == 0;
		if (ours && !c->o->reissue) {
			d->act = A_SKIP;
			d->mark_delivered = !row->delivered;
			goto out;
		}
		ENSURE(c->o->reissue, SP_E_STATE, "MAC %s: the bundle in %s/%s holds "
		    "certificate %s, which is not the device's valid certificate; use "
		    "--reissue to replace it", d->mac, c->outdir, d->mac, d->bserial);
		d->act = A_ISSUE;
		d->revoke_old = found;
		d->replace_dir = true;
		goto out;
	}
	if (!found) {
		d->act = A_ISSUE;
		goto out;
	}
	/* A valid row but no bundle here. */
	if (!row->delivered && c->outdir[0] && strcmp(row->outdir, c->outdir) == 0) {
		ENSURE(!run_alive(c, row->run_id), SP_E_STATE, "MAC %s is being issued "
		    "into %s by another sprov process right now", d->mac, c->outdir);
		/* A crash leftover: its key never left the dead process. */
		d->act = A_ISSUE;
		d->revoke_old = true;
		goto out;
	}
	sp_ca_fmt_time(row->issued_at, when);
	ENSURE(c->o->reissue, SP_E_STATE, "MAC %s was already issued (serial %s on %s%s%s) "
	    "and its bundle is not in %s; use --reissue to revoke it and issue a new one",
	    d->mac, row->serial, when, row->outdir[0] ? ", into " : "", row->outdir,
	    c->o->outdir);
	d->act = A_ISSUE;
	d->revoke_old = true;
out:
	free(row);
	return res;
}

static bool
is_refusal(sp_result r)
{
	return r.code == SP_E_POLICY || r.code == SP_E_STATE || r.code == SP_E_EXISTS;
}

/* ---- one chunk ---- */

static sp_result
make_one(issue_ctx *c, dev *d, size_t slot, int64_t now)
{
	sp_result res = SP_OK;
	EVP_PKEY *key = NULL;
	uint8_t serial[SP_SERIAL_LEN];
	sp_devcert_req r = {
		.org = c->org, .mac = d->mac, .serial = d->serial, .product = d->product,
		.style = c->o->style, .not_before = now,
		.not_after = c->o->days > 0 && now + c->o->days * 86400 <
		    SP_NOTAFTER_FOREVER_EPOCH ? now + c->o->days * 86400 :
		    SP_NOTAFTER_FOREVER_EPOCH,
	};
	sp_certrow *row = NULL;
	sp_buf der, subj;
	bool changed;

	sp_buf_init(&der, SP_PEM_MAX);
	sp_buf_init(&subj, SP_CADB_SUBJECT_MAX - 1);
	TRY_ALLOC(row, calloc(1, sizeof(*row)));
	if (d->revoke_old) {
		TRY(sp_cadb_revoke(c->db, d->old_serial, CRL_REASON_SUPERSEDED, now, &changed));
		ENSURE(changed, SP_E_STATE, "MAC %s: certificate %s changed state meanwhile",
		    d->mac, d->old_serial);
	}
	TRY(sp_keygen_next(c->kg, &key));
	TRY(sp_serial_new(serial));
	TRY(sp_devcert_make_der(c->maker, &r, key, serial, &der));
	sp_buf_reset(&c->certs[slot]);
	sp_buf_reset(&c->keys[slot]);
	TRY(sp_pem_encode("CERTIFICATE", der.p, der.len, &c->certs[slot]));
	TRY(sp_key_pem_fast(key, &c->keys[slot]));
	TRY(sp_devcert_subject(&r, &subj));
	sp_serial_hex(serial, row->serial);
	snprintf(d->new_serial, sizeof(d->new_serial), "%s", row->serial);
	snprintf(row->ca, sizeof(row->ca), "device");
	snprintf(row->subject, sizeof(row->subject), "%s", sp_buf_cstr(&subj));
	memcpy(row->mac, d->mac, 13);
	row->not_before = r.not_before;
	row->not_after = r.not_after;
	row->issued_at = now;
	snprintf(row->outdir, sizeof(row->outdir), "%s", c->outdir);
	row->delivered = false;
	snprintf(row->run_id, sizeof(row->run_id), "%s", c->run_id);
	TRY(sp_cadb_insert(c->db, row, der.p, der.len));
out:
	free(row);
	sp_buf_free(&der);
	sp_buf_free(&subj);
	EVP_PKEY_free(key);
	return res;
}

/*
 * Create NAME (relative to dfd) with exactly MODE and write B into it: one
 * openat, one write, one close.  fchmod only when the umask would strip a
 * bit of MODE.
 */
static sp_result
write_all(int dfd, const char *name, const sp_buf *b, mode_t mode, mode_t umask_bits)
{
	sp_result res = SP_OK;
	int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	const char *p = b->p;
	size_t left = b->len;

	ENSURE(fd >= 0, SP_E_IO, "%s: %s", name, strerror(errno));
	if (mode & umask_bits)
		ENSURE(fchmod(fd, mode) == 0, SP_E_IO, "%s: chmod: %s", name, strerror(errno));
	while (left > 0) {
		ssize_t w = write(fd, p, left);
		if (w < 0 && errno == EINTR)
			continue;
		ENSURE(w > 0, SP_E_IO, "%s: write: %s", name, strerror(errno));
		p += w;
		left -= (size_t)w;
	}
out:
	if (fd >= 0 && close(fd) != 0 && sp_ok(res))
		res = sp_error(SP_E_IO, "%s: close: %s", name, strerror(errno));
	return res;
}

/*
 * The files every bundle holds alike (server-ca.crt, firmware-ca.crt) are
 * written once per run into OUTDIR/.tmp-<run>-shared/ and hard-linked into
 * each bundle: one linkat instead of a new inode, openat, write and close.
 * The shared directory goes when the run ends (or, after a crash, with the
 * dead run's other .tmp- leftovers).
 */
static sp_result
write_shared(issue_ctx *c)
{
	sp_result res = SP_OK;
	char p[sizeof(c->shared) + 32];

	snprintf(p, sizeof(p), "%s/%s", c->shared, SP_CA_SERVER_CRT);
	unlinkat(c->outfd, p, 0);
	TRY(write_all(c->outfd, p, &c->server_ca, 0644, c->umask_bits));
	if (c->firmware_ca.len > 0) {
		snprintf(p, sizeof(p), "%s/%s", c->shared, SP_CA_FIRMWARE_CRT);
		unlinkat(c->outfd, p, 0);
		TRY(write_all(c->outfd, p, &c->firmware_ca, 0644, c->umask_bits));
	}
out:
	return res;
}

static sp_result
make_shared(issue_ctx *c)
{
	sp_result res = SP_OK;

	snprintf(c->shared, sizeof(c->shared), ".tmp-%s-shared", c->run_id);
	ENSURE(mkdirat(c->outfd, c->shared, 0700) == 0, SP_E_IO, "%s/%s: mkdir: %s",
	    c->outdir, c->shared, strerror(errno));
	c->link_ok = true;
	res = write_shared(c);
	if (sp_failed(res))
		res = sp_error_wrap(res, "%s", c->outdir);
out:
	return res;
}

/* A shared file into the bundle DIR: a hard link, or a copy where links fail. */
static sp_result
put_shared(issue_ctx *c, const char *dir, const char *name, const sp_buf *b)
{
	sp_result res = SP_OK;
	char from[sizeof(c->shared) + 32], to[96];

	snprintf(from, sizeof(from), "%s/%s", c->shared, name);
	snprintf(to, sizeof(to), "%s/%s", dir, name);
	if (c->link_ok) {
		if (linkat(c->outfd, from, c->outfd, to, 0) == 0)
			return SP_OK;
		if (errno == EMLINK) {
			/* The inode has all the links it may: fresh copies, then link again. */
			TRY(write_shared(c));
			if (linkat(c->outfd, from, c->outfd, to, 0) == 0)
				return SP_OK;
		}
		ENSURE(errno == EPERM || errno == EXDEV || errno == ENOTSUP ||
		    errno == EOPNOTSUPP || errno == EMLINK, SP_E_IO, "%s: link: %s", to,
		    strerror(errno));
		c->link_ok = false;    /* a file system without hard links: copy */
	}
	TRY(write_all(c->outfd, to, b, 0644, c->umask_bits));
out:
	return res;
}

static sp_result
write_bundle(issue_ctx *c, dev *d, size_t slot, char *tmpname, size_t tmpsz)
{
	sp_result res = SP_OK;
	char p[96];

	snprintf(tmpname, tmpsz, ".tmp-%s-%s", c->run_id, d->mac);
	ENSURE(mkdirat(c->outfd, tmpname, 0755) == 0, SP_E_IO, "%s/%s: mkdir: %s",
	    c->outdir, tmpname, strerror(errno));
	snprintf(p, sizeof(p), "%s/client.crt", tmpname);
	TRY(write_all(c->outfd, p, &c->certs[slot], 0644, c->umask_bits));
	snprintf(p, sizeof(p), "%s/client.key", tmpname);
	TRY(write_all(c->outfd, p, &c->keys[slot], 0600, c->umask_bits));
	TRY(put_shared(c, tmpname, SP_CA_SERVER_CRT, &c->server_ca));
	if (c->firmware_ca.len > 0)
		TRY(put_shared(c, tmpname, SP_CA_FIRMWARE_CRT, &c->firmware_ca));
out:
	if (sp_failed(res))
		res = sp_error_wrap(res, "%s/%s", c->outdir, tmpname);
	return res;
}

static void
progress(issue_ctx *c, bool last)
{
	size_t done = c->done_for_progress, total = c->ndevs;
	double secs = (double)(sp_mono_ns() - c->t0) / 1e9;
	double rate = secs > 0 ? (double)c->st->issued / secs : 0;

	if (c->o->progress_bar) {
		int w = 30, fill = total ? (int)((double)done / (double)total * w) : w;
		fprintf(stderr, "\r  [%.*s%*s] %zu/%zu  %.0f devices/s ", fill,
		    "##############################", w - fill, "", done, total, rate);
		if (last)
			fputc('\n', stderr);
	} else if (last || done - c->last_progress >= (total / 10 > SP_ISSUE_CHUNK ?
	    total / 10 : SP_ISSUE_CHUNK)) {
		fprintf(stderr, "progress: %zu/%zu devices (%.0f/s)\n", done, total, rate);
		c->last_progress = done;
	}
	fflush(stderr);
}

/*
 * Steps 2-4 of a chunk whose rows are committed: bundles into temporary
 * directories, one syncfs for all, then each atomically into place and one
 * fsync of OUTDIR.  Runs in the writer thread while the main thread makes
 * the next chunk, so the file system's time overlaps the crypto; it touches
 * only this chunk's devices and key/certificate slots.
 */
static sp_result
place_chunk(issue_ctx *c, dev **chunk, size_t n, size_t set)
{
	sp_result res = SP_OK;
	char tmp[64], fin[SP_MAC_STRLEN];

	for (size_t i = 0; i < n; i++)
		if (chunk[i]->written)
			TRY(write_bundle(c, chunk[i], set * SP_ISSUE_CHUNK + i, tmp, sizeof(tmp)));
	ENSURE(syncfs(c->outfd) == 0, SP_E_IO, "%s: syncfs: %s", c->outdir, strerror(errno));
	for (size_t i = 0; i < n; i++) {
		dev *d = chunk[i];
		if (!d->written)
			continue;
		snprintf(tmp, sizeof(tmp), ".tmp-%s-%s", c->run_id, d->mac);
		snprintf(fin, sizeof(fin), "%s", d->mac);
		if (d->replace_dir) {
			/* Swap, then remove the old bundle now sitting under the tmp name. */
			ENSURE(renameat2(c->outfd, tmp, c->outfd, fin, RENAME_EXCHANGE) == 0,
			    SP_E_IO, "%s/%s: rename: %s", c->outdir, fin, strerror(errno));
			rm_rf_at(c->outfd, tmp);
		} else {
			ENSURE(renameat2(c->outfd, tmp, c->outfd, fin, RENAME_NOREPLACE) == 0,
			    SP_E_IO, "%s/%s: rename: %s", c->outdir, fin, strerror(errno));
		}
	}
	ENSURE(fsync(c->outfd) == 0, SP_E_IO, "%s: fsync: %s", c->outdir, strerror(errno));
out:
	return res;
}

static void *
writer_main(void *arg)
{
	issue_writer *w = arg;

	w->res = place_chunk(w->c, w->chunk, w->n, w->set);
	if (sp_failed(w->res))
		snprintf(w->msg, sizeof(w->msg), "%s", sp_errmsg());
	return NULL;
}

/* Wait for the writer's chunk: on success its bundles are in place and durable. */
static sp_result
writer_join(issue_writer *w)
{
	if (!w->running)
		return SP_OK;
	pthread_join(w->th, NULL);
	w->running = false;
	if (sp_failed(w->res))
		return sp_error(w->res.code, "%s", w->msg);
	return SP_OK;
}

/* 5. the writer's chunk delivered, inside the caller's transaction */
static sp_result
mark_placed(issue_ctx *c, const issue_writer *w)
{
	sp_result res = SP_OK;

	for (size_t i = 0; i < w->n; i++)
		if (w->chunk[i]->written)
			TRY(sp_cadb_mark_delivered(c->db, w->chunk[i]->new_serial));
out:
	return res;
}

/* After the commit that marked the writer's chunk delivered. */
static void
count_placed(issue_ctx *c, issue_writer *w)
{
	for (size_t i = 0; i < w->n; i++) {
		dev *d = w->chunk[i];
		if (!d->written)
			continue;
		c->st->issued++;
		if (d->replace_dir)
			c->st->replaced++;
		if (c->ndevs <= 20)
			fprintf(c->report, "%s: issued serial %s%s\n", d->mac, d->new_serial,
			    d->revoke_old ? " (old certificate revoked: superseded)" : "");
	}
	w->n = 0;
}

/*
 * One chunk: 1. decide again under the write lock, make and record (rows
 * delivered=0) in one transaction, which also marks the previous chunk
 * delivered once the writer has placed it; then hand this chunk to the
 * writer (2-4).  The order per chunk is as before: rows committed, bundles
 * durable under their final names, rows delivered.
 */
static sp_result
run_chunk(issue_ctx *c, dev **chunk, size_t n)
{
	sp_result res = SP_OK;
	int64_t now = sp_now();
	issue_writer *w = &c->writer;
	size_t set = w->set ^ 1;
	bool in_txn = false;
	int rc;

	TRY(sp_cadb_begin(c->db));
	in_txn = true;
	for (size_t i = 0; i < n; i++) {
		dev *d = chunk[i];
		d->written = false;
		bundle_state(c, d);
		res = decide(c, d);
		if (sp_ok(res) && d->act == A_ISSUE)
			res = make_one(c, d, set * SP_ISSUE_CHUNK + i, now);
		if (sp_failed(res)) {
			if (!is_refusal(res))
				goto out;
			/* Lost a race with a concurrent run: report, go on with the rest. */
			fprintf(stderr, "sprov ca issue: %s%s%zu: %s\n", c->o->csv ? c->o->csv : "",
			    c->o->csv ? ":" : "", d->line, sp_errmsg());
			c->st->refused++;
			res = SP_OK;
			continue;
		}
		if (d->act == A_SKIP) {
			c->st->skipped++;
			if (d->mark_delivered)
				TRY(sp_cadb_mark_delivered(c->db, d->bserial));
			continue;
		}
		d->written = true;
	}
	TRY(writer_join(w));
	TRY(mark_placed(c, w));
	TRY(sp_cadb_commit(c->db));
	in_txn = false;
	count_placed(c, w);

	w->chunk = chunk;
	w->n = n;
	w->set = set;
	rc = pthread_create(&w->th, NULL, writer_main, w);
	ENSURE(rc == 0, SP_E_IO, "cannot start the bundle writer: %s", strerror(rc));
	w->running = true;
out:
	if (in_txn)
		sp_cadb_rollback(c->db);
	return res;
}

/* The last chunk: wait for its bundles, then mark it delivered. */
static sp_result
finish_chunks(issue_ctx *c)
{
	sp_result res = SP_OK;
	issue_writer *w = &c->writer;

	TRY(writer_join(w));
	if (w->n == 0)
		goto out;
	TRY(sp_cadb_begin(c->db));
	res = mark_placed(c, w);
	if (sp_ok(res))
		res = sp_cadb_commit(c->db);
	if (sp_failed(res)) {
		sp_cadb_rollback(c->db);
		goto out;
	}
	count_placed(c, w);
out:
	return res;
}

/* ---- the run ---- */

static sp_result
prepare_outdir(issue_ctx *c)
{
	sp_result res = SP_OK;
	char rp[PATH_MAX];

	if (c->outdir[0] == '\0') {
		TRY(sp_mkdirs(c->o->outdir, 0755));
		ENSURE(realpath(c->o->outdir, rp) != NULL, SP_E_IO, "%s: %s", c->o->outdir,
		    strerror(errno));
		snprintf(c->outdir, sizeof(c->outdir), "%s", rp);
	}
	c->outfd = open(c->outdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ENSURE(c->outfd >= 0, SP_E_IO, "%s: %s", c->outdir, strerror(errno));
	TRY(take_run_lock(c));
	clean_stale(c);
	TRY(make_shared(c));
out:
	return res;
}

sp_result
sp_ca_issue(const sp_issue_opts *o, FILE *report, sp_issue_stats *st)
{
	sp_result res = SP_OK;
	issue_ctx c;
	char p[PATH_MAX], rp[PATH_MAX], crl_dp[SP_CA_CRL_DP_MAX];
	dev **todo = NULL;
	size_t ntodo = 0, nrefused = 0, first_refused = 0;
	char first_msg[1024] = "";
	double secs;
	bool has_fw = false;

	memset(&c, 0, sizeof(c));
	memset(st, 0, sizeof(*st));
	c.o = o;
	c.report = report;
	c.st = st;
	c.outfd = -1;
	c.lockfd = -1;
	c.writer.c = &c;
	c.umask_bits = umask(0);
	umask(c.umask_bits);
	sp_buf_init(&c.server_ca, SP_PEM_MAX);
	sp_buf_init(&c.firmware_ca, SP_PEM_MAX);

	TRY(sp_ca_open_db(o->dir, &c.db));
	TRY(sp_cadb_meta_get(c.db, "org", c.org, sizeof(c.org)));

	/* Input first: a bad line refuses the batch before anything happens. */
	if (o->csv) {
		TRY(sp_issue_read_csv(&c));
	} else {
		TRY_ALLOC(c.devs, calloc(1, sizeof(*c.devs)));
		TRY(sp_issue_check_dev(&c, o->mac, o->serial ? o->serial : "",
		    o->product ? o->product : "", &c.devs[0]));
		c.ndevs = 1;
	}
	if (realpath(o->outdir, rp) != NULL)
		snprintf(c.outdir, sizeof(c.outdir), "%s", rp);

	/*
	 * Read-only pass: refuse the whole run before writing anything.  One read
	 * transaction for it: a lookup per device in autocommit took and dropped
	 * SQLite's shared lock each time (two fcntl and a stat per device).
	 */
	TRY_ALLOC(todo, malloc(c.ndevs * sizeof(*todo)));
	TRY(sp_cadb_begin_read(c.db));
	for (size_t i = 0; i < c.ndevs; i++) {
		dev *d = &c.devs[i];
		bundle_state(&c, d);
		res = decide(&c, d);
		if (sp_failed(res)) {
			if (!is_refusal(res))
				goto out;
			if (nrefused++ == 0) {
				first_refused = d->line;
				snprintf(first_msg, sizeof(first_msg), "%s", sp_errmsg());
			}
			res = SP_OK;
			continue;
		}
		if (d->act == A_ISSUE || d->mark_delivered)
			todo[ntodo++] = d;
		else if (d->act == A_SKIP)
			st->skipped++;
	}
	sp_cadb_rollback(c.db);    /* end the read transaction */
	if (nrefused) {
		st->refused = nrefused;
		if (o->csv)
			res = sp_error(SP_E_POLICY, "%s:%zu: %s%s", o->csv, first_refused,
			    first_msg, nrefused > 1 ? " (and more devices refused; nothing "
			    "issued)" : "");
		else
			res = sp_error(SP_E_POLICY, "%s", first_msg);
		goto out;
	}

	if (ntodo > 0) {
		TRY(sp_ca_path(o->dir, SP_CA_SERVER_CRT, p, sizeof(p)));
		TRY(sp_read_file(p, SP_PEM_MAX, &c.server_ca));
		/* The device trusts it for firmware as it trusts server-ca.crt for servers. */
		TRY(sp_ca_has_firmware_key(o->dir, &has_fw));
		if (has_fw) {
			TRY(sp_ca_path(o->dir, SP_CA_FIRMWARE_CRT, p, sizeof(p)));
			TRY(sp_read_file(p, SP_PEM_MAX, &c.firmware_ca));
		}
		TRY(sp_ca_load_root(o->dir, c.db, SP_ROOT_DEVICE, o->pin_file, &c.ca, &c.ca_key));
		TRY(sp_ca_crl_dp(c.db, true, crl_dp));
		TRY(sp_devcert_maker_new(c.ca, c.ca_key, crl_dp, &c.maker));
		TRY(sp_keygen_new(o->key_type, &c.kg));
		TRY_ALLOC(c.keys, calloc(2 * SP_ISSUE_CHUNK, sizeof(*c.keys)));
		TRY_ALLOC(c.certs, calloc(2 * SP_ISSUE_CHUNK, sizeof(*c.certs)));
		for (size_t i = 0; i < 2 * SP_ISSUE_CHUNK; i++) {
			sp_buf_init(&c.keys[i], SP_PEM_MAX);
			sp_buf_init(&c.certs[i], SP_PEM_MAX);
		}
		TRY(prepare_outdir(&c));
		c.t0 = sp_mono_ns();
		c.done_for_progress = st->skipped;
		for (size_t i = 0; i < ntodo; i += SP_ISSUE_CHUNK) {
			size_t n = ntodo - i < SP_ISSUE_CHUNK ? ntodo - i : SP_ISSUE_CHUNK;
			TRY(run_chunk(&c, todo + i, n));
			c.done_for_progress += n;
			if ((c.ndevs > SP_ISSUE_CHUNK || o->progress_bar) && i + n < ntodo)
				progress(&c, false);
		}
		TRY(finish_chunks(&c));
		if (c.ndevs > SP_ISSUE_CHUNK || o->progress_bar)
			progress(&c, true);
	}
	if (!o->csv && st->skipped)
		fprintf(report, "%s: already issued (serial %s), bundle complete in %s; "
		    "skipped\n", c.devs[0].mac, c.devs[0].bserial, o->outdir);
	secs = c.t0 ? (double)(sp_mono_ns() - c.t0) / 1e9 : 0;
	fprintf(report, "issued %zu, skipped %zu (already issued, bundle complete in %s)"
	    "%s", st->issued, st->skipped, o->outdir, st->refused ? "" : "\n");
	if (st->refused)
		fprintf(report, ", refused %zu\n", st->refused);
	if (st->issued >= 100 && secs > 0)
		fprintf(report, "%.2f s, %.0f devices/s\n", secs, (double)st->issued / secs);
out:
	/*
	 * Failed with the writer still placing a chunk: wait for it before its
	 * buffers, directories and descriptor go (joined directly, so that the
	 * run's first error stays the one reported), then remove what the run
	 * left half-made.
	 */
	if (c.writer.running) {
		pthread_join(c.writer.th, NULL);
		c.writer.running = false;
	}
	if (sp_failed(res))
		clean_own(&c);
	if (c.db)
		sp_cadb_rollback(c.db);
	if (c.shared[0])
		rm_rf_at(c.outfd, c.shared);
	if (c.lockfd >= 0) {
		unlink(c.lockpath);
		close(c.lockfd);
	}
	if (c.outfd >= 0)
		close(c.outfd);
	if (c.keys)
		for (size_t i = 0; i < 2 * SP_ISSUE_CHUNK; i++)
			sp_buf_free_secret(&c.keys[i]);
	if (c.certs)
		for (size_t i = 0; i < 2 * SP_ISSUE_CHUNK; i++)
			sp_buf_free(&c.certs[i]);
	free(c.keys);
	free(c.certs);
	free(todo);
	free(c.devs);
	sp_buf_free(&c.server_ca);
	sp_buf_free(&c.firmware_ca);
	sp_keygen_free(c.kg);
	sp_devcert_maker_free(c.maker);
	X509_free(c.ca);
	EVP_PKEY_free(c.ca_key);
	sp_cadb_close(c.db);
	return res;
}
