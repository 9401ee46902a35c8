/*
 * The serving process' end of the key process (keyproc.h): starting it,
 * and the round-trips.  Each round-trip takes a channel (a socketpair of
 * its own) from a pool and gives it back after the answer, so worker
 * threads sign concurrently and no lock is held across a round-trip.
 */
#include "keyproc/keyproc.h"
#include "keyproc/keyproc_internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "common/log.h"

struct sp_keyproc {
	pid_t pid;
	int nchan;
	int fds[SP_KP_CHANNELS_MAX];     /* -1: closed */
	pthread_mutex_t mu;              /* free, nfree, live */
	pthread_cond_t cv;
	int free[SP_KP_CHANNELS_MAX];
	int nfree, live;
	char *files[SP_KP_SLOTS_MAX];
	size_t nfiles;
	int ctl;                         /* control socket; -1: detached */
	void (*lost_fn)(void *);         /* sp_keyproc_on_lost */
	void *lost_arg;
};

void
sp_keyproc_on_lost(sp_keyproc *kp, void (*fn)(void *), void *arg)
{
	kp->lost_fn = fn;
	kp->lost_arg = arg;
}

pid_t
sp_keyproc_pid(const sp_keyproc *kp)
{
	return kp->pid;
}

/* A free channel, or -1 when every one is broken. */
static int
chan_get(sp_keyproc *kp)
{
	int fd = -1;

	pthread_mutex_lock(&kp->mu);
	while (kp->nfree == 0 && kp->live > 0)
		pthread_cond_wait(&kp->cv, &kp->mu);
	if (kp->nfree > 0)
		fd = kp->free[--kp->nfree];
	pthread_mutex_unlock(&kp->mu);
	return fd;
}

/* Back to the pool; a broken one (a lost or late answer) is closed instead. */
static void
chan_put(sp_keyproc *kp, int fd, bool broken)
{
	void (*lost)(void *) = NULL;

	pthread_mutex_lock(&kp->mu);
	if (broken) {
		kp->live--;
		/* A late answer would be taken for the next request's: never reuse it. */
		sp_err("key process: a channel failed and is closed; %d of %d left%s",
		    kp->live, kp->nchan, kp->live == 0 ? ": no handshake can be signed" : "");
		for (int i = 0; i < kp->nchan; i++)
			if (kp->fds[i] == fd)
				kp->fds[i] = -1;
		close(fd);
		if (kp->live == 0)
			lost = kp->lost_fn;
	} else {
		kp->free[kp->nfree++] = fd;
	}
	pthread_cond_broadcast(&kp->cv);
	pthread_mutex_unlock(&kp->mu);
	if (lost != NULL)
		lost(kp->lost_arg);
}

/*
 * Our end of a channel or of the control socket: a receive that waits no
 * longer than SP_KP_TIMEOUT_MS, so a round trip is one send and one recv
 * (no poll: every system call here is paid per handshake).
 */
static sp_result
chan_timeout(int fd)
{
	struct timeval tv = { .tv_sec = SP_KP_TIMEOUT_MS / 1000,
	    .tv_usec = (SP_KP_TIMEOUT_MS % 1000) * 1000 };

	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0)
		return sp_error(SP_E_IO, "key process: SO_RCVTIMEO: %s", strerror(errno));
	return SP_OK;
}

/* One message from fd within the timeout into buf (SP_KP_RESP_MAX). */
static sp_result
recv_answer(int fd, uint8_t *buf, size_t *len)
{
	uint8_t tmp[SP_KP_RESP_MAX + 1];
	ssize_t got;

	while ((got = recv(fd, tmp, sizeof(tmp), MSG_TRUNC)) < 0 && errno == EINTR)
		;
	if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return sp_error(SP_E_IO, "key process: no answer within %d ms",
		    SP_KP_TIMEOUT_MS);
	if (got <= 0)
		return sp_error(SP_E_IO, "key process: %s", got == 0 ? "gone" : strerror(errno));
	if ((size_t)got > SP_KP_RESP_MAX)
		return sp_error(SP_E_PARSE, "keyproc: answer of %zd bytes (max %d)", got,
		    SP_KP_RESP_MAX);
	memcpy(buf, tmp, (size_t)got);
	*len = (size_t)got;
	return SP_OK;
}

/* A refused answer as our error, with the key process' message. */
static sp_result
refusal(const sp_kp_resp *rs)
{
	char m[SP_KP_MSG_MAX + 1];

	if (rs->status == SP_KP_ST_OK)
		return SP_OK;
	memcpy(m, rs->data ? (const char *)rs->data : "", rs->len);
	m[rs->len] = '\0';
	return sp_error(rs->status == SP_KP_ST_NOKEY ? SP_E_NOTFOUND : SP_E_CRYPTO,
	    "key process: %s", m);
}

/*
 * Send rq, parse the answer into *rs (pointing into buf).  A refusal comes
 * back as an error with the key process' message.
 */
