/*
 * Inside the SQLite backend: what sqlite.c (opening, schema, the server's
 * hot path) and sqlite_manage.c (the operator's changes) share.  Private to
 * src/store.
 */
#ifndef SPROV_STORE_SQLITE_INTERNAL_H
#define SPROV_STORE_SQLITE_INTERNAL_H

#include <sqlite3.h>

#include "store/console_internal.h"
#include "store/store_internal.h"

/* Every statement, prepared once per handle (sql[] in sqlite.c). */
enum {
	ST_DATA_VERSION,
	ST_GEN,
	ST_DEV_GET,
	ST_EFFECTIVE,
	ST_DEFAULTS,
	ST_PENDING,
	ST_CONTACT_PUT,
	ST_CONTACT_GET,
	ST_CONTACT_RM,
	ST_DEV_PENDING_Q,
	ST_DEV_INSERT,
	ST_DEV_ADOPT,
	ST_DEV_RM,
	ST_DEV_ENABLE,
	ST_DEV_LIST,
	ST_PARAM_SET,
	ST_DPARAM_SET,
	ST_PARAM_UNSET,
	ST_DPARAM_UNSET,
	ST_PARAM_LEVEL,
	ST_DPARAM_LEVEL,
	ST_LEVEL_LIST,
	ST_CONTACT_LIST,
	ST_IS_EMPTY,
	ST_CL_PUT,
	ST_CL_MAX,
	ST_CL_PRUNE,
	ST_CL_GET,
	ST_CL_NEWEST,
	ST_FW_CHUNK_PUT,
	ST_FW_INSERT,
	ST_FW_GET,
	ST_FW_CHUNKS,
	ST_FW_LIST,
	ST_FW_RM,
	ST_FW_CHUNKS_RM,
	ST_RO_INSERT,
	ST_RO_LIST,
	ST_RO_GET,
	ST_RO_UPDATE,
	ST_AU_HEAD,
	ST_AU_INSERT,
	ST_AU_HEAD_SET,
	ST_AU_LIST,
	ST_COUNT
};

typedef struct sq_store {
	sp_store base;
	sqlite3 *db;
	char *path;
	sqlite3_stmt *st[ST_COUNT];
	bool in_tx;        /* explicit sp_store_begin */
	bool gen_valid;    /* gen/dv describe the database as of dv */
	int64_t dv;
	uint64_t gen;
	/* Generation seen by the last device_get (see params_effective). */
	bool lookup_valid;
	uint64_t lookup_gen;
	int schema_found;  /* user_version when opened (0: created) */
	sqlite3_stmt *cs[32];   /* sqlite_console.c's statements */
} sq_store;

static inline sq_store *
sq(sp_store *s)
{
	return (sq_store *)s;
}

/* Bind, or fail to out: with the database's message. */
#define BIND(s, call)                                               \
	do {                                                        \
		if ((call) != SQLITE_OK) {                          \
			res = sq_dberr((s), "binding a parameter");    \
			goto out;                                   \
		}                                                   \
	} while (0)

SP_MUST_CHECK sp_result sq_dberr(sq_store *s, const char *what);
/* A cached statement, reset and with fresh bindings. */
SP_MUST_CHECK sp_result sq_st_get(sq_store *s, int id, sqlite3_stmt **out);
/* The same for a statement kept in *slot, prepared from text. */
SP_MUST_CHECK sp_result sq_st_cached(sq_store *s, sqlite3_stmt **slot,
    const char *text, sqlite3_stmt **out);
/* NULL-safe: reset and drop the bindings (they may point at values). */
void sq_st_done(sqlite3_stmt *st);
int sq_bind_slice(sqlite3_stmt *st, int i, sp_slice v);
int sq_bind_str(sqlite3_stmt *st, int i, const char *v);
int sq_bind_access(sqlite3_stmt *st, int i, sp_access a);
void sq_col_copy(sqlite3_stmt *st, int col, char *dst, size_t dstsz);
SP_MUST_CHECK sp_result sq_exec(sq_store *s, const char *stmt, const char *what);
/* Step a statement that returns no rows. */
SP_MUST_CHECK sp_result sq_step_done(sq_store *s, sqlite3_stmt *st, const char *what);
/*
 * Implicit transactions: a call outside sp_store_begin runs in its own.
 * Writes take the write lock up front so busy_timeout applies.
 */
SP_MUST_CHECK sp_result sq_tx_begin(sq_store *s, bool write, bool *mine);
SP_MUST_CHECK sp_result sq_tx_end(sq_store *s, bool mine, bool wrote, sp_result res);
/* A device's columns from `first` on: serial, product, grp, enabled, pending, created. */
SP_MUST_CHECK sp_result sq_row_device(sqlite3_stmt *st, int first, sp_device *d);
/* A contact's columns from `first` on: time, ip, ua, etag, status. */
void sq_row_contact(sqlite3_stmt *st, int first, sp_contact *c);
/* Rows of (name, value, access) merged into out, in order. */
SP_MUST_CHECK sp_result sq_merge_rows(sq_store *s, sqlite3_stmt *st, sp_params *out);

