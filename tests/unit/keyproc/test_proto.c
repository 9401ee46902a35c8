/* The key process' framing (src/keyproc/proto.c): round-trips, every
 * refusal by name, prefixes and byte-at-a-time truncation. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "keyproc/keyproc.h"

static const uint8_t dgst[32] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
	17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32 };

static size_t
enc(const sp_kp_req *rq, uint8_t *buf)
{
	size_t len = 0;

	assert_true(sp_ok(sp_kp_req_encode(rq, buf, &len)));
	return len;
}

static void
test_req_roundtrip(void **state)
{
	uint8_t buf[SP_KP_REQ_MAX];
	sp_kp_req rq = { .op = SP_KP_OP_SIGN, .alg = SP_KP_RSA_PSS, .md = SP_KP_MD_SHA256,
		.id = 0x01020304, .in = dgst, .inlen = sizeof(dgst) }, got;
	size_t len;
	(void)state;

	len = enc(&rq, buf);
	assert_int_equal(len, SP_KP_HDR + 32);
	/* The layout is the documented one: version op alg md id(BE) len(BE) 0 0. */
	assert_int_equal(buf[0], SP_KP_VERSION);
	assert_int_equal(buf[1], SP_KP_OP_SIGN);
	assert_int_equal(buf[2], SP_KP_RSA_PSS);
	assert_int_equal(buf[3], SP_KP_MD_SHA256);
	assert_memory_equal(buf + 4, "\x01\x02\x03\x04\x00\x20\x00\x00", 8);
	assert_true(sp_ok(sp_kp_req_parse(buf, len, &got)));
	assert_int_equal(got.op, rq.op);
	assert_int_equal(got.alg, rq.alg);
	assert_int_equal(got.md, rq.md);
	assert_int_equal(got.id, rq.id);
	assert_int_equal(got.inlen, 32);
	assert_memory_equal(got.in, dgst, 32);

	rq = (sp_kp_req){ .op = SP_KP_OP_LOAD, .id = 3 };
	len = enc(&rq, buf);
	assert_int_equal(len, SP_KP_HDR);
	assert_true(sp_ok(sp_kp_req_parse(buf, len, &got)));
	assert_int_equal(got.op, SP_KP_OP_LOAD);
	assert_int_equal(got.id, 3);
	assert_null(got.in);
}

/* Each refusal: the exact message, and *out left zeroed. */
static void
refused(const uint8_t *msg, size_t len, const char *want)
{
	sp_kp_req got;
	sp_result r = sp_kp_req_parse(msg, len, &got);

	assert_int_equal(r.code, SP_E_PARSE);
	if (strcmp(sp_errmsg(), want) != 0)
		fail_msg("got '%s', want '%s'", sp_errmsg(), want);
	assert_int_equal(got.op, 0);
	assert_null(got.in);
}

