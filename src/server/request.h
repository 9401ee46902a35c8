/*
 * One request of `sprov serve` (request.c), shared with the firmware route
 * (firmware.c), which answers some requests over many store reads.
 * Private to src/server.
 */
#ifndef SPROV_SERVER_REQUEST_H
#define SPROV_SERVER_REQUEST_H

#include <stdbool.h>

#include <event2/event.h>
#include <event2/http.h>

#include "server/accesslog.h"
#include "server/conn.h"
#include "server/firmware.h"
#include "server/srv.h"
#include "server/storethread.h"
#include "tls/tls.h"

/*
 * One request on its way through the steps of on_request.  Each step
 * either answers (and returns false: stop) or fills in what the next one
 * needs (and returns true).
 */
typedef struct request {
	worker *w;
	server *s;
	struct evhttp_request *req;
	struct evkeyvalq *ih, *oh;
	enum evhttp_cmd_type cmd;
	const sp_serve_config *cfg;   /* held for the whole request */
	struct bufferevent *bev;
	conn *c;
	bool close;                   /* answer with Connection: close */
	sp_tls_peer peer;
	sp_reqlog l;
	srv_job job;                  /* waiting for the store thread */
	struct event *hup_ev;         /* while waiting: the device hanging up */
	bool cancelled;               /* its connection closed meanwhile */
	/* firmware.c: an image being streamed, one store read at a time */
	bool fw;                      /* this request is an image's */
	bool in_store;                /* its job is the store thread's now */
	uint64_t fw_end;              /* one past the last byte to send */
	struct event *fw_ev;          /* the last chunk was written: the next */
	char fw_etag[SP_FW_ETAG_LEN + 1];
} request;

/* A short text answer; counts the status. */
void srv_reply(request *rq, int code, const char *reason, const char *text, bool close);
/* 503 with a jittered Retry-After (the store is unreachable or busy). */
void srv_reply_unavailable(request *rq);
/* Does If-None-Match (inm) name etag? */
bool srv_etag_matches(const char *inm, const char *etag);
/* After the answer: log, count, next request; releases cfg and e (may be NULL). */
void srv_req_end(request *rq, sp_cache_entry *e);

/*
 * firmware.c.  srv_fw_route: the request's path is an image's (answered,
 * or handed to the store thread: *waiting); false: not an image path.
 * srv_fw_answer: its store job came back; true: p lives on (streaming).
 */
bool srv_fw_route(request *rq, const char *path, bool *waiting);
bool srv_fw_answer(request *p);

#endif
