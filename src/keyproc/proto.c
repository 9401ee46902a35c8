/*
 * The key process' wire format (keyproc.h): the one encoder and the one
 * strict parser of requests and answers.  No I/O, no global state:
 * fuzz/fuzz_keyproc.c feeds sp_kp_req_parse arbitrary bytes.
 */
#include "keyproc/keyproc.h"

#include <string.h>

static uint32_t
get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void
put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

size_t
sp_kp_md_size(sp_kp_md md)
{
	switch (md) {
	case SP_KP_MD_SHA1:
		return 20;
	case SP_KP_MD_SHA256:
		return 32;
	case SP_KP_MD_SHA384:
		return 48;
	case SP_KP_MD_SHA512:
		return 64;
	default:
		return 0;
	}
}

/* The checks a request's fields must pass, shared by parse and encode. */
static sp_result
req_check(const sp_kp_req *r)
{
	size_t mdlen = sp_kp_md_size(r->md);

	if (r->op == SP_KP_OP_LOAD) {
		if (r->alg != SP_KP_ALG_NONE || r->md != SP_KP_MD_NONE || r->inlen != 0)
			return sp_error(SP_E_PARSE, "keyproc: a load request carries no input");
		if (r->id >= SP_KP_SLOTS_MAX)
			return sp_error(SP_E_PARSE, "keyproc: slot %u out of range", r->id);
		return SP_OK;
	}
	if (r->op != SP_KP_OP_SIGN)
		return sp_error(SP_E_PARSE, "keyproc: unknown operation %d", (int)r->op);
	if ((int)r->md < 0 || r->md >= SP_KP_MD_N)
		return sp_error(SP_E_PARSE, "keyproc: unknown digest %d", (int)r->md);
	if (r->inlen == 0 || r->inlen > SP_KP_IN_MAX)
		return sp_error(SP_E_PARSE, "keyproc: input of %zu bytes (1..%d)", r->inlen,
		    SP_KP_IN_MAX);
	switch (r->alg) {
	case SP_KP_ECDSA:
		/* EC_KEY_METHOD's sign does not say which digest: only its size. */
		if (r->md != SP_KP_MD_NONE || r->inlen > 64)
			return sp_error(SP_E_PARSE, "keyproc: ECDSA takes a digest of at most "
			    "64 bytes and no digest name");
		return SP_OK;
	case SP_KP_RSA_RAW:
		if (r->md != SP_KP_MD_NONE)
			return sp_error(SP_E_PARSE, "keyproc: raw RSA takes no digest name");
		return SP_OK;
	case SP_KP_RSA_PKCS1:
		if (mdlen != 0 && r->inlen != mdlen)
			return sp_error(SP_E_PARSE, "keyproc: a %zu-byte digest is not %zu",
			    r->inlen, mdlen);
		return SP_OK;
	case SP_KP_RSA_PSS:
		if (mdlen == 0 || r->md == SP_KP_MD_SHA1 || r->inlen != mdlen)
			return sp_error(SP_E_PARSE, "keyproc: RSA-PSS takes a SHA-2 digest of "
			    "its size");
		return SP_OK;
	default:
		return sp_error(SP_E_PARSE, "keyproc: unknown algorithm %d", (int)r->alg);
	}
}

/* The header both directions share: version b1 b2 b3 id(4) len(2) zero(2). */
typedef struct frame {
	uint8_t b1, b2, b3;
	uint32_t id;
	const uint8_t *data; /* NULL when len is 0 */
	size_t len;
} frame;

static sp_result
frame_parse(const uint8_t *msg, size_t len, size_t max, const char *what, frame *f)
{
	if (len < SP_KP_HDR || len > max)
		return sp_error(SP_E_PARSE, "keyproc: %s of %zu bytes (%d..%zu)", what, len,
		    SP_KP_HDR, max);
	if (msg[0] != SP_KP_VERSION)
		return sp_error(SP_E_PARSE, "keyproc: version %u, not %d", msg[0],
		    SP_KP_VERSION);
	if (msg[10] != 0 || msg[11] != 0)
		return sp_error(SP_E_PARSE, "keyproc: reserved bytes are not zero");
	f->b1 = msg[1];
	f->b2 = msg[2];
	f->b3 = msg[3];
	f->id = get32(msg + 4);
	f->len = (size_t)msg[8] << 8 | msg[9];
	if (f->len != len - SP_KP_HDR)
		return sp_error(SP_E_PARSE, "keyproc: length field %zu, %zu bytes follow",
		    f->len, len - SP_KP_HDR);
	f->data = f->len ? msg + SP_KP_HDR : NULL;
	return SP_OK;
}

