/*
 * The key process: holds the server's private keys and signs with them.
 * See keyproc.h.  It owns no network socket, reads only the key files it
 * was started with, and answers one request per message.
 */
#include "keyproc/keyproc.h"
#include "keyproc/keyproc_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "common/util.h"

/*
 * Signing contexts kept initialised per (algorithm, digest): OpenSSL 3
 * fetches the signature implementation from the provider on every
 * EVP_PKEY_sign_init (name-map walks and string compares), which perf put
 * at about a third of the key process' CPU per handshake.  EVP_PKEY_sign
 * may be called again on an initialised context.
 */
#define KP_CTX_N (SP_KP_ALG_N * SP_KP_MD_N)

typedef struct kp_key {
	EVP_PKEY *pk;          /* NULL: a free entry */
	EVP_PKEY_CTX *ctx[KP_CTX_N]; /* by alg * SP_KP_MD_N + md; NULL: none yet */
	uint32_t id;
	int slot;
	uint64_t loaded;       /* when, in loads: the oldest is replaced first */
	unsigned char *spki;
	int spki_len;
} kp_key;

struct sp_kp_keys {
	char *files[SP_KP_SLOTS_MAX];
	size_t nfiles;
	kp_key keys[SP_KP_KEYS_MAX];
	uint32_t next_id;
	uint64_t loads;
};

static void
key_clear(kp_key *k)
{
	for (int i = 0; i < KP_CTX_N; i++)
		EVP_PKEY_CTX_free(k->ctx[i]);
	EVP_PKEY_free(k->pk);
	OPENSSL_free(k->spki);
	memset(k, 0, sizeof(*k));
}

/* Encrypted key files are refused, never prompted for. */
static int
no_passphrase(char *buf, int size, int rwflag, void *u)
{
	return 0;
}

static sp_result
key_read(const char *path, EVP_PKEY **out)
{
	sp_result res = SP_OK;
	sp_buf pem;
	BIO *bio = NULL;
	int id;

	sp_buf_init_secret(&pem, SP_KP_FILE_MAX);
	*out = NULL;
	TRY(sp_read_file_secret(path, SP_KP_FILE_MAX, &pem));
	TRY_OSSL_PTR(bio, BIO_new_mem_buf(pem.p ? pem.p : "", (int)pem.len), "server key %s",
	    path);
	TRY_OSSL_PTR(*out, PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL),
	    "server key %s", path);
	id = EVP_PKEY_get_base_id(*out);
	ENSURE(id == EVP_PKEY_EC || id == EVP_PKEY_RSA, SP_E_POLICY,
	    "server key %s: the key process holds EC and RSA keys only", path);
out:
	if (sp_failed(res)) {
		EVP_PKEY_free(*out);
		*out = NULL;
	}
	BIO_free(bio);
	sp_buf_free_secret(&pem);
	return res;
}

/* Load the slot's file; *id: its key (the same key keeps its id). */
static sp_result
slot_load(sp_kp_keys *ks, uint32_t slot, kp_key **found)
{
	sp_result res = SP_OK;
	EVP_PKEY *pk = NULL;
	unsigned char *spki = NULL;
	int len;
	kp_key *k = NULL;

	ENSURE(slot < ks->nfiles, SP_E_NOTFOUND, "no key file in slot %u", slot);
	TRY(key_read(ks->files[slot], &pk));
	TRY_OSSL((len = i2d_PUBKEY(pk, &spki)) > 0, "server key %s: public key", ks->files[slot]);
	ENSURE(len <= SP_KP_OUT_MAX, SP_E_LIMIT, "server key %s: public key of %d bytes",
	    ks->files[slot], len);
	ks->loads++;
	for (int i = 0; i < SP_KP_KEYS_MAX; i++) {
		kp_key *e = &ks->keys[i];
		if (e->pk != NULL && e->slot == (int)slot && e->spki_len == len &&
		    memcmp(e->spki, spki, (size_t)len) == 0) {
			e->loaded = ks->loads;
			*found = e;
			goto out;
		}
	}
	for (int i = 0; i < SP_KP_KEYS_MAX; i++)
		if (k == NULL || ks->keys[i].pk == NULL ||
		    (k->pk != NULL && ks->keys[i].loaded < k->loaded))
			k = &ks->keys[i];
	key_clear(k);
	k->pk = pk;
	k->spki = spki;
	k->spki_len = len;
	k->slot = (int)slot;
	k->loaded = ks->loads;
	k->id = ++ks->next_id;
	pk = NULL;
	spki = NULL;
	*found = k;
out:
	EVP_PKEY_free(pk);
	OPENSSL_free(spki);
	return res;
}

