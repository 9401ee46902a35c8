/*
 * The console's HTTP side (docs/CONSOLE.md): routing, JSON replies and
 * errors, the security headers every answer carries, request bodies, the
 * embedded assets with their ETags, and the serve extension that hooks
 * it all into the admin listener.
 */
#include "console/console.h"
#include "console/http.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <openssl/crypto.h>

#include "common/log.h"
#include "common/text.h"
#include "console/assets.h"

#define CSP "default-src 'none'; script-src 'self'; style-src 'self'; " \
    "img-src 'self' data:; connect-src 'self'; font-src 'self'; " \
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

void
con_header(con_req *r, const char *name, const char *value)
{
	evhttp_add_header(evhttp_request_get_output_headers(r->req), name, value);
}

/* The headers of every console answer, pages and API alike. */
static void
security_headers(con_req *r)
{
	con_header(r, "Content-Security-Policy", CSP);
	con_header(r, "X-Content-Type-Options", "nosniff");
	con_header(r, "Referrer-Policy", "no-referrer");
	con_header(r, "X-Frame-Options", "DENY");
}

static const char *
reason(int code)
{
	switch (code) {
	case 200: return "OK";
	case 303: return "See Other";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 413: return "Payload Too Large";
	case 429: return "Too Many Requests";
	default: return "Internal Server Error";
	}
}

void
con_reply(con_req *r, int code, const char *type, const void *p, size_t n)
{
	struct evbuffer *out = evbuffer_new();

	r->answered = true;
	if (type)
		con_header(r, "Content-Type", type);
	if (out == NULL) {
		evhttp_send_error(r->req, 500, NULL);
		return;
	}
	if (n > 0)
		evbuffer_add(out, p, n);
	evhttp_send_reply(r->req, code, reason(code), out);
	evbuffer_free(out);
}

void
con_reply_json(con_req *r, int code, const sp_buf *b)
{
	con_header(r, "Cache-Control", "no-store");
	con_reply(r, code, "application/json", b->p, b->len);
}

void
con_error(con_req *r, int code, const char *fmt, ...)
{
	char msg[512];
	sp_buf b;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	sp_buf_init(&b, sizeof(msg) * 6 + 32);
	if (sp_failed(sp_buf_append_str(&b, "{\"error\":")) ||
	    sp_failed(sp_json_cstr(&b, msg)) ||
	    sp_failed(sp_buf_append_str(&b, "}"))) {
		static const char oom[] = "{\"error\":\"internal error\"}";

		sp_error_clear();
		con_header(r, "Cache-Control", "no-store");
		con_reply(r, 500, "application/json", oom, sizeof(oom) - 1);
	} else
		con_reply_json(r, code, &b);
	sp_buf_free(&b);
}

void
con_fail(con_req *r, sp_result res)
{
	int code;

	switch (res.code) {
	case SP_E_USAGE: case SP_E_PARSE: case SP_E_POLICY: code = 400; break;
	case SP_E_NOTFOUND: code = 404; break;
	case SP_E_EXISTS: case SP_E_STATE: code = 409; break;
	case SP_E_LIMIT: code = 413; break;
	default: code = 500; break;
	}
	if (code == 500)
		sp_log(SP_LOG_ERR, "console: %s %s: %s", reason(code), r->path,
		    sp_errmsg());
	con_error(r, code, "%s", sp_errmsg());
	sp_error_clear();
}

void
con_done(con_req *r, sp_result res, const sp_buf *b)
{
	if (sp_failed(res) && !r->answered)
		con_fail(r, res);
	else if (sp_failed(res))
		sp_error_clear();
	else if (!r->answered)
		con_reply_json(r, 200, b);
}

sp_result
con_store(con_req *r, sp_store **out)
{
	sp_result res = SP_OK;

	if (r->c->st == NULL)
		TRY(sp_error_wrap(sp_store_open(sp_serve_store_uri(r->c->srv), &r->c->st),
		    "console store"));
	sp_store_set_actor(r->c->st, r->actor);
	*out = r->c->st;
out:
	return res;
}

const char *
con_query(con_req *r, const char *name)
{
	return evhttp_find_header(&r->query, name);
}

bool
con_body(con_req *r, sp_buf *b)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(r->req);
	size_t n = evbuffer_get_length(in);

	if (n > CON_BODY_MAX || sp_failed(sp_buf_append(b, "", 0))) {
		sp_error_clear();
		con_error(r, 413, "request body is larger than %d bytes", CON_BODY_MAX);
		return false;
	}
	sp_buf_reset(b);
	if (n > 0 && (sp_failed(sp_buf_append(b, evbuffer_pullup(in, -1), n)))) {
		sp_error_clear();
		con_error(r, 413, "request body is larger than %d bytes", CON_BODY_MAX);
		return false;
	}
	return true;
}

