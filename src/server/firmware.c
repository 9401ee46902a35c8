/*
 * Firmware images for `sprov serve` (firmware.h).
 *
 * A request whose path matches firmware-path is an image's.  The device
 * is already identified by its certificate (request.c); it gets an image
 * of its own product only (403 otherwise, audited in the access log), and
 * 404 for an image the store does not hold.  The store is reached only
 * through store-thread jobs: one for the metadata (length and SHA-256:
 * the ETag, so If-None-Match is answered 304 without reading a byte),
 * then one per chunk of SP_FW_CHUNK bytes.  The next chunk is read only
 * when the previous one is written, so a stream holds one chunk of memory
 * however large the image and however slow the device.
 *
 * Range: one byte range gets 206 with Content-Range, an unsatisfiable one
 * 416; a list of ranges, another unit or a malformed header gets the whole
 * image (200), which RFC 9110 allows.  If-Range with another ETag: whole.
 */
#include "server/firmware.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

#include "common/log.h"
#include "common/text.h"
#include "common/util.h"
#include "server/admin.h"
#include "server/request.h"

/* ---- firmware-path ---------------------------------------------------------- */

sp_result
sp_fwpath_parse(sp_slice src, sp_fwpath *out)
{
	sp_result res = SP_OK;
	int part = 0;
	bool seen_pn = false, seen_ver = false;
	char q[96];

	memset(out, 0, sizeof(*out));
	sp_quote(src, q, sizeof(q));
	ENSURE(src.len >= 1 && src.len <= SP_FWPATH_LEN_MAX, SP_E_PARSE,
	    "firmware-path '%s': 1 to %d bytes", q, SP_FWPATH_LEN_MAX);
	ENSURE(src.p[0] == '/', SP_E_PARSE, "firmware-path '%s' must start with '/'", q);
	memcpy(out->src, src.p, src.len);
	for (size_t i = 0; i < src.len;) {
		unsigned char c = (unsigned char)src.p[i];
		size_t ns, ne, next;
		sp_slice name;

		ENSURE(c >= 0x20 && c != 0x7f && c != '?' && c != '%', SP_E_PARSE,
		    "firmware-path '%s': no control byte, '?' or '%%'", q);
		if (c != '$' || (i + 1 < src.len && src.p[i + 1] == '$')) {
			out->lit[part][out->litlen[part]++] = (char)c;
			i += c == '$' ? 2 : 1;
			continue;
		}
		if (i + 1 < src.len && src.p[i + 1] == '(') {
			const char *close = memchr(src.p + i + 2, ')', src.len - i - 2);
			ENSURE(close != NULL, SP_E_PARSE, "firmware-path '%s': '$(' without ')'", q);
			ns = i + 2;
			ne = (size_t)(close - src.p);
			next = ne + 1;
		} else {
			ns = ne = i + 1;
			while (ne < src.len && ((src.p[ne] >= 'A' && src.p[ne] <= 'Z') ||
			    (src.p[ne] >= '0' && src.p[ne] <= '9')))
				ne++;
			next = ne;
		}
		name = sp_slice_mk(src.p + ns, ne - ns);
		if (sp_slice_eq_cstr(name, "PN")) {
			ENSURE(!seen_pn, SP_E_PARSE, "firmware-path '%s': $PN twice", q);
			seen_pn = true;
			out->pn_first = !seen_ver;
		} else if (sp_slice_eq_cstr(name, "VERSION")) {
			ENSURE(!seen_ver, SP_E_PARSE, "firmware-path '%s': $VERSION twice", q);
			seen_ver = true;
		} else {
			res = sp_error(SP_E_PARSE, "firmware-path '%s': only $PN and $VERSION "
			    "are known (write $$ for a '$')", q);
			goto out;
		}
		part++;
		i = next;
	}
	ENSURE(seen_pn && seen_ver, SP_E_PARSE, "firmware-path '%s' needs $PN and $VERSION", q);
	ENSURE(out->litlen[1] > 0, SP_E_PARSE,
	    "firmware-path '%s' needs text between $PN and $VERSION", q);
out:
	return res;
}

