/* The shared TLS policy (src/tls/tls_policy.c): loading CRLs, who signed
 * them, crlNumber order, and verify-depth as tls.h defines it. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/pem.h>

#include "tls/tls_internal.h"

static char dir[64];

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int
sh(const char *fmt, ...)
{
	char cmd[8192];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd);
}

static const char *
f(const char *name)
{
	static char buf[4][192];
	static int n;

	n = (n + 1) % 4;
	snprintf(buf[n], sizeof(buf[n]), "%s/%s", dir, name);
	return buf[n];
}

/*
 * ca: the device CA (root), with CRLs numbered 1, 2, 3 and one without a
 * number; forged: another key under ca's very name; other: another CA.
 * Chain ca -> i1 -> i2 -> leaf3, and leaf1 directly under ca.  A server
 * certificate (srv) from other, for a whole configuration.
 */
static int
setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/sprov-tls-policy.XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	return sh("cd %s && set -e; exec >log 2>&1; "
	    "key() { openssl ecparam -name prime256v1 -genkey -noout -out $1.key; }; "
	    "root() { key $1; openssl req -x509 -new -key $1.key -days 30 -subj \"/CN=$2\" "
	    "-addext basicConstraints=critical,CA:TRUE "
	    "-addext keyUsage=critical,keyCertSign,cRLSign -out $1.crt; : >$1.idx; "
	    "printf '[ca]\\ndefault_ca=d\\n[d]\\ndatabase=%%s.idx\\ndefault_md=sha256\\n"
	    "crlnumber=%%s.num\\n' $1 $1 >$1.cnf; echo 01 >$1.num; }; "
	    "crl() { openssl ca -gencrl -config $1.cnf -cert $1.crt -keyfile $1.key "
	    "-crldays 30 -out $2; }; "
	    "sub() { key $1; openssl req -new -key $1.key -subj \"/CN=$1\" -out $1.csr; "
	    "printf \"$4\" >$1.ext; openssl x509 -req -in $1.csr -CA $2.crt -CAkey $2.key "
	    "-CAcreateserial -days 30 -extfile $1.ext -out $1.crt; }; "
	    "CA='basicConstraints=critical,CA:TRUE\\nkeyUsage=critical,keyCertSign,cRLSign\\n'; "
	    "LEAF='basicConstraints=CA:FALSE\\nextendedKeyUsage=clientAuth\\n'; "
	    "root ca 'Device CA'; root forged 'Device CA'; root other 'Other CA'; "
	    "crl ca n1.crl; crl ca n2.crl; crl ca n3.crl; crl forged forged.crl; "
	    "crl other other.crl; "
	    "printf '[ca]\\ndefault_ca=d\\n[d]\\ndatabase=ca.idx\\ndefault_md=sha256\\n' "
	    ">nonum.cnf; openssl ca -gencrl -config nonum.cnf -cert ca.crt -keyfile ca.key "
	    "-crldays 30 -out nonum.crl; "
	    "openssl crl -in n1.crl -outform DER -out n1.der; "
	    "cat n1.der >trail.der; printf 'x' >>trail.der; "
	    "cat n1.crl other.crl >two.crl; "
	    "cat n1.crl >badblock.crl; printf -- '-----BEGIN X509 CRL-----\\n"
	    "bm90IGEgQ1JM\\n-----END X509 CRL-----\\n' >>badblock.crl; "
	    "cat n1.crl >garbled.crl; printf -- '-----BEGIN X509 CRL-----\\n"
	    "@@@@\\n-----END X509 CRL-----\\n' >>garbled.crl; "
	    "sub i1 ca x \"$CA\"; sub i2 i1 x \"$CA\"; sub leaf3 i2 x \"$LEAF\"; "
	    "sub leaf1 ca x \"$LEAF\"; "
	    "sub srv other x 'extendedKeyUsage=serverAuth\\n'; "
	    "sub sa ca x 'basicConstraints=CA:FALSE\\nextendedKeyUsage=serverAuth\\n'",
	    dir) == 0 ? 0 : (sh("tail -5 %s/log >&2", dir), -1);
}

