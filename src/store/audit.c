/*
 * The audit trail (schema 5, docs/STORE.md "Audit trail"): appending a
 * hash-chained entry inside the change's own transaction, listing, and
 * verifying the chain.  The backends store rows (audit_head, audit_insert,
 * audit_list in sp_store_ops); the chain is computed here, once, for all.
 */
#include "store/store_internal.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "common/text.h"
#include "common/util.h"

#define ZERO_HASH "0000000000000000000000000000000000000000000000000000000000000000"

void
sp_store_set_actor(sp_store *s, const char *actor)
{
	snprintf(s->actor, sizeof(s->actor), "%s", actor ? actor : "");
}

/* A 4-byte big-endian length, then the bytes. */
static bool
field(EVP_MD_CTX *md, const char *p, size_t n)
{
	uint8_t len[4] = { (uint8_t)(n >> 24), (uint8_t)(n >> 16),
	    (uint8_t)(n >> 8), (uint8_t)n };

	return EVP_DigestUpdate(md, len, 4) && EVP_DigestUpdate(md, p, n);
}

sp_result
sp_audit_hash(const sp_audit_entry *e, char out[SP_AUDIT_HASH_HEX + 1])
{
	sp_result res = SP_OK;
	EVP_MD_CTX *md = NULL;
	uint8_t h[32];
	char seq[24], t[24];

	snprintf(seq, sizeof(seq), "%lld", (long long)e->seq);
	snprintf(t, sizeof(t), "%lld", (long long)e->time);
	TRY_OSSL_PTR(md, EVP_MD_CTX_new(), "audit hash");
	TRY_OSSL(EVP_DigestInit_ex(md, EVP_sha256(), NULL) &&
	    field(md, e->prev, strlen(e->prev)) &&
	    field(md, seq, strlen(seq)) && field(md, t, strlen(t)) &&
	    field(md, e->actor, strlen(e->actor)) &&
	    field(md, e->action, strlen(e->action)) &&
	    field(md, e->target, strlen(e->target)) &&
	    field(md, e->detail, strlen(e->detail)) &&
	    EVP_DigestFinal_ex(md, h, NULL), "audit hash");
	sp_hex(h, sizeof(h), out);
out:
	EVP_MD_CTX_free(md);
	return res;
}

sp_result
sp_store_audit(sp_store *s, const char *action, const char *target,
    const char *detail)
{
	sp_result res = SP_OK;
	sp_audit_entry e;
	uint8_t key[32];

	memset(&e, 0, sizeof(e));
	ENSURE(s->tx, SP_E_INTERNAL, "audit: %s outside a transaction", action);
	ENSURE(strlen(detail ? detail : "{}") <= SP_AUDIT_DETAIL_MAX, SP_E_LIMIT,
	    "audit: %s: detail too long", action);
	TRY(s->ops->audit_head(s, &e.seq, e.prev, key));
	e.seq++;
	e.time = (int64_t)time(NULL);
	snprintf(e.actor, sizeof(e.actor), "%s", s->actor[0] ? s->actor : "unknown");
	snprintf(e.action, sizeof(e.action), "%s", action);
	snprintf(e.target, sizeof(e.target), "%s", target ? target : "");
	snprintf(e.detail, sizeof(e.detail), "%s", detail ? detail : "{}");
	TRY(sp_audit_hash(&e, e.hash));
	TRY(s->ops->audit_insert(s, &e));
out:
	OPENSSL_cleanse(key, sizeof(key));
	return res;
}

sp_result
sp_store_audit_value(sp_store *s, sp_slice v, char out[40])
{
	sp_result res = SP_OK;
	uint8_t key[32], mac[32];
	unsigned int mlen = 0;
	char hash[SP_AUDIT_HASH_HEX + 1];
	int64_t seq;
	unsigned char *r;

	TRY(s->ops->audit_head(s, &seq, hash, key));
	TRY_OSSL_PTR(r, HMAC(EVP_sha256(), key, sizeof(key),
	    (const unsigned char *)v.p, v.len, mac, &mlen), "audit value hash");
	memcpy(out, "hmac-sha256:", 12);
	sp_hex(mac, 8, out + 12);
out:
	OPENSSL_cleanse(key, sizeof(key));
	OPENSSL_cleanse(mac, sizeof(mac));
	return res;
}