static sp_result
roundtrip(sp_keyproc *kp, const sp_kp_req *rq, uint8_t *buf, sp_kp_resp *rs)
{
	sp_result res = SP_OK;
	uint8_t msg[SP_KP_REQ_MAX];
	size_t len = 0;
	ssize_t sent;
	int fd = -1;
	bool broken = true;

	TRY(sp_kp_req_encode(rq, msg, &len));
	fd = chan_get(kp);
	ENSURE(fd >= 0, SP_E_IO, "key process: no channel left (it is gone)");
	while ((sent = send(fd, msg, len, MSG_NOSIGNAL)) < 0 && errno == EINTR)
		;
	ENSURE(sent == (ssize_t)len, SP_E_IO, "key process: %s", sent >= 0 ? "short send" :
	    errno == EPIPE || errno == ECONNRESET ? "gone" : strerror(errno));
	TRY(recv_answer(fd, buf, &len));
	broken = false;
	TRY(sp_kp_resp_parse(buf, len, rs));
	TRY(refusal(rs));
	ENSURE(rq->op != SP_KP_OP_SIGN || rs->id == rq->id, SP_E_PARSE,
	    "key process: answer for key %u, asked %u", rs->id, rq->id);
out:
	if (fd >= 0)
		chan_put(kp, fd, broken);
	OPENSSL_cleanse(msg, sizeof(msg));
	return res;
}

sp_result
sp_keyproc_start(const char *const *key_files, size_t n, int nchan, bool sandbox,
    sp_keyproc **out)
{
	sp_result res = SP_OK;
	sp_keyproc *kp = NULL;
	int child[SP_KP_CHANNELS_MAX], ctl[2] = { -1, -1 };
	uint8_t buf[SP_KP_RESP_MAX];
	size_t len = 0;
	sp_kp_resp rs;

	ENSURE(n >= 1 && n <= SP_KP_SLOTS_MAX, SP_E_USAGE, "key process: %zu key files "
	    "(1..%d)", n, SP_KP_SLOTS_MAX);
	nchan = nchan < 1 ? 1 : nchan > SP_KP_CHANNELS_MAX ? SP_KP_CHANNELS_MAX : nchan;
	for (int i = 0; i < nchan; i++)
		child[i] = -1;
	TRY_ALLOC(kp, calloc(1, sizeof(*kp)));
	kp->pid = -1;
	kp->ctl = -1;
	pthread_mutex_init(&kp->mu, NULL);
	pthread_cond_init(&kp->cv, NULL);
	for (int i = 0; i < SP_KP_CHANNELS_MAX; i++)
		kp->fds[i] = -1;
	for (size_t i = 0; i < n; i++) {
		TRY_ALLOC(kp->files[i], strdup(key_files[i]));
		kp->nfiles = i + 1;
	}
	for (int i = 0; i < nchan; i++) {
		int sv[2];

		ENSURE(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0, SP_E_IO,
		    "key process: socketpair: %s", strerror(errno));
		kp->fds[i] = sv[0];
		child[i] = sv[1];
		kp->nchan = i + 1;
		TRY(chan_timeout(sv[0]));
	}
	ENSURE(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ctl) == 0, SP_E_IO,
	    "key process: socketpair: %s", strerror(errno));
	kp->ctl = ctl[0];
	ctl[0] = -1;
	TRY(chan_timeout(kp->ctl));
	kp->pid = fork();
	ENSURE(kp->pid >= 0, SP_E_IO, "key process: fork: %s", strerror(errno));
	if (kp->pid == 0)
		sp_kp_child(key_files, n, child, nchan, ctl[1], sandbox);
	for (int i = 0; i < nchan; i++) {
		close(child[i]);
		child[i] = -1;
		kp->free[kp->nfree++] = kp->fds[i];
	}
	kp->live = nchan;
	TRY(recv_answer(kp->fds[0], buf, &len));
	TRY(sp_kp_resp_parse(buf, len, &rs));
	TRY(refusal(&rs));
	ENSURE(rs.len == sizeof(SP_KP_READY) - 1 && memcmp(rs.data, SP_KP_READY, rs.len) == 0,
	    SP_E_PARSE, "key process: unexpected first answer");
	*out = kp;
	kp = NULL;
out:
	for (int i = 0; i < nchan; i++)
		if (child[i] >= 0)
			close(child[i]);
	if (ctl[1] >= 0)
		close(ctl[1]);
	sp_keyproc_free(kp);
	return res;
}

/* Close this process' channels (the key process drops its ends). */
static void
chan_close_all(sp_keyproc *kp)
{
	for (int i = 0; i < kp->nchan; i++)
		if (kp->fds[i] >= 0)
			close(kp->fds[i]);
	for (int i = 0; i < SP_KP_CHANNELS_MAX; i++)
		kp->fds[i] = -1;
	kp->nfree = kp->live = 0;
}