bool
sp_fwpath_match(const sp_fwpath *t, sp_slice path, char pn[SP_FW_PRODUCT_MAX + 1],
    char ver[SP_FW_VERSION_MAX + 1])
{
	size_t a = t->litlen[0], b = t->litlen[1], c = t->litlen[2];
	sp_slice mid;

	if (path.len < a + b + c + 2 || memcmp(path.p, t->lit[0], a) != 0 ||
	    memcmp(path.p + path.len - c, t->lit[2], c) != 0)
		return false;
	mid = sp_slice_mk(path.p + a, path.len - a - c);
	for (size_t i = 1; i + b < mid.len; i++) {
		sp_slice x = sp_slice_mk(mid.p, i), y = sp_slice_mk(mid.p + i + b, mid.len - i - b);
		sp_slice sp = t->pn_first ? x : y, sv = t->pn_first ? y : x;

		if (memcmp(mid.p + i, t->lit[1], b) != 0 || sp.len > SP_FW_PRODUCT_MAX ||
		    sv.len > SP_FW_VERSION_MAX || !sp_fw_product_ok(sp) || !sp_fw_version_ok(sv))
			continue;
		memcpy(pn, sp.p, sp.len);
		pn[sp.len] = '\0';
		memcpy(ver, sv.p, sv.len);
		ver[sv.len] = '\0';
		return true;
	}
	return false;
}

/* ---- Range ------------------------------------------------------------------- */

/* Digits at *p (at most 19), through sp_parse_i64; false: none or too large. */
static bool
range_num(const char **p, uint64_t *v, bool *has)
{
	char tmp[24];
	size_t n = 0;
	int64_t x;

	*has = false;
	while ((*p)[n] >= '0' && (*p)[n] <= '9') {
		if (n + 1 >= sizeof(tmp))
			return false;
		tmp[n] = (*p)[n];
		n++;
	}
	if (n == 0)
		return true;
	tmp[n] = '\0';
	if (sp_failed(sp_parse_i64(tmp, 0, INT64_MAX, "Range", &x))) {
		sp_error_clear();
		return false;
	}
	*p += n;
	*v = (uint64_t)x;
	*has = true;
	return true;
}

sp_range_kind
sp_range_parse(const char *hdr, uint64_t len, uint64_t *from, uint64_t *to)
{
	const char *p = hdr;
	uint64_t a = 0, b = 0;
	bool has_a, has_b;

	if (p == NULL)
		return SP_RANGE_WHOLE;
	while (*p == ' ' || *p == '\t')
		p++;
	if (strncasecmp(p, "bytes", 5) != 0)
		return SP_RANGE_WHOLE;
	p += 5;
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p++ != '=' || strchr(p, ',') != NULL)
		return SP_RANGE_WHOLE;
	while (*p == ' ' || *p == '\t')
		p++;
	if (!range_num(&p, &a, &has_a) || *p++ != '-' || !range_num(&p, &b, &has_b))
		return SP_RANGE_WHOLE;
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p != '\0' || (!has_a && !has_b) || (has_a && has_b && b < a))
		return SP_RANGE_WHOLE;
	if (!has_a) {
		/* The last b bytes. */
		if (b == 0 || len == 0)
			return SP_RANGE_UNSATISFIABLE;
		*from = b >= len ? 0 : len - b;
		*to = len - 1;
		return SP_RANGE_PART;
	}
	if (a >= len)
		return SP_RANGE_UNSATISFIABLE;
	*from = a;
	*to = !has_b || b >= len ? len - 1 : b;
	return SP_RANGE_PART;
}

void
sp_fw_etag(const uint8_t sha256[32], char out[SP_FW_ETAG_LEN + 1])
{
	out[0] = '"';
	for (size_t i = 0; i < 32; i++)
		snprintf(out + 1 + 2 * i, 3, "%02x", sha256[i]);
	out[SP_FW_ETAG_LEN - 1] = '"';
	out[SP_FW_ETAG_LEN] = '\0';
}

/* ---- the route ------------------------------------------------------------- */

bool
srv_fw_route(request *rq, const char *path, bool *waiting)
{
	char pn[SP_FW_PRODUCT_MAX + 1], ver[SP_FW_VERSION_MAX + 1];
	request *p;

	if (!sp_fwpath_match(&rq->cfg->firmware_path, sp_slice_of(path), pn, ver))
		return false;
	if (strcmp(pn, rq->peer.id.product) != 0) {
		rq->l.note = "firmware-other-product";
		srv_reply(rq, 403, "Forbidden", "this image is for another product", rq->close);
		return true;
	}
	p = malloc(sizeof(*p));
	if (p == NULL) {
		srv_reply_unavailable(rq);
		return true;
	}
	*p = *rq;
	memset(&p->job, 0, sizeof(p->job));
	p->fw = true;
	p->job.w = rq->w;
	p->job.owner = p;
	p->job.kind = SRV_JOB_FW_GET;
	memcpy(p->job.fw_product, pn, sizeof(pn));
	memcpy(p->job.fw_version, ver, sizeof(ver));
	if (!srv_store_submit(rq->s, &p->job)) {
		free(p);
		srv_reply_unavailable(rq);
		return true;
	}
	p->in_store = true;
	rq->c->waiting = p;
	*waiting = true;
	return true;
}