static int
teardown(void **state)
{
	(void)state;
	return sh("rm -rf %s", dir) == 0 ? 0 : -1;
}

static void
crls_free(STACK_OF(X509_CRL) *crls)
{
	sk_X509_CRL_pop_free(crls, X509_CRL_free);
}

/* Load must fail with code and a message containing want; out untouched. */
static void
load_refused(const char *name, int code, const char *want)
{
	STACK_OF(X509_CRL) *crls = (void *)&crls; /* a sentinel: must stay */
	sp_result r = sp_tls_crls_load(f(name), &crls);

	if ((int)r.code != code)
		fail_msg("%s: code %d, not %d: %s", name, (int)r.code, code, sp_errmsg());
	if (strstr(sp_errmsg(), want) == NULL)
		fail_msg("%s: '%s' lacks '%s'", name, sp_errmsg(), want);
	assert_ptr_equal(crls, (void *)&crls);
}

static void
test_crls_load(void **state)
{
	STACK_OF(X509_CRL) *crls = NULL;
	char want[256];
	(void)state;

	assert_true(sp_ok(sp_tls_crls_load(f("n1.crl"), &crls)));
	assert_int_equal(sk_X509_CRL_num(crls), 1);
	crls_free(crls);
	assert_true(sp_ok(sp_tls_crls_load(f("two.crl"), &crls)));
	assert_int_equal(sk_X509_CRL_num(crls), 2);
	crls_free(crls);
	/* One whole DER CRL, no PEM armour. */
	assert_true(sp_ok(sp_tls_crls_load(f("n1.der"), &crls)));
	assert_int_equal(sk_X509_CRL_num(crls), 1);
	crls_free(crls);

	/* DER with one byte after the CRL. */
	snprintf(want, sizeof(want), "%s: no CRL in PEM, and not one whole DER CRL (bad "
	    "encoding or trailing bytes)", f("trail.der"));
	load_refused("trail.der", SP_E_PARSE, want);
	/* A second PEM block that is base64 but not a CRL. */
	snprintf(want, sizeof(want), "%s: PEM block 2 is not one whole CRL", f("badblock.crl"));
	load_refused("badblock.crl", SP_E_PARSE, want);
	/* A second PEM block that is not even base64. */
	snprintf(want, sizeof(want), "%s: PEM block 2 is not a readable PEM block",
	    f("garbled.crl"));
	load_refused("garbled.crl", SP_E_PARSE, want);
	/* A certificate where a CRL should be. */
	snprintf(want, sizeof(want), "%s: PEM block 1 is a CERTIFICATE, not an X509 CRL",
	    f("ca.crt"));
	load_refused("ca.crt", SP_E_PARSE, want);
	load_refused("missing.crl", SP_E_NOTFOUND, "missing.crl");
}

static STACK_OF(X509_CRL) *
load(const char *name)
{
	STACK_OF(X509_CRL) *crls = NULL;

	assert_true(sp_ok(sp_tls_crls_load(f(name), &crls)));
	return crls;
}

static void
test_crls_signed(void **state)
{
	STACK_OF(X509_CRL) *crls;
	char want[256];
	(void)state;

	crls = load("n1.crl");
	assert_true(sp_ok(sp_tls_crls_check_signed(f("ca.crt"), crls)));
	/* The device CA file may hold other CAs too. */
	assert_int_equal(sh("cat %s/other.crt %s/ca.crt >%s/both.crt", dir, dir, dir), 0);
	assert_true(sp_ok(sp_tls_crls_check_signed(f("both.crt"), crls)));
	crls_free(crls);

	/* Same issuer name, another key: forged. */
	crls = load("forged.crl");
	snprintf(want, sizeof(want), "CRL 1 is not signed by a CA of %s", f("ca.crt"));
	assert_int_equal(sp_tls_crls_check_signed(f("ca.crt"), crls).code, SP_E_VERIFY);
	assert_string_equal(sp_errmsg(), want);
	crls_free(crls);
	/* Another CA's CRL, second in the file. */
	crls = load("two.crl");
	snprintf(want, sizeof(want), "CRL 2 is not signed by a CA of %s", f("ca.crt"));
	assert_int_equal(sp_tls_crls_check_signed(f("ca.crt"), crls).code, SP_E_VERIFY);
	assert_string_equal(sp_errmsg(), want);
	crls_free(crls);
}

