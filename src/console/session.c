/*
 * Who is asking the console (docs/CONSOLE.md "Access"): a Bearer token or
 * the session cookie a login link set; CSRF on the cookie's changes; the
 * role check; the per-source limit on failed attempts (429).
 */
#include "console/http.h"

#include <stdio.h>
#include <string.h>

#include <event2/http.h>
#include <openssl/crypto.h>

#include "common/text.h"
#include "store/tokens.h"

#define TOKEN_USED_EVERY 60   /* s: last_used is written at most this often */

static const char login_gone[] =
    "<!doctype html><html><head><meta charset=\"utf-8\">"
    "<title>sprov console</title></head><body>"
    "<p>this login link was used or has expired: run "
    "'sprov admin login-url' again</p></body></html>\n";

static const char *
in_header(con_req *r, const char *name)
{
	return evhttp_find_header(evhttp_request_get_input_headers(r->req), name);
}

/* 429 if src is blocked now; true if it was. */
static bool
limited(con_req *r)
{
	int64_t after = 0;
	char ra[24];

	if (!sp_ratelimit_blocked(&r->c->rl, r->src, r->now, &after))
		return false;
	snprintf(ra, sizeof(ra), "%lld", (long long)after);
	con_header(r, "Retry-After", ra);
	con_error(r, 429, "too many failed attempts from this address: retry in "
	    "%lld s", (long long)after);
	return true;
}

static void
refuse(con_req *r, const char *msg)
{
	sp_ratelimit_fail(&r->c->rl, r->src, r->now);
	con_header(r, "WWW-Authenticate", "Bearer");
	con_error(r, 401, "%s", msg);
}

/* The value of cookie name in the Cookie header, as a slice; len 0: none. */
static sp_slice
cookie(con_req *r, const char *name)
{
	const char *h = in_header(r, "Cookie"), *p, *e;
	size_t nl = strlen(name);

	for (p = h; p && *p; p = e ? e + 1 : NULL) {
		while (*p == ' ')
			p++;
		e = strchr(p, ';');
		if (strncmp(p, name, nl) == 0 && p[nl] == '=')
			return sp_slice_mk(p + nl + 1, e ? (size_t)(e - p - nl - 1) :
			    strlen(p + nl + 1));
	}
	return sp_slice_mk("", 0);
}

/* Bearer: 1 authenticated, 0 refused (answered), -1 store failure (answered). */
static int
bearer(con_req *r, const char *tok)
{
	sp_result res = SP_OK;
	sp_store *st = NULL;
	sp_token_info t = { 0 };
	char id[SP_TOKEN_ID_LEN + 1], secret[SP_SECRET_B64_LEN + 1];
	uint8_t h[SP_SECRET_HASH_LEN];
	bool found = false, good;

	if (sp_failed(sp_console_token_parse(sp_slice_of(tok), id, secret))) {
		sp_error_clear();
		refuse(r, "invalid or revoked token");
		return 0;
	}
	TRY(sp_console_hash(sp_slice_of(secret), h));
	TRY(con_store(r, &st));
	TRY(sp_store_token_get(st, id, &t, &found));
	if (!found)
		memset(t.hash, 0, sizeof(t.hash));
	/* Compared whatever was found, so a missing id costs the same. */
	good = sp_console_hash_eq(h, t.hash) && found && !t.revoked;
	if (!good) {
		refuse(r, "invalid or revoked token");
		goto out;
	}
	r->role = t.role;
	snprintf(r->who, sizeof(r->who), "%s", t.name);
	snprintf(r->actor, sizeof(r->actor), "api:%s", t.name);
	if (t.last_used < r->now - TOKEN_USED_EVERY &&
	    sp_failed(sp_store_token_used(st, id, r->now)))
		sp_error_clear();   /* best effort */
out:
	OPENSSL_cleanse(secret, sizeof(secret));
	if (sp_failed(res)) {
		con_fail(r, res);
		return -1;
	}
	return good ? 1 : 0;
}

/* The session cookie, as bearer(). */
static int
session(con_req *r, sp_slice sec)
{
	sp_result res = SP_OK;
	sp_store *st = NULL;
	sp_session_info si;
	bool found = false;

	if (!sp_console_secret_valid(sec)) {
		refuse(r, "authentication required");
		return 0;
	}
	TRY(sp_console_hash(sec, r->session_hash));
	TRY(con_store(r, &st));
	TRY(sp_store_session_get(st, r->session_hash, r->now, &si, &found));
	if (!found) {
		refuse(r, "authentication required");
		goto out;
	}
	r->role = SP_ROLE_ADMIN;
	r->cookie = true;
	snprintf(r->actor, sizeof(r->actor), "console:%.*s",
	    (int)(sizeof(r->actor) - 9), si.actor);
	TRY(sp_console_csrf(sec, r->csrf));
out:
	if (sp_failed(res)) {
		con_fail(r, res);
		return -1;
	}
	return found ? 1 : 0;
}