/* The answer is complete (or was a short one): log it, next request. */
static bool
fw_end(request *p)
{
	p->c->waiting = NULL;
	if (p->fw_ev != NULL)
		event_free(p->fw_ev);
	p->fw_ev = NULL;
	srv_req_end(p, NULL);
	return false;
}

/*
 * The headers are out and a chunk cannot follow (the store failed, or
 * the image was replaced): the device must not take a short body for a
 * whole one, so the connection is closed; the close frees p (orphan).
 */
static void
fw_abort(request *p, const char *why)
{
	p->l.note = why;
	sp_warn("serve: firmware %s %s for %s: stream cut at byte %llu: %s", p->job.fw_product,
	    p->job.fw_version, p->l.mac, (unsigned long long)p->job.off, why);
	sp_accesslog_write(p->s->access, &p->l);
	srv_cfg_release(p->s);
	conn_kill(p->c);
}

/* Ask the store thread for the next chunk; cfg is held on entry, released. */
static void
fw_next(request *p)
{
	srv_job *j = &p->job;
	uint64_t left = p->fw_end - j->off;

	j->kind = SRV_JOB_FW_READ;
	j->len = left < SP_FW_CHUNK ? (size_t)left : SP_FW_CHUNK;
	j->got = 0;
	if (j->buf == NULL && (j->buf = malloc(SP_FW_CHUNK)) == NULL) {
		fw_abort(p, "firmware-no-memory");
		return;
	}
	if (!srv_store_submit(p->s, j)) {
		fw_abort(p, "firmware-store-unavailable");
		return;
	}
	p->in_store = true;
	srv_cfg_release(p->s);   /* not held across a stream: a reload must not wait */
}

/*
 * The chunk is written out (conn.c saw the output drained; this runs
 * from the event loop, outside the TLS layer's write): the next chunk, or
 * the end.  evhttp's own chunk callback is not used: with a TLS layer
 * that writes while the chunk is added it runs before it is set.
 */
static void
fw_written(evutil_socket_t fd, short what, void *arg)
{
	request *p = arg;
	struct evhttp_request *req = p->req;

	(void)fd;
	(void)what;
	p->cfg = srv_cfg_hold(p->s);
	if (p->job.off < p->fw_end) {
		fw_next(p);
		return;
	}
	/* Logged and the connection set for its next request first: the end may free it. */
	(void)fw_end(p);
	free(p->job.buf);
	free(p);
	evhttp_send_reply_end(req);
}

static void
fw_drained(void *arg)
{
	request *p = arg;

	conn_arm(p->c, CS_BUSY, 0);
	event_active(p->fw_ev, 0, 0);
}

static void
chunk_free(const void *data, size_t len, void *arg)
{
	(void)len;
	(void)arg;
	free((void *)(uintptr_t)data);
}

/* A chunk came back from the store: send it; fw_written follows. */
static bool
fw_chunk(request *p)
{
	srv_job *j = &p->job;
	struct evbuffer *b;

	if (j->outcome != SRV_JOB_OK || j->got == 0) {
		fw_abort(p, j->outcome == SRV_JOB_NOTFOUND ? "firmware-replaced" :
		    "firmware-read-failed");
		return true;   /* the close frees p */
	}
	b = evbuffer_new();
	/* The evbuffer owns the chunk from here: freed once written. */
	if (b == NULL || evbuffer_add_reference(b, j->buf, j->got, chunk_free, NULL) != 0) {
		if (b != NULL)
			evbuffer_free(b);
		fw_abort(p, "firmware-no-memory");
		return true;
	}
	j->buf = NULL;
	j->off += j->got;
	p->l.bytes += j->got;
	/* A device that stops reading is cut after idle-timeout (phase "send"). */
	conn_arm(p->c, CS_SENDING, p->cfg->idle_timeout);
	srv_cfg_release(p->s);
	p->c->drained = fw_drained;
	p->c->drained_arg = p;
	evhttp_send_reply_chunk(p->req, b);
	evbuffer_free(b);
	return true;
}