static void
test_crls_newer(void **state)
{
	STACK_OF(X509_CRL) *n1 = load("n1.crl"), *n2 = load("n2.crl"), *n3 = load("n3.crl");
	STACK_OF(X509_CRL) *nonum = load("nonum.crl"), *other = load("other.crl");
	(void)state;

	/* Nothing in force, the same number, a higher one: fine. */
	assert_true(sp_ok(sp_tls_crls_check_newer("x.crl", NULL, n1)));
	assert_true(sp_ok(sp_tls_crls_check_newer("x.crl", n2, n2)));
	assert_true(sp_ok(sp_tls_crls_check_newer("x.crl", n2, n3)));
	/* Another issuer's CRL is not compared. */
	assert_true(sp_ok(sp_tls_crls_check_newer("x.crl", n3, other)));
	/* No number in force: anything goes. */
	assert_true(sp_ok(sp_tls_crls_check_newer("x.crl", nonum, n1)));

	/* An older CRL replayed. */
	assert_int_equal(sp_tls_crls_check_newer("x.crl", n2, n1).code, SP_E_VERIFY);
	assert_string_equal(sp_errmsg(), "CRL x.crl: crlNumber 1 of '/CN=Device CA' is lower "
	    "than 2, the one in force (an older CRL replayed?)");
	assert_int_equal(sp_tls_crls_check_newer("x.crl", n3, n2).code, SP_E_VERIFY);
	assert_non_null(strstr(sp_errmsg(), "crlNumber 2 of '/CN=Device CA' is lower than 3"));
	/* A CRL without a number where the one in force has one. */
	assert_int_equal(sp_tls_crls_check_newer("x.crl", n1, nonum).code, SP_E_VERIFY);
	assert_string_equal(sp_errmsg(), "CRL x.crl: the CRL of '/CN=Device CA' has no "
	    "crlNumber, the one in force has 1");
	crls_free(n1);
	crls_free(n2);
	crls_free(n3);
	crls_free(nonum);
	crls_free(other);
}

static X509 *
cert(const char *name)
{
	FILE *fp = fopen(f(name), "r");
	X509 *x;

	assert_non_null(fp);
	x = PEM_read_X509(fp, NULL, NULL, NULL);
	fclose(fp);
	assert_non_null(x);
	return x;
}

/* The chain's length under a configuration of verify-depth depth, and the verdict. */
static int
depth_verdict(int depth, X509 *leaf, STACK_OF(X509) *untrusted, int *len, char *reason,
    size_t n)
{
	sp_tls_server *srv = NULL;
	sp_tls_conf *c = NULL;
	sp_tls_config cfg = { f("srv.crt"), f("srv.key"), f("ca.crt"), NULL, depth, 0, 3600,
		SP_TLS_OPENSSL, 0, NULL, SP_IDSTYLE_AUTO, false };
	int v;

	assert_true(sp_ok(sp_tls_server_new(SP_TLS_OPENSSL, NULL, &srv)));
	if (sp_failed(sp_tls_conf_build(srv, &cfg, &c)))
		fail_msg("conf_build: %s", sp_errmsg());
	*len = sp_tls_chain_len(c, leaf, untrusted, false);
	/* Signatures verified already (GnuTLS): the same length. */
	assert_int_equal(sp_tls_chain_len(c, leaf, untrusted, true), *len);
	reason[0] = '\0';
	v = sp_tls_chain_depth_check(c, *len, reason, n);
	sp_tls_conf_unref(c);
	sp_tls_server_free(srv);
	return v;
}