/* GET (and HEAD) of an embedded file; If-None-Match answers 304. */
static void
asset(con_req *r, const sp_asset *a)
{
	const char *inm = evhttp_find_header(evhttp_request_get_input_headers(r->req),
	    "If-None-Match");

	con_header(r, "ETag", a->etag);
	con_header(r, "Cache-Control", "no-cache");
	if (inm != NULL && strcmp(inm, a->etag) == 0) {
		con_reply(r, 304, NULL, NULL, 0);
		return;
	}
	con_reply(r, 200, a->type, a->data, r->method == EVHTTP_REQ_HEAD ? 0 : a->len);
}

static void
route(con_req *r)
{
	const sp_asset *a;
	bool get = r->method == EVHTTP_REQ_GET || r->method == EVHTTP_REQ_HEAD;

	if (strcmp(r->path, "/login") == 0) {
		if (r->method != EVHTTP_REQ_GET) {
			con_header(r, "Allow", "GET");
			con_error(r, 405, "method not allowed on /login");
			return;
		}
		con_login(r);
	} else if (strcmp(r->path, "/api/v1/session") == 0) {
		if (r->method != EVHTTP_REQ_GET) {
			con_header(r, "Allow", "GET");
			con_error(r, 405, "method not allowed on %s", r->path);
		} else if (con_authenticate(r))
			con_session(r);
	} else if (strcmp(r->path, "/api/v1/logout") == 0) {
		if (r->method != EVHTTP_REQ_POST) {
			con_header(r, "Allow", "POST");
			con_error(r, 405, "method not allowed on %s", r->path);
		} else if (con_authenticate(r))
			con_logout(r);
	} else if (strncmp(r->path, "/api/", 5) == 0) {
		if (con_authenticate(r))
			con_api(r);
	} else if ((a = sp_console_asset(r->path)) != NULL) {
		if (!get) {
			con_header(r, "Allow", "GET, HEAD");
			con_error(r, 405, "method not allowed on %s", r->path);
		} else
			asset(r, a);
	} else {
		con_error(r, 404, "no such page");
	}
}

static void
on_request(void *arg, struct evhttp_request *req)
{
	con_req *r = NULL;
	const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
	struct evhttp_connection *conn = evhttp_request_get_connection(req);
	const char *path = u ? evhttp_uri_get_path(u) : NULL;
	const char *q = u ? evhttp_uri_get_query(u) : NULL;
	char *peer = NULL, *dec = NULL;
	ev_uint16_t port = 0;
	size_t n = 0;

	if ((r = calloc(1, sizeof(*r))) == NULL) {
		evhttp_send_error(req, 500, NULL);
		return;
	}
	TAILQ_INIT(&r->query);
	r->c = arg;
	r->req = req;
	r->method = evhttp_request_get_command(req);
	r->now = (int64_t)time(NULL);
	security_headers(r);
	if (conn)
		evhttp_connection_get_peer(conn, &peer, &port);
	snprintf(r->src, sizeof(r->src), "%s", peer ? peer : "");
	dec = evhttp_uridecode(path && *path ? path : "/", 0, &n);
	if (dec == NULL || n >= sizeof(r->path) || strlen(dec) != n ||
	    (q && evhttp_parse_query_str(q, &r->query) != 0)) {
		con_error(r, 400, "bad request path or query");
		goto out;
	}
	memcpy(r->path, dec, n + 1);
	route(r);
out:
	free(dec);
	evhttp_clear_headers(&r->query);
	OPENSSL_cleanse(r, sizeof(*r));
	free(r);
}

static sp_result
ext_init(void *arg, struct server *s)
{
	sp_console *c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return sp_error(SP_E_NOMEM, "out of memory");
	c->srv = s;
	c->tls = sp_serve_admin_tls(s);
	*(sp_console **)arg = c;
	sp_serve_admin_route(s, on_request, c);
	return SP_OK;
}

static void
ext_fini(void *arg, struct server *s)
{
	sp_console **cp = arg;

	if (*cp == NULL)
		return;
	sp_serve_admin_route(s, NULL, NULL);
	sp_store_close((*cp)->st);
	free(*cp);
	*cp = NULL;
}

/* One console per serving process (the extension's init runs once in each). */
static sp_console *the_console;

void
sp_console_ext(sp_serve_ext *out)
{
	out->init = ext_init;
	out->fini = ext_fini;
	out->arg = &the_console;
}