/* The caller checked f: the bytes fit buf.  The message's length. */
static size_t
frame_put(const frame *f, uint8_t *buf)
{
	buf[0] = SP_KP_VERSION;
	buf[1] = f->b1;
	buf[2] = f->b2;
	buf[3] = f->b3;
	put32(buf + 4, f->id);
	buf[8] = (uint8_t)(f->len >> 8);
	buf[9] = (uint8_t)f->len;
	buf[10] = buf[11] = 0;
	if (f->len)
		memcpy(buf + SP_KP_HDR, f->data, f->len);
	return SP_KP_HDR + f->len;
}

sp_result
sp_kp_req_parse(const uint8_t *msg, size_t len, sp_kp_req *out)
{
	sp_kp_req r;
	frame f;
	sp_result res;

	memset(out, 0, sizeof(*out));
	if (sp_failed(res = frame_parse(msg, len, SP_KP_REQ_MAX, "request", &f)))
		return res;
	r = (sp_kp_req){ (sp_kp_op)f.b1, (sp_kp_alg)f.b2, (sp_kp_md)f.b3, f.id, f.data,
	    f.len };
	if (sp_failed(res = req_check(&r)))
		return res;
	*out = r;
	return SP_OK;
}

sp_result
sp_kp_req_encode(const sp_kp_req *req, uint8_t *buf, size_t *len)
{
	sp_result res = req_check(req);
	frame f = { (uint8_t)req->op, (uint8_t)req->alg, (uint8_t)req->md, req->id, req->in,
	    req->inlen };

	if (sp_failed(res))
		return res;
	*len = frame_put(&f, buf);
	return SP_OK;
}

static sp_result
resp_check(const sp_kp_resp *r)
{
	if ((int)r->status < 0 || r->status >= SP_KP_ST_N)
		return sp_error(SP_E_PARSE, "keyproc: unknown status %d", (int)r->status);
	if (r->len > SP_KP_OUT_MAX)
		return sp_error(SP_E_PARSE, "keyproc: answer of %zu bytes (max %d)", r->len,
		    SP_KP_OUT_MAX);
	if (r->status == SP_KP_ST_OK && r->len == 0)
		return sp_error(SP_E_PARSE, "keyproc: empty answer");
	if (r->status != SP_KP_ST_OK) {
		if (r->len > SP_KP_MSG_MAX)
			return sp_error(SP_E_PARSE, "keyproc: error message of %zu bytes",
			    r->len);
		for (size_t i = 0; i < r->len; i++)
			if (r->data[i] < 0x20 || r->data[i] > 0x7e)
				return sp_error(SP_E_PARSE, "keyproc: error message is not "
				    "printable");
	}
	return SP_OK;
}

sp_result
sp_kp_resp_parse(const uint8_t *msg, size_t len, sp_kp_resp *out)
{
	sp_kp_resp r;
	frame f;
	sp_result res;

	memset(out, 0, sizeof(*out));
	if (sp_failed(res = frame_parse(msg, len, SP_KP_RESP_MAX, "answer", &f)))
		return res;
	if (f.b2 != 0 || f.b3 != 0)
		return sp_error(SP_E_PARSE, "keyproc: reserved bytes are not zero");
	r = (sp_kp_resp){ (sp_kp_status)f.b1, f.id, f.data, f.len };
	if (sp_failed(res = resp_check(&r)))
		return res;
	*out = r;
	return SP_OK;
}

sp_result
sp_kp_resp_encode(const sp_kp_resp *resp, uint8_t *buf, size_t *len)
{
	sp_result res = resp_check(resp);
	frame f = { (uint8_t)resp->status, 0, 0, resp->id, resp->data, resp->len };

	if (sp_failed(res))
		return res;
	*len = frame_put(&f, buf);
	return SP_OK;
}