/* verify-depth: at most that many certificates, leaf and root included. */
static void
test_depth(void **state)
{
	X509 *leaf3 = cert("leaf3.crt"), *leaf1 = cert("leaf1.crt");
	STACK_OF(X509) *inter = sk_X509_new_null();
	char reason[256];
	int len;
	(void)state;

	assert_non_null(inter);
	assert_true(sk_X509_push(inter, cert("i2.crt")) > 0);
	assert_true(sk_X509_push(inter, cert("i1.crt")) > 0);

	/* leaf3 <- i2 <- i1 <- ca: 4 certificates. */
	assert_int_equal(depth_verdict(4, leaf3, inter, &len, reason, sizeof(reason)), -1);
	assert_int_equal(len, 4);
	assert_int_equal(depth_verdict(SP_TLS_VERIFY_DEPTH_MAX, leaf3, inter, &len, reason,
	    sizeof(reason)), -1);
	/* One short: refused though OpenSSL's own bound (depth + 2) allows it. */
	assert_int_equal(depth_verdict(3, leaf3, inter, &len, reason, sizeof(reason)),
	    SP_TLS_VF_CHAIN_TOO_LONG);
	assert_int_equal(len, 4);
	assert_string_equal(reason, "certificate chain of 4 longer than verify-depth 3 (leaf "
	    "and root included)");
	assert_int_equal(depth_verdict(2, leaf3, inter, &len, reason, sizeof(reason)),
	    SP_TLS_VF_CHAIN_TOO_LONG);
	assert_string_equal(reason, "certificate chain of 4 longer than verify-depth 2 (leaf "
	    "and root included)");
	/* Past OpenSSL's own bound too. */
	assert_int_equal(depth_verdict(1, leaf3, inter, &len, reason, sizeof(reason)),
	    SP_TLS_VF_CHAIN_TOO_LONG);
	assert_int_equal(len, INT_MAX);
	assert_string_equal(reason, "certificate chain longer than verify-depth 1 (leaf and "
	    "root included)");

	/* leaf1 <- ca: 2 certificates. */
	assert_int_equal(depth_verdict(2, leaf1, NULL, &len, reason, sizeof(reason)), -1);
	assert_int_equal(len, 2);
	assert_int_equal(depth_verdict(1, leaf1, NULL, &len, reason, sizeof(reason)),
	    SP_TLS_VF_CHAIN_TOO_LONG);
	assert_int_equal(len, 2);
	assert_string_equal(reason, "certificate chain of 2 longer than verify-depth 1 (leaf "
	    "and root included)");

	/* Without its intermediates leaf3 does not verify at all. */
	assert_int_equal(depth_verdict(4, leaf3, NULL, &len, reason, sizeof(reason)),
	    SP_TLS_VF_UNKNOWN_CA);
	assert_int_equal(len, -1);
	assert_string_equal(reason, "certificate chain does not verify under the device CAs");

	sk_X509_pop_free(inter, X509_free);
	X509_free(leaf3);
	X509_free(leaf1);
}

/*
 * sigs_verified skips only the signature step: leaf1 with its signature
 * broken has no chain unless the caller vouches for the signatures (GnuTLS
 * refused such a chain before asking), and an unrelated chain has none either way.
 */