sp_result
sp_store_audit_list(sp_store *s, const sp_mac *mac, int64_t limit,
    sp_store_audit_cb cb, void *arg)
{
	char ma[SP_MAC_STRLEN];

	if (mac)
		sp_mac_format(mac, SP_MAC_MA, ma);
	return s->ops->audit_list(s, mac ? ma : NULL, true, limit, cb, arg);
}

typedef struct walk {
	int64_t n, last_seq;
	char last_hash[SP_AUDIT_HASH_HEX + 1];
} walk;

static sp_result
walk_one(void *arg, const sp_audit_entry *e)
{
	walk *w = arg;
	char h[SP_AUDIT_HASH_HEX + 1];
	sp_result res = SP_OK;

	ENSURE(e->seq == w->last_seq + 1, SP_E_VERIFY,
	    "audit: entry %lld is missing (%lld is followed by %lld)",
	    (long long)(w->last_seq + 1), (long long)w->last_seq,
	    (long long)e->seq);
	TRY(sp_audit_hash(e, h));
	ENSURE(strcmp(h, e->hash) == 0, SP_E_VERIFY,
	    "audit: entry %lld was changed", (long long)e->seq);
	/* Rehashed after an edit: its successor still names the old hash. */
	ENSURE(strcmp(e->prev, w->last_hash) == 0, SP_E_VERIFY,
	    "audit: entry %lld was changed", (long long)w->last_seq);
	w->n++;
	w->last_seq = e->seq;
	memcpy(w->last_hash, e->hash, sizeof(w->last_hash));
out:
	return res;
}

sp_result
sp_store_audit_verify(sp_store *s, int64_t *n)
{
	sp_result res = SP_OK;
	walk w = { 0, 0, ZERO_HASH };
	char head[SP_AUDIT_HASH_HEX + 1];
	uint8_t key[32];
	int64_t head_seq = 0;
	bool tx = false;

	TRY(sp_store_begin_read(s));
	tx = true;
	TRY(s->ops->audit_head(s, &head_seq, head, key));
	TRY(s->ops->audit_list(s, NULL, false, 0, walk_one, &w));
	ENSURE(head_seq == w.last_seq && strcmp(head, w.last_hash) == 0,
	    SP_E_VERIFY, "audit: the last entry's hash does not match");
	*n = w.n;
out:
	OPENSSL_cleanse(key, sizeof(key));
	if (tx)
		sp_store_rollback(s);
	return res;
}

/* ---- what the store's changes record (store.c, rollout.c) --------------- */

/* detail: {"k":"v",...} from NULL-terminated pairs; a NULL v is null. */
static sp_result
detail_json(sp_buf *b, const char *const *kv)
{
	sp_result res = SP_OK;

	TRY(sp_buf_append_byte(b, '{'));
	for (size_t i = 0; kv[i]; i += 2) {
		if (i)
			TRY(sp_buf_append_byte(b, ','));
		TRY(sp_json_cstr(b, kv[i]));
		TRY(sp_buf_append_byte(b, ':'));
		if (kv[i + 1])
			TRY(sp_json_cstr(b, kv[i + 1]));
		else
			TRY(sp_buf_append_str(b, "null"));
	}
	TRY(sp_buf_append_byte(b, '}'));
out:
	return res;
}

static sp_result
record(sp_store *s, const char *action, const char *target,
    const char *const *kv)
{
	sp_result res = SP_OK;
	sp_buf b;

	sp_buf_init(&b, SP_AUDIT_DETAIL_MAX);
	TRY(detail_json(&b, kv));
	TRY(sp_store_audit(s, action, target, sp_buf_cstr(&b)));
out:
	sp_buf_free(&b);
	return res;
}

