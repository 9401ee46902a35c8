/*
 * The PostgreSQL backend: URI postgresql://... or postgres://... (any
 * libpq connection URI, multi-host and target_session_attrs included:
 * they pass through to libpq untouched).  docs/SERVER.md, "PostgreSQL
 * store".
 *
 * Settings, and why:
 *  - connect_timeout 10 s unless the URI gives one; statement_timeout
 *    30 s and lock_timeout 10 s (SET at connect): no call blocks forever.
 *  - client_encoding UTF8 always (values are checked UTF-8 upstream).
 *  - Every statement is a constant string prepared once per connection
 *    (PQprepare/PQexecPrepared); input reaches the server only as bound
 *    parameters.  Error messages carry the server's primary message only,
 *    never its DETAIL (which may show a row, i.e. a password), and name
 *    the database and host, never the URI (which may hold a password).
 *  - Schema version in table schema_version; pg_migrations[] (pgsql_schema.c), applied
 *    in one transaction under an advisory lock (several nodes may start
 *    at once).  A newer schema is refused.
 *
 * Generation: a row in meta bumped by triggers on every change to devices
 * (but not the insertion of a pending device), params and device_params;
 * the same triggers NOTIFY sprov_changed (delivered at commit, to every
 * listener, on every node).  The handle LISTENs on a second connection,
 * opened on the first sp_store_generation, whose socket is the notify_fd:
 * sp_store_generation reads pending notifications without a round trip
 * and re-reads the row only after one arrived or this handle wrote.  If
 * the LISTEN connection drops, the generation is re-read after LISTEN is
 * re-established (so nothing missed in between is served from a cache),
 * and sp_store_notify_reconnects() counts it.
 */
#include "store/pgsql_internal.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "common/util.h"
#include "store/tokens_internal.h"

#define PG_CONNECT_TIMEOUT "10"
#define PG_SESSION_SETUP \
	"SET statement_timeout = '30s'; SET lock_timeout = '10s'; " \
	"SET idle_in_transaction_session_timeout = '60s'"
/* pg_advisory_xact_lock key for schema changes ("sprov" in ASCII). */
#define PG_SCHEMA_LOCK "7558793111158"

static atomic_uint_fast64_t notify_reconnects;

uint64_t
sp_store_notify_reconnects(void)
{
	return (uint64_t)atomic_load(&notify_reconnects);
}