static void
test_chain_len_sigs_verified(void **state)
{
	X509 *leaf1 = cert("leaf1.crt"), *bad, *other = cert("srv.crt");
	unsigned char *der = NULL;
	const unsigned char *p;
	int n;
	sp_tls_server *srv = NULL;
	sp_tls_conf *c = NULL;
	sp_tls_config cfg = { f("srv.crt"), f("srv.key"), f("ca.crt"), NULL, 4, 0, 3600,
		SP_TLS_OPENSSL, 0, NULL, SP_IDSTYLE_AUTO, false };
	(void)state;

	assert_true((n = i2d_X509(leaf1, &der)) > 0);
	der[n - 1] ^= 0x01; /* the last byte of the signature's s */
	p = der;
	assert_non_null(bad = d2i_X509(NULL, &p, n));
	assert_true(sp_ok(sp_tls_server_new(SP_TLS_OPENSSL, NULL, &srv)));
	if (sp_failed(sp_tls_conf_build(srv, &cfg, &c)))
		fail_msg("conf_build: %s", sp_errmsg());
	assert_int_equal(sp_tls_chain_len(c, bad, NULL, false), -1);
	assert_int_equal(sp_tls_chain_len(c, bad, NULL, true), 2);
	assert_int_equal(sp_tls_chain_len(c, leaf1, NULL, true), 2);
	/* Under another CA: no chain, signatures or not. */
	assert_int_equal(sp_tls_chain_len(c, other, NULL, false), -1);
	assert_int_equal(sp_tls_chain_len(c, other, NULL, true), -1);
	sp_tls_conf_unref(c);
	sp_tls_server_free(srv);
	OPENSSL_free(der);
	X509_free(bad);
	X509_free(other);
	X509_free(leaf1);
}

static bool
metrics_have(sp_tls_server *srv, const char *line)
{
	sp_buf b;
	bool ok;

	sp_buf_init(&b, 65536);
	assert_true(sp_ok(sp_tls_server_metrics(srv, &b)));
	assert_true(sp_ok(sp_buf_append(&b, "", 1)));
	ok = strstr(b.p, line) != NULL;
	sp_buf_free(&b);
	return ok;
}

/*
 * no_client_auth (the admin listener): no device CA needed, and the CRL and
 * device CA named are not read, on both backends; without it a missing
 * device CA is refused.  A poll of such a server never reloads.
 */
static void
test_no_client_auth(void **state)
{
	sp_tls_backend be[] = { SP_TLS_OPENSSL, SP_TLS_GNUTLS };
	bool reloaded = true;
	(void)state;

	for (size_t i = 0; i < sizeof(be) / sizeof(be[0]); i++) {
		sp_tls_server *srv = NULL;
		sp_tls_conf *c = NULL;
		sp_tls_config cfg = { f("srv.crt"), f("srv.key"), NULL, f("forged.crl"), 4, 0,
			3600, be[i], 0, NULL, SP_IDSTYLE_AUTO, false };

		assert_true(sp_ok(sp_tls_server_new(be[i], NULL, &srv)));
		assert_int_equal(sp_tls_conf_build(srv, &cfg, &c).code, SP_E_USAGE);
		assert_string_equal(sp_errmsg(),
		    "the server certificate, key and device CA files are all required");
		assert_null(c);
		cfg.no_client_auth = true;
		cfg.client_ca_file = f("nonexistent.crt"); /* not read */
		if (sp_failed(sp_tls_conf_build(srv, &cfg, &c)))
			fail_msg("conf_build: %s", sp_errmsg());
		assert_true(c->no_client_auth);
		assert_null(c->crls);
		assert_null(c->trust);
		sp_tls_conf_unref(c);
		if (sp_failed(sp_tls_server_load(srv, &cfg)))
			fail_msg("load: %s", sp_errmsg());
		assert_true(sp_ok(sp_tls_server_poll_crl(srv, &reloaded)));
		assert_false(reloaded);
		sp_tls_server_free(srv);
	}
}

/*
 * sp_tls_server_poll_crl (tls.c): a CRL file that fails to load is tried
 * once, and again only when the file changes, not on every poll.
 */
