/*
 * Between src/store/store.c (the public functions of store.h) and the
 * backends (sqlite*.c, pgsql*.c).  Nothing outside src/store includes
 * this (tests/lint/layering.sh checks it).
 */
#ifndef SPROV_STORE_INTERNAL_H
#define SPROV_STORE_INTERNAL_H

#include "store/console.h"
#include "store/store.h"

/* A rollout as the backends store it (rollout.c encodes the waves). */
typedef struct sp_ro_row {
	sp_rollout r;
	uint8_t key[SP_ROLLOUT_KEY_LEN];  /* the bucket key: never shown */
	sp_slice value;      /* the parameter's value: a secret */
	int64_t seq;         /* bumped by every update: the next one's condition */
} sp_ro_row;
typedef sp_result (*sp_ro_row_cb)(void *arg, const sp_ro_row *row);
typedef sp_result (*sp_fw_chunk_cb)(void *arg, int64_t seq, sp_slice data);

/* Rollout waves as one column: "pct@released_at,..." (1@1700000000,10@0). */
#define SP_RO_WAVES_TEXT_MAX (SP_ROLLOUT_WAVES_MAX * 24)

typedef struct sp_store_ops {
	const char *scheme;
	void (*close)(sp_store *s);
	sp_result (*generation)(sp_store *s, uint64_t *gen);
	int (*notify_fd)(sp_store *s);
	sp_result (*device_get)(sp_store *s, const sp_mac *mac, sp_device *out,
	    bool *found);
	sp_result (*params_effective)(sp_store *s, const sp_device *dev,
	    bool defaults_only, sp_params *out, uint64_t *gen);
	sp_result (*device_pending)(sp_store *s, const sp_mac *mac,
	    const char *serial, const char *product, int64_t now);
	sp_result (*contact_batch)(sp_store *s, const sp_contact *v, size_t n);
	sp_result (*contact_get)(sp_store *s, const sp_mac *mac, sp_contact *out,
	    bool *found);
	sp_result (*begin)(sp_store *s);
	sp_result (*commit)(sp_store *s);
	void (*rollback)(sp_store *s);
	sp_result (*device_add)(sp_store *s, const sp_device *dev);
	sp_result (*device_rm)(sp_store *s, const sp_mac *mac);
	sp_result (*device_set_enabled)(sp_store *s, const sp_mac *mac,
	    bool enabled);
	sp_result (*device_list)(sp_store *s, sp_store_device_cb cb, void *arg);
	/* lvl is validated and normalised by store.c (device key = $MA). */
	sp_result (*param_set)(sp_store *s, const sp_level_ref *lvl,
	    const char *name, sp_slice value, sp_access access);
	sp_result (*param_unset)(sp_store *s, const sp_level_ref *lvl,
	    const char *name);
	sp_result (*params_level)(sp_store *s, const sp_level_ref *lvl,
	    sp_params *out);
	/* The schema version found at open (0: created) and the current one. */
	sp_result (*schema_version)(sp_store *s, int *found, int *current);
	/* Console access (schema 6): tokens_internal.h, tokens.c. */
	const struct sp_tokens_ops *tokens;
	/* Whole-store operations (sprov db dump / restore). */
	sp_result (*begin_read)(sp_store *s);
	sp_result (*level_list)(sp_store *s, sp_store_level_cb cb, void *arg);
	sp_result (*contact_list)(sp_store *s, sp_store_contact_cb cb, void *arg);
	sp_result (*is_empty)(sp_store *s, bool *empty);
	sp_result (*clear)(sp_store *s);
	/* Cluster data; arguments checked by store.c. */
	sp_result (*cluster_put)(sp_store *s, const char *name, int64_t version,
	    int64_t created, sp_slice data, int64_t keep);
	sp_result (*cluster_get)(sp_store *s, const char *name, int max,
	    bool prefix_newest, sp_store_cluster_cb cb, void *arg);
	/*
	 * Firmware images (schema 4); arguments checked by fwstore.c.  Chunks
	 * are written first, under the id the row then gets, all inside one
	 * sp_store_begin.  fw_insert: SP_E_EXISTS for a stored (product,
	 * version).  fw_rm removes the row and its chunks.
	 */
	sp_result (*fw_chunk_put)(sp_store *s, int64_t id, int64_t seq,
	    sp_slice data);
	sp_result (*fw_insert)(sp_store *s, const sp_fw_info *fw);
	sp_result (*fw_get)(sp_store *s, const char *product,
	    const char *version, sp_fw_info *out, bool *found);
	sp_result (*fw_chunks)(sp_store *s, int64_t id, int64_t first,
	    int64_t last, sp_fw_chunk_cb cb, void *arg);
	sp_result (*fw_list)(sp_store *s, sp_store_fw_cb cb, void *arg);
	sp_result (*fw_rm)(sp_store *s, const char *product,
	    const char *version, bool *found);
	/*
	 * Rollouts (schema 4), oldest first; rows checked by rollout.c.
	 * ro_insert: SP_E_EXISTS for a name in use.  ro_list: name NULL for
	 * all; *gen (optional) is the generation of the same snapshot.
	 * ro_update writes state, released, waves, updated, reason and
	 * rolled_back_by only if the row's seq is still `seq` (*applied
	 * false otherwise, nothing written), and bumps seq: the one
	 * conditional update that makes ticks from several nodes safe.
	 */
	sp_result (*ro_insert)(sp_store *s, const sp_ro_row *row,
	    const char *waves);
	sp_result (*ro_list)(sp_store *s, const char *name, sp_ro_row_cb cb,
	    void *arg, uint64_t *gen);
	sp_result (*ro_update)(sp_store *s, const sp_ro_row *row,
	    const char *waves, bool *applied);
	/*
	 * Audit trail (schema 5).  audit_head: the last entry's seq and hash
	 * and the value key; inside sp_store_begin it locks the head, so
	 * appends from several writers queue instead of forking the chain.
	 * audit_insert writes the entry and moves the head to it.  audit_list:
	 * target NULL for all, ascending or newest first, limit 0 for all.
	 */
	sp_result (*audit_head)(sp_store *s, int64_t *seq,
	    char hash[SP_AUDIT_HASH_HEX + 1], uint8_t key[32]);
	sp_result (*audit_insert)(sp_store *s, const sp_audit_entry *e);
	sp_result (*audit_list)(sp_store *s, const char *target, bool newest_first,
	    int64_t limit, sp_store_audit_cb cb, void *arg);
	/*
	 * Console records (schema 7; store/console.h), arguments checked by
	 * console.c.  summary gets the series' first bucket (out is zeroed,
	 * series_start set).
	 */
	sp_result (*failure_batch)(sp_store *s, const sp_failure *v, size_t n);
	sp_result (*inventory)(sp_store *s, const sp_inv_query *q,
	    sp_store_inv_cb cb, void *arg, char *next);
	sp_result (*device_detail)(sp_store *s, const sp_mac *mac,
	    sp_dev_detail *out, bool *found);
	sp_result (*unknown_list)(sp_store *s, int limit,
	    sp_result (*cb)(void *arg, const sp_unknown_row *r), void *arg);
	sp_result (*summary)(sp_store *s, int64_t start, sp_summary *out);
} sp_store_ops;

