/* The key process (keyproc.c), its client (client.c) and the OpenSSL
 * delegating key (ossl_key.c): every answer checked with the public key. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "common/util.h"
#include "keyproc/keyproc.h"

static char dir[64], eckey[128], rsakey[128], bad[128], enc[128];

static int
sh(const char *cmd)
{
	char buf[2048];

	snprintf(buf, sizeof(buf), "cd %s && ( %s ) >/dev/null 2>&1", dir, cmd);
	return system(buf);
}

static int
setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/sprov-keyproc.XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(eckey, sizeof(eckey), "%s/ec.pem", dir);
	snprintf(rsakey, sizeof(rsakey), "%s/rsa.pem", dir);
	snprintf(bad, sizeof(bad), "%s/bad.pem", dir);
	snprintf(enc, sizeof(enc), "%s/enc.pem", dir);
	return sh("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ec.pem && "
	    "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa.pem && "
	    "echo 'not a key' >bad.pem && "
	    "openssl pkey -in ec.pem -aes256 -passout pass:x -out enc.pem") == 0 ? 0 : -1;
}

static int
teardown(void **state)
{
	char cmd[128];
	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static EVP_PKEY *
pub_of(const uint8_t *spki, size_t len)
{
	const unsigned char *p = spki;
	EVP_PKEY *pk = d2i_PUBKEY(NULL, &p, (long)len);

	assert_non_null(pk);
	assert_ptr_equal(p, spki + len);
	return pk;
}

/* Verify sig over the digest d with pub, as alg/md say. */
static bool
verifies(EVP_PKEY *pub, sp_kp_alg alg, const EVP_MD *md, const uint8_t *d, size_t dlen,
    const uint8_t *sig, size_t siglen)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(pub, NULL);
	bool ok;

	assert_non_null(ctx);
	assert_int_equal(EVP_PKEY_verify_init(ctx), 1);
	if (alg == SP_KP_RSA_PSS) {
		assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PSS_PADDING), 1);
		assert_int_equal(EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, RSA_PSS_SALTLEN_DIGEST), 1);
	}
	if (md != NULL)
		assert_int_equal(EVP_PKEY_CTX_set_signature_md(ctx, md), 1);
	ok = EVP_PKEY_verify(ctx, sig, siglen, d, dlen) == 1;
	EVP_PKEY_CTX_free(ctx);
	return ok;
}

static const uint8_t dgst[64] =
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/* Answer one request in-process; parse the answer. */
static sp_kp_resp
ask(sp_kp_keys *ks, const sp_kp_req *rq, uint8_t *resp)
{
	uint8_t msg[SP_KP_REQ_MAX];
	size_t len = 0;
	sp_kp_resp rs;

	assert_true(sp_ok(sp_kp_req_encode(rq, msg, &len)));
	len = sp_kp_answer(ks, msg, len, resp);
	assert_true(sp_ok(sp_kp_resp_parse(resp, len, &rs)));
	return rs;
}

