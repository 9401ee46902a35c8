/*
 * bench/keyproc_sign.c: CPU per P-256 signature with the key in this process
 * against through the key process (src/keyproc), both sides counted: the
 * one thing key-process = on changes in a full handshake.  Not a test.
 *
 *   openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out /tmp/k.pem
 *   build/release/bench_keyproc_sign /tmp/k.pem
 */
#include <stdio.h>
#include <sys/resource.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "keyproc/keyproc.h"

#define N 3000

static double
cpu_self(void)
{
	struct rusage r;

	getrusage(RUSAGE_SELF, &r);
	return (double)(r.ru_utime.tv_sec + r.ru_stime.tv_sec) +
	    (double)(r.ru_utime.tv_usec + r.ru_stime.tv_usec) / 1e6;
}

/* utime + stime of pid, in clock ticks. */
static unsigned long
ticks_of(int pid)
{
	char path[64];
	unsigned long u = 0, s = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	if (fscanf(f, "%*d %*s %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &u,
	    &s) != 2)
		u = s = 0;
	fclose(f);
	return u + s;
}

static double
sign_loop(EVP_PKEY *pk)
{
	unsigned char d[32] = { 1 }, sig[128];
	double c0 = cpu_self();

	for (int i = 0; i < N; i++) {
		EVP_MD_CTX *m = EVP_MD_CTX_new();
		size_t l = sizeof(sig);

		if (EVP_DigestSignInit(m, NULL, EVP_sha256(), NULL, pk) != 1 ||
		    EVP_DigestSign(m, sig, &l, d, sizeof(d)) != 1)
			fprintf(stderr, "sign failed\n");
		EVP_MD_CTX_free(m);
	}
	return (cpu_self() - c0) / N * 1e6;
}

int
main(int argc, char **argv)
{
	const char *files[1];
	sp_keyproc *kp = NULL;
	sp_buf spki;
	uint32_t id;
	EVP_PKEY *direct, *pub, *pk = NULL;
	const unsigned char *p;
	unsigned long t0, t1;
	double self;
	FILE *f;

	if (argc != 2 || (f = fopen(argv[1], "r")) == NULL)
		return 2;
	files[0] = argv[1];
	direct = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	sp_buf_init(&spki, SP_KP_OUT_MAX);
	if (direct == NULL || sp_failed(sp_keyproc_start(files, 1, 1, true, &kp)) ||
	    sp_failed(sp_keyproc_load(kp, files[0], &id, &spki)))
		return 1;
	p = (const unsigned char *)spki.p;
	pub = d2i_PUBKEY(NULL, &p, (long)spki.len);
	if (pub == NULL || sp_failed(sp_keyproc_evp_pkey(kp, id, pub, &pk)))
		return 1;
	printf("key in this process:   %.1f us CPU per signature\n", sign_loop(direct));
	t0 = ticks_of(sp_keyproc_pid(kp));
	self = sign_loop(pk);
	t1 = ticks_of(sp_keyproc_pid(kp));
	printf("through the key process: %.1f us here + %.1f us in the key process\n", self,
	    (double)(t1 - t0) / (double)sysconf(_SC_CLK_TCK) / N * 1e6);
	EVP_PKEY_free(pk);
	EVP_PKEY_free(pub);
	EVP_PKEY_free(direct);
	sp_buf_free(&spki);
	sp_keyproc_free(kp);
	return 0;
}