/* Names compare byte-wise, as in SQLite, whatever the database's locale. */
static const char *const sql[PS_COUNT] = {
	[PS_GEN] = "SELECT v FROM meta WHERE k = 'generation'",
	/* One statement, one snapshot: the generation with the lookup. */
	[PS_DEV_GET] = "SELECT m.v, d.serial, d.product, d.grp, d.enabled::int, "
	    "d.pending::int, d.created, d.mac IS NOT NULL "
	    "FROM meta m LEFT JOIN devices d ON d.mac = $1 "
	    "WHERE m.k = 'generation'",
	/* Row 0 carries the snapshot's generation in its value column. */
	[PS_EFFECTIVE] = "SELECT name, value, access FROM ("
	    " SELECT -1 AS lv, '' AS name, v::text AS value, NULL::text AS access"
	    "  FROM meta WHERE k = 'generation'"
	    " UNION ALL SELECT 0, name, value, access FROM params"
	    "  WHERE level = 0 AND key = ''"
	    " UNION ALL SELECT 1, name, value, access FROM params"
	    "  WHERE level = 1 AND key = $1 AND $1 <> ''"
	    " UNION ALL SELECT 2, name, value, access FROM params"
	    "  WHERE level = 2 AND key = $2 AND $2 <> ''"
	    " UNION ALL SELECT 3, name, value, access FROM device_params"
	    "  WHERE mac = $3"
	    ") AS x ORDER BY lv, name COLLATE \"C\"",
	[PS_DEFAULTS] = "SELECT name, value, access FROM ("
	    " SELECT -1 AS lv, '' AS name, v::text AS value, NULL::text AS access"
	    "  FROM meta WHERE k = 'generation'"
	    " UNION ALL SELECT 0, name, value, access FROM params"
	    "  WHERE level = 0 AND key = ''"
	    ") AS x ORDER BY lv, name COLLATE \"C\"",
	[PS_PENDING] = "INSERT INTO devices "
	    "(mac, serial, product, grp, enabled, pending, created) "
	    "VALUES ($1, $2, $3, '', false, true, $4) ON CONFLICT (mac) DO NOTHING",
	[PS_CONTACT_PUT] = "INSERT INTO contacts (mac, time, ip, ua, ua_vendor, "
	    "ua_product, ua_swver, ua_mac, ua_serial, etag, status) "
	    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) "
	    "ON CONFLICT (mac) DO UPDATE SET time = excluded.time, "
	    "ip = excluded.ip, ua = excluded.ua, ua_vendor = excluded.ua_vendor, "
	    "ua_product = excluded.ua_product, ua_swver = excluded.ua_swver, "
	    "ua_mac = excluded.ua_mac, ua_serial = excluded.ua_serial, "
	    "etag = excluded.etag, status = excluded.status",
	[PS_CONTACT_GET] = "SELECT time, ip, ua, etag, status FROM contacts "
	    "WHERE mac = $1",
	[PS_CONTACT_RM] = "DELETE FROM contacts WHERE mac = $1",
	[PS_DEV_PENDING_Q] = "SELECT pending::int FROM devices WHERE mac = $1",
	[PS_DEV_INSERT] = "INSERT INTO devices "
	    "(mac, serial, product, grp, enabled, pending, created) "
	    "VALUES ($1, $2, $3, $4, $5::int::boolean, false, $6)",
	[PS_DEV_ADOPT] = "UPDATE devices SET serial = $2, product = $3, "
	    "grp = $4, enabled = $5::int::boolean, pending = false WHERE mac = $1",
	[PS_DEV_RM] = "DELETE FROM devices WHERE mac = $1",
	[PS_DEV_ENABLE] = "UPDATE devices SET enabled = $2::int::boolean, "
	    "pending = CASE WHEN $2::int::boolean THEN false ELSE pending END "
	    "WHERE mac = $1",
	[PS_DEV_LIST] = "SELECT mac, serial, product, grp, enabled::int, "
	    "pending::int, created FROM devices ORDER BY mac COLLATE \"C\"",
	[PS_PARAM_SET] = "INSERT INTO params (level, key, name, value, access) "
	    "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (level, key, name) "
	    "DO UPDATE SET value = excluded.value, "
	    "access = coalesce(excluded.access, params.access)",
	[PS_DPARAM_SET] = "INSERT INTO device_params (mac, name, value, access) "
	    "VALUES ($1, $2, $3, $4) ON CONFLICT (mac, name) "
	    "DO UPDATE SET value = excluded.value, "
	    "access = coalesce(excluded.access, device_params.access)",
	[PS_PARAM_UNSET] = "DELETE FROM params "
	    "WHERE level = $1 AND key = $2 AND name = $3",
	[PS_DPARAM_UNSET] = "DELETE FROM device_params WHERE mac = $1 AND name = $2",
	[PS_PARAM_LEVEL] = "SELECT name, value, access FROM params "
	    "WHERE level = $1 AND key = $2 ORDER BY name COLLATE \"C\"",
	[PS_DPARAM_LEVEL] = "SELECT name, value, access FROM device_params "
	    "WHERE mac = $1 ORDER BY name COLLATE \"C\"",
	[PS_LEVEL_LIST] = "SELECT lv, key FROM ("
	    " SELECT DISTINCT level::int AS lv, key FROM params"
	    " UNION SELECT DISTINCT 3, mac FROM device_params"
	    ") AS x ORDER BY lv, key COLLATE \"C\"",
	[PS_CONTACT_LIST] = "SELECT mac, time, ip, ua, etag, status FROM contacts "
	    "ORDER BY mac COLLATE \"C\"",
	[PS_IS_EMPTY] = "SELECT (EXISTS (SELECT 1 FROM devices) OR "
	    "EXISTS (SELECT 1 FROM params) OR EXISTS (SELECT 1 FROM device_params) "
	    "OR EXISTS (SELECT 1 FROM contacts))::int",
	/* Only above every stored version: stale or racing writers insert nothing. */
	[PS_CL_PUT] = "INSERT INTO cluster_data (name, version, created, data) "
	    "SELECT $1::text, $2::bigint, $3::bigint, $4::bytea WHERE NOT EXISTS "
	    "(SELECT 1 FROM cluster_data WHERE name = $1::text AND "
	    "version >= $2::bigint) ON CONFLICT DO NOTHING",
	[PS_CL_MAX] = "SELECT coalesce(max(version), 0) FROM cluster_data "
	    "WHERE name = $1",
	[PS_CL_PRUNE] = "DELETE FROM cluster_data WHERE name = $1 AND "
	    "version <= $2::bigint",
	[PS_CL_GET] = "SELECT name, version, created, data FROM cluster_data "
	    "WHERE name = $1 ORDER BY version DESC LIMIT $2::bigint",
	[PS_CL_NEWEST] = "SELECT name, version, created, data FROM cluster_data c "
	    "WHERE substr(name, 1, length($1::text)) = $1::text AND version = "
	    "(SELECT max(version) FROM cluster_data WHERE name = c.name) "
	    "ORDER BY name COLLATE \"C\"",
	[PS_FW_CHUNK_PUT] = "INSERT INTO firmware_chunks (fw, seq, data) "
	    "VALUES ($1::bigint, $2::bigint, $3::bytea)",
	[PS_FW_INSERT] = "INSERT INTO firmware (product, version, id, length, "
	    "sha256, created) VALUES ($1, $2, $3::bigint, $4::bigint, $5::bytea, "
	    "$6::bigint)",
	[PS_FW_GET] = "SELECT product, version, id, length, sha256, created "
	    "FROM firmware WHERE product = $1 AND version = $2",
	[PS_FW_CHUNKS] = "SELECT seq, data FROM firmware_chunks WHERE fw = "
	    "$1::bigint AND seq BETWEEN $2::bigint AND $3::bigint ORDER BY seq",
	[PS_FW_LIST] = "SELECT product, version, id, length, sha256, created "
	    "FROM firmware ORDER BY product COLLATE \"C\", version COLLATE \"C\"",
	[PS_FW_RM] = "DELETE FROM firmware WHERE product = $1 AND version = $2 "
	    "RETURNING id",
	[PS_FW_CHUNKS_RM] = "DELETE FROM firmware_chunks WHERE fw = $1::bigint",
	[PS_RO_INSERT] = "INSERT INTO rollouts (name, kind, state, level, key, "
	    "param, value, fw_version, parent, rolled_back_by, hkey, waves, "
	    "released, wave_interval, success_window, halt_bp, created, updated, "
	    "reason, seq) VALUES ($1, $2::smallint, $3::smallint, $4::smallint, "
	    "$5, $6, $7, $8, $9, $10, $11::bytea, $12, $13::integer, $14::bigint, "
	    "$15::bigint, $16::integer, $17::bigint, $18::bigint, $19, 1)",
	/* Row 0 carries the snapshot's generation; NULLs when no rollout. */
	[PS_RO_LIST] = "SELECT m.v, r.name, r.kind, r.state, r.level, r.key, "
	    "r.param, r.value, r.fw_version, r.parent, r.rolled_back_by, r.hkey, "
	    "r.waves, r.released, r.wave_interval, r.success_window, r.halt_bp, "
	    "r.created, r.updated, r.reason, r.seq "
	    "FROM meta m LEFT JOIN rollouts r ON true "
	    "WHERE m.k = 'generation' ORDER BY r.id",
	[PS_RO_GET] = "SELECT m.v, r.name, r.kind, r.state, r.level, r.key, "
	    "r.param, r.value, r.fw_version, r.parent, r.rolled_back_by, r.hkey, "
	    "r.waves, r.released, r.wave_interval, r.success_window, r.halt_bp, "
	    "r.created, r.updated, r.reason, r.seq "
	    "FROM meta m LEFT JOIN rollouts r ON r.name = $1 "
	    "WHERE m.k = 'generation'",
	[PS_RO_UPDATE] = "UPDATE rollouts SET state = $3::smallint, "
	    "released = $4::integer, waves = $5, updated = $6::bigint, "
	    "reason = $7, rolled_back_by = $8, seq = seq + 1 "
	    "WHERE name = $1 AND seq = $2::bigint",
	[PS_AU_HEAD] = "SELECT seq, hash, hkey FROM audit_head WHERE id = 1",
	[PS_AU_HEAD_LOCK] = "SELECT seq, hash, hkey FROM audit_head WHERE id = 1 "
	    "FOR UPDATE",
	[PS_AU_INSERT] = "INSERT INTO audit (seq, time, actor, action, target, "
	    "detail, prev, hash) VALUES ($1::bigint, $2::bigint, $3, $4, $5, $6, "
	    "$7, $8)",
	[PS_AU_HEAD_SET] = "UPDATE audit_head SET seq = $1::bigint, hash = $2 "
	    "WHERE id = 1",
	[PS_AU_LIST] = "SELECT seq, time, actor, action, target, detail, prev, "
	    "hash FROM audit WHERE ($1::text IS NULL OR target = $1) ORDER BY "
	    "CASE WHEN $2::boolean THEN -seq ELSE seq END LIMIT $3::bigint",
};