struct sp_ro_cache;

/* Every backend's handle starts with this. */
struct sp_store {
	const sp_store_ops *ops;
	struct sp_ro_cache *ro;   /* rollout.c: the overlay, per generation */
	bool tx;                  /* inside sp_store_begin (store.c) */
	char actor[SP_AUDIT_ACTOR_MAX + 1];
};

/*
 * audit.c: append one entry (inside sp_store_begin: the caller's
 * transaction is the change's).  detail: a JSON object, or NULL for {}.
 */
SP_MUST_CHECK sp_result sp_store_audit(sp_store *s, const char *action,
    const char *target, const char *detail);
/*
 * The entries of the store's changes, inside the change's transaction:
 * a device (dev NULL: no detail), a parameter before it changes (value
 * NULL: unset; lvl normalised), a rollout after its change.
 */
SP_MUST_CHECK sp_result sp_store_audit_device(sp_store *s, const char *action,
    const sp_mac *mac, const sp_device *dev);
SP_MUST_CHECK sp_result sp_store_audit_param(sp_store *s,
    const sp_level_ref *lvl, const char *name, const sp_slice *value,
    sp_access access);
SP_MUST_CHECK sp_result sp_store_audit_rollout(sp_store *s,
    const sp_rollout *r, const char *action, const sp_slice *value);
/* firmware.add (fw: the image stored) or firmware.rm (fw NULL). */
SP_MUST_CHECK sp_result sp_store_audit_firmware(sp_store *s,
    const char *action, const char *product, const char *version,
    const sp_fw_info *fw);
/* "hmac-sha256:<16 hex>" of a value under the store's key. */
SP_MUST_CHECK sp_result sp_store_audit_value(sp_store *s, sp_slice v,
    char out[40]);

/*
 * rollout.c: apply the released rollouts to a device's merged params
 * (sp_store_params_effective); *gen is lowered when the rollouts were
 * read at an older generation.  sp_store_ro_free on close.
 */
SP_MUST_CHECK sp_result sp_store_ro_overlay(sp_store *s, const sp_device *dev,
    sp_params *out, uint64_t *gen);
void sp_store_ro_free(sp_store *s);
/* A row's waves from / to their column. */
SP_MUST_CHECK sp_result sp_store_ro_waves_decode(sp_slice text, sp_rollout *r);
void sp_store_ro_waves_encode(const sp_rollout *r, char out[SP_RO_WAVES_TEXT_MAX]);

/* SP_E_NOTFOUND: name is not set at (normalised) level lvl. */
SP_MUST_CHECK sp_result sp_store_err_not_set(const sp_level_ref *lvl,
    const char *name);

/*
 * Merge one (name, value, access) row of a level into out.  access NULL
 * (none at this level) keeps the access a lower level gave the name.
 */
SP_MUST_CHECK sp_result sp_store_merge_row(sp_params *out, sp_slice name,
    sp_slice value, const char *access);

/*
 * A certificate's serial or product that is not a valid field is recorded
 * as "" rather than failing the whole contact batch: one odd device must
 * not cost every other device its contact record.
 */
const char *sp_store_field_or_empty(const char *what, const char *v);

/* Backend constructors (the part of the URI after "sqlite:"). */
SP_MUST_CHECK sp_result sp_store_sqlite_open(const char *path, int flags,
    sp_store **out);
/* The whole URI, handed to libpq as it is. */
SP_MUST_CHECK sp_result sp_store_pgsql_open(const char *uri, int flags,
    sp_store **out);

#endif