static void
test_answer(void **state)
{
	const char *files[] = { eckey, rsakey };
	sp_kp_keys *ks = NULL;
	uint8_t resp[SP_KP_RESP_MAX], junk[3] = { 1, 2, 3 };
	sp_kp_resp rs;
	EVP_PKEY *ecpub, *rsapub;
	uint32_t ecid, rsaid;
	(void)state;

	assert_true(sp_ok(sp_kp_keys_new(files, 2, &ks)));
	rs = ask(ks, &(sp_kp_req){ .op = SP_KP_OP_LOAD, .id = 0 }, resp);
	assert_int_equal(rs.status, SP_KP_ST_OK);
	ecid = rs.id;
	ecpub = pub_of(rs.data, rs.len);
	rs = ask(ks, &(sp_kp_req){ .op = SP_KP_OP_LOAD, .id = 1 }, resp);
	rsaid = rs.id;
	rsapub = pub_of(rs.data, rs.len);
	assert_int_not_equal(ecid, rsaid);
	/* The same key loaded again keeps its id. */
	rs = ask(ks, &(sp_kp_req){ .op = SP_KP_OP_LOAD, .id = 0 }, resp);
	assert_int_equal(rs.id, ecid);

	rs = ask(ks, &(sp_kp_req){ .op = SP_KP_OP_SIGN, .alg = SP_KP_ECDSA, .id = ecid,
	    .in = dgst, .inlen = 32 }, resp);
	assert_int_equal(rs.status, SP_KP_ST_OK);
	assert_true(verifies(ecpub, SP_KP_ECDSA, NULL, dgst, 32, rs.data, rs.len));
	rs = ask(ks, &(sp_kp_req){ .op = SP_KP_OP_SIGN, .alg = SP_KP_RSA_PSS,
	    .md = SP_KP_MD_SHA256, .id = rsaid, .in = dgst, .inlen = 32 }, resp);
	assert_int_equal(rs.status, SP_KP_ST_OK);
	assert_int_equal(rs.len, 256);
	assert_true(verifies(rsapub, SP_KP_RSA_PSS, EVP_sha256(), dgst, 32, rs.data, rs.len));
	rs = ask(ks, &(sp_kp_req){ .op = SP_KP_OP_SIGN, .alg = SP_KP_RSA_PKCS1,
	    .md = SP_KP_MD_SHA256, .id = rsaid, .in = dgst, .inlen = 32 }, resp);
	assert_true(verifies(rsapub, SP_KP_RSA_PKCS1, EVP_sha256(), dgst, 32, rs.data, rs.len));
	assert_false(verifies(rsapub, SP_KP_RSA_PKCS1, EVP_sha384(), dgst, 32, rs.data, rs.len));
	/*
	 * Signing contexts are kept per (algorithm, digest): the same one
	 * again, and digests alternating on one key, each signature right.
	 */
	for (int i = 0; i < 3; i++) {
		rs = ask(ks, &(sp_kp_req){ .op = SP_KP_OP_SIGN, .alg = SP_KP_RSA_PSS,
		    .md = i % 2 ? SP_KP_MD_SHA384 : SP_KP_MD_SHA256, .id = rsaid, .in = dgst,
		    .inlen = i % 2 ? 48 : 32 }, resp);
		assert_int_equal(rs.status, SP_KP_ST_OK);
		assert_true(verifies(rsapub, SP_KP_RSA_PSS, i % 2 ? EVP_sha384() : EVP_sha256(),
		    dgst, i % 2 ? 48 : 32, rs.data, rs.len));
		rs = ask(ks, &(sp_kp_req){ .op = SP_KP_OP_SIGN, .alg = SP_KP_ECDSA, .id = ecid,
		    .in = dgst, .inlen = 32 }, resp);
		assert_true(verifies(ecpub, SP_KP_ECDSA, NULL, dgst, 32, rs.data, rs.len));
	}

	/* Refusals: unknown key, wrong algorithm for the key, bad raw size, junk. */
	rs = ask(ks, &(sp_kp_req){ .op = SP_KP_OP_SIGN, .alg = SP_KP_ECDSA, .id = 999,
	    .in = dgst, .inlen = 32 }, resp);
	assert_int_equal(rs.status, SP_KP_ST_NOKEY);
	assert_memory_equal(rs.data, "no key 999", rs.len);
	rs = ask(ks, &(sp_kp_req){ .op = SP_KP_OP_SIGN, .alg = SP_KP_RSA_RAW, .id = ecid,
	    .in = dgst, .inlen = 32 }, resp);
	assert_int_equal(rs.status, SP_KP_ST_FAILED);
	rs = ask(ks, &(sp_kp_req){ .op = SP_KP_OP_SIGN, .alg = SP_KP_RSA_RAW, .id = rsaid,
	    .in = dgst, .inlen = 32 }, resp);
	assert_int_equal(rs.status, SP_KP_ST_FAILED);
	assert_memory_equal(rs.data, "raw RSA input of 32 bytes, key of 256", rs.len);
	rs = ask(ks, &(sp_kp_req){ .op = SP_KP_OP_LOAD, .id = 2 }, resp);
	assert_int_equal(rs.status, SP_KP_ST_NOKEY);
	assert_true(sp_ok(sp_kp_resp_parse(resp, sp_kp_answer(ks, junk, 3, resp), &rs)));
	assert_int_equal(rs.status, SP_KP_ST_BADREQ);
	assert_memory_equal(rs.data, "keyproc: request of 3 bytes (12..524)", rs.len);
	EVP_PKEY_free(ecpub);
	EVP_PKEY_free(rsapub);
	sp_kp_keys_free(ks);
}

