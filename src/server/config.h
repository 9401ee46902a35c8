/*
 * `sprov serve` settings: one struct filled from an INI file (inih) and from
 * command-line options through the same setter, so both are validated by
 * one piece of code.  sp_serve_config_parse() does no I/O and keeps no
 * global state: fuzz/fuzz_config.c feeds it arbitrary text.
 *
 * The file: `key = value` lines, optionally under a [serve] section
 * (keys are the long option names without "--"; see docs/SERVER.md).
 * `path` may repeat; the first `path` replaces the default templates.
 */
#ifndef SPROV_SERVER_CONFIG_H
#define SPROV_SERVER_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/result.h"
#include "identity/devid.h"
#include "server/firmware.h"
#include "server/proxy.h"
#include "server/template.h"
#include "tls/tls.h"

#define SP_CFG_FILE_MAX (256 * 1024)  /* config file size */
#define SP_CFG_STR_MAX 1024           /* file names, addresses, user */
#define SP_NODE_NAME_MAX 63           /* node-name: [A-Za-z0-9._-] */
#define SP_CFG_URI_MAX 4096           /* store URI */
#define SP_WORKERS_MAX 256
#define SP_CONN_MAX 1000000

typedef enum { SP_UNKNOWN_404 = 0, SP_UNKNOWN_DEFAULTS } sp_unknown_mode;
typedef enum { SP_ALOG_TEXT = 0, SP_ALOG_JSON } sp_alog_format;
typedef enum { SP_LOGTO_STDERR = 0, SP_LOGTO_SYSLOG, SP_LOGTO_JOURNAL } sp_logto;

#define SP_SPILL_DEFAULT_PATH "/var/lib/sprov/contacts.spill"

typedef struct sp_serve_config {
	char listen[SP_CFG_STR_MAX];   /* host:port */
	char admin[SP_CFG_STR_MAX];    /* host:port, or "" for none */
	char cert[SP_CFG_STR_MAX], key[SP_CFG_STR_MAX];
	char client_ca[SP_CFG_STR_MAX], crl[SP_CFG_STR_MAX]; /* crl "" = none */
	char store[SP_CFG_URI_MAX];    /* "" = --store / $SPROV_STORE / default */
	char user[SP_CFG_STR_MAX];     /* "" = keep privileges */
	char access_log[SP_CFG_STR_MAX]; /* "-" stdout, "off", or a file */
	char etag_key_file[SP_CFG_STR_MAX]; /* "" = a random key per start */
	/* "" = none: ticket and ETag keys per process (server/cluster.h) */
	char cluster_key_file[SP_CFG_STR_MAX];
	/* This node in the console's overview ("node:NAME" in the store). */
	char node_name[SP_CFG_STR_MAX]; /* K_STR: checked to SP_NODE_NAME_MAX */
	bool crl_from_store;           /* crl is the node's copy of the store's CRLs */
	sp_alog_format access_log_format;
	sp_logto log;                  /* the server's own messages: stderr and ... */
	bool reuse_port;               /* share the port with another server */
	bool key_process;              /* the server key in its own process (src/keyproc) */
	bool sandbox;                  /* seccomp allow-lists after start-up */
	int workers;                   /* 0 = one per core */
	sp_idstyle identity;
	sp_tpl paths[SP_TPLS_MAX];
	size_t npaths;
	bool paths_set;                /* a `path` replaced the defaults */
	sp_unknown_mode unknown;
	sp_tls_backend tls_backend;    /* fixed until restart */
	int verify_depth;
	int64_t crl_grace;             /* s */
	int64_t crl_poll;              /* s between CRL file checks */
	int64_t ticket_rotate;         /* s */
	int64_t handshake_timeout;     /* ms */
	int64_t header_timeout;        /* ms: first byte to end of headers */
	int64_t idle_timeout;          /* ms: keep-alive between requests */
	int64_t drain_timeout;         /* ms: SIGTERM grace */
	int64_t max_connections;       /* whole server; split among workers */
	int64_t overload_connections;  /* 503 above this many (0 = 90% of max) */
	int64_t handshakes_per_source; /* in the TLS handshake per /32 or /64; 0 = off */
	int64_t retry_after;           /* s: base of the jittered Retry-After */
	int64_t max_header_size;       /* request line + headers, bytes */
	int64_t max_request_line;      /* bytes */
	int64_t contact_flush;         /* ms between contact batch writes */
	int64_t contact_queue;         /* queued contacts before spilling */
	int64_t rollout_tick;          /* ms between sp_store_rollout_tick calls */
	sp_fwpath firmware_path;       /* where images are served (firmware.c) */
	/* "" = next to a SQLite store, else SP_SPILL_DEFAULT_PATH; "off" = none */
	char contact_spill[SP_CFG_STR_MAX];
	sp_proxy_acl proxy_from;       /* peers that must send a PROXY v2 header */
} sp_serve_config;

/* Defaults, with the default path templates. */
void sp_serve_config_init(sp_serve_config *cfg);

/* Set one key (INI key or long option without "--"). */
SP_MUST_CHECK sp_result sp_serve_config_set(sp_serve_config *cfg, const char *key,
    const char *value);

/* Parse INI text into cfg (on top of what it holds). */
SP_MUST_CHECK sp_result sp_serve_config_parse(sp_slice ini, sp_serve_config *cfg);

/* Final checks: required files present, numbers consistent. */
SP_MUST_CHECK sp_result sp_serve_config_finish(sp_serve_config *cfg);

#endif