/* The image's metadata came back: 304, 404, 416, HEAD, or the stream begins. */
static bool
fw_headers(request *p)
{
	srv_job *j = &p->job;
	const char *inm = evhttp_find_header(p->ih, "If-None-Match");
	const char *range = evhttp_find_header(p->ih, "Range");
	const char *ifr = evhttp_find_header(p->ih, "If-Range");
	uint64_t from = 0, to = 0;
	int code = 200;
	const char *reason = "OK";
	char cr[96], cl[32];
	struct evbuffer *b;

	switch (j->outcome) {
	case SRV_JOB_OK:
		break;
	case SRV_JOB_NOTFOUND:
		p->l.note = "firmware-unknown";
		srv_reply(p, 404, "Not Found", "no such image", p->close);
		return fw_end(p);
	case SRV_JOB_ERROR:
		srv_reply(p, 500, "Internal Server Error", "internal error", true);
		return fw_end(p);
	case SRV_JOB_UNAVAILABLE:
		srv_reply_unavailable(p);
		return fw_end(p);
	}
	p->fw_ev = event_new(p->w->base, -1, 0, fw_written, p);
	if (p->fw_ev == NULL) {
		srv_reply(p, 500, "Internal Server Error", "internal error", true);
		return fw_end(p);
	}
	sp_fw_etag(j->fw.sha256, p->fw_etag);
	p->l.etag = p->fw_etag;
	evhttp_add_header(p->oh, "ETag", p->fw_etag);
	evhttp_add_header(p->oh, "Accept-Ranges", "bytes");
	if (inm != NULL && srv_etag_matches(inm, p->fw_etag)) {
		evhttp_add_header(p->oh, "Cache-Control", "no-store");
		if (p->close)
			evhttp_add_header(p->oh, "Connection", "close");
		p->l.status = 304;
		evhttp_send_reply(p->req, 304, "Not Modified", NULL);
		srv_count_status(p->s, 304);
		return fw_end(p);
	}
	if (ifr != NULL && strcmp(ifr, p->fw_etag) != 0)
		range = NULL;   /* another image than the one the device holds part of */
	switch (sp_range_parse(range, j->fw.length, &from, &to)) {
	case SP_RANGE_UNSATISFIABLE:
		snprintf(cr, sizeof(cr), "bytes */%llu", (unsigned long long)j->fw.length);
		evhttp_add_header(p->oh, "Content-Range", cr);
		srv_reply(p, 416, "Range Not Satisfiable", "range not satisfiable", p->close);
		return fw_end(p);
	case SP_RANGE_PART:
		code = 206;
		reason = "Partial Content";
		snprintf(cr, sizeof(cr), "bytes %llu-%llu/%llu", (unsigned long long)from,
		    (unsigned long long)to, (unsigned long long)j->fw.length);
		evhttp_add_header(p->oh, "Content-Range", cr);
		break;
	case SP_RANGE_WHOLE:
		from = 0;
		to = j->fw.length - 1;
		break;
	}
	snprintf(cl, sizeof(cl), "%llu", (unsigned long long)(to - from + 1));
	evhttp_add_header(p->oh, "Content-Type", "application/octet-stream");
	evhttp_add_header(p->oh, "Content-Length", cl);
	evhttp_add_header(p->oh, "Cache-Control", "no-store");
	if (p->close)
		evhttp_add_header(p->oh, "Connection", "close");
	p->l.status = code;
	srv_count_status(p->s, code);
	if (p->cmd != EVHTTP_REQ_GET) {
		/* HEAD: the headers of the answer a GET would get. */
		b = evbuffer_new();
		evhttp_send_reply(p->req, code, reason, b);
		if (b != NULL)
			evbuffer_free(b);
		return fw_end(p);
	}
	evhttp_send_reply_start(p->req, code, reason);
	j->off = from;
	p->fw_end = to + 1;
	fw_next(p);
	return true;
}

bool
srv_fw_answer(request *p)
{
	p->cfg = srv_cfg_hold(p->s);
	if (p->job.kind == SRV_JOB_FW_GET)
		return fw_headers(p);
	return fw_chunk(p);
}