static void
test_keys_refused(void **state)
{
	sp_kp_keys *ks = NULL;
	const char *f[] = { bad };
	char want[256];
	(void)state;

	assert_int_equal(sp_kp_keys_new(f, 1, &ks).code, SP_E_CRYPTO);
	snprintf(want, sizeof(want), "server key %s", bad);
	assert_non_null(strstr(sp_errmsg(), want));
	f[0] = enc; /* encrypted: refused, never prompted for */
	assert_int_equal(sp_kp_keys_new(f, 1, &ks).code, SP_E_CRYPTO);
	f[0] = "/nonexistent/key.pem";
	assert_int_equal(sp_kp_keys_new(f, 1, &ks).code, SP_E_NOTFOUND);
	assert_non_null(strstr(sp_errmsg(), "/nonexistent/key.pem"));
	assert_int_equal(sp_kp_keys_new(f, 0, &ks).code, SP_E_USAGE);
	assert_null(ks);
}

typedef struct th_arg {
	sp_keyproc *kp;
	uint32_t id;
	EVP_PKEY *pub;
	int ok;
} th_arg;

static void *
signer(void *p)
{
	th_arg *a = p;

	for (int i = 0; i < 40; i++) {
		uint8_t d[32], sig[SP_KP_OUT_MAX];
		size_t n = sizeof(sig);

		memset(d, i, sizeof(d));
		if (sp_ok(sp_keyproc_sign(a->kp, a->id, SP_KP_ECDSA, SP_KP_MD_NONE, d, 32, sig,
		    &n)) && verifies(a->pub, SP_KP_ECDSA, NULL, d, 32, sig, n))
			a->ok++;
	}
	return NULL;
}

/* Started as sprov serve starts it; 6 threads over 3 channels. */
static void
test_process(void **state)
{
	const char *files[] = { eckey, rsakey };
	sp_keyproc *kp = NULL;
	sp_buf spki;
	uint32_t id;
	pthread_t th[6];
	th_arg a[6];
	pid_t pid;
	uint8_t sig[SP_KP_OUT_MAX];
	size_t n = 8;
	(void)state;

	sp_buf_init(&spki, SP_KP_OUT_MAX);
	assert_true(sp_ok(sp_keyproc_start(files, 2, 3, true, &kp)));
	pid = sp_keyproc_pid(kp);
	assert_true(pid > 0);
	assert_true(sp_ok(sp_keyproc_load(kp, eckey, &id, &spki)));
	for (int i = 0; i < 6; i++) {
		a[i] = (th_arg){ kp, id, pub_of((const uint8_t *)spki.p, spki.len), 0 };
		assert_int_equal(pthread_create(&th[i], NULL, signer, &a[i]), 0);
	}
	for (int i = 0; i < 6; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(a[i].ok, 40);
		EVP_PKEY_free(a[i].pub);
	}
	/* A file it was not started with: refused, named, nothing loaded. */
	assert_int_equal(sp_keyproc_load(kp, bad, &id, &spki).code, SP_E_STATE);
	assert_non_null(strstr(sp_errmsg(), "a new key path takes a restart"));
	/* No room for the signature: refused, the channel still works after. */
	assert_int_equal(sp_keyproc_sign(kp, id, SP_KP_ECDSA, SP_KP_MD_NONE, dgst, 32, sig,
	    &n).code, SP_E_LIMIT);
	n = sizeof(sig);
	assert_int_equal(sp_keyproc_sign(kp, 999, SP_KP_ECDSA, SP_KP_MD_NONE, dgst, 32, sig,
	    &n).code, SP_E_NOTFOUND);
	assert_string_equal(sp_errmsg(), "key process: no key 999");
	n = sizeof(sig);
	assert_true(sp_ok(sp_keyproc_sign(kp, id, SP_KP_ECDSA, SP_KP_MD_NONE, dgst, 32, sig,
	    &n)));
	sp_keyproc_free(kp);
	/* Reaped: the process is gone. */
	assert_int_equal(kill(pid, 0), -1);
	sp_buf_free(&spki);
}