sp_result
sp_kp_keys_new(const char *const *key_files, size_t n, sp_kp_keys **out)
{
	sp_result res = SP_OK;
	sp_kp_keys *ks = NULL;
	kp_key *k;

	ENSURE(n >= 1 && n <= SP_KP_SLOTS_MAX, SP_E_USAGE, "key process: %zu key files "
	    "(1..%d)", n, SP_KP_SLOTS_MAX);
	TRY_ALLOC(ks, calloc(1, sizeof(*ks)));
	for (size_t i = 0; i < n; i++) {
		TRY_ALLOC(ks->files[i], strdup(key_files[i]));
		ks->nfiles = i + 1;
	}
	for (size_t i = 0; i < n; i++)
		TRY(slot_load(ks, (uint32_t)i, &k));
	*out = ks;
	ks = NULL;
out:
	sp_kp_keys_free(ks);
	return res;
}

void
sp_kp_keys_free(sp_kp_keys *ks)
{
	if (ks == NULL)
		return;
	for (int i = 0; i < SP_KP_KEYS_MAX; i++)
		key_clear(&ks->keys[i]);
	for (size_t i = 0; i < ks->nfiles; i++)
		free(ks->files[i]);
	free(ks);
}

static const EVP_MD *
md_of(sp_kp_md md)
{
	switch (md) {
	case SP_KP_MD_SHA1:
		return EVP_sha1();
	case SP_KP_MD_SHA256:
		return EVP_sha256();
	case SP_KP_MD_SHA384:
		return EVP_sha384();
	case SP_KP_MD_SHA512:
		return EVP_sha512();
	default:
		return NULL;
	}
}

/* A context for k, rq's algorithm and digest, initialised for signing. */
static sp_result
key_ctx(kp_key *k, const sp_kp_req *rq, EVP_PKEY_CTX **out)
{
	sp_result res = SP_OK;
	EVP_PKEY_CTX *ctx = NULL;
	const EVP_MD *md = md_of(rq->md);
	size_t i = (size_t)rq->alg * SP_KP_MD_N + (size_t)rq->md;

	ENSURE(rq->alg < SP_KP_ALG_N && rq->md < SP_KP_MD_N, SP_E_POLICY,
	    "unknown algorithm or digest");
	if ((*out = k->ctx[i]) != NULL)
		goto out;
	TRY_OSSL_PTR(ctx, EVP_PKEY_CTX_new(k->pk, NULL), "sign");
	TRY_OSSL(EVP_PKEY_sign_init(ctx), "sign");
	switch (rq->alg) {
	case SP_KP_RSA_RAW:
		TRY_OSSL(EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_NO_PADDING), "sign");
		break;
	case SP_KP_RSA_PKCS1:
		TRY_OSSL(EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING), "sign");
		if (md != NULL)
			TRY_OSSL(EVP_PKEY_CTX_set_signature_md(ctx, md), "sign");
		break;
	case SP_KP_RSA_PSS:
		TRY_OSSL(EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PSS_PADDING), "sign");
		TRY_OSSL(EVP_PKEY_CTX_set_signature_md(ctx, md), "sign");
		TRY_OSSL(EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, md), "sign");
		TRY_OSSL(EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, RSA_PSS_SALTLEN_DIGEST), "sign");
		break;
	default:
		break;
	}
	*out = k->ctx[i] = ctx;
	ctx = NULL;
out:
	EVP_PKEY_CTX_free(ctx);
	return res;
}

static sp_result
key_sign(kp_key *k, const sp_kp_req *rq, uint8_t *sig, size_t *siglen)
{
	sp_result res = SP_OK;
	EVP_PKEY_CTX *ctx = NULL;
	bool ec = EVP_PKEY_get_base_id(k->pk) == EVP_PKEY_EC;
	size_t need = (size_t)EVP_PKEY_get_size(k->pk);

	ENSURE(ec == (rq->alg == SP_KP_ECDSA), SP_E_POLICY, "key %u is %s, not for this "
	    "algorithm", k->id, ec ? "EC" : "RSA");
	ENSURE(need <= *siglen, SP_E_LIMIT, "signature of %zu bytes", need);
	ENSURE(rq->alg != SP_KP_RSA_RAW || rq->inlen == need, SP_E_POLICY,
	    "raw RSA input of %zu bytes, key of %zu", rq->inlen, need);
	ENSURE(rq->alg != SP_KP_RSA_RAW || sp_kp_raw_is_pss(rq->in, rq->inlen,
	    EVP_PKEY_get_bits(k->pk)), SP_E_POLICY, "raw RSA input is not a TLS "
	    "RSA-PSS encoding: the key process signs, it does not decrypt");
	TRY(key_ctx(k, rq, &ctx));
	TRY_OSSL(EVP_PKEY_sign(ctx, sig, siglen, rq->in, rq->inlen), "sign with key %u",
	    k->id);
out:
	ERR_clear_error();
	return res;
}