/* ---- parameters and results ------------------------------------------- */

static void
p_add(pg_params *p, const char *v, int len, int fmt)
{
	if (p->n >= PG_NPARAMS_MAX)
		abort();   /* a bug in this file: the statements are fixed */
	p->v[p->n] = v;
	p->len[p->n] = len;
	p->fmt[p->n] = fmt;
	p->n++;
}

void
pg_p_str(pg_params *p, const char *v)
{
	p_add(p, v, 0, 0);
}

/*
 * A slice need not be NUL-terminated: sent in binary format, which for
 * text is the bytes themselves (the server still checks the encoding).
 */
void
pg_p_slice(pg_params *p, sp_slice v)
{
	p_add(p, v.len ? v.p : "", (int)v.len, 1);
}

void
pg_p_i64(pg_params *p, int64_t v)
{
	if (p->n >= PG_NPARAMS_MAX)
		abort();
	snprintf(p->num[p->n], sizeof(p->num[p->n]), "%" PRId64, v);
	p_add(p, p->num[p->n], 0, 0);
}

void
pg_p_access(pg_params *p, sp_access a)
{
	p_add(p, a == SP_ACCESS_UNSET ? NULL : sp_access_name(a), 0, 0);
}

static _Thread_local char last_state[6];

const char *
pg_last_state(void)
{
	return last_state;
}