static void
test_req_refusals(void **state)
{
	uint8_t buf[SP_KP_REQ_MAX + 1], m[SP_KP_REQ_MAX + 1];
	sp_kp_req rq = { .op = SP_KP_OP_SIGN, .alg = SP_KP_ECDSA, .id = 7, .in = dgst,
		.inlen = 32 };
	size_t len;
	(void)state;

	len = enc(&rq, buf);
	refused(buf, 11, "keyproc: request of 11 bytes (12..524)");
	memset(m, 0, sizeof(m));
	memcpy(m, buf, len);
	refused(m, SP_KP_REQ_MAX + 1, "keyproc: request of 525 bytes (12..524)");
	/* Every prefix shorter than the whole is refused. */
	for (size_t i = 0; i < len; i++)
		assert_true(sp_failed(sp_kp_req_parse(buf, i, &(sp_kp_req){ 0 })));
	memcpy(m, buf, len);
	m[0] = 2;
	refused(m, len, "keyproc: version 2, not 1");
	memcpy(m, buf, len);
	m[11] = 1;
	refused(m, len, "keyproc: reserved bytes are not zero");
	memcpy(m, buf, len);
	m[9] = 31;
	refused(m, len, "keyproc: length field 31, 32 bytes follow");
	memcpy(m, buf, len);
	m[1] = 9;
	refused(m, len, "keyproc: unknown operation 9");
	memcpy(m, buf, len);
	m[2] = 9;
	refused(m, len, "keyproc: unknown algorithm 9");
	memcpy(m, buf, len);
	m[3] = 9;
	refused(m, len, "keyproc: unknown digest 9");
	memcpy(m, buf, len);
	m[3] = SP_KP_MD_SHA256;
	refused(m, len, "keyproc: ECDSA takes a digest of at most 64 bytes and no digest name");
	memcpy(m, buf, len);
	m[2] = SP_KP_RSA_PSS;
	m[3] = SP_KP_MD_SHA384;
	refused(m, len, "keyproc: RSA-PSS takes a SHA-2 digest of its size");
	memcpy(m, buf, len);
	m[2] = SP_KP_RSA_PKCS1;
	m[3] = SP_KP_MD_SHA1;
	refused(m, len, "keyproc: a 32-byte digest is not 20");
	memcpy(m, buf, len);
	m[2] = SP_KP_RSA_RAW;
	m[3] = SP_KP_MD_SHA256;
	refused(m, len, "keyproc: raw RSA takes no digest name");
	/* A sign request with no input; a load request with some. */
	memcpy(m, buf, SP_KP_HDR);
	m[8] = m[9] = 0;
	refused(m, SP_KP_HDR, "keyproc: input of 0 bytes (1..512)");
	memcpy(m, buf, len);
	m[1] = SP_KP_OP_LOAD;
	refused(m, len, "keyproc: a load request carries no input");
	memcpy(m, buf, SP_KP_HDR);
	m[1] = SP_KP_OP_LOAD;
	m[2] = 0;
	m[8] = m[9] = 0;
	m[7] = SP_KP_SLOTS_MAX;
	refused(m, SP_KP_HDR, "keyproc: slot 4 out of range");
	/* The encoder refuses what the parser refuses. */
	rq.md = SP_KP_MD_SHA256;
	assert_int_equal(sp_kp_req_encode(&rq, buf, &len).code, SP_E_PARSE);
	rq = (sp_kp_req){ .op = SP_KP_OP_SIGN, .alg = SP_KP_RSA_RAW, .in = dgst,
		.inlen = SP_KP_IN_MAX + 1 };
	assert_int_equal(sp_kp_req_encode(&rq, buf, &len).code, SP_E_PARSE);
}

static void
test_resp(void **state)
{
	uint8_t buf[SP_KP_RESP_MAX], m[SP_KP_RESP_MAX];
	sp_kp_resp rs = { .status = SP_KP_ST_OK, .id = 9, .data = dgst, .len = 32 }, got;
	size_t len = 0;
	(void)state;

	assert_true(sp_ok(sp_kp_resp_encode(&rs, buf, &len)));
	assert_true(sp_ok(sp_kp_resp_parse(buf, len, &got)));
	assert_int_equal(got.id, 9);
	assert_int_equal(got.len, 32);
	assert_memory_equal(got.data, dgst, 32);
	for (size_t i = 0; i < len; i++)
		assert_true(sp_failed(sp_kp_resp_parse(buf, i, &got)));
	memcpy(m, buf, len);
	m[1] = SP_KP_ST_N;
	assert_int_equal(sp_kp_resp_parse(m, len, &got).code, SP_E_PARSE);
	assert_string_equal(sp_errmsg(), "keyproc: unknown status 4");
	memcpy(m, buf, len);
	m[2] = 1;
	assert_int_equal(sp_kp_resp_parse(m, len, &got).code, SP_E_PARSE);
	/* An empty success; an error message that is not printable. */
	rs.len = 0;
	assert_int_equal(sp_kp_resp_encode(&rs, buf, &len).code, SP_E_PARSE);
	assert_string_equal(sp_errmsg(), "keyproc: empty answer");
	rs = (sp_kp_resp){ .status = SP_KP_ST_FAILED, .data = (const uint8_t *)"bad\n",
		.len = 4 };
	assert_int_equal(sp_kp_resp_encode(&rs, buf, &len).code, SP_E_PARSE);
	assert_string_equal(sp_errmsg(), "keyproc: error message is not printable");
	rs.len = 3;
	assert_true(sp_ok(sp_kp_resp_encode(&rs, buf, &len)));
	assert_true(sp_ok(sp_kp_resp_parse(buf, len, &got)));
	assert_int_equal(got.status, SP_KP_ST_FAILED);
	assert_memory_equal(got.data, "bad", 3);
	assert_int_equal(sp_kp_md_size(SP_KP_MD_SHA384), 48);
	assert_int_equal(sp_kp_md_size(SP_KP_MD_NONE), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_req_roundtrip),
		cmocka_unit_test(test_req_refusals),
		cmocka_unit_test(test_resp),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