/* An error answer: the message made printable and cut to size. */
static size_t
answer_err(sp_kp_status st, uint32_t id, uint8_t *resp)
{
	uint8_t msg[SP_KP_MSG_MAX];
	const char *m = sp_errmsg();
	size_t n = 0, len = 0;
	sp_kp_resp r = { .status = st, .id = id, .data = msg };

	while (m[n] != '\0' && n < sizeof(msg)) {
		msg[n] = (uint8_t)m[n] >= 0x20 && (uint8_t)m[n] <= 0x7e ? (uint8_t)m[n] : '?';
		n++;
	}
	r.len = n;
	if (sp_failed(sp_kp_resp_encode(&r, resp, &len)))
		abort(); /* our own answer: a bug */
	return len;
}

size_t
sp_kp_answer(sp_kp_keys *ks, const uint8_t *msg, size_t len, uint8_t *resp)
{
	sp_kp_req rq;
	kp_key *k = NULL;
	uint8_t sig[SP_KP_OUT_MAX];
	size_t siglen = sizeof(sig), n = 0;
	sp_kp_resp r = { .status = SP_KP_ST_OK };

	if (sp_failed(sp_kp_req_parse(msg, len, &rq)))
		return answer_err(SP_KP_ST_BADREQ, 0, resp);
	if (rq.op == SP_KP_OP_LOAD) {
		if (sp_failed(slot_load(ks, rq.id, &k)))
			return answer_err(rq.id < ks->nfiles ? SP_KP_ST_FAILED : SP_KP_ST_NOKEY,
			    rq.id, resp);
		r.id = k->id;
		r.data = k->spki;
		r.len = (size_t)k->spki_len;
	} else {
		for (int i = 0; i < SP_KP_KEYS_MAX; i++)
			if (ks->keys[i].pk != NULL && ks->keys[i].id == rq.id)
				k = &ks->keys[i];
		if (k == NULL) {
			(void)sp_error(SP_E_NOTFOUND, "no key %u", rq.id);
			return answer_err(SP_KP_ST_NOKEY, rq.id, resp);
		}
		if (sp_failed(key_sign(k, &rq, sig, &siglen)))
			return answer_err(SP_KP_ST_FAILED, rq.id, resp);
		r.id = rq.id;
		r.data = sig;
		r.len = siglen;
	}
	if (sp_failed(sp_kp_resp_encode(&r, resp, &n)))
		abort();
	OPENSSL_cleanse(sig, sizeof(sig));
	return n;
}

/* --- the process --- */

static void
child_send(int fd, const uint8_t *resp, size_t len)
{
	while (send(fd, resp, len, MSG_NOSIGNAL) < 0 && errno == EINTR)
		;
}

/* Channels to 3..3+n-1, stdin and stdout to /dev/null, everything else closed. */
static bool
child_fds(const int *fds, int n, int *out)
{
	int hi[SP_KP_CHANNELS_MAX], nul;

	for (int i = 0; i < n; i++)
		if ((hi[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 3 + n)) < 0)
			return false;
	for (int i = 0; i < n; i++) {
		if (dup3(hi[i], 3 + i, O_CLOEXEC) < 0)
			return false;
		out[i] = 3 + i;
	}
	if (close_range((unsigned)(3 + n), ~0U, 0) != 0)
		return false;
	if ((nul = open("/dev/null", O_RDWR | O_CLOEXEC)) < 0)
		return false;
	(void)dup2(nul, 0);
	(void)dup2(nul, 1);
	if (nul > 2)
		close(nul);
	return true;
}

/*
 * A new set of channels from ctl (SCM_RIGHTS) into the free entries of
 * pfd[1..]: 1 taken, 0 refused (no room), -1 ctl closed.
 */
