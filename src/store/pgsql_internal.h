/*
 * Inside the PostgreSQL backend: what pgsql.c (connecting, statements,
 * the schema, change notification), pgsql_hot.c (the server's hot path)
 * and pgsql_manage.c (the operator's changes) share.  Private to
 * src/store.
 */
#ifndef SPROV_STORE_PGSQL_INTERNAL_H
#define SPROV_STORE_PGSQL_INTERNAL_H

#include <libpq-fe.h>

#include "store/console_internal.h"
#include "store/store_internal.h"

/* Every statement, prepared once per connection (sql[] in pgsql.c). */
enum {
	PS_GEN,
	PS_DEV_GET,
	PS_EFFECTIVE,
	PS_DEFAULTS,
	PS_PENDING,
	PS_CONTACT_PUT,
	PS_CONTACT_GET,
	PS_CONTACT_RM,
	PS_DEV_PENDING_Q,
	PS_DEV_INSERT,
	PS_DEV_ADOPT,
	PS_DEV_RM,
	PS_DEV_ENABLE,
	PS_DEV_LIST,
	PS_PARAM_SET,
	PS_DPARAM_SET,
	PS_PARAM_UNSET,
	PS_DPARAM_UNSET,
	PS_PARAM_LEVEL,
	PS_DPARAM_LEVEL,
	PS_LEVEL_LIST,
	PS_CONTACT_LIST,
	PS_IS_EMPTY,
	PS_CL_PUT,
	PS_CL_MAX,
	PS_CL_PRUNE,
	PS_CL_GET,
	PS_CL_NEWEST,
	PS_FW_CHUNK_PUT,
	PS_FW_INSERT,
	PS_FW_GET,
	PS_FW_CHUNKS,
	PS_FW_LIST,
	PS_FW_RM,
	PS_FW_CHUNKS_RM,
	PS_RO_INSERT,
	PS_RO_LIST,
	PS_RO_GET,
	PS_RO_UPDATE,
	PS_AU_HEAD,
	PS_AU_HEAD_LOCK,
	PS_AU_INSERT,
	PS_AU_HEAD_SET,
	PS_AU_LIST,
	PS_COUNT
};

/* pgsql_console.c's statements, numbered on from PS_COUNT (schema 7). */
enum {
	PCS_STATUS = PS_COUNT,
	PCS_DEV_SYNC,
	PCS_GONE,
	PCS_CONTACT,
	PCS_FAIL,
	PCS_FAILSRC,
	PCS_FAILSRC_PRUNE,
	PCS_SERIES,
	PCS_SERIES_PRUNE,
	PCS_LEVELGEN,
	PCS_BEHIND,          /* + level: the level's statement */
	PCS_BEHIND_PRODUCT,
	PCS_BEHIND_GROUP,
	PCS_BEHIND_DEVICE,
	PCS_DETAIL,
	PCS_COUNTS,
	PCS_EVENTS,
	PCS_UNKNOWN,
	PCS_SOURCES,
	PCS_BY_STATUS,
	PCS_SERIES_GET,
	PCS_END
};
#define PG_CS_COUNT (PCS_END - PS_COUNT)

/* The change notification channel (the triggers NOTIFY, handles LISTEN). */
#define PG_CHANNEL "sprov_changed"

/* pgsql_schema.c: pg_migrations[i] takes the schema from version i to i + 1. */
extern const char *const pg_migrations[];
extern const int pg_schema_current;

/* At most this many parameters per statement. */
#define PG_NPARAMS_MAX 20

typedef struct pg_store {
	sp_store base;
	PGconn *conn;        /* queries */
	PGconn *listen;      /* LISTEN sprov_changed; opened on first generation */
	char *uri;           /* kept to reconnect; may hold a password (wiped) */
	char label[192];     /* "postgresql store DB on HOST": never the URI */
	bool prepared[PCS_END];
	bool in_tx;          /* explicit sp_store_begin */
	bool tx_open;        /* any transaction, explicit or a call's own */
	bool gen_valid;      /* gen is current unless a notification came */
	uint64_t gen;
	bool lookup_valid;   /* generation seen by the last device_get */
	uint64_t lookup_gen;
	int schema_found;    /* schema version when opened (0: created) */
} pg_store;

static inline pg_store *
pg(sp_store *s)
{
	return (pg_store *)s;
}

/* Bound parameters of one statement: text format, binary where fmt[i] = 1. */
typedef struct pg_params {
	int n;
	const char *v[PG_NPARAMS_MAX];
	int len[PG_NPARAMS_MAX];
	int fmt[PG_NPARAMS_MAX];
	char num[PG_NPARAMS_MAX][24];   /* storage for numbers */
} pg_params;

