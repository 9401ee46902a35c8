/*
 * bench/keyproc_sign.c: CPU per P-256 signature with the key in this process
 * against through the key process (src/keyproc), both sides counted: the
 * one thing key-process = on changes in a full handshake.  Then the
 * platform's floor under any key process, measured the same way: a null
 * system call, and a bare round trip between two processes (the key
 * process' message sizes over a SOCK_SEQPACKET socketpair, the peer doing
 * poll + recv + send as src/keyproc/keyproc.c does, no signature).  Not a
 * test; bench/run.sh prints its lines next to the handshake figures.
 *
 *   openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out /tmp/k.pem
 *   build/release/bench_keyproc_sign /tmp/k.pem
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "keyproc/keyproc.h"

#define N 3000         /* signatures per figure */
#define NRT 20000      /* bare round trips */
#define NRT_IDLE 2000  /* round trips to a peer asleep for 1 ms before each */
#define NSYS 200000    /* null system calls */

/* This process' CPU time, ns. */
static double
cpu_self(void)
{
	struct timespec t;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
	return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

/* Time on CPU of pid's main thread (single-threaded peers here), ns. */
static double
ns_of(pid_t pid)
{
	char path[64];
	double ns = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/schedstat", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	if (fscanf(f, "%lf", &ns) != 1)
		ns = 0;
	fclose(f);
	return ns;
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
	return (cpu_self() - c0) / N / 1e3;
}

/* µs per null system call (getppid, never cached by libc). */
static double
null_syscall(void)
{
	struct timespec a, b;

	clock_gettime(CLOCK_MONOTONIC, &a);
	for (int i = 0; i < NSYS; i++)
		(void)syscall(SYS_getppid);
	clock_gettime(CLOCK_MONOTONIC, &b);
	return ((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec)) /
	    NSYS / 1e3;
}

/* One request out and its whole answer back on fd. */
static bool
exchange(int fd, const void *req, size_t reqlen, void *resp, size_t resplen)
{
	return send(fd, req, reqlen, MSG_NOSIGNAL) == (ssize_t)reqlen &&
	    recv(fd, resp, resplen, 0) == (ssize_t)resplen;
}

/*
 * A bare round trip: *here and *peer, µs of CPU per round trip on each side;
 * *idle: the peer's when it has slept 1 ms before each (as the key process
 * has between two handshakes of one device).  False when the socketpair or
 * the fork failed.
 */
static bool
bare_roundtrip(double *here, double *peer, double *idle)
{
	unsigned char req[SP_KP_HDR + 32] = { SP_KP_VERSION }, resp[SP_KP_HDR + 72];
	int sv[2], st;
	double c0, p0;
	bool ok;
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
		return false;
	if ((pid = fork()) < 0)
		return false;
	if (pid == 0) {
		struct pollfd p = { .fd = sv[1], .events = POLLIN };
		unsigned char b[SP_KP_REQ_MAX];

		close(sv[0]);
		for (;;) {
			if (poll(&p, 1, -1) < 0) {
				if (errno == EINTR)
					continue;
				_exit(1);
			}
			if (recv(sv[1], b, sizeof(b), MSG_DONTWAIT) <= 0)
				_exit(0);
			(void)send(sv[1], resp, sizeof(resp), MSG_NOSIGNAL);
		}
	}
	close(sv[1]);
	/* One exchange first, so that the peer is up and counted from here on. */
	ok = exchange(sv[0], req, sizeof(req), resp, sizeof(resp));
	p0 = ns_of(pid);
	c0 = cpu_self();
	for (int i = 0; ok && i < NRT; i++)
		ok = exchange(sv[0], req, sizeof(req), resp, sizeof(resp));
	*here = (cpu_self() - c0) / NRT / 1e3;
	*peer = (ns_of(pid) - p0) / NRT / 1e3;
	p0 = ns_of(pid);
	for (int i = 0; ok && i < NRT_IDLE; i++) {
		usleep(1000);
		ok = exchange(sv[0], req, sizeof(req), resp, sizeof(resp));
	}
	*idle = (ns_of(pid) - p0) / NRT_IDLE / 1e3;
	close(sv[0]);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (!ok)
		fprintf(stderr, "bench_keyproc_sign: the round-trip peer went away\n");
	return ok && *peer > 0;
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
	double self, k0, here, peer, idle;
	FILE *f;

	if (argc != 2 || (f = fopen(argv[1], "r")) == NULL) {
		fprintf(stderr, "usage: bench_keyproc_sign P256-KEY.pem\n");
		return 2;
	}
	files[0] = argv[1];
	direct = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	sp_buf_init(&spki, SP_KP_OUT_MAX);
	if (direct == NULL || sp_failed(sp_keyproc_start(files, 1, 1, true, &kp)) ||
	    sp_failed(sp_keyproc_load(kp, files[0], &id, &spki))) {
		fprintf(stderr, "bench_keyproc_sign: %s: %s\n", argv[1],
		    direct == NULL ? "not a private key" : sp_errmsg());
		return 1;
	}
	p = (const unsigned char *)spki.p;
	pub = d2i_PUBKEY(NULL, &p, (long)spki.len);
	if (pub == NULL || sp_failed(sp_keyproc_evp_pkey(kp, id, pub, &pk)))
		return 1;
	printf("key in this process:     %.1f us CPU per signature\n", sign_loop(direct));
	k0 = ns_of(sp_keyproc_pid(kp));
	self = sign_loop(pk);
	printf("through the key process: %.1f us here + %.1f us in the key process\n", self,
	    (ns_of(sp_keyproc_pid(kp)) - k0) / N / 1e3);
	if (!bare_roundtrip(&here, &peer, &idle))
		return 1;
	printf("platform floor: a null system call %.2f us; a bare round trip between two "
	    "processes %.1f us here + %.1f us in the peer, %.1f us in a peer that slept "
	    "1 ms\n", null_syscall(), here, peer, idle);
	EVP_PKEY_free(pk);
	EVP_PKEY_free(pub);
	EVP_PKEY_free(direct);
	sp_buf_free(&spki);
	sp_keyproc_free(kp);
	return 0;
}
