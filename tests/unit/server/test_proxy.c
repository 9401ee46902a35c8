#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "server/proxy.h"

#define SIG "\r\n\r\n\0\r\nQUIT\n"

/* A PROXY v2 header: ver/cmd, fam/proto, then body (addresses, TLVs). */
static size_t
mk(uint8_t *out, uint8_t vc, uint8_t fp, const uint8_t *body, size_t blen)
{
	memcpy(out, SIG, 12);
	out[12] = vc;
	out[13] = fp;
	out[14] = (uint8_t)(blen >> 8);
	out[15] = (uint8_t)blen;
	if (blen > 0)
		memcpy(out + 16, body, blen);
	return 16 + blen;
}

/* 203.0.113.7:40000 -> 192.0.2.1:443, then extra bytes (TLVs). */
static size_t
mk4(uint8_t *out, const uint8_t *extra, size_t elen)
{
	uint8_t body[64] = { 203, 0, 113, 7, 192, 0, 2, 1, 0x9c, 0x40, 0x01, 0xbb };

	if (elen > 0)
		memcpy(body + 12, extra, elen);
	return mk(out, 0x21, 0x11, body, 12 + elen);
}

static sp_proxy_status
parse(const uint8_t *b, size_t n, sp_proxy_hdr *h, const char **why)
{
	return sp_proxy_parse(sp_slice_mk((const char *)b, n), h, why);
}

static void
expect_refused(const uint8_t *b, size_t n, const char *why_want)
{
	sp_proxy_hdr h;
	const char *why = NULL;

	assert_int_equal(parse(b, n, &h, &why), SP_PROXY_REFUSED);
	assert_string_equal(why, why_want);
}

static void
test_ipv4(void **state)
{
	uint8_t b[128], tail[] = "\x16\x03\x01";
	size_t n = mk4(b, NULL, 0);
	sp_proxy_hdr h;
	const char *why;
	char s[64];
	const struct sockaddr_in *src = (const struct sockaddr_in *)(const void *)&h.src;
	const struct sockaddr_in *dst = (const struct sockaddr_in *)(const void *)&h.dst;

	(void)state;
	/* The TLS ClientHello that follows is not part of the header. */
	memcpy(b + n, tail, 3);
	assert_int_equal(parse(b, n + 3, &h, &why), SP_PROXY_OK);
	assert_int_equal(h.len, 28);
	assert_false(h.local);
	assert_int_equal(src->sin_family, AF_INET);
	assert_int_equal(ntohs(src->sin_port), 40000);
	assert_int_equal(ntohs(dst->sin_port), 443);
	sp_proxy_addr_str((const struct sockaddr *)&h.src, h.src_len, s, sizeof(s));
	assert_string_equal(s, "203.0.113.7");
	sp_proxy_addr_str((const struct sockaddr *)&h.dst, h.dst_len, s, sizeof(s));
	assert_string_equal(s, "192.0.2.1");
}

static void
test_ipv6_with_tlvs(void **state)
{
	uint8_t body[128], b[256];
	/* Two TLVs: PP2_TYPE_ALPN "h2", PP2_TYPE_NOOP with no value. */
	uint8_t tlv[] = { 0x01, 0x00, 0x02, 'h', '2', 0x04, 0x00, 0x00 };
	size_t n;
	sp_proxy_hdr h;
	const char *why;
	char s[64];

	(void)state;
	memset(body, 0, sizeof(body));
	inet_pton(AF_INET6, "2001:db8::7", body);
	inet_pton(AF_INET6, "2001:db8::1", body + 16);
	body[32] = 0x12;
	body[33] = 0x34;
	body[34] = 0x01;
	body[35] = 0xbb;
	memcpy(body + 36, tlv, sizeof(tlv));
	n = mk(b, 0x21, 0x21, body, 36 + sizeof(tlv));
	assert_int_equal(parse(b, n, &h, &why), SP_PROXY_OK);
	assert_int_equal(h.len, 16 + 36 + sizeof(tlv));
	sp_proxy_addr_str((const struct sockaddr *)&h.src, h.src_len, s, sizeof(s));
	assert_string_equal(s, "2001:db8::7");
	assert_int_equal(ntohs(((struct sockaddr_in6 *)(void *)&h.src)->sin6_port), 0x1234);
}