static void
test_process_refused(void **state)
{
	const char *files[] = { bad };
	sp_keyproc *kp = NULL;
	char want[256];
	(void)state;

	assert_int_equal(sp_keyproc_start(files, 1, 2, true, &kp).code, SP_E_CRYPTO);
	snprintf(want, sizeof(want), "key process: server key %s", bad);
	assert_non_null(strstr(sp_errmsg(), want));
	assert_null(kp);
	/* The child was reaped: no zombie left. */
	assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
}

/* A key that dies: the round-trip fails with a message, it does not hang. */
static void
test_process_gone(void **state)
{
	const char *files[] = { eckey };
	sp_keyproc *kp = NULL;
	sp_buf spki;
	uint32_t id;
	uint8_t sig[SP_KP_OUT_MAX];
	size_t n = sizeof(sig);
	(void)state;

	sp_buf_init(&spki, SP_KP_OUT_MAX);
	assert_true(sp_ok(sp_keyproc_start(files, 1, 1, false, &kp)));
	assert_true(sp_ok(sp_keyproc_load(kp, eckey, &id, &spki)));
	assert_int_equal(kill(sp_keyproc_pid(kp), SIGKILL), 0);
	assert_int_equal(waitpid(sp_keyproc_pid(kp), NULL, 0), sp_keyproc_pid(kp));
	assert_int_equal(sp_keyproc_sign(kp, id, SP_KP_ECDSA, SP_KP_MD_NONE, dgst, 32, sig,
	    &n).code, SP_E_IO);
	assert_string_equal(sp_errmsg(), "key process: gone");
	/* Its only channel is broken now: no wait, the same answer. */
	assert_int_equal(sp_keyproc_sign(kp, id, SP_KP_ECDSA, SP_KP_MD_NONE, dgst, 32, sig,
	    &n).code, SP_E_IO);
	assert_string_equal(sp_errmsg(), "key process: no channel left (it is gone)");
	sp_keyproc_free(kp);
	sp_buf_free(&spki);
}

/*
 * A key process that does not answer (stopped): the round trip gives up
 * after SP_KP_TIMEOUT_MS with its own message, and that channel is done
 * (a late answer must never be taken for the next request's); the other
 * channel still signs once the process runs again.
 */
static void
lost(void *arg)
{
	(*(int *)arg)++;
}

/*
 * A round-trip that times out closes its channel; the others go on.  When
 * the last one goes, the on_lost hook runs, once, and nothing is signed.
 */
static void
test_process_timeout(void **state)
{
	const char *files[] = { eckey };
	sp_keyproc *kp = NULL;
	sp_buf spki;
	uint32_t id;
	uint8_t sig[SP_KP_OUT_MAX];
	size_t n = sizeof(sig);
	uint64_t t0;
	int nlost = 0;
	(void)state;

	sp_buf_init(&spki, SP_KP_OUT_MAX);
	assert_true(sp_ok(sp_keyproc_start(files, 1, 2, false, &kp)));
	sp_keyproc_on_lost(kp, lost, &nlost);
	assert_true(sp_ok(sp_keyproc_load(kp, eckey, &id, &spki)));
	assert_int_equal(kill(sp_keyproc_pid(kp), SIGSTOP), 0);
	t0 = sp_mono_ns();
	assert_int_equal(sp_keyproc_sign(kp, id, SP_KP_ECDSA, SP_KP_MD_NONE, dgst, 32, sig,
	    &n).code, SP_E_IO);
	assert_string_equal(sp_errmsg(), "key process: no answer within 5000 ms");
	assert_true(sp_mono_ns() - t0 >= (uint64_t)(SP_KP_TIMEOUT_MS - 100) * 1000000u);
	assert_int_equal(nlost, 0);
	assert_int_equal(kill(sp_keyproc_pid(kp), SIGCONT), 0);
	for (int i = 0; i < 3; i++) {
		n = sizeof(sig);
		assert_true(sp_ok(sp_keyproc_sign(kp, id, SP_KP_ECDSA, SP_KP_MD_NONE, dgst, 32,
		    sig, &n)));
	}
	assert_int_equal(nlost, 0);
	/* The last channel times out: the hook, once; then no channel. */
	assert_int_equal(kill(sp_keyproc_pid(kp), SIGSTOP), 0);
	n = sizeof(sig);
	assert_int_equal(sp_keyproc_sign(kp, id, SP_KP_ECDSA, SP_KP_MD_NONE, dgst, 32, sig,
	    &n).code, SP_E_IO);
	assert_int_equal(nlost, 1);
	assert_int_equal(kill(sp_keyproc_pid(kp), SIGCONT), 0);
	n = sizeof(sig);
	assert_int_equal(sp_keyproc_sign(kp, id, SP_KP_ECDSA, SP_KP_MD_NONE, dgst, 32, sig,
	    &n).code, SP_E_IO);
	assert_string_equal(sp_errmsg(), "key process: no channel left (it is gone)");
	assert_int_equal(nlost, 1);
	sp_keyproc_free(kp);
	sp_buf_free(&spki);
}