/* The first line of a libpq message, without its "ERROR:  " prefix. */
static void
msg_line(const char *m, char *out, size_t outsz)
{
	size_t n;

	if (m == NULL || *m == '\0')
		m = "unknown error";
	if (strncmp(m, "ERROR:  ", 8) == 0)
		m += 8;
	n = strcspn(m, "\n");
	snprintf(out, outsz, "%.*s", (int)n, m);
}

static sp_result
conn_err(pg_store *s, PGconn *c, const char *what)
{
	char m[256];

	msg_line(PQerrorMessage(c), m, sizeof(m));
	return sp_error(SP_E_DB, "%s: %s: %s", s->label, what, m);
}

static sp_result
result_err(pg_store *s, PGresult *r, const char *what)
{
	const char *prim = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	const char *st = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	char m[256];

	snprintf(last_state, sizeof(last_state), "%s", st ? st : "");
	if (prim == NULL) {
		msg_line(PQerrorMessage(s->conn), m, sizeof(m));
		prim = m;
	}
	return sp_error(SP_E_DB, "%s: %s", what, prim);
}

/*
 * A broken connection outside a transaction is re-established once (a
 * restarted server, or a failover the multi-host URI follows); inside one
 * the transaction is lost anyway and the call fails.
 */
static sp_result
conn_check(pg_store *s)
{
	sp_result res = SP_OK;

	if (PQstatus(s->conn) == CONNECTION_OK)
		goto out;
	ENSURE(!s->tx_open, SP_E_DB,
	    "%s: the connection was lost in a transaction", s->label);
	PQreset(s->conn);
	memset(s->prepared, 0, sizeof(s->prepared));
	s->gen_valid = false;
	if (PQstatus(s->conn) != CONNECTION_OK) {
		res = conn_err(s, s->conn, "reconnecting");
		goto out;
	}
	TRY(pg_cmd(s, PG_SESSION_SETUP, "configuring the session"));
out:
	return res;
}

/* A statement failed because the connection did; worth one retry. */
static bool
retryable(pg_store *s, int attempt)
{
	return attempt == 0 && !s->tx_open && PQstatus(s->conn) != CONNECTION_OK;
}

/* Prepare statement id on this connection, once. */
static sp_result
prepare(pg_store *s, int id)
{
	sp_result res = SP_OK;
	PGresult *r = NULL;
	char name[16];

	if (s->prepared[id])
		goto out;
	snprintf(name, sizeof(name), "sprov_%d", id);
	r = PQprepare(s->conn, name, id < PS_COUNT ? sql[id] : pg_cs_sql(id), 0,
	    NULL);
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		res = result_err(s, r, "preparing a statement");
		goto out;
	}
	s->prepared[id] = true;
out:
	PQclear(r);
	return res;
}