static void
test_local(void **state)
{
	uint8_t b[64], unix_body[216] = { 0 };
	sp_proxy_hdr h;
	const char *why;
	size_t n = mk(b, 0x20, 0x00, NULL, 0);
	uint8_t big[300];

	(void)state;
	assert_int_equal(parse(b, n, &h, &why), SP_PROXY_OK);
	assert_true(h.local);
	assert_int_equal(h.len, 16);
	assert_int_equal(h.src_len, 0);
	/* LOCAL over AF_UNIX: accepted, addresses ignored. */
	n = mk(big, 0x20, 0x31, unix_body, sizeof(unix_body));
	assert_int_equal(parse(big, n, &h, &why), SP_PROXY_OK);
	assert_true(h.local);
	assert_int_equal(h.len, 232);
}

/* Every proper prefix asks for more; the whole parses (picohttpparser-style). */
static void
test_prefixes(void **state)
{
	uint8_t tlv[] = { 0xee, 0x00, 0x03, 1, 2, 3 };
	uint8_t b[128];
	size_t n = mk4(b, tlv, sizeof(tlv));
	sp_proxy_hdr h;
	const char *why;

	(void)state;
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(parse(b, i, &h, &why), SP_PROXY_MORE);
		/* What to read before parsing again: never past the header. */
		assert_int_equal(h.len, i < 16 ? 16 : n);
	}
	assert_int_equal(parse(b, n, &h, &why), SP_PROXY_OK);
	assert_int_equal(h.len, n);
}

static void
test_refused(void **state)
{
	uint8_t b[700], body[600] = { 0 };
	size_t n;

	(void)state;
	/* A TLS ClientHello from a trusted source: refused on its first byte. */
	expect_refused((const uint8_t *)"\x16", 1, "no PROXY v2 signature");
	expect_refused((const uint8_t *)"GET / HTTP/1.1\r\n", 16, "no PROXY v2 signature");
	/* PROXY v1 (text) is not accepted. */
	expect_refused((const uint8_t *)"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n", 32,
	    "no PROXY v2 signature");
	/* The signature wrong in its last byte. */
	memcpy(b, SIG, 12);
	b[11] = 'X';
	expect_refused(b, 12, "no PROXY v2 signature");
	n = mk4(b, NULL, 0);
	b[12] = 0x11;
	expect_refused(b, 13, "PROXY protocol version is not 2");
	b[12] = 0x22;
	expect_refused(b, 13, "unknown PROXY v2 command");
	b[12] = 0x21;
	b[13] = 0x31;
	expect_refused(b, 14, "PROXY v2 address family is not IPv4 or IPv6");
	b[13] = 0x01;
	expect_refused(b, n, "PROXY v2 address family is not IPv4 or IPv6");
	b[13] = 0x12;
	expect_refused(b, 14, "PROXY v2 transport is not TCP");
	b[12] = 0x20;
	b[13] = 0x41;
	expect_refused(b, 14, "unknown PROXY v2 address family or transport");
	/* Length: too long, too short for the addresses. */
	n = mk(b, 0x21, 0x11, body, 497);
	expect_refused(b, 16, "PROXY v2 header longer than 512 bytes");
	n = mk(b, 0x21, 0x11, body, 496);
	assert_int_equal(n, SP_PROXY_HDR_MAX);
	{
		sp_proxy_hdr h;
		const char *why;
		/* 12 address bytes and a NOOP TLV filling the rest: at the limit. */
		b[28] = 0x04;
		b[29] = (uint8_t)((496 - 15) >> 8);
		b[30] = (uint8_t)(496 - 15);
		assert_int_equal(parse(b, n, &h, &why), SP_PROXY_OK);
	}
	n = mk(b, 0x21, 0x11, body, 11);
	expect_refused(b, 16, "PROXY v2 length shorter than its addresses");
	n = mk(b, 0x21, 0x21, body, 35);
	expect_refused(b, 16, "PROXY v2 length shorter than its addresses");
	/* TLVs: a header of 2 bytes, and a value past the end. */
	n = mk4(b, (const uint8_t *)"\x04\x00", 2);
	expect_refused(b, n, "PROXY v2 TLV truncated");
	n = mk4(b, (const uint8_t *)"\x04\x00\x02\x01", 4);
	expect_refused(b, n, "PROXY v2 TLV runs past the header");
	n = mk4(b, (const uint8_t *)"\x04\xff\xff", 3);
	expect_refused(b, n, "PROXY v2 TLV runs past the header");
}

static void
test_empty(void **state)
{
	sp_proxy_hdr h;
	const char *why;

	(void)state;
	assert_int_equal(sp_proxy_parse(sp_slice_mk(NULL, 0), &h, &why), SP_PROXY_MORE);
}