/*
 * The supervisor's handover: fresh channels over the control socket, the
 * same key process and key ids; released channels sign nothing; a
 * detached handle hands out nothing; the process ends with the last socket.
 */
static void
test_process_renew(void **state)
{
	const char *files[] = { eckey };
	sp_keyproc *kp = NULL;
	sp_buf spki;
	uint32_t id, id2;
	uint8_t sig[SP_KP_OUT_MAX];
	size_t n = sizeof(sig);
	pid_t pid;
	(void)state;

	sp_buf_init(&spki, SP_KP_OUT_MAX);
	assert_true(sp_ok(sp_keyproc_start(files, 1, 2, true, &kp)));
	pid = sp_keyproc_pid(kp);
	assert_true(sp_ok(sp_keyproc_load(kp, eckey, &id, &spki)));
	sp_keyproc_release(kp);
	assert_int_equal(sp_keyproc_sign(kp, id, SP_KP_ECDSA, SP_KP_MD_NONE, dgst, 32, sig,
	    &n).code, SP_E_IO);
	assert_string_equal(sp_errmsg(), "key process: no channel left (it is gone)");
	/* Every channel closed, the control socket open: it lives on. */
	usleep(100 * 1000);
	assert_int_equal(waitpid(pid, NULL, WNOHANG), 0);
	for (int round = 0; round < 3; round++) {
		assert_true(sp_ok(sp_keyproc_renew(kp)));
		n = sizeof(sig);
		assert_true(sp_ok(sp_keyproc_sign(kp, id, SP_KP_ECDSA, SP_KP_MD_NONE, dgst, 32,
		    sig, &n)));
		spki.len = 0;
		assert_true(sp_ok(sp_keyproc_load(kp, eckey, &id2, &spki)));
		assert_int_equal(id2, id);
		assert_int_equal(sp_keyproc_pid(kp), pid);
	}
	sp_keyproc_free(kp);
	assert_int_equal(kill(pid, 0), -1);

	/* A detached handle (the serving process') cannot ask for channels. */
	assert_true(sp_ok(sp_keyproc_start(files, 1, 1, false, &kp)));
	pid = sp_keyproc_pid(kp);
	sp_keyproc_detach(kp);
	assert_int_equal(sp_keyproc_renew(kp).code, SP_E_STATE);
	assert_string_equal(sp_errmsg(), "key process: no control socket here");
	n = sizeof(sig);
	/* Its channels still sign (the first key loaded has the same id everywhere). */
	assert_true(sp_ok(sp_keyproc_sign(kp, id, SP_KP_ECDSA, SP_KP_MD_NONE, dgst, 32, sig,
	    &n)));
	sp_keyproc_free(kp); /* detached: closes, does not reap */
	assert_int_equal(waitpid(pid, NULL, 0), pid);

	/* A key process gone: renewing fails with a message, it does not hang. */
	assert_true(sp_ok(sp_keyproc_start(files, 1, 1, false, &kp)));
	assert_int_equal(kill(sp_keyproc_pid(kp), SIGKILL), 0);
	assert_int_equal(waitpid(sp_keyproc_pid(kp), NULL, 0), sp_keyproc_pid(kp));
	assert_int_equal(sp_keyproc_renew(kp).code, SP_E_IO);
	assert_non_null(strstr(sp_errmsg(), "key process: new channels"));
	sp_keyproc_free(kp);
	sp_buf_free(&spki);
}