sp_result
pg_run(pg_store *s, int id, const pg_params *p, PGresult **out,
    const char *what)
{
	sp_result res = SP_OK;
	PGresult *r = NULL;
	char name[16];
	ExecStatusType st;

	if (out)
		*out = NULL;
	last_state[0] = '\0';
	snprintf(name, sizeof(name), "sprov_%d", id);
	/*
	 * Outside a transaction a statement that found the connection dead
	 * (idle across a server restart or a failover) runs once more on a
	 * new one; inside one the caller's transaction is lost: it fails.
	 */
	for (int attempt = 0;; attempt++) {
		PQclear(r);
		r = NULL;
		TRY(conn_check(s));
		res = prepare(s, id);
		if (sp_failed(res) && retryable(s, attempt)) {
			sp_error_clear();
			res = SP_OK;
			continue;
		}
		TRY(res);
		r = PQexecPrepared(s->conn, name, p ? p->n : 0, p ? p->v : NULL,
		    p ? p->len : NULL, p ? p->fmt : NULL, 0);
		st = PQresultStatus(r);
		if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
			break;
		if (retryable(s, attempt))
			continue;
		res = result_err(s, r, what);
		goto out;
	}
	if (out) {
		*out = r;
		r = NULL;
	}
out:
	PQclear(r);
	return res;
}

int64_t
pg_affected(PGresult *r)
{
	const char *t = PQcmdTuples(r);

	return t && *t ? strtoll(t, NULL, 10) : 0;
}

/*
 * Pipelines (libpq's pipeline mode): statements sent back to back and their
 * results read after one sync, so a batch of N costs one round trip, not
 * N.  Only inside a transaction the caller opened (a lost connection fails
 * the whole transaction, as in pg_run).  The caller syncs every
 * PG_PIPE_MAX statements: in blocking mode a pipeline whose results fill
 * the socket buffers while we still send would deadlock.
 */
sp_result
pg_pipe_begin(pg_store *s, const int *ids, size_t nids)
{
	sp_result res = SP_OK;

	ENSURE(s->tx_open, SP_E_STATE, "%s: a pipeline outside a transaction", s->label);
	for (size_t i = 0; i < nids; i++)
		TRY(prepare(s, ids[i]));
	if (PQenterPipelineMode(s->conn) != 1)
		res = conn_err(s, s->conn, "entering pipeline mode");
out:
	return res;
}

sp_result
pg_pipe_send(pg_store *s, int id, const pg_params *p, const char *what)
{
	char name[16];

	snprintf(name, sizeof(name), "sprov_%d", id);
	if (PQsendQueryPrepared(s->conn, name, p ? p->n : 0, p ? p->v : NULL,
	    p ? p->len : NULL, p ? p->fmt : NULL, 0) != 1)
		return conn_err(s, s->conn, what);
	return SP_OK;
}

sp_result
pg_pipe_sync(pg_store *s, const char *what)
{
	sp_result res = SP_OK;
	PGresult *r;
	bool synced = false;

	if (PQpipelineSync(s->conn) != 1)
		return conn_err(s, s->conn, what);
	/* Every statement's result (each followed by NULL), then the sync. */
	while (!synced) {
		if ((r = PQgetResult(s->conn)) == NULL) {
			if (PQstatus(s->conn) != CONNECTION_OK) {
				if (sp_ok(res))
					res = conn_err(s, s->conn, what);
				break;
			}
			continue;
		}
		switch (PQresultStatus(r)) {
		case PGRES_PIPELINE_SYNC:
			synced = true;
			break;
		case PGRES_COMMAND_OK:
		case PGRES_TUPLES_OK:
		case PGRES_PIPELINE_ABORTED: /* after the failure we report */
			break;
		default:
			if (sp_ok(res))
				res = result_err(s, r, what);
			break;
		}
		PQclear(r);
	}
	return res;
}

void
pg_pipe_end(pg_store *s)
{
	if (PQpipelineStatus(s->conn) == PQ_PIPELINE_OFF || PQexitPipelineMode(s->conn) == 1)
		return;
	/* Results still unread (a failed send): read up to a sync point. */
	if (PQstatus(s->conn) == CONNECTION_OK) {
		if (sp_failed(pg_pipe_sync(s, "ending a pipeline")))
			sp_error_clear();
		if (PQexitPipelineMode(s->conn) == 1)
			return;
	}
	/* Still in it: a new connection leaves pipeline mode for sure. */
	PQreset(s->conn);
	memset(s->prepared, 0, sizeof(s->prepared));
	s->gen_valid = false;
}

/* A constant command (no values): BEGIN, COMMIT, SET, LISTEN. */
static sp_result
cmd_on(pg_store *s, PGconn *c, const char *q, const char *what)
{
	sp_result res = SP_OK;
	PGresult *r = PQexec(c, q);

	if (PQresultStatus(r) != PGRES_COMMAND_OK &&
	    PQresultStatus(r) != PGRES_TUPLES_OK)
		res = result_err(s, r, what);
	PQclear(r);
	return res;
}

sp_result
pg_cmd(pg_store *s, const char *q, const char *what)
{
	return cmd_on(s, s->conn, q, what);
}