sp_result
sp_keyproc_renew(sp_keyproc *kp)
{
	sp_result res = SP_OK;
	int peer[SP_KP_CHANNELS_MAX], n = 0;
	char cbuf[CMSG_SPACE(SP_KP_CHANNELS_MAX * sizeof(int))];
	uint8_t b = 'c', buf[SP_KP_RESP_MAX];
	struct iovec iov = { .iov_base = &b, .iov_len = 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf };
	struct cmsghdr *c;
	size_t len = 0;
	ssize_t sent;
	sp_kp_resp rs;

	ENSURE(kp->ctl >= 0, SP_E_STATE, "key process: no control socket here");
	chan_close_all(kp);
	for (n = 0; n < kp->nchan; n++) {
		int sv[2];

		ENSURE(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0, SP_E_IO,
		    "key process: socketpair: %s", strerror(errno));
		kp->fds[n] = sv[0];
		peer[n] = sv[1];
	}
	for (int i = 0; i < n; i++)
		TRY(chan_timeout(kp->fds[i]));
	memset(cbuf, 0, sizeof(cbuf));
	mh.msg_controllen = CMSG_SPACE((size_t)n * sizeof(int));
	c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN((size_t)n * sizeof(int));
	memcpy(CMSG_DATA(c), peer, (size_t)n * sizeof(int));
	while ((sent = sendmsg(kp->ctl, &mh, MSG_NOSIGNAL)) < 0 && errno == EINTR)
		;
	ENSURE(sent == 1, SP_E_IO, "key process: new channels: %s",
	    sent < 0 ? strerror(errno) : "short send");
	TRY(sp_error_wrap(recv_answer(kp->ctl, buf, &len), "key process: new channels"));
	TRY(sp_kp_resp_parse(buf, len, &rs));
	TRY(refusal(&rs));
	for (int i = 0; i < kp->nchan; i++)
		kp->free[kp->nfree++] = kp->fds[i];
	kp->live = kp->nchan;
out:
	for (int i = 0; i < n; i++)
		close(peer[i]);
	if (sp_failed(res) && kp->ctl >= 0) /* half a set is no set */
		chan_close_all(kp);
	return res;
}

void
sp_keyproc_release(sp_keyproc *kp)
{
	chan_close_all(kp);
}

void
sp_keyproc_detach(sp_keyproc *kp)
{
	if (kp->ctl >= 0)
		close(kp->ctl);
	kp->ctl = -1;
	kp->pid = -1;
}

void
sp_keyproc_free(sp_keyproc *kp)
{
	if (kp == NULL)
		return;
	for (int i = 0; i < kp->nchan; i++)
		if (kp->fds[i] >= 0)
			close(kp->fds[i]);
	if (kp->ctl >= 0)
		close(kp->ctl);
	if (kp->pid > 0) {
		int st;

		while (waitpid(kp->pid, &st, 0) < 0 && errno == EINTR)
			;
	}
	for (size_t i = 0; i < kp->nfiles; i++)
		free(kp->files[i]);
	pthread_cond_destroy(&kp->cv);
	pthread_mutex_destroy(&kp->mu);
	free(kp);
}

sp_result
sp_keyproc_load(sp_keyproc *kp, const char *key_file, uint32_t *id, sp_buf *spki)
{
	sp_result res = SP_OK;
	sp_kp_req rq = { .op = SP_KP_OP_LOAD };
	sp_kp_resp rs;
	uint8_t buf[SP_KP_RESP_MAX];
	size_t slot = kp->nfiles;

	for (size_t i = 0; i < kp->nfiles; i++)
		if (strcmp(kp->files[i], key_file) == 0)
			slot = i;
	ENSURE(slot < kp->nfiles, SP_E_STATE, "server key %s: the key process holds %s; a "
	    "new key path takes a restart", key_file, kp->files[0]);
	rq.id = (uint32_t)slot;
	TRY(sp_error_wrap(roundtrip(kp, &rq, buf, &rs), "server key %s", key_file));
	*id = rs.id;
	TRY(sp_buf_append(spki, rs.data, rs.len));
out:
	return res;
}

sp_result
sp_keyproc_sign(sp_keyproc *kp, uint32_t id, sp_kp_alg alg, sp_kp_md md,
    const uint8_t *in, size_t inlen, uint8_t *sig, size_t *siglen)
{
	sp_result res = SP_OK;
	sp_kp_req rq = { .op = SP_KP_OP_SIGN, .alg = alg, .md = md, .id = id, .in = in,
	    .inlen = inlen };
	sp_kp_resp rs;
	uint8_t buf[SP_KP_RESP_MAX];

	TRY(roundtrip(kp, &rq, buf, &rs));
	ENSURE(rs.len <= *siglen, SP_E_LIMIT, "key process: signature of %zu bytes, room "
	    "for %zu", rs.len, *siglen);
	memcpy(sig, rs.data, rs.len);
	*siglen = rs.len;
out:
	return res;
}
