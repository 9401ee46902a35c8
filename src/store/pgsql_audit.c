/*
 * The PostgreSQL backend's audit trail rows (schema 5; the chain is
 * audit.c's).  Inside sp_store_begin the head is read FOR UPDATE: a second
 * writer waits for the first one's commit and then reads its entry as the
 * head, so concurrent appends queue instead of forking the chain.
 */
#include "store/pgsql_internal.h"

#include <string.h>

#include <openssl/crypto.h>

sp_result
pg_audit_head(sp_store *base, int64_t *seq, char hash[SP_AUDIT_HASH_HEX + 1],
    uint8_t key[32])
{
	sp_result res = SP_OK;
	pg_store *s = pg(base);
	PGresult *r = NULL;
	unsigned char *k = NULL;
	size_t klen = 0;

	TRY(pg_run(s, base->tx ? PS_AU_HEAD_LOCK : PS_AU_HEAD, NULL, &r,
	    "reading the audit head"));
	ENSURE(PQntuples(r) == 1, SP_E_STATE, "%s: the audit head is missing",
	    s->label);
	TRY_ALLOC(k, PQunescapeBytea((const unsigned char *)PQgetvalue(r, 0, 2),
	    &klen));
	ENSURE(klen == 32, SP_E_STATE, "%s: the audit key is damaged", s->label);
	*seq = pg_col_i64(r, 0, 0);
	pg_col_copy(r, 0, 1, hash, SP_AUDIT_HASH_HEX + 1);
	memcpy(key, k, 32);
out:
	if (k) {
		OPENSSL_cleanse(k, klen);
		PQfreemem(k);
	}
	PQclear(r);
	return res;
}

sp_result
pg_audit_insert(sp_store *base, const sp_audit_entry *e)
{
	sp_result res = SP_OK;
	pg_store *s = pg(base);
	pg_params p = { 0 }, h = { 0 };

	pg_p_i64(&p, e->seq);
	pg_p_i64(&p, e->time);
	pg_p_str(&p, e->actor);
	pg_p_str(&p, e->action);
	pg_p_str(&p, e->target);
	pg_p_str(&p, e->detail);
	pg_p_str(&p, e->prev);
	pg_p_str(&p, e->hash);
	TRY(pg_run(s, PS_AU_INSERT, &p, NULL, "recording an audit entry"));
	pg_p_i64(&h, e->seq);
	pg_p_str(&h, e->hash);
	TRY(pg_run(s, PS_AU_HEAD_SET, &h, NULL, "recording an audit entry"));
out:
	return res;
}

sp_result
pg_audit_list(sp_store *base, const char *target, bool newest_first,
    int64_t limit, sp_store_audit_cb cb, void *arg)
{
	sp_result res = SP_OK;
	pg_store *s = pg(base);
	PGresult *r = NULL;
	pg_params p = { 0 };
	sp_audit_entry e;

	pg_p_str(&p, target);
	pg_p_str(&p, newest_first ? "t" : "f");
	pg_p_i64(&p, limit > 0 ? limit : INT64_MAX);
	TRY(pg_run(s, PS_AU_LIST, &p, &r, "reading the audit trail"));
	for (int i = 0; i < PQntuples(r); i++) {
		memset(&e, 0, sizeof(e));
		e.seq = pg_col_i64(r, i, 0);
		e.time = pg_col_i64(r, i, 1);
		pg_col_copy(r, i, 2, e.actor, sizeof(e.actor));
		pg_col_copy(r, i, 3, e.action, sizeof(e.action));
		pg_col_copy(r, i, 4, e.target, sizeof(e.target));
		pg_col_copy(r, i, 5, e.detail, sizeof(e.detail));
		pg_col_copy(r, i, 6, e.prev, sizeof(e.prev));
		pg_col_copy(r, i, 7, e.hash, sizeof(e.hash));
		TRY(cb(arg, &e));
	}
out:
	PQclear(r);
	return res;
}