sp_result
sp_store_audit_device(sp_store *s, const char *action, const sp_mac *mac,
    const sp_device *dev)
{
	char ma[SP_MAC_STRLEN];
	const char *kv[] = { "serial", dev ? dev->serial : NULL,
	    "product", dev ? dev->product : NULL,
	    "group", dev ? dev->group : NULL,
	    "enabled", dev ? (dev->enabled ? "yes" : "no") : NULL, NULL };

	sp_mac_format(mac, SP_MAC_MA, ma);
	return record(s, action, ma, dev ? kv : kv + 8);
}

/*
 * firmware.add (fw: the stored image; its length and SHA-256 in detail) or
 * firmware.rm (fw NULL); target "firmware:PRODUCT/VERSION".
 */
sp_result
sp_store_audit_firmware(sp_store *s, const char *action, const char *product,
    const char *version, const sp_fw_info *fw)
{
	char target[SP_AUDIT_TARGET_MAX + 1], len[24], md[65];
	const char *kv[] = { "length", len, "sha256", md, NULL };

	snprintf(target, sizeof(target), "firmware:%s/%s", product, version);
	if (fw) {
		snprintf(len, sizeof(len), "%llu", (unsigned long long)fw->length);
		sp_hex(fw->sha256, sizeof(fw->sha256), md);
	}
	return record(s, action, target, fw ? kv : kv + 4);
}

/* The level as a target: the MAC, "product:X", "group:X" or "defaults". */
static void
level_target(const sp_level_ref *lvl, char *out, size_t outsz)
{
	if (lvl->level == SP_LEVEL_DEVICE || lvl->level == SP_LEVEL_DEFAULTS)
		snprintf(out, outsz, "%s", lvl->level == SP_LEVEL_DEVICE ?
		    lvl->key : "defaults");
	else
		snprintf(out, outsz, "%s:%s", sp_level_name(lvl->level), lvl->key);
}

sp_result
sp_store_audit_param(sp_store *s, const sp_level_ref *lvl, const char *name,
    const sp_slice *value, sp_access access)
{
	sp_result res = SP_OK;
	sp_params cur;
	const sp_param *old;
	char target[SP_AUDIT_TARGET_MAX + 1], oh[40] = "", nh[40] = "";

	sp_params_init(&cur);
	TRY(s->ops->params_level(s, lvl, &cur));
	old = sp_params_get(&cur, name);
	if (old)
		TRY(sp_store_audit_value(s, sp_slice_mk(old->value, old->value_len),
		    oh));
	if (value)
		TRY(sp_store_audit_value(s, *value, nh));
	level_target(lvl, target, sizeof(target));
	{
		const char *kv[] = { "level", sp_level_name(lvl->level),
		    "name", name, "old", old ? oh : NULL, "new", value ? nh : NULL,
		    value && access != SP_ACCESS_UNSET ? "access" : NULL,
		    sp_access_name(access), NULL };

		TRY(record(s, value ? "param.set" : "param.unset", target, kv));
	}
out:
	sp_params_free(&cur);
	return res;
}

sp_result
sp_store_audit_rollout(sp_store *s, const sp_rollout *r, const char *action,
    const sp_slice *value)
{
	sp_result res = SP_OK;
	char target[SP_AUDIT_TARGET_MAX + 1], act[SP_AUDIT_ACTION_MAX + 1];
	char waves[32], vh[40] = "";
	/* The last pair: the value's hash (create), else a reason, else none. */
	const char *kv[] = { "state", sp_rollout_state_name(r->state),
	    "param", r->param, "waves_released", waves,
	    value ? "value" : r->reason[0] ? "reason" : NULL,
	    value ? vh : r->reason, NULL };

	snprintf(waves, sizeof(waves), "%d/%d", r->released, r->nwaves);
	if (value)
		TRY(sp_store_audit_value(s, *value, vh));
	snprintf(target, sizeof(target), "rollout:%s", r->name);
	snprintf(act, sizeof(act), "rollout.%s", action);
	TRY(record(s, act, target, kv));
out:
	return res;
}