static void
test_poll_bad_once(void **state)
{
	sp_tls_server *srv = NULL;
	sp_tls_config cfg = { f("srv.crt"), f("srv.key"), f("ca.crt"), f("cur.crl"), 4, 0,
		3600, SP_TLS_OPENSSL, 0, NULL, SP_IDSTYLE_AUTO, false };
	bool reloaded = true;
	sp_result r;
	char want[256];
	(void)state;

	assert_int_equal(sh("cp %s/n1.crl %s/cur.crl", dir, dir), 0);
	assert_true(sp_ok(sp_tls_server_new(SP_TLS_OPENSSL, NULL, &srv)));
	if (sp_failed(sp_tls_server_load(srv, &cfg)))
		fail_msg("load: %s", sp_errmsg());
	assert_true(sp_ok(sp_tls_server_poll_crl(srv, &reloaded)));
	assert_false(reloaded);

	/* A forged CRL replaces it (new inode): refused once. */
	assert_int_equal(sh("cp %s/forged.crl %s/tmp.crl && mv %s/tmp.crl %s/cur.crl", dir,
	    dir, dir, dir), 0);
	r = sp_tls_server_poll_crl(srv, &reloaded);
	assert_int_equal(r.code, SP_E_VERIFY);
	assert_false(reloaded);
	snprintf(want, sizeof(want), "CRL reload (tried again when %s changes): CRL %s: CRL 1 "
	    "is not signed by a CA of %s", f("cur.crl"), f("cur.crl"), f("ca.crt"));
	assert_string_equal(sp_errmsg(), want);
	assert_true(metrics_have(srv, "sprov_tls_reloads_total{result=\"failed\"} 1\n"));
	/* Unchanged: not tried again, nothing to log, not counted. */
	for (int i = 0; i < 3; i++) {
		assert_true(sp_ok(sp_tls_server_poll_crl(srv, &reloaded)));
		assert_false(reloaded);
	}
	assert_true(metrics_have(srv, "sprov_tls_reloads_total{result=\"failed\"} 1\n"));
	assert_true(metrics_have(srv, "sprov_tls_reloads_total{result=\"ok\"} 1\n"));

	/* Changed again, still bad (an older number): tried, refused. */
	assert_int_equal(sh("cp %s/n2.crl %s/tmp.crl && mv %s/tmp.crl %s/cur.crl", dir, dir,
	    dir, dir), 0);
	assert_true(sp_ok(sp_tls_server_poll_crl(srv, &reloaded)));
	assert_true(reloaded);
	assert_int_equal(sh("cp %s/n1.crl %s/tmp.crl && mv %s/tmp.crl %s/cur.crl", dir, dir,
	    dir, dir), 0);
	assert_int_equal(sp_tls_server_poll_crl(srv, &reloaded).code, SP_E_VERIFY);
	assert_non_null(strstr(sp_errmsg(), "crlNumber 1 of '/CN=Device CA' is lower than 2"));
	assert_true(sp_ok(sp_tls_server_poll_crl(srv, &reloaded)));
	assert_false(reloaded);
	assert_true(metrics_have(srv, "sprov_tls_reloads_total{result=\"failed\"} 2\n"));
	/* A good file after a bad one is taken at once. */
	assert_int_equal(sh("cp %s/n3.crl %s/tmp.crl && mv %s/tmp.crl %s/cur.crl", dir, dir,
	    dir, dir), 0);
	assert_true(sp_ok(sp_tls_server_poll_crl(srv, &reloaded)));
	assert_true(reloaded);
	assert_true(metrics_have(srv, "sprov_tls_reloads_total{result=\"ok\"} 3\n"));
	sp_tls_server_free(srv);
}

/*
 * The one classification of a refusal (sp_tls_fail_of): the same reason
 * whichever backend's bucket and check refused the certificate.
 */