/* pub's raw RSA operation on sig (n bytes): the block that was signed. */
static void
opened(EVP_PKEY *pub, const uint8_t *sig, size_t n, uint8_t *block)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(pub, NULL);
	size_t len = n;

	assert_non_null(ctx);
	assert_int_equal(EVP_PKEY_verify_recover_init(ctx), 1);
	assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_NO_PADDING), 1);
	assert_int_equal(EVP_PKEY_verify_recover(ctx, block, &len, sig, n), 1);
	assert_int_equal(len, n);
	EVP_PKEY_CTX_free(ctx);
}

#define RAW_REFUSED "raw RSA input is not a TLS RSA-PSS encoding: the key process " \
	"signs, it does not decrypt"

/*
 * Raw RSA is what OpenSSL hands over for PSS after padding it itself.  TLS's
 * PSS blocks are signed; anything else would be a decryption (c^d), so the
 * key process would be an oracle for whatever was encrypted to the key: a
 * ciphertext, a PSS block with another salt and a block with one bit
 * changed are refused, and no answer carries a result.
 */
static void
test_raw_rsa(void **state)
{
	static const sp_kp_md mds[] = { SP_KP_MD_SHA256, SP_KP_MD_SHA384, SP_KP_MD_SHA512 };
	static const size_t mdlen[] = { 32, 48, 64 };
	const char *files[] = { rsakey };
	const char secret[] = "a premaster secret, or any data";
	sp_kp_keys *ks = NULL;
	uint8_t resp[SP_KP_RESP_MAX], sig[256], block[256], ct[256];
	sp_kp_resp rs;
	EVP_PKEY *pub, *priv;
	EVP_PKEY_CTX *ctx;
	FILE *fp;
	size_t n;
	uint32_t id;
	(void)state;

	assert_true(sp_ok(sp_kp_keys_new(files, 1, &ks)));
	rs = ask(ks, &(sp_kp_req){ .op = SP_KP_OP_LOAD, .id = 0 }, resp);
	assert_int_equal(rs.status, SP_KP_ST_OK);
	id = rs.id;
	pub = pub_of(rs.data, rs.len);
	for (size_t i = 0; i < 3; i++) {
		rs = ask(ks, &(sp_kp_req){ .op = SP_KP_OP_SIGN, .alg = SP_KP_RSA_PSS,
		    .md = mds[i], .id = id, .in = dgst, .inlen = mdlen[i] }, resp);
		assert_int_equal(rs.status, SP_KP_ST_OK);
		assert_int_equal(rs.len, sizeof(sig));
		memcpy(sig, rs.data, sizeof(sig));
		opened(pub, sig, sizeof(sig), block);
		rs = ask(ks, &(sp_kp_req){ .op = SP_KP_OP_SIGN, .alg = SP_KP_RSA_RAW,
		    .id = id, .in = block, .inlen = sizeof(block) }, resp);
		assert_int_equal(rs.status, SP_KP_ST_OK);
		assert_int_equal(rs.len, sizeof(sig));
		assert_memory_equal(rs.data, sig, sizeof(sig));
	}
	/* The last block with one bit of its zero padding changed. */
	block[10] ^= 0x01;
	rs = ask(ks, &(sp_kp_req){ .op = SP_KP_OP_SIGN, .alg = SP_KP_RSA_RAW, .id = id,
	    .in = block, .inlen = sizeof(block) }, resp);
	assert_int_equal(rs.status, SP_KP_ST_FAILED);
	assert_int_equal(rs.len, strlen(RAW_REFUSED));
	assert_memory_equal(rs.data, RAW_REFUSED, rs.len);

	/* A PKCS#1 v1.5 ciphertext to the key. */
	assert_non_null(ctx = EVP_PKEY_CTX_new(pub, NULL));
	assert_int_equal(EVP_PKEY_encrypt_init(ctx), 1);
	assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING), 1);
	n = sizeof(ct);
	assert_int_equal(EVP_PKEY_encrypt(ctx, ct, &n, (const uint8_t *)secret,
	    strlen(secret)), 1);
	assert_int_equal(n, sizeof(ct));
	EVP_PKEY_CTX_free(ctx);
	rs = ask(ks, &(sp_kp_req){ .op = SP_KP_OP_SIGN, .alg = SP_KP_RSA_RAW, .id = id,
	    .in = ct, .inlen = sizeof(ct) }, resp);
	assert_int_equal(rs.status, SP_KP_ST_FAILED);
	assert_int_equal(rs.len, strlen(RAW_REFUSED));
	assert_memory_equal(rs.data, RAW_REFUSED, rs.len);
	assert_null(memmem(resp, sizeof(resp), secret, strlen(secret)));

	/* A PSS block with the largest salt, not the digest's size as in TLS. */
	assert_non_null(fp = fopen(rsakey, "r"));
	assert_non_null(priv = PEM_read_PrivateKey(fp, NULL, NULL, NULL));
	fclose(fp);
	assert_non_null(ctx = EVP_PKEY_CTX_new(priv, NULL));
	assert_int_equal(EVP_PKEY_sign_init(ctx), 1);
	assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PSS_PADDING), 1);
	assert_int_equal(EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, RSA_PSS_SALTLEN_MAX), 1);
	assert_int_equal(EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256()), 1);
	n = sizeof(sig);
	assert_int_equal(EVP_PKEY_sign(ctx, sig, &n, dgst, 32), 1);
	EVP_PKEY_CTX_free(ctx);
	opened(pub, sig, sizeof(sig), block);
	rs = ask(ks, &(sp_kp_req){ .op = SP_KP_OP_SIGN, .alg = SP_KP_RSA_RAW, .id = id,
	    .in = block, .inlen = sizeof(block) }, resp);
	assert_int_equal(rs.status, SP_KP_ST_FAILED);
	assert_memory_equal(rs.data, RAW_REFUSED, rs.len);
	EVP_PKEY_free(priv);
	EVP_PKEY_free(pub);
	sp_kp_keys_free(ks);
}