bool
con_authenticate(con_req *r)
{
	const char *auth = in_header(r, "Authorization"), *csrf;
	sp_slice sec = cookie(r, SP_SESSION_COOKIE);
	bool change = r->method != EVHTTP_REQ_GET && r->method != EVHTTP_REQ_HEAD;
	int ok;

	if (limited(r))
		return false;
	if (auth != NULL && strncmp(auth, "Bearer ", 7) == 0)
		ok = bearer(r, auth + 7);
	else if (auth != NULL) {
		refuse(r, "the Authorization header is not 'Bearer TOKEN'");
		return false;
	} else if (sec.len > 0)
		ok = session(r, sec);
	else {
		con_header(r, "WWW-Authenticate", "Bearer");
		con_error(r, 401, "authentication required");
		return false;
	}
	if (ok <= 0)
		return false;
	if (change && r->cookie) {
		csrf = in_header(r, "X-CSRF-Token");
		if (csrf == NULL || strlen(csrf) != SP_SECRET_B64_LEN ||
		    CRYPTO_memcmp(csrf, r->csrf, SP_SECRET_B64_LEN) != 0) {
			con_error(r, 403, "missing or wrong CSRF token");
			return false;
		}
	}
	if (change && r->role != SP_ROLE_ADMIN) {
		con_error(r, 403, "token '%s' has role read", r->who);
		return false;
	}
	return true;
}

static void
set_cookie(con_req *r, const char *value, int64_t max_age)
{
	char c[256];

	snprintf(c, sizeof(c), SP_SESSION_COOKIE "=%s; Path=/; HttpOnly; "
	    "SameSite=Strict; Max-Age=%lld%s", value, (long long)max_age,
	    r->c->tls ? "; Secure" : "");
	con_header(r, "Set-Cookie", c);
	OPENSSL_cleanse(c, sizeof(c));
}

void
con_login(con_req *r)
{
	sp_result res = SP_OK;
	sp_store *st = NULL;
	const char *t = con_query(r, "t");
	uint8_t h[SP_SECRET_HASH_LEN];
	sp_session_info si;
	char sec[SP_SECRET_B64_LEN + 1] = "", csrf[SP_SECRET_B64_LEN + 1] = "";
	bool ok = false;

	memset(&si, 0, sizeof(si));
	if (limited(r))
		return;
	if (t != NULL && sp_console_secret_valid(sp_slice_of(t))) {
		TRY(sp_console_hash(sp_slice_of(t), h));
		snprintf(r->actor, sizeof(r->actor), "console");
		TRY(con_store(r, &st));
		TRY(sp_store_login_take(st, h, r->now, si.actor, &ok));
	}
	if (!ok) {
		sp_ratelimit_fail(&r->c->rl, r->src, r->now);
		con_header(r, "Cache-Control", "no-store");
		con_reply(r, 403, "text/html; charset=utf-8", login_gone,
		    sizeof(login_gone) - 1);
		goto out;
	}
	TRY(sp_console_secret_new(sec, si.hash));
	TRY(sp_console_csrf(sp_slice_of(sec), csrf));
	TRY(sp_console_hash(sp_slice_of(csrf), si.csrf_hash));
	si.expires = r->now + SP_SESSION_TTL;
	TRY(sp_store_session_add(st, &si));
	set_cookie(r, sec, SP_SESSION_TTL);
	con_header(r, "Location", "/");
	con_header(r, "Cache-Control", "no-store");
	con_reply(r, 303, NULL, NULL, 0);
out:
	OPENSSL_cleanse(sec, sizeof(sec));
	OPENSSL_cleanse(csrf, sizeof(csrf));
	if (sp_failed(res))
		con_fail(r, res);
}

void
con_session(con_req *r)
{
	sp_result res = SP_OK;
	sp_buf b;

	sp_buf_init(&b, 1024);
	TRY(sp_buf_append_str(&b, "{\"actor\":"));
	TRY(sp_json_cstr(&b, r->actor));
	TRY(sp_buf_printf(&b, ",\"role\":\"%s\",\"csrf\":", sp_role_name(r->role)));
	if (r->cookie)
		TRY(sp_json_cstr(&b, r->csrf));
	else
		TRY(sp_buf_append_str(&b, "null"));
	TRY(sp_buf_append_str(&b, "}"));
out:
	con_done(r, res, &b);
	sp_buf_free(&b);
}

void
con_logout(con_req *r)
{
	sp_result res = SP_OK;
	sp_store *st = NULL;
	sp_buf b;

	sp_buf_init(&b, 64);
	if (r->cookie) {
		TRY(con_store(r, &st));
		TRY(sp_store_session_end(st, r->session_hash));
		set_cookie(r, "", 0);
	}
	TRY(sp_buf_append_str(&b, "{\"ok\":true}"));
out:
	con_done(r, res, &b);
	sp_buf_free(&b);
}