static void
test_fail_of(void **state)
{
	sp_tls_server *srv = NULL;
	sp_tls_conf *c = NULL;
	sp_tls_config cfg = { f("srv.crt"), f("srv.key"), f("ca.crt"), NULL, 4, 0, 3600,
		SP_TLS_OPENSSL, 0, NULL, SP_IDSTYLE_AUTO, false };
	X509 *leaf, *i1, *sa, *server;
	(void)state;

	/* Before cert(): f()'s buffers are reused. */
	assert_true(sp_ok(sp_tls_server_new(SP_TLS_OPENSSL, NULL, &srv)));
	if (sp_failed(sp_tls_conf_build(srv, &cfg, &c)))
		fail_msg("conf_build: %s", sp_errmsg());
	leaf = cert("leaf1.crt");
	i1 = cert("i1.crt");
	sa = cert("sa.crt");
	server = cert("srv.crt");
	assert_int_equal(sp_tls_fail_of(c, SP_TLS_VF_NO_CERT, NULL, NULL), SP_TLS_FAIL_NO_CERT);
	assert_int_equal(sp_tls_fail_of(c, SP_TLS_VF_REVOKED, leaf, leaf), SP_TLS_FAIL_REVOKED);
	/* Valid dates now: "expired" (a CA above it, or the clock), not "not yet". */
	assert_int_equal(sp_tls_fail_of(c, SP_TLS_VF_EXPIRED, i1, leaf), SP_TLS_FAIL_EXPIRED);
	assert_int_equal(sp_tls_fail_of(c, SP_TLS_VF_CRL_MISSING, leaf, leaf),
	    SP_TLS_FAIL_NO_CRL);
	assert_int_equal(sp_tls_fail_of(c, SP_TLS_VF_CRL_EXPIRED, NULL, leaf),
	    SP_TLS_FAIL_NO_CRL);
	assert_int_equal(sp_tls_fail_of(c, SP_TLS_VF_UNKNOWN_CA, leaf, leaf),
	    SP_TLS_FAIL_UNTRUSTED);
	assert_int_equal(sp_tls_fail_of(c, SP_TLS_VF_CHAIN_TOO_LONG, i1, leaf),
	    SP_TLS_FAIL_UNTRUSTED);
	assert_int_equal(sp_tls_fail_of(c, SP_TLS_VF_BAD_SIGNATURE, leaf, leaf),
	    SP_TLS_FAIL_UNTRUSTED);
	assert_int_equal(sp_tls_fail_of(c, SP_TLS_VF_OTHER, leaf, leaf), SP_TLS_FAIL_UNTRUSTED);
	/* Not for TLS clients: whatever check tripped first. */
	assert_int_equal(sp_tls_fail_of(c, SP_TLS_VF_OTHER, sa, sa), SP_TLS_FAIL_WRONG_PURPOSE);
	assert_int_equal(sp_tls_fail_of(c, SP_TLS_VF_UNKNOWN_CA, sa, sa),
	    SP_TLS_FAIL_WRONG_PURPOSE);
	/* Issued by the server CA (the issuer of srv.crt): before any other reason. */
	assert_int_equal(sp_tls_fail_of(c, SP_TLS_VF_CRL_MISSING, server, server),
	    SP_TLS_FAIL_WRONG_PURPOSE);
	assert_int_equal(sp_tls_fail_of(c, SP_TLS_VF_UNKNOWN_CA, server, server),
	    SP_TLS_FAIL_WRONG_PURPOSE);
	/* Without a configuration: the certificate alone decides. */
	assert_int_equal(sp_tls_fail_of(NULL, SP_TLS_VF_UNKNOWN_CA, leaf, leaf),
	    SP_TLS_FAIL_UNTRUSTED);
	X509_free(leaf);
	X509_free(i1);
	X509_free(sa);
	X509_free(server);
	sp_tls_conf_unref(c);
	sp_tls_server_free(srv);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crls_load),
		cmocka_unit_test(test_crls_signed),
		cmocka_unit_test(test_crls_newer),
		cmocka_unit_test(test_depth),
		cmocka_unit_test(test_chain_len_sigs_verified),
		cmocka_unit_test(test_poll_bad_once),
		cmocka_unit_test(test_no_client_auth),
		cmocka_unit_test(test_fail_of),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