/* sqlite_manage.c: the operator's side of sp_store_ops. */
SP_MUST_CHECK sp_result sq_begin(sp_store *base);
SP_MUST_CHECK sp_result sq_commit(sp_store *base);
void sq_rollback(sp_store *base);
SP_MUST_CHECK sp_result sq_device_add(sp_store *base, const sp_device *d);
SP_MUST_CHECK sp_result sq_device_rm(sp_store *base, const sp_mac *mac);
SP_MUST_CHECK sp_result sq_device_set_enabled(sp_store *base, const sp_mac *mac,
    bool enabled);
SP_MUST_CHECK sp_result sq_device_list(sp_store *base, sp_store_device_cb cb, void *arg);
SP_MUST_CHECK sp_result sq_param_set(sp_store *base, const sp_level_ref *lvl,
    const char *name, sp_slice value, sp_access access);
SP_MUST_CHECK sp_result sq_param_unset(sp_store *base, const sp_level_ref *lvl,
    const char *name);
SP_MUST_CHECK sp_result sq_params_level(sp_store *base, const sp_level_ref *lvl,
    sp_params *out);
SP_MUST_CHECK sp_result sq_begin_read(sp_store *base);
SP_MUST_CHECK sp_result sq_level_list(sp_store *base, sp_store_level_cb cb, void *arg);
SP_MUST_CHECK sp_result sq_contact_list(sp_store *base, sp_store_contact_cb cb,
    void *arg);
SP_MUST_CHECK sp_result sq_is_empty(sp_store *base, bool *empty);
SP_MUST_CHECK sp_result sq_clear(sp_store *base);

/* sqlite_cluster.c: cluster data. */
SP_MUST_CHECK sp_result sq_cluster_put(sp_store *base, const char *name,
    int64_t version, int64_t created, sp_slice data, int64_t keep);
SP_MUST_CHECK sp_result sq_cluster_get(sp_store *base, const char *name, int max,
    bool prefix_newest, sp_store_cluster_cb cb, void *arg);

/* sqlite_rollout.c: firmware images and rollouts (schema 4). */
SP_MUST_CHECK sp_result sq_fw_chunk_put(sp_store *base, int64_t id, int64_t seq,
    sp_slice data);
SP_MUST_CHECK sp_result sq_fw_insert(sp_store *base, const sp_fw_info *fw);
SP_MUST_CHECK sp_result sq_fw_get(sp_store *base, const char *product,
    const char *version, sp_fw_info *out, bool *found);
SP_MUST_CHECK sp_result sq_fw_chunks(sp_store *base, int64_t id, int64_t first,
    int64_t last, sp_fw_chunk_cb cb, void *arg);
SP_MUST_CHECK sp_result sq_fw_list(sp_store *base, sp_store_fw_cb cb, void *arg);
SP_MUST_CHECK sp_result sq_fw_rm(sp_store *base, const char *product,
    const char *version, bool *found);
SP_MUST_CHECK sp_result sq_ro_insert(sp_store *base, const sp_ro_row *row,
    const char *waves);
SP_MUST_CHECK sp_result sq_ro_list(sp_store *base, const char *name,
    sp_ro_row_cb cb, void *arg, uint64_t *gen);
SP_MUST_CHECK sp_result sq_ro_update(sp_store *base, const sp_ro_row *row,
    const char *waves, bool *applied);
/* sqlite.c: the generation row, inside the caller's transaction. */
SP_MUST_CHECK sp_result sq_audit_head(sp_store *base, int64_t *seq,
    char hash[SP_AUDIT_HASH_HEX + 1], uint8_t key[32]);
SP_MUST_CHECK sp_result sq_audit_insert(sp_store *base, const sp_audit_entry *e);
SP_MUST_CHECK sp_result sq_audit_list(sp_store *base, const char *target,
    bool newest_first, int64_t limit, sp_store_audit_cb cb, void *arg);
SP_MUST_CHECK sp_result sq_read_gen(sq_store *s, uint64_t *gen);

/*
 * sqlite_console.c: the console records (schema 7), written inside the
 * caller's transaction.  sq_cs_device after any change to a device's row
 * (added, adopted, enabled, pending, removed); sq_cs_level after a change
 * to a level's parameters or to a rollout targeting it; sq_cs_contact
 * for each contact of a batch, its series summed in a and written by
 * sq_cs_series_flush before the batch commits.
 */
extern const char sq_schema_console[];
void sq_cs_close(sq_store *s);
SP_MUST_CHECK sp_result sq_cs_device(sq_store *s, const char *ma);
SP_MUST_CHECK sp_result sq_cs_level(sq_store *s, int level, const char *key);
SP_MUST_CHECK sp_result sq_cs_contact(sq_store *s, const char *ma,
    const sp_contact *c, sp_cs_agg *a);
SP_MUST_CHECK sp_result sq_cs_series_flush(sq_store *s, sp_cs_agg *a);
SP_MUST_CHECK sp_result sq_failure_batch(sp_store *base, const sp_failure *v,
    size_t n);
SP_MUST_CHECK sp_result sq_inventory(sp_store *base, const sp_inv_query *q,
    sp_store_inv_cb cb, void *arg, char *next);
SP_MUST_CHECK sp_result sq_device_detail(sp_store *base, const sp_mac *mac,
    sp_dev_detail *out, bool *found);
SP_MUST_CHECK sp_result sq_unknown_list(sp_store *base, int limit,
    sp_result (*cb)(void *arg, const sp_unknown_row *r), void *arg);
SP_MUST_CHECK sp_result sq_summary(sp_store *base, int64_t start,
    sp_summary *out);

#endif