sp_result
pg_tx_begin(pg_store *s, bool *mine)
{
	sp_result res = SP_OK;

	*mine = false;
	if (s->in_tx)
		goto out;
	TRY(conn_check(s));
	res = pg_cmd(s, "BEGIN", "starting a transaction");
	if (sp_failed(res) && retryable(s, 0)) {
		TRY(conn_check(s));
		res = pg_cmd(s, "BEGIN", "starting a transaction");
	}
	TRY(res);
	s->tx_open = true;
	*mine = true;
out:
	return res;
}

sp_result
pg_tx_end(pg_store *s, bool mine, bool wrote, sp_result res)
{
	if (wrote)
		s->gen_valid = false;
	if (!mine)
		return res;
	s->tx_open = false;
	if (sp_ok(res)) {
		res = pg_cmd(s, "COMMIT", "committing");
		if (sp_ok(res))
			return res;
	}
	pg_tx_abort(s);
	return res;
}

void
pg_tx_abort(pg_store *s)
{
	s->tx_open = false;
	if (PQstatus(s->conn) == CONNECTION_OK)
		PQclear(PQexec(s->conn, "ROLLBACK"));
}

void
pg_col_copy(PGresult *r, int row, int col, char *dst, size_t dstsz)
{
	size_t n = 0;
	const char *p = NULL;

	if (!PQgetisnull(r, row, col)) {
		p = PQgetvalue(r, row, col);
		n = (size_t)PQgetlength(r, row, col);
	}
	if (n >= dstsz)
		n = dstsz - 1;
	if (n)
		memcpy(dst, p, n);
	dst[n] = '\0';
}

int64_t
pg_col_i64(PGresult *r, int row, int col)
{
	if (PQgetisnull(r, row, col))
		return 0;
	return strtoll(PQgetvalue(r, row, col), NULL, 10);
}

void
pg_row_device(PGresult *r, int row, int first, sp_device *d)
{
	pg_col_copy(r, row, first, d->serial, sizeof(d->serial));
	pg_col_copy(r, row, first + 1, d->product, sizeof(d->product));
	pg_col_copy(r, row, first + 2, d->group, sizeof(d->group));
	d->enabled = pg_col_i64(r, row, first + 3) != 0;
	d->pending = pg_col_i64(r, row, first + 4) != 0;
	d->created = pg_col_i64(r, row, first + 5);
}

/*
 * Merge (name, value, access) rows into out, in order.  A row with no
 * access keeps the access a lower level gave the name.
 */
sp_result
pg_merge_rows(PGresult *r, int from, sp_params *out)
{
	sp_result res = SP_OK;

	for (int i = from; i < PQntuples(r); i++)
		TRY(sp_store_merge_row(out, sp_slice_mk(PQgetvalue(r, i, 0),
		    (size_t)PQgetlength(r, i, 0)), sp_slice_mk(PQgetvalue(r, i, 1),
		    (size_t)PQgetlength(r, i, 1)), PQgetisnull(r, i, 2) ? NULL :
		    PQgetvalue(r, i, 2)));
out:
	return res;
}

/* ---- opening ------------------------------------------------------------ */

/* "postgresql store 'DB' on HOST", from the URI without echoing it. */
static void
make_label(pg_store *s, const char *uri)
{
	PQconninfoOption *o = PQconninfoParse(uri, NULL);
	const char *db = NULL, *host = NULL;

	for (PQconninfoOption *i = o; i && i->keyword; i++) {
		if (strcmp(i->keyword, "dbname") == 0)
			db = i->val;
		else if (strcmp(i->keyword, "host") == 0)
			host = i->val;
	}
	snprintf(s->label, sizeof(s->label), "postgresql store '%.64s' on %.96s",
	    db && *db ? db : "(default)", host && *host ? host : "(default host)");
	PQconninfoFree(o);
}

