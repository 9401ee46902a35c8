/*
 * The PostgreSQL backend, the server's hot path: device lookup, effective
 * parameters (one statement each, so one snapshot, the generation read
 * with the rows), pending devices and contact batches.  Connecting, the
 * schema and change notification are in pgsql.c.
 */
#include "store/pgsql_internal.h"

#include <stdio.h>
#include <string.h>

#include <libpq-fe.h>

#include "common/util.h"

sp_result
pg_device_get(sp_store *base, const sp_mac *mac, sp_device *out, bool *found)
{
	sp_result res = SP_OK;
	pg_store *s = pg(base);
	PGresult *r = NULL;
	pg_params p = { 0 };
	char ma[SP_MAC_STRLEN];

	*found = false;
	s->lookup_valid = false;
	sp_mac_format(mac, SP_MAC_MA, ma);
	pg_p_str(&p, ma);
	TRY(pg_run(s, PS_DEV_GET, &p, &r, "looking up a device"));
	ENSURE(PQntuples(r) == 1, SP_E_DB, "%s: no generation row", s->label);
	if (strcmp(PQgetvalue(r, 0, 7), "t") == 0) {
		memset(out, 0, sizeof(*out));
		out->mac = *mac;
		pg_row_device(r, 0, 1, out);
		*found = true;
	}
	s->lookup_gen = (uint64_t)pg_col_i64(r, 0, 0);
	s->lookup_valid = true;
	pg_gen_seen(s, s->lookup_gen);
out:
	PQclear(r);
	return res;
}

sp_result
pg_params_effective(sp_store *base, const sp_device *dev, bool defaults_only,
    sp_params *out, uint64_t *gen)
{
	sp_result res = SP_OK;
	pg_store *s = pg(base);
	PGresult *r = NULL;
	pg_params p = { 0 };
	char ma[SP_MAC_STRLEN];
	uint64_t g;

	if (!defaults_only) {
		sp_mac_format(&dev->mac, SP_MAC_MA, ma);
		pg_p_str(&p, dev->product);
		pg_p_str(&p, dev->group);
		pg_p_str(&p, ma);
	}
	TRY(pg_run(s, defaults_only ? PS_DEFAULTS : PS_EFFECTIVE, &p, &r,
	    "reading parameters"));
	ENSURE(PQntuples(r) >= 1, SP_E_DB, "%s: no generation row", s->label);
	TRY(pg_merge_rows(r, 1, out));
	g = (uint64_t)pg_col_i64(r, 0, 1);
	pg_gen_seen(s, g);
	if (gen) {
		/* As in SQLite: an older lookup makes the result stale at once. */
		*gen = g;
		if (s->lookup_valid && s->lookup_gen < *gen)
			*gen = s->lookup_gen;
	}
	s->lookup_valid = false;
out:
	PQclear(r);
	return res;
}

static sp_result
pending_insert(pg_store *s, const char *ma, const char *serial,
    const char *product, int64_t now)
{
	pg_params p = { 0 };

	pg_p_str(&p, ma);
	pg_p_str(&p, serial);
	pg_p_str(&p, product);
	pg_p_i64(&p, now);
	return pg_run(s, PS_PENDING, &p, NULL, "recording a pending device");
}

sp_result
pg_device_pending(sp_store *base, const sp_mac *mac, const char *serial,
    const char *product, int64_t now)
{
	sp_result res = SP_OK;
	pg_store *s = pg(base);
	char ma[SP_MAC_STRLEN];
	bool mine = false;

	sp_mac_format(mac, SP_MAC_MA, ma);
	TRY(pg_tx_begin(s, &mine));
	TRY(pending_insert(s, ma, serial, product, now));
	TRY(pg_cs_sync(s, ma));
out:
	return pg_tx_end(s, mine, false, res);
}

/* A parsed User-Agent part; NULL when absent.  buf holds the copy. */
static const char *
ua_part(sp_slice v, bool have, char *buf, size_t bufsz)
{
	if (!have)
		return NULL;
	snprintf(buf, bufsz, "%.*s", (int)v.len, v.p);
	return buf;
}