void pg_p_str(pg_params *p, const char *v);       /* NULL binds SQL NULL */
void pg_p_slice(pg_params *p, sp_slice v);        /* text or bytea, binary */
void pg_p_i64(pg_params *p, int64_t v);
void pg_p_access(pg_params *p, sp_access a);

/*
 * Run prepared statement id; *out (may be NULL) gets the result for the
 * caller to PQclear.  On failure the message is "what: <server's primary
 * message>" (never a DETAIL: it may show a row, i.e. a value).
 */
SP_MUST_CHECK sp_result pg_run(pg_store *s, int id, const pg_params *p,
    PGresult **out, const char *what);
/*
 * Pipelines inside a transaction (pgsql.c): begin prepares ids and enters
 * pipeline mode; send queues one statement; sync sends a sync point and
 * reads every result up to it (the first failure is returned); end leaves
 * pipeline mode (always call it after a successful begin).  Sync at least
 * every PG_PIPE_MAX statements.
 */
#define PG_PIPE_MAX 256
SP_MUST_CHECK sp_result pg_pipe_begin(pg_store *s, const int *ids, size_t nids);
SP_MUST_CHECK sp_result pg_pipe_send(pg_store *s, int id, const pg_params *p,
    const char *what);
SP_MUST_CHECK sp_result pg_pipe_sync(pg_store *s, const char *what);
void pg_pipe_end(pg_store *s);
/* The SQLSTATE of the last failed pg_run ("" if none). */
const char *pg_last_state(void);
/* Rows affected by a command result. */
int64_t pg_affected(PGresult *r);
SP_MUST_CHECK sp_result pg_cmd(pg_store *s, const char *sql, const char *what);
/* Implicit transactions: a write outside sp_store_begin runs in its own. */
SP_MUST_CHECK sp_result pg_tx_begin(pg_store *s, bool *mine);
SP_MUST_CHECK sp_result pg_tx_end(pg_store *s, bool mine, bool wrote,
    sp_result res);
/* ROLLBACK if connected; leaves the error message alone. */
void pg_tx_abort(pg_store *s);
/* Copy a text column (NULL -> "") into dst, truncated to fit. */
void pg_col_copy(PGresult *r, int row, int col, char *dst, size_t dstsz);
int64_t pg_col_i64(PGresult *r, int row, int col);
/* A device's columns from `first` on: serial, product, grp, enabled, pending, created. */
void pg_row_device(PGresult *r, int row, int first, sp_device *d);
/* A contact's columns from `first` on: time, ip, ua (bytea), etag, status. */
SP_MUST_CHECK sp_result pg_row_contact(PGresult *r, int row, int first,
    sp_contact *c);
/* Rows of (name, value, access) from row `from` on merged into out, in order. */
SP_MUST_CHECK sp_result pg_merge_rows(PGresult *r, int from, sp_params *out);

/* A generation seen in a snapshot: the cached one is at least that new. */
void pg_gen_seen(pg_store *s, uint64_t g);

/* pgsql_hot.c: the server's side of sp_store_ops. */
SP_MUST_CHECK sp_result pg_device_get(sp_store *base, const sp_mac *mac,
    sp_device *out, bool *found);
SP_MUST_CHECK sp_result pg_params_effective(sp_store *base, const sp_device *dev,
    bool defaults_only, sp_params *out, uint64_t *gen);
SP_MUST_CHECK sp_result pg_device_pending(sp_store *base, const sp_mac *mac,
    const char *serial, const char *product, int64_t now);
SP_MUST_CHECK sp_result pg_contact_batch(sp_store *base, const sp_contact *v,
    size_t n);
SP_MUST_CHECK sp_result pg_contact_get(sp_store *base, const sp_mac *mac,
    sp_contact *out, bool *found);

/* pgsql_manage.c: the operator's side of sp_store_ops. */
SP_MUST_CHECK sp_result pg_begin(sp_store *base);
SP_MUST_CHECK sp_result pg_commit(sp_store *base);
void pg_rollback(sp_store *base);
SP_MUST_CHECK sp_result pg_device_add(sp_store *base, const sp_device *d);
SP_MUST_CHECK sp_result pg_device_rm(sp_store *base, const sp_mac *mac);
SP_MUST_CHECK sp_result pg_device_set_enabled(sp_store *base, const sp_mac *mac,
    bool enabled);
SP_MUST_CHECK sp_result pg_device_list(sp_store *base, sp_store_device_cb cb,
    void *arg);
SP_MUST_CHECK sp_result pg_param_set(sp_store *base, const sp_level_ref *lvl,
    const char *name, sp_slice value, sp_access access);
SP_MUST_CHECK sp_result pg_param_unset(sp_store *base, const sp_level_ref *lvl,
    const char *name);