/* Server notices (and a killed connection's last words) are not ours to print. */
static void
quiet(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

static sp_result
connect_db(pg_store *s, PGconn **out)
{
	sp_result res = SP_OK;
	/* connect_timeout before dbname, so the URI's own value wins. */
	const char *const kw[] = { "connect_timeout", "dbname",
	    "client_encoding", "application_name", NULL };
	const char *const val[] = { PG_CONNECT_TIMEOUT, s->uri, "UTF8", "sprov",
	    NULL };

	*out = PQconnectdbParams(kw, val, 1);
	ENSURE(*out != NULL, SP_E_NOMEM, "out of memory");
	PQsetNoticeProcessor(*out, quiet, NULL);
	if (PQstatus(*out) != CONNECTION_OK) {
		res = conn_err(s, *out, "connecting");
		goto out;
	}
	TRY(cmd_on(s, *out, PG_SESSION_SETUP, "configuring the session"));
out:
	return res;
}

static sp_result
read_version(pg_store *s, bool *have, int64_t *ver)
{
	sp_result res = SP_OK;
	PGresult *r = NULL;

	*have = false;
	*ver = 0;
	r = PQexec(s->conn, "SELECT to_regclass('schema_version') IS NOT NULL, "
	    "to_regclass('devices') IS NOT NULL OR to_regclass('meta') IS NOT NULL");
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		res = result_err(s, r, "reading the schema version");
		goto out;
	}
	*have = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
	if (!*have) {
		ENSURE(strcmp(PQgetvalue(r, 0, 1), "f") == 0, SP_E_STATE,
		    "%s has tables named like sprov's but is not an sprov store",
		    s->label);
		goto out;
	}
	PQclear(r);
	r = PQexec(s->conn, "SELECT max(version) FROM schema_version");
	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
		res = result_err(s, r, "reading the schema version");
		goto out;
	}
	*ver = pg_col_i64(r, 0, 0);
out:
	PQclear(r);
	return res;
}

/* Create or upgrade the schema; refuse foreign or newer databases. */
static sp_result
schema(pg_store *s, int flags)
{
	sp_result res = SP_OK;
	PGresult *r = NULL;
	bool have = false, mine = false;
	int64_t ver = 0;
	pg_params p = { 0 };

	TRY(read_version(s, &have, &ver));
	s->schema_found = (int)ver;
	if (have && ver == pg_schema_current)
		goto out;
	ENSURE(ver >= 0 && ver <= pg_schema_current, SP_E_STATE,
	    "%s has schema version %lld, newer than this sprov knows (%d): "
	    "upgrade sprov", s->label, (long long)ver, pg_schema_current);
	ENSURE(have || (flags & SP_STORE_CREATE), SP_E_STATE,
	    "%s is not initialised: run 'sprov db init'", s->label);
	TRY(pg_tx_begin(s, &mine));
	TRY(pg_cmd(s, "SELECT pg_advisory_xact_lock(" PG_SCHEMA_LOCK ")",
	    "locking the schema"));
	/* Again under the lock: another node may have won. */
	TRY(read_version(s, &have, &ver));
	ENSURE(ver <= pg_schema_current, SP_E_STATE,
	    "%s has schema version %lld, newer than this sprov knows (%d): "
	    "upgrade sprov", s->label, (long long)ver, pg_schema_current);
	for (; ver < pg_schema_current; ver++)
		TRY(pg_cmd(s, pg_migrations[ver], "creating or migrating the schema"));
	pg_p_i64(&p, pg_schema_current);
	r = PQexecParams(s->conn, "UPDATE schema_version SET version = $1::int",
	    p.n, NULL, p.v, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		res = result_err(s, r, "recording the schema version");
		goto out;
	}
out:
	PQclear(r);
	return pg_tx_end(s, mine, false, res);
}

static void
pg_close(sp_store *base)
{
	pg_store *s = pg(base);

	if (s->conn)
		PQfinish(s->conn);   /* an open transaction rolls back */
	if (s->listen)
		PQfinish(s->listen);
	if (s->uri) {
		OPENSSL_cleanse(s->uri, strlen(s->uri));
		free(s->uri);
	}
	free(s);
}

static const sp_store_ops pg_ops;

sp_result
sp_store_pgsql_open(const char *uri, int flags, sp_store **out)
{
	sp_result res = SP_OK;
	pg_store *s = NULL;
	char *err = NULL;
	PQconninfoOption *o = NULL;

	*out = NULL;
	TRY_ALLOC(s, calloc(1, sizeof(*s)));
	s->base.ops = &pg_ops;
	o = PQconninfoParse(uri, &err);
	ENSURE(o != NULL, SP_E_USAGE,
	    "store 'postgresql://...': not a valid connection URI");
	make_label(s, uri);
	TRY_ALLOC(s->uri, strdup(uri));
	TRY(connect_db(s, &s->conn));
	TRY(schema(s, flags));
	*out = &s->base;
	s = NULL;
out:
	if (sp_failed(res) && s && strstr(sp_errmsg(), s->label) == NULL)
		res = sp_error_wrap(res, "%s", s->label);
	PQconninfoFree(o);
	PQfreemem(err);   /* may quote the URI: never shown */
	if (s)
		pg_close(&s->base);
	return res;
}