/* The OpenSSL key that signs through the key process: EC, RSA PKCS#1 and PSS. */
static void
digest_sign(EVP_PKEY *pk, EVP_PKEY *pub, int pad)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	uint8_t sig[1024];
	size_t n = sizeof(sig);

	assert_int_equal(EVP_DigestSignInit(md, &pctx, EVP_sha384(), NULL, pk), 1);
	if (pad != 0)
		assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(pctx, pad), 1);
	if (pad == RSA_PKCS1_PSS_PADDING) /* as libssl does */
		assert_int_equal(EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST), 1);
	assert_int_equal(EVP_DigestSign(md, sig, &n, dgst, sizeof(dgst)), 1);
	EVP_MD_CTX_free(md);
	md = EVP_MD_CTX_new();
	pctx = NULL;
	assert_int_equal(EVP_DigestVerifyInit(md, &pctx, EVP_sha384(), NULL, pub), 1);
	if (pad != 0)
		assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(pctx, pad), 1);
	assert_int_equal(EVP_DigestVerify(md, sig, n, dgst, sizeof(dgst)), 1);
	EVP_MD_CTX_free(md);
}

static void
test_evp_pkey(void **state)
{
	const char *files[] = { eckey, rsakey };
	const char *which[] = { eckey, rsakey };
	sp_keyproc *kp = NULL;
	(void)state;

	assert_true(sp_ok(sp_keyproc_start(files, 2, 1, true, &kp)));
	for (int i = 0; i < 2; i++) {
		sp_buf spki;
		uint32_t id;
		EVP_PKEY *pub, *pk = NULL;

		sp_buf_init(&spki, SP_KP_OUT_MAX);
		assert_true(sp_ok(sp_keyproc_load(kp, which[i], &id, &spki)));
		pub = pub_of((const uint8_t *)spki.p, spki.len);
		assert_true(sp_ok(sp_keyproc_evp_pkey(kp, id, pub, &pk)));
		assert_int_equal(EVP_PKEY_eq(pk, pub), 1);
		if (i == 0) {
			digest_sign(pk, pub, 0);
		} else {
			digest_sign(pk, pub, RSA_PKCS1_PADDING);
			digest_sign(pk, pub, RSA_PKCS1_PSS_PADDING);
		}
		EVP_PKEY_free(pk);
		EVP_PKEY_free(pub);
		sp_buf_free(&spki);
	}
	sp_keyproc_free(kp);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_answer),
		cmocka_unit_test(test_raw_rsa),
		cmocka_unit_test(test_keys_refused),
		cmocka_unit_test(test_process),
		cmocka_unit_test(test_process_refused),
		cmocka_unit_test(test_process_gone),
		cmocka_unit_test(test_process_timeout),
		cmocka_unit_test(test_process_renew),
		cmocka_unit_test(test_evp_pkey),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