SP_MUST_CHECK sp_result pg_params_level(sp_store *base, const sp_level_ref *lvl,
    sp_params *out);
SP_MUST_CHECK sp_result pg_begin_read(sp_store *base);
SP_MUST_CHECK sp_result pg_level_list(sp_store *base, sp_store_level_cb cb,
    void *arg);
SP_MUST_CHECK sp_result pg_contact_list(sp_store *base, sp_store_contact_cb cb,
    void *arg);
SP_MUST_CHECK sp_result pg_is_empty(sp_store *base, bool *empty);
SP_MUST_CHECK sp_result pg_clear(sp_store *base);

/* pgsql_cluster.c: cluster data. */
SP_MUST_CHECK sp_result pg_cluster_put(sp_store *base, const char *name,
    int64_t version, int64_t created, sp_slice data, int64_t keep);
SP_MUST_CHECK sp_result pg_cluster_get(sp_store *base, const char *name, int max,
    bool prefix_newest, sp_store_cluster_cb cb, void *arg);

/* pgsql_rollout.c: firmware images and rollouts (schema 4). */
SP_MUST_CHECK sp_result pg_fw_chunk_put(sp_store *base, int64_t id, int64_t seq,
    sp_slice data);
SP_MUST_CHECK sp_result pg_fw_insert(sp_store *base, const sp_fw_info *fw);
SP_MUST_CHECK sp_result pg_fw_get(sp_store *base, const char *product,
    const char *version, sp_fw_info *out, bool *found);
SP_MUST_CHECK sp_result pg_fw_chunks(sp_store *base, int64_t id, int64_t first,
    int64_t last, sp_fw_chunk_cb cb, void *arg);
SP_MUST_CHECK sp_result pg_fw_list(sp_store *base, sp_store_fw_cb cb, void *arg);
SP_MUST_CHECK sp_result pg_fw_rm(sp_store *base, const char *product,
    const char *version, bool *found);
SP_MUST_CHECK sp_result pg_ro_insert(sp_store *base, const sp_ro_row *row,
    const char *waves);
SP_MUST_CHECK sp_result pg_ro_list(sp_store *base, const char *name,
    sp_ro_row_cb cb, void *arg, uint64_t *gen);
SP_MUST_CHECK sp_result pg_ro_update(sp_store *base, const sp_ro_row *row,
    const char *waves, bool *applied);

/* pgsql_audit.c (schema 5). */
SP_MUST_CHECK sp_result pg_audit_head(sp_store *base, int64_t *seq,
    char hash[SP_AUDIT_HASH_HEX + 1], uint8_t key[32]);
SP_MUST_CHECK sp_result pg_audit_insert(sp_store *base, const sp_audit_entry *e);
SP_MUST_CHECK sp_result pg_audit_list(sp_store *base, const char *target,
    bool newest_first, int64_t limit, sp_store_audit_cb cb, void *arg);

/*
 * pgsql_console.c: the console records (schema 7), inside the caller's
 * transaction, as sqlite_console.c's.  pg_cs_sql: the text of a PCS_
 * statement.  A contact batch prepares pg_cs_contact_ids before its
 * pipeline, sends pg_cs_contact_send per contact and pg_cs_series_send
 * before its last sync.
 */
const char *pg_cs_sql(int id);
#define PG_CS_CONTACT_NIDS 5
extern const int pg_cs_contact_ids[PG_CS_CONTACT_NIDS];
SP_MUST_CHECK sp_result pg_cs_device(pg_store *s, const char *ma);
/* The device's inventory columns only (a pending device recorded). */
SP_MUST_CHECK sp_result pg_cs_sync(pg_store *s, const char *ma);
SP_MUST_CHECK sp_result pg_cs_level(pg_store *s, int level, const char *key);
SP_MUST_CHECK sp_result pg_cs_contact_send(pg_store *s, const char *ma,
    const sp_contact *c, bool pending, sp_cs_agg *a, size_t *nsent);
SP_MUST_CHECK sp_result pg_cs_series_send(pg_store *s, sp_cs_agg *a,
    size_t *nsent);
SP_MUST_CHECK sp_result pg_failure_batch(sp_store *base, const sp_failure *v,
    size_t n);
SP_MUST_CHECK sp_result pg_inventory(sp_store *base, const sp_inv_query *q,
    sp_store_inv_cb cb, void *arg, char *next);
SP_MUST_CHECK sp_result pg_device_detail(sp_store *base, const sp_mac *mac,
    sp_dev_detail *out, bool *found);
SP_MUST_CHECK sp_result pg_unknown_list(sp_store *base, int limit,
    sp_result (*cb)(void *arg, const sp_unknown_row *r), void *arg);
SP_MUST_CHECK sp_result pg_summary(sp_store *base, int64_t start,
    sp_summary *out);

#endif