static sp_result
pg_schema_version(sp_store *base, int *found, int *current)
{
	*found = pg(base)->schema_found;
	*current = pg_schema_current;
	return SP_OK;
}

/* A generation seen in a snapshot is at least as new as the cached one. */
void
pg_gen_seen(pg_store *s, uint64_t g)
{
	if (s->gen_valid && g > s->gen)
		s->gen = g;
}

/* ---- change notification ------------------------------------------------ */

static sp_result
listen_open(pg_store *s)
{
	sp_result res = SP_OK;

	TRY(connect_db(s, &s->listen));
	TRY(cmd_on(s, s->listen, "LISTEN " PG_CHANNEL, "listening for changes"));
	/* Anything committed before LISTEN took effect is read now. */
	s->gen_valid = false;
out:
	if (sp_failed(res) && s->listen) {
		PQfinish(s->listen);
		s->listen = NULL;
	}
	return res;
}

/* Drain notifications; any (or a lost connection) invalidates s->gen. */
static sp_result
listen_poll(pg_store *s)
{
	sp_result res = SP_OK;
	PGnotify *n;

	if (s->listen == NULL) {
		TRY(listen_open(s));
		goto out;
	}
	if (PQconsumeInput(s->listen) == 0 ||
	    PQstatus(s->listen) != CONNECTION_OK) {
		PQfinish(s->listen);
		s->listen = NULL;
		s->gen_valid = false;
		atomic_fetch_add(&notify_reconnects, 1);
		TRY(listen_open(s));
		goto out;
	}
	while ((n = PQnotifies(s->listen)) != NULL) {
		s->gen_valid = false;
		PQfreemem(n);
	}
out:
	return res;
}

static sp_result
read_gen(pg_store *s, uint64_t *gen)
{
	sp_result res = SP_OK;
	PGresult *r = NULL;

	TRY(pg_run(s, PS_GEN, NULL, &r, "reading the generation"));
	ENSURE(PQntuples(r) == 1, SP_E_DB, "%s: no generation row", s->label);
	*gen = (uint64_t)pg_col_i64(r, 0, 0);
out:
	PQclear(r);
	return res;
}

static sp_result
pg_generation(sp_store *base, uint64_t *gen)
{
	sp_result res = SP_OK;
	pg_store *s = pg(base);

	if (s->in_tx) {
		TRY(read_gen(s, gen));
		goto out;
	}
	TRY(listen_poll(s));
	if (!s->gen_valid) {
		TRY(read_gen(s, &s->gen));
		s->gen_valid = true;
	}
	*gen = s->gen;
out:
	return res;
}

static int
pg_notify_fd(sp_store *base)
{
	pg_store *s = pg(base);

	return s->listen ? PQsocket(s->listen) : -1;
}

static const sp_store_ops pg_ops = {
	.scheme = "postgresql",
	.close = pg_close,
	.generation = pg_generation,
	.notify_fd = pg_notify_fd,
	.device_get = pg_device_get,
	.params_effective = pg_params_effective,
	.device_pending = pg_device_pending,
	.contact_batch = pg_contact_batch,
	.contact_get = pg_contact_get,
	.begin = pg_begin,
	.commit = pg_commit,
	.rollback = pg_rollback,
	.device_add = pg_device_add,
	.device_rm = pg_device_rm,
	.device_set_enabled = pg_device_set_enabled,
	.device_list = pg_device_list,
	.param_set = pg_param_set,
	.param_unset = pg_param_unset,
	.params_level = pg_params_level,
	.schema_version = pg_schema_version,
	.tokens = &pg_tokens_ops,
	.cluster_put = pg_cluster_put,
	.cluster_get = pg_cluster_get,
	.begin_read = pg_begin_read,
	.level_list = pg_level_list,
	.contact_list = pg_contact_list,
	.is_empty = pg_is_empty,
	.clear = pg_clear,
	.fw_chunk_put = pg_fw_chunk_put,
	.fw_insert = pg_fw_insert,
	.fw_get = pg_fw_get,
	.fw_chunks = pg_fw_chunks,
	.fw_list = pg_fw_list,
	.fw_rm = pg_fw_rm,
	.ro_insert = pg_ro_insert,
	.ro_list = pg_ro_list,
	.ro_update = pg_ro_update,
	.audit_head = pg_audit_head,
	.audit_insert = pg_audit_insert,
	.audit_list = pg_audit_list,
	.failure_batch = pg_failure_batch,
	.inventory = pg_inventory,
	.device_detail = pg_device_detail,
	.unknown_list = pg_unknown_list,
	.summary = pg_summary,
};