static struct sockaddr_storage
sa_of(const char *s)
{
	struct sockaddr_storage ss;

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, s, &((struct sockaddr_in *)(void *)&ss)->sin_addr) == 1)
		ss.ss_family = AF_INET;
	else if (inet_pton(AF_INET6, s, &((struct sockaddr_in6 *)(void *)&ss)->sin6_addr) == 1)
		ss.ss_family = AF_INET6;
	else
		fail_msg("bad test address %s", s);
	return ss;
}

static bool
match(const sp_proxy_acl *acl, const char *s)
{
	struct sockaddr_storage ss = sa_of(s);

	return sp_proxy_acl_match(acl, (struct sockaddr *)&ss, sizeof(ss));
}

static void
test_acl(void **state)
{
	sp_proxy_acl acl;

	(void)state;
	if (sp_failed(sp_proxy_acl_parse(SP_SLICE_LIT("127.0.0.1, 10.0.0.0/8,fd00::/8 ::1,"
	    "192.168.1.128/25, 0.0.0.0/0"), &acl)))
		fail_msg("%s", sp_errmsg());
	assert_int_equal(acl.n, 6);
	assert_true(match(&acl, "127.0.0.1"));
	assert_true(match(&acl, "10.200.3.4"));
	assert_true(match(&acl, "fd12::5"));
	assert_true(match(&acl, "::1"));
	assert_true(match(&acl, "::ffff:10.0.0.1"));   /* mapped: the IPv4 entries */
	assert_false(match(&acl, "fe80::1"));
	assert_false(match(&acl, "::2"));
	/* 0.0.0.0/0 matches every IPv4 address. */
	assert_true(match(&acl, "8.8.8.8"));

	if (sp_failed(sp_proxy_acl_parse(SP_SLICE_LIT("127.0.0.1,192.168.1.128/25"), &acl)))
		fail_msg("%s", sp_errmsg());
	assert_true(match(&acl, "192.168.1.255"));
	assert_true(match(&acl, "192.168.1.128"));
	assert_false(match(&acl, "192.168.1.127"));
	assert_false(match(&acl, "127.0.0.7"));
	assert_false(match(&acl, "::ffff:127.0.0.7"));

	/* Empty: nobody. */
	if (sp_failed(sp_proxy_acl_parse(SP_SLICE_LIT(""), &acl)))
		fail_msg("%s", sp_errmsg());
	assert_int_equal(acl.n, 0);
	assert_false(match(&acl, "127.0.0.1"));
}

static void
expect_acl_error(const char *text, const char *msg)
{
	sp_proxy_acl acl;

	acl.n = 99;
	assert_true(sp_failed(sp_proxy_acl_parse(sp_slice_of(text), &acl)));
	assert_string_equal(sp_errmsg(), msg);
	assert_int_equal(acl.n, 99);  /* untouched on failure */
}

static void
test_acl_refused(void **state)
{
	char many[SP_PROXY_ACL_TEXT_MAX + 2];
	size_t n = 0;

	(void)state;
	expect_acl_error("127.0.0.1, localhost",
	    "proxy-from: 'localhost' is not an IP address or CIDR prefix");
	expect_acl_error("10.0.0.0/33", "proxy-from: '10.0.0.0/33': the prefix length is not 0 to 32");
	expect_acl_error("::/129", "proxy-from: '::/129': the prefix length is not 0 to 128");
	expect_acl_error("10.0.0.0/", "proxy-from: '10.0.0.0/': the prefix length is not 0 to 32");
	expect_acl_error("10.0.0.0/-1", "proxy-from: '10.0.0.0/-1': the prefix length is not 0 to 32");
	expect_acl_error("/8", "proxy-from: '/8' is not an IP address or CIDR prefix");
	expect_acl_error("10.0.0.1/8", "proxy-from: '10.0.0.1/8' has host bits set under its /8");
	expect_acl_error("fd00::1/8", "proxy-from: 'fd00::1/8' has host bits set under its /8");
	expect_acl_error("1.2.3.4:80", "proxy-from: '1.2.3.4:80' is not an IP address or CIDR prefix");
	while (n + 9 < SP_PROXY_ACL_TEXT_MAX && n / 9 <= SP_PROXY_ACL_MAX)
		n += (size_t)snprintf(many + n, sizeof(many) - n, "10.0.0.1,");
	expect_acl_error(many, "proxy-from: more than 64 entries");
	memset(many, ' ', sizeof(many) - 1);
	many[sizeof(many) - 1] = '\0';
	expect_acl_error(many, "proxy-from: longer than 1024 bytes");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ipv4),
		cmocka_unit_test(test_ipv6_with_tlvs),
		cmocka_unit_test(test_local),
		cmocka_unit_test(test_prefixes),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_acl),
		cmocka_unit_test(test_acl_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
