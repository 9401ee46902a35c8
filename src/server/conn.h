/*
 * One TLS connection of a worker: its state, its deadlines, and the
 * 414/431 rewrite of evhttp's own answers.  See conn.c.
 */
#ifndef SPROV_SERVER_CONN_H
#define SPROV_SERVER_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include <event2/bufferevent.h>
#include <event2/event.h>

#include "server/srv.h"

/*
 * CS_SENDING: a streamed response (firmware.c) waits for the device to take
 * its last chunk; like the others it has a deadline, so a device that stops
 * reading cannot hold a connection and a chunk for ever.  CS_BUSY: the
 * server is working on the request; no deadline.
 */
enum conn_state { CS_HANDSHAKE, CS_IDLE, CS_READING, CS_SENDING, CS_BUSY };
#define CS_DEADLINES 4   /* states with a deadline: timeouts[] and metrics */

typedef struct conn {
	worker *w;
	struct bufferevent *bev;
	struct event *timer;
	struct evbuffer_cb_entry *in_cbe, *out_cbe;
	enum conn_state state;
	bool line_done, headers_done; /* of the request being read */
	bool rewriting;
	bool established;              /* handshake done: counts toward overload */
	size_t line_bytes, req_bytes;  /* of the request being read */
	size_t max_hdr;
	uint64_t requests;
	uint64_t t_accept;             /* sp_mono_ns() at accept: handshake latency */
	/*
	 * The device's address for the access log, contact records and
	 * warnings: the PROXY header's source, else the TCP peer's.  ""
	 * until known (then request.c asks evhttp).
	 */
	char src[SP_CONTACT_IP_MAX + 1];
	struct event *proxy_ev;        /* proxy-from: reading the PROXY v2 header */
	uint8_t *proxy_buf;            /* its bytes so far (SP_PROXY_HDR_MAX) */
	size_t proxy_n;
	void *waiting;                 /* request.c: its request the store thread holds */
	/*
	 * firmware.c: called once when the output has been written out (the
	 * TLS layer took every byte); set before the bytes are added.
	 */
	void (*drained)(void *arg);
	void *drained_arg;
	LIST_ENTRY(conn) link;
} conn;

/* evhttp's bufferevent callback: a new TLS connection for worker arg. */
struct bufferevent *conn_bev_cb(struct event_base *base, void *arg);

/* The sp_tls hooks (arg: the conn given to sp_tls_bufferevent_new). */
void conn_hook_handshake_done(void *arg, bool resumed);
void conn_hook_free(void *arg);
/* A refused handshake: recorded in the failure queue (failures.h). */
void conn_hook_refused(void *arg, const sp_tls_refusal *r);

/* Enter state st with a deadline ms from now (none for CS_BUSY). */
void conn_arm(conn *c, enum conn_state st, int64_t ms);

/* Close the connection (evhttp reads EOF and frees it). */
void conn_kill(conn *c);

/* The response is queued: read the next request, or wait idle. */
void conn_next_request(conn *c, const sp_serve_config *cfg);

#endif