/* Queue one contact (and its pending device) on the open pipeline. */
static sp_result
contact_send(pg_store *s, const sp_contact *c, sp_cs_agg *agg, size_t *nsent)
{
	sp_result res = SP_OK;
	pg_params p = { 0 }, pp = { 0 };
	char ma[SP_MAC_STRLEN];
	char part[5][SP_UA_MAX + 1];
	sp_ua ua;
	bool parsed;

	sp_mac_format(&c->mac, SP_MAC_MA, ma);
	if (c->record_pending) {
		pg_p_str(&pp, ma);
		pg_p_str(&pp, sp_store_field_or_empty("serial", c->serial));
		pg_p_str(&pp, sp_store_field_or_empty("product", c->product));
		pg_p_i64(&pp, c->time);
		TRY(pg_pipe_send(s, PS_PENDING, &pp, "recording a pending device"));
		(*nsent)++;
	}
	parsed = sp_ok(sp_ua_parse(sp_slice_of(c->ua), &ua));
	if (!parsed)
		sp_error_clear();
	pg_p_str(&p, ma);
	pg_p_i64(&p, c->time);
	pg_p_str(&p, c->ip);
	pg_p_slice(&p, sp_slice_of(c->ua));   /* bytea: raw bytes */
	pg_p_str(&p, ua_part(ua.vendor, parsed, part[0], sizeof(part[0])));
	pg_p_str(&p, ua_part(ua.product, parsed, part[1], sizeof(part[1])));
	pg_p_str(&p, ua_part(ua.swver, parsed, part[2], sizeof(part[2])));
	pg_p_str(&p, ua_part(ua.mac, parsed && ua.mac.len, part[3],
	    sizeof(part[3])));
	pg_p_str(&p, ua_part(ua.serial, parsed, part[4], sizeof(part[4])));
	pg_p_str(&p, c->etag);
	pg_p_i64(&p, c->status);
	TRY(pg_pipe_send(s, PS_CONTACT_PUT, &p, "recording a contact"));
	(*nsent)++;
	TRY(pg_cs_contact_send(s, ma, c, c->record_pending, agg, nsent));
out:
	return res;
}

/*
 * One transaction, its statements pipelined: a batch of n costs about
 * n / PG_PIPE_MAX + 2 round trips instead of n + 2 (bench/contact_batch).
 */
sp_result
pg_contact_batch(sp_store *base, const sp_contact *v, size_t n)
{
	int ids[2 + PG_CS_CONTACT_NIDS] = { PS_PENDING, PS_CONTACT_PUT };
	sp_result res = SP_OK;
	pg_store *s = pg(base);
	sp_cs_agg agg = { 0 };
	bool mine = false, piped = false;
	size_t nsent = 0;

	memcpy(ids + 2, pg_cs_contact_ids, sizeof(pg_cs_contact_ids));
	TRY(pg_tx_begin(s, &mine));
	TRY(pg_pipe_begin(s, ids, sizeof(ids) / sizeof(ids[0])));
	piped = true;
	for (size_t i = 0; i < n; i++) {
		TRY(contact_send(s, &v[i], &agg, &nsent));
		if (i + 1 == n)
			TRY(pg_cs_series_send(s, &agg, &nsent));
		/* A contact sends at most 5 statements, its series 65. */
		if (nsent >= PG_PIPE_MAX - 80 || i + 1 == n) {
			TRY(pg_pipe_sync(s, "recording contacts"));
			nsent = 0;
		}
	}
out:
	if (piped)
		pg_pipe_end(s);
	/* Contacts and pending devices do not move the generation. */
	return pg_tx_end(s, mine, false, res);
}

sp_result
pg_row_contact(PGresult *r, int row, int first, sp_contact *c)
{
	sp_result res = SP_OK;
	unsigned char *ua = NULL;
	size_t ualen = 0;

	c->time = pg_col_i64(r, row, first);
	pg_col_copy(r, row, first + 1, c->ip, sizeof(c->ip));
	TRY_ALLOC(ua, PQunescapeBytea((const unsigned char *)PQgetvalue(r, row,
	    first + 2), &ualen));
	if (ualen > SP_UA_MAX)
		ualen = SP_UA_MAX;
	memcpy(c->ua, ua, ualen);
	c->ua[ualen] = '\0';
	pg_col_copy(r, row, first + 3, c->etag, sizeof(c->etag));
	c->status = (int)pg_col_i64(r, row, first + 4);
out:
	PQfreemem(ua);
	return res;
}

sp_result
pg_contact_get(sp_store *base, const sp_mac *mac, sp_contact *out, bool *found)
{
	sp_result res = SP_OK;
	pg_store *s = pg(base);
	PGresult *r = NULL;
	pg_params p = { 0 };
	char ma[SP_MAC_STRLEN];

	*found = false;
	sp_mac_format(mac, SP_MAC_MA, ma);
	pg_p_str(&p, ma);
	TRY(pg_run(s, PS_CONTACT_GET, &p, &r, "reading a contact"));
	if (PQntuples(r) == 0)
		goto out;
	memset(out, 0, sizeof(*out));
	out->mac = *mac;
	TRY(pg_row_contact(r, 0, 0, out));
	*found = true;
out:
	PQclear(r);
	return res;
}