static int
child_adopt(int ctl, struct pollfd *pfd, int npfd, int *live)
{
	uint8_t b;
	char cbuf[CMSG_SPACE(SP_KP_CHANNELS_MAX * sizeof(int))];
	struct iovec iov = { .iov_base = &b, .iov_len = 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
	    .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *c;
	ssize_t got;
	bool ok = true;

	while ((got = recvmsg(ctl, &mh, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR)
		;
	if (got <= 0)
		return got < 0 && errno == EAGAIN ? 0 : -1;
	for (c = CMSG_FIRSTHDR(&mh); c != NULL; c = CMSG_NXTHDR(&mh, c)) {
		int nfd, fds[SP_KP_CHANNELS_MAX];

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		nfd = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		memcpy(fds, CMSG_DATA(c), (size_t)nfd * sizeof(int));
		for (int i = 0, j = 1; i < nfd; i++) {
			while (j < npfd && pfd[j].fd >= 0)
				j++;
			if (j == npfd) { /* no room: refused, the sender hears it */
				close(fds[i]);
				ok = false;
				continue;
			}
			pfd[j] = (struct pollfd){ .fd = fds[i], .events = POLLIN };
			(*live)++;
		}
	}
	return ok && (mh.msg_flags & MSG_CTRUNC) == 0 ? 1 : 0;
}

void
sp_kp_child(const char *const *key_files, size_t nfiles, const int *fds, int n, int ctl,
    bool sandbox)
{
	sp_kp_keys *ks = NULL;
	int all[SP_KP_CHANNELS_MAX + 1], ch[SP_KP_CHANNELS_MAX + 1];
	/* [0]: the control socket; then room for two sets of channels (old, new) */
	struct pollfd pfd[1 + 2 * SP_KP_CHANNELS_MAX];
	const int npfd = 1 + 2 * SP_KP_CHANNELS_MAX;
	uint8_t req[SP_KP_REQ_MAX + 1], resp[SP_KP_RESP_MAX], rdy[SP_KP_RESP_MAX];
	int live = n;
	size_t len, rlen;
	sp_kp_resp ready = { .status = SP_KP_ST_OK, .data = (const uint8_t *)SP_KP_READY,
	    .len = sizeof(SP_KP_READY) - 1 };

	/* Outlive no parent; keep /proc/PID/mem and ptrace out for other users. */
	(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
	(void)prctl(PR_SET_DUMPABLE, 0);
	(void)prctl(PR_SET_NAME, "sprov-keyproc");
	/* Ends when the serving side closes its channels, not on the group's signals. */
	signal(SIGHUP, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	signal(SIGUSR1, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	if (n < 1 || n > SP_KP_CHANNELS_MAX)
		_exit(70);
	memcpy(all, fds, (size_t)n * sizeof(int));
	all[n] = ctl;
	if (!child_fds(all, n + 1, ch))
		_exit(70);
	if (sp_failed(sp_kp_keys_new(key_files, nfiles, &ks)) ||
	    (sandbox && sp_failed(sp_kp_sandbox()))) {
		len = answer_err(SP_KP_ST_FAILED, 0, resp);
		child_send(ch[0], resp, len);
		_exit(1);
	}
	if (sp_failed(sp_kp_resp_encode(&ready, rdy, &rlen)))
		_exit(70);
	child_send(ch[0], rdy, rlen);
	for (int i = 0; i < npfd; i++)
		pfd[i] = (struct pollfd){ .fd = -1 };
	pfd[0] = (struct pollfd){ .fd = ch[n], .events = POLLIN };
	for (int i = 0; i < n; i++)
		pfd[1 + i] = (struct pollfd){ .fd = ch[i], .events = POLLIN };
	/* Until the control socket and every channel are closed. */
	while (live > 0 || pfd[0].fd >= 0) {
		int top = npfd; /* poll only up to the last open entry */

		while (top > 1 && pfd[top - 1].fd < 0)
			top--;
		if (poll(pfd, (nfds_t)top, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		/* Channels first: a dead serving process' ones close before a new set comes. */
		for (int i = 1; i < top; i++) {
			ssize_t got;

			if (pfd[i].fd < 0 || pfd[i].revents == 0)
				continue;
			got = recv(pfd[i].fd, req, sizeof(req), MSG_TRUNC | MSG_DONTWAIT);
			if (got < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			if (got <= 0) { /* closed: this channel is done */
				close(pfd[i].fd);
				pfd[i].fd = -1;
				live--;
				continue;
			}
			/* MSG_TRUNC: got is the real length, so an oversized one fails parse. */
			len = sp_kp_answer(ks, req, (size_t)got, resp);
			OPENSSL_cleanse(req, sizeof(req));
			child_send(pfd[i].fd, resp, len);
		}
		if (pfd[0].fd >= 0 && pfd[0].revents != 0) {
			int got = child_adopt(pfd[0].fd, pfd, npfd, &live);

			if (got < 0) { /* the supervisor is gone: end with the last channel */
				close(pfd[0].fd);
				pfd[0].fd = -1;
				continue;
			}
			if (got == 0) {
				(void)sp_error(SP_E_LIMIT, "no room for a new set of channels");
				len = answer_err(SP_KP_ST_FAILED, 0, resp);
				child_send(pfd[0].fd, resp, len);
			} else {
				child_send(pfd[0].fd, rdy, rlen);
			}
		}
	}
	sp_kp_keys_free(ks);
	_exit(0);
}
