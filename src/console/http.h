/*
 * Inside the console: one request's context and the pieces http.c
 * (routing, replies, headers, assets), session.c (who is asking) and
 * api.c (the endpoints) share.  Private to src/console.
 */
#ifndef SPROV_CONSOLE_HTTP_H
#define SPROV_CONSOLE_HTTP_H

#include <stdbool.h>
#include <stdint.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "common/buf.h"
#include "common/result.h"
#include "console/auth.h"
#include "server/server.h"
#include "store/store.h"

#define CON_BODY_MAX (64 * 1024)        /* request bodies */
#define CON_REPLY_MAX (8 * 1024 * 1024) /* JSON answers */
#define CON_PATH_MAX 1024

typedef struct sp_console {
	struct server *srv;    /* only through server.h's sp_serve_* calls */
	sp_store *st;          /* opened on first use (con_store) */
	sp_ratelimit rl;
	bool tls;              /* the admin listener speaks TLS: Secure cookies */
} sp_console;

typedef struct con_req {
	sp_console *c;
	struct evhttp_request *req;
	enum evhttp_cmd_type method;
	char path[CON_PATH_MAX];      /* decoded, without the query */
	struct evkeyvalq query;
	char src[48];                 /* peer address */
	int64_t now;
	/* Set by con_authenticate. */
	sp_role role;
	bool cookie;                  /* authenticated by the session cookie */
	char who[SP_TOKEN_NAME_MAX + 1];          /* token name (Bearer) */
	char actor[SP_AUDIT_ACTOR_MAX + 1];       /* api:NAME, console:... */
	char csrf[SP_SECRET_B64_LEN + 1];         /* cookie sessions */
	uint8_t session_hash[SP_SECRET_HASH_LEN];
	bool answered;                /* con_reply sent the answer */
} con_req;

/* ---- http.c --------------------------------------------------------------- */

/* The console's store handle, opened now if need be. */
SP_MUST_CHECK sp_result con_store(con_req *r, sp_store **out);
/* A query parameter, or NULL. */
const char *con_query(con_req *r, const char *name);
/* Send a body of this Content-Type (NULL: none) with code. */
void con_reply(con_req *r, int code, const char *type, const void *p, size_t n);
/* Send a JSON body (b holds the object) with code. */
void con_reply_json(con_req *r, int code, const sp_buf *b);
/* {"error":"..."} with code; the message is JSON-escaped. */
void con_error(con_req *r, int code, const char *fmt, ...) SP_PRINTF(3, 4);
/*
 * The end of a JSON endpoint: res failed -> con_fail; else, unless an
 * answer was sent already (a 400 found on the way), 200 with b.
 */
void con_done(con_req *r, sp_result res, const sp_buf *b);
/* An sp_result as a JSON error: the code maps to 400, 404, 409, 413, 500. */
void con_fail(con_req *r, sp_result res);
/* The request body (at most CON_BODY_MAX) into b; false (answered 413) if over. */
bool con_body(con_req *r, sp_buf *b);
/* Add a header to the answer. */
void con_header(con_req *r, const char *name, const char *value);

/* ---- session.c -------------------------------------------------------------- */

/*
 * Who is asking: true when r is authenticated and allowed (role, CSRF) to
 * do this; otherwise the answer (401/403/429) has been sent.
 */
bool con_authenticate(con_req *r);
void con_login(con_req *r);                 /* GET /login?t= */
void con_session(con_req *r);               /* GET /api/v1/session */
void con_logout(con_req *r);                /* POST /api/v1/logout */

/* ---- api.c ------------------------------------------------------------------ */

/* Every /api/v1/ path but session and logout, authenticated. */
void con_api(con_req *r);

#endif
