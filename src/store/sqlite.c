/*
 * The SQLite backend: URI sqlite:PATH (docs/STORE.md).
 *
 * Settings, and why:
 *  - journal_mode=WAL: server workers read while the CLI or the contact
 *    flusher writes; readers never block writers or each other.
 *  - synchronous=FULL: a commit is on disk when sp_store_* returns.  The
 *    operator who just set a SIP password must not lose it to a power cut
 *    after `sprov db` said OK.  The only frequent writer is the contact
 *    flusher, and it pays one sync per batch, off the request path, so
 *    NORMAL would buy nothing worth the risk.
 *  - busy_timeout 5 s: the CLI and the flusher may write at the same time;
 *    writes take the lock up front (BEGIN IMMEDIATE) so they wait instead
 *    of failing half-way.
 *  - foreign_keys=ON (device params die with their device),
 *    secure_delete=ON (old values, i.e. old passwords, are overwritten),
 *    defensive mode and trusted_schema=OFF.
 *  - The file is created 0600 (it holds SIP passwords); SQLite gives the
 *    -wal and -shm files the same mode.
 *  - Schema version in PRAGMA user_version; migrations[] below upgrades an
 *    older schema on open, in one transaction.  A newer one is refused.
 *
 * Generation: a row in `meta` bumped by triggers on every change to
 * devices (but not the insertion of a pending device), params and
 * device_params.  Polling reads PRAGMA data_version first (in memory, no
 * I/O) and reads the row only when another connection committed or this
 * one wrote.
 *
 * Every statement is prepared once per handle from a constant string;
 * input only ever reaches SQLite through bound parameters.
 */
#include "store/sqlite_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "common/util.h"
#include "store/tokens_internal.h"

#define SQ_BUSY_TIMEOUT_MS 5000

/*
 * migrations[i] takes the schema from version i to i + 1 and ends by
 * setting user_version.  Append, never edit.  Each script is parenthesised
 * so clang's -Wstring-concatenation does not mistake it for a missing comma.
 */
static const char *const migrations[] = {
	/* 0 -> 1: the first schema. */
	("CREATE TABLE meta ("
	"  k TEXT PRIMARY KEY NOT NULL,"
	"  v INTEGER NOT NULL"
	") WITHOUT ROWID;"
	"INSERT INTO meta (k, v) VALUES ('generation', 1);"
	"CREATE TABLE devices ("
	"  mac TEXT PRIMARY KEY NOT NULL"
	"    CHECK (length(mac) = 12 AND mac NOT GLOB '*[^0-9a-f]*'),"
	"  serial TEXT NOT NULL DEFAULT '' CHECK (length(serial) <= 64),"
	"  product TEXT NOT NULL DEFAULT '' CHECK (length(product) <= 64),"
	"  grp TEXT NOT NULL DEFAULT '' CHECK (length(grp) <= 64),"
	"  enabled INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),"
	"  pending INTEGER NOT NULL DEFAULT 0 CHECK (pending IN (0, 1)),"
	"  created INTEGER NOT NULL"
	") WITHOUT ROWID;"
	/* Levels 0 defaults (key ''), 1 product, 2 group. */
	"CREATE TABLE params ("
	"  level INTEGER NOT NULL CHECK (level IN (0, 1, 2)),"
	"  key TEXT NOT NULL,"
	"  name TEXT NOT NULL,"
	"  value TEXT NOT NULL,"
	"  access TEXT CHECK (access IN ('na', 'ro', 'rw')),"
	"  PRIMARY KEY (level, key, name),"
	"  CHECK ((level = 0) = (key = ''))"
	") WITHOUT ROWID;"
	/* Level 3, device: its own table so the rows die with the device. */
	"CREATE TABLE device_params ("
	"  mac TEXT NOT NULL REFERENCES devices (mac) ON DELETE CASCADE,"
	"  name TEXT NOT NULL,"
	"  value TEXT NOT NULL,"
	"  access TEXT CHECK (access IN ('na', 'ro', 'rw')),"
	"  PRIMARY KEY (mac, name)"
	") WITHOUT ROWID;"
	/* Last contact per MAC; unknown MACs too (who is knocking). */
	"CREATE TABLE contacts ("
	"  mac TEXT PRIMARY KEY NOT NULL,"
	"  time INTEGER NOT NULL,"
	"  ip TEXT NOT NULL,"
	"  ua TEXT NOT NULL,"
	"  ua_vendor TEXT, ua_product TEXT, ua_swver TEXT, ua_mac TEXT,"
	"  ua_serial TEXT,"
	"  etag TEXT NOT NULL,"
	"  status INTEGER NOT NULL"
	") WITHOUT ROWID;"
	"CREATE TRIGGER devices_gen_ins AFTER INSERT ON devices"
	"  WHEN NEW.pending = 0"
	"  BEGIN UPDATE meta SET v = v + 1 WHERE k = 'generation'; END;"
	"CREATE TRIGGER devices_gen_upd AFTER UPDATE ON devices"
	"  BEGIN UPDATE meta SET v = v + 1 WHERE k = 'generation'; END;"
	"CREATE TRIGGER devices_gen_del AFTER DELETE ON devices"
	"  BEGIN UPDATE meta SET v = v + 1 WHERE k = 'generation'; END;"
	"CREATE TRIGGER params_gen_ins AFTER INSERT ON params"
	"  BEGIN UPDATE meta SET v = v + 1 WHERE k = 'generation'; END;"
	"CREATE TRIGGER params_gen_upd AFTER UPDATE ON params"
	"  BEGIN UPDATE meta SET v = v + 1 WHERE k = 'generation'; END;"
	"CREATE TRIGGER params_gen_del AFTER DELETE ON params"
	"  BEGIN UPDATE meta SET v = v + 1 WHERE k = 'generation'; END;"
	"CREATE TRIGGER device_params_gen_ins AFTER INSERT ON device_params"
	"  BEGIN UPDATE meta SET v = v + 1 WHERE k = 'generation'; END;"
	"CREATE TRIGGER device_params_gen_upd AFTER UPDATE ON device_params"
	"  BEGIN UPDATE meta SET v = v + 1 WHERE k = 'generation'; END;"
	"CREATE TRIGGER device_params_gen_del AFTER DELETE ON device_params"
	"  BEGIN UPDATE meta SET v = v + 1 WHERE k = 'generation'; END;"
	"PRAGMA user_version = 1;"),
	/* 1 -> 2: operators ask "who has not called in since ...". */
	("CREATE INDEX contacts_time ON contacts (time);"
	"PRAGMA user_version = 2;"),
	/* 2 -> 3: what every node shares (sp_store_cluster_put). */
	("CREATE TABLE cluster_data ("
	"  name TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 128),"
	"  version INTEGER NOT NULL CHECK (version >= 1),"
	"  created INTEGER NOT NULL,"
	"  data BLOB NOT NULL,"
	"  PRIMARY KEY (name, version)"
	") WITHOUT ROWID;"
	"PRAGMA user_version = 3;"),
	/*
	 * 3 -> 4: firmware images and rollouts (issue 16).  Image bytes in
	 * SP_FW_CHUNK rows of a rowid table (large blobs do not belong in a
	 * WITHOUT ROWID b-tree), keyed by the image row's id.  A rollout's
	 * waves are one column so that every state change is one conditional
	 * UPDATE (seq).  Enumerations are store.h's numbers.  Rollout changes
	 * move the generation: they change what devices are served.
	 */
	("CREATE TABLE firmware ("
	"  product TEXT NOT NULL CHECK (length(product) BETWEEN 1 AND 64),"
	"  version TEXT NOT NULL CHECK (length(version) BETWEEN 1 AND 32),"
	"  id INTEGER NOT NULL UNIQUE,"
	"  length INTEGER NOT NULL CHECK (length >= 0),"
	"  sha256 BLOB NOT NULL CHECK (length(sha256) = 32),"
	"  created INTEGER NOT NULL,"
	"  PRIMARY KEY (product, version)"
	") WITHOUT ROWID;"
	"CREATE TABLE firmware_chunks ("
	"  fw INTEGER NOT NULL,"
	"  seq INTEGER NOT NULL CHECK (seq >= 0),"
	"  data BLOB NOT NULL,"
	"  PRIMARY KEY (fw, seq)"
	");"
	"CREATE TABLE rollouts ("
	"  id INTEGER PRIMARY KEY,"
	"  name TEXT NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 64),"
	"  kind INTEGER NOT NULL CHECK (kind IN (0, 1, 2)),"
	"  state INTEGER NOT NULL CHECK (state BETWEEN 0 AND 4),"
	"  level INTEGER NOT NULL CHECK (level IN (0, 1, 2)),"
	"  key TEXT NOT NULL,"
	"  param TEXT NOT NULL,"
	"  value TEXT NOT NULL,"
	"  fw_version TEXT NOT NULL,"
	"  parent TEXT NOT NULL,"
	"  rolled_back_by TEXT NOT NULL,"
	"  hkey BLOB NOT NULL CHECK (length(hkey) = 32),"
	"  waves TEXT NOT NULL,"
	"  released INTEGER NOT NULL,"
	"  wave_interval INTEGER NOT NULL,"
	"  success_window INTEGER NOT NULL,"
	"  halt_bp INTEGER NOT NULL,"
	"  created INTEGER NOT NULL,"
	"  updated INTEGER NOT NULL,"
	"  reason TEXT NOT NULL,"
	"  seq INTEGER NOT NULL"
	");"
	"CREATE TRIGGER rollouts_gen_ins AFTER INSERT ON rollouts"
	"  BEGIN UPDATE meta SET v = v + 1 WHERE k = 'generation'; END;"
	"CREATE TRIGGER rollouts_gen_upd AFTER UPDATE ON rollouts"
	"  BEGIN UPDATE meta SET v = v + 1 WHERE k = 'generation'; END;"
	"CREATE TRIGGER rollouts_gen_del AFTER DELETE ON rollouts"
	"  BEGIN UPDATE meta SET v = v + 1 WHERE k = 'generation'; END;"
	"PRAGMA user_version = 4;"),
	/*
	 * 4 -> 5: the audit trail (issue 14; audit.c, docs/STORE.md).  The
	 * head row holds the last entry's seq and hash (verify compares it,
	 * so a deleted last entry shows) and the key parameter values are
	 * hashed under.  No generation triggers: the trail serves nothing.
	 */
	("CREATE TABLE audit ("
	"  seq INTEGER PRIMARY KEY,"
	"  time INTEGER NOT NULL,"
	"  actor TEXT NOT NULL,"
	"  action TEXT NOT NULL,"
	"  target TEXT NOT NULL,"
	"  detail TEXT NOT NULL,"
	"  prev TEXT NOT NULL,"
	"  hash TEXT NOT NULL"
	");"
	"CREATE INDEX audit_target ON audit (target, seq);"
	"CREATE TABLE audit_head ("
	"  id INTEGER PRIMARY KEY CHECK (id = 1),"
	"  seq INTEGER NOT NULL,"
	"  hash TEXT NOT NULL,"
	"  hkey BLOB NOT NULL CHECK (length(hkey) = 32)"
	");"
	"INSERT INTO audit_head VALUES (1, 0, '"
	"0000000000000000000000000000000000000000000000000000000000000000',"
	"  randomblob(32));"
	"PRAGMA user_version = 5;"),
	/* 5 -> 6: who may use the console (sqlite_tokens.c). */
	sq_schema_tokens,
	/* 6 -> 7: the console records (sqlite_console.c). */
	sq_schema_console,
};
#define SQ_SCHEMA_VERSION ((int)SP_ARRAY_LEN(migrations))

static const char *const sql[ST_COUNT] = {
	[ST_DATA_VERSION] = "PRAGMA data_version",
	[ST_GEN] = "SELECT v FROM meta WHERE k = 'generation'",
	[ST_DEV_GET] = "SELECT serial, product, grp, enabled, pending, created "
	    "FROM devices WHERE mac = ?1",
	[ST_EFFECTIVE] = "SELECT name, value, access FROM ("
	    " SELECT 0 AS lv, name, value, access FROM params"
	    "  WHERE level = 0 AND key = ''"
	    " UNION ALL SELECT 1, name, value, access FROM params"
	    "  WHERE level = 1 AND key = ?1 AND ?1 <> ''"
	    " UNION ALL SELECT 2, name, value, access FROM params"
	    "  WHERE level = 2 AND key = ?2 AND ?2 <> ''"
	    " UNION ALL SELECT 3, name, value, access FROM device_params"
	    "  WHERE mac = ?3"
	    ") ORDER BY lv",
	[ST_DEFAULTS] = "SELECT name, value, access FROM params "
	    "WHERE level = 0 AND key = ''",
	[ST_PENDING] = "INSERT INTO devices "
	    "(mac, serial, product, grp, enabled, pending, created) "
	    "VALUES (?1, ?2, ?3, '', 0, 1, ?4) ON CONFLICT (mac) DO NOTHING",
	[ST_CONTACT_PUT] = "INSERT INTO contacts (mac, time, ip, ua, ua_vendor, "
	    "ua_product, ua_swver, ua_mac, ua_serial, etag, status) "
	    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) "
	    "ON CONFLICT (mac) DO UPDATE SET time = excluded.time, "
	    "ip = excluded.ip, ua = excluded.ua, ua_vendor = excluded.ua_vendor, "
	    "ua_product = excluded.ua_product, ua_swver = excluded.ua_swver, "
	    "ua_mac = excluded.ua_mac, ua_serial = excluded.ua_serial, "
	    "etag = excluded.etag, status = excluded.status",
	[ST_CONTACT_GET] = "SELECT time, ip, ua, etag, status FROM contacts "
	    "WHERE mac = ?1",
	[ST_CONTACT_RM] = "DELETE FROM contacts WHERE mac = ?1",
	[ST_DEV_PENDING_Q] = "SELECT pending FROM devices WHERE mac = ?1",
	[ST_DEV_INSERT] = "INSERT INTO devices "
	    "(mac, serial, product, grp, enabled, pending, created) "
	    "VALUES (?1, ?2, ?3, ?4, ?5, 0, ?6)",
	[ST_DEV_ADOPT] = "UPDATE devices SET serial = ?2, product = ?3, "
	    "grp = ?4, enabled = ?5, pending = 0 WHERE mac = ?1",
	[ST_DEV_RM] = "DELETE FROM devices WHERE mac = ?1",
	[ST_DEV_ENABLE] = "UPDATE devices SET enabled = ?2, "
	    "pending = CASE WHEN ?2 THEN 0 ELSE pending END WHERE mac = ?1",
	[ST_DEV_LIST] = "SELECT mac, serial, product, grp, enabled, pending, "
	    "created FROM devices ORDER BY mac",
	[ST_PARAM_SET] = "INSERT INTO params (level, key, name, value, access) "
	    "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (level, key, name) "
	    "DO UPDATE SET value = excluded.value, "
	    "access = coalesce(excluded.access, params.access)",
	[ST_DPARAM_SET] = "INSERT INTO device_params (mac, name, value, access) "
	    "VALUES (?1, ?2, ?3, ?4) ON CONFLICT (mac, name) "
	    "DO UPDATE SET value = excluded.value, "
	    "access = coalesce(excluded.access, device_params.access)",
	[ST_PARAM_UNSET] = "DELETE FROM params "
	    "WHERE level = ?1 AND key = ?2 AND name = ?3",
	[ST_DPARAM_UNSET] = "DELETE FROM device_params WHERE mac = ?1 AND name = ?2",
	[ST_PARAM_LEVEL] = "SELECT name, value, access FROM params "
	    "WHERE level = ?1 AND key = ?2 ORDER BY name",
	[ST_DPARAM_LEVEL] = "SELECT name, value, access FROM device_params "
	    "WHERE mac = ?1 ORDER BY name",
	[ST_LEVEL_LIST] = "SELECT DISTINCT level, key FROM params "
	    "UNION SELECT DISTINCT 3, mac FROM device_params ORDER BY 1, 2",
	[ST_CONTACT_LIST] = "SELECT mac, time, ip, ua, etag, status FROM contacts "
	    "ORDER BY mac",
	[ST_IS_EMPTY] = "SELECT EXISTS (SELECT 1 FROM devices) OR "
	    "EXISTS (SELECT 1 FROM params) OR EXISTS (SELECT 1 FROM device_params) "
	    "OR EXISTS (SELECT 1 FROM contacts)",
	/* Only above every stored version: stale or racing writers insert nothing. */
	[ST_CL_PUT] = "INSERT INTO cluster_data (name, version, created, data) "
	    "SELECT ?1, ?2, ?3, ?4 WHERE NOT EXISTS (SELECT 1 FROM cluster_data "
	    "WHERE name = ?1 AND version >= ?2) ON CONFLICT DO NOTHING",
	[ST_CL_MAX] = "SELECT max(version) FROM cluster_data WHERE name = ?1",
	[ST_CL_PRUNE] = "DELETE FROM cluster_data WHERE name = ?1 AND version <= ?2",
	[ST_CL_GET] = "SELECT name, version, created, data FROM cluster_data "
	    "WHERE name = ?1 ORDER BY version DESC LIMIT ?2",
	[ST_CL_NEWEST] = "SELECT name, version, created, data FROM cluster_data c "
	    "WHERE substr(name, 1, length(?1)) = ?1 AND version = "
	    "(SELECT max(version) FROM cluster_data WHERE name = c.name) ORDER BY name",
	[ST_FW_CHUNK_PUT] = "INSERT INTO firmware_chunks (fw, seq, data) "
	    "VALUES (?1, ?2, ?3)",
	[ST_FW_INSERT] = "INSERT INTO firmware (product, version, id, length, "
	    "sha256, created) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	[ST_FW_GET] = "SELECT product, version, id, length, sha256, created "
	    "FROM firmware WHERE product = ?1 AND version = ?2",
	[ST_FW_CHUNKS] = "SELECT seq, data FROM firmware_chunks "
	    "WHERE fw = ?1 AND seq BETWEEN ?2 AND ?3 ORDER BY seq",
	[ST_FW_LIST] = "SELECT product, version, id, length, sha256, created "
	    "FROM firmware ORDER BY product, version",
	[ST_FW_RM] = "DELETE FROM firmware WHERE product = ?1 AND version = ?2 "
	    "RETURNING id",
	[ST_FW_CHUNKS_RM] = "DELETE FROM firmware_chunks WHERE fw = ?1",
	[ST_RO_INSERT] = "INSERT INTO rollouts (name, kind, state, level, key, "
	    "param, value, fw_version, parent, rolled_back_by, hkey, waves, "
	    "released, wave_interval, success_window, halt_bp, created, updated, "
	    "reason, seq) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, "
	    "?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, 1)",
	[ST_RO_LIST] = "SELECT name, kind, state, level, key, param, value, "
	    "fw_version, parent, rolled_back_by, hkey, waves, released, "
	    "wave_interval, success_window, halt_bp, created, updated, reason, seq "
	    "FROM rollouts ORDER BY id",
	[ST_RO_GET] = "SELECT name, kind, state, level, key, param, value, "
	    "fw_version, parent, rolled_back_by, hkey, waves, released, "
	    "wave_interval, success_window, halt_bp, created, updated, reason, seq "
	    "FROM rollouts WHERE name = ?1",
	[ST_RO_UPDATE] = "UPDATE rollouts SET state = ?3, released = ?4, "
	    "waves = ?5, updated = ?6, reason = ?7, rolled_back_by = ?8, "
	    "seq = seq + 1 WHERE name = ?1 AND seq = ?2",
	[ST_AU_HEAD] = "SELECT seq, hash, hkey FROM audit_head WHERE id = 1",
	[ST_AU_INSERT] = "INSERT INTO audit (seq, time, actor, action, target, "
	    "detail, prev, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
	[ST_AU_HEAD_SET] = "UPDATE audit_head SET seq = ?1, hash = ?2 WHERE id = 1",
	[ST_AU_LIST] = "SELECT seq, time, actor, action, target, detail, prev, "
	    "hash FROM audit WHERE (?1 IS NULL OR target = ?1) ORDER BY "
	    "CASE WHEN ?2 THEN -seq ELSE seq END LIMIT ?3",
};

sp_result
sq_dberr(sq_store *s, const char *what)
{
	return sp_error(SP_E_DB, "%s: %s", what, sqlite3_errmsg(s->db));
}

/* *slot prepared from text once, then reused. */
sp_result
sq_st_cached(sq_store *s, sqlite3_stmt **slot, const char *text,
    sqlite3_stmt **out)
{
	*out = NULL;
	if (*slot == NULL && sqlite3_prepare_v3(s->db, text, -1,
	    SQLITE_PREPARE_PERSISTENT, slot, NULL) != SQLITE_OK)
		return sq_dberr(s, "preparing a statement");
	*out = *slot;
	return SP_OK;
}

/* A cached statement, reset and with fresh bindings. */
sp_result
sq_st_get(sq_store *s, int id, sqlite3_stmt **out)
{
	return sq_st_cached(s, &s->st[id], sql[id], out);
}

/* NULL-safe: reset and drop the bindings (they may point at values). */
void
sq_st_done(sqlite3_stmt *st)
{
	if (st) {
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
	}
}

int
sq_bind_slice(sqlite3_stmt *st, int i, sp_slice v)
{
	return sqlite3_bind_text(st, i, v.len ? v.p : "", (int)v.len,
	    SQLITE_STATIC);
}

int
sq_bind_str(sqlite3_stmt *st, int i, const char *v)
{
	return sqlite3_bind_text(st, i, v ? v : "", -1, SQLITE_STATIC);
}

int
sq_bind_access(sqlite3_stmt *st, int i, sp_access a)
{
	if (a == SP_ACCESS_UNSET)
		return sqlite3_bind_null(st, i);
	return sqlite3_bind_text(st, i, sp_access_name(a), -1, SQLITE_STATIC);
}

void
sq_col_copy(sqlite3_stmt *st, int col, char *dst, size_t dstsz)
{
	const unsigned char *p = sqlite3_column_text(st, col);
	size_t n = (size_t)sqlite3_column_bytes(st, col);

	if (p == NULL)
		n = 0;
	if (n >= dstsz)
		n = dstsz - 1;
	if (n)
		memcpy(dst, p, n);
	dst[n] = '\0';
}

sp_result
sq_exec(sq_store *s, const char *stmt, const char *what)
{
	if (sqlite3_exec(s->db, stmt, NULL, NULL, NULL) != SQLITE_OK)
		return sq_dberr(s, what);
	return SP_OK;
}

/* Step a statement that returns no rows. */
sp_result
sq_step_done(sq_store *s, sqlite3_stmt *st, const char *what)
{
	if (sqlite3_step(st) != SQLITE_DONE)
		return sq_dberr(s, what);
	return SP_OK;
}

/*
 * Implicit transactions: a call outside sp_store_begin runs in its own.
 * Writes take the write lock up front so busy_timeout applies.
 */
sp_result
sq_tx_begin(sq_store *s, bool write, bool *mine)
{
	*mine = false;
	if (s->in_tx)
		return SP_OK;
	if (sqlite3_exec(s->db, write ? "BEGIN IMMEDIATE" : "BEGIN", NULL, NULL,
	    NULL) != SQLITE_OK)
		return sq_dberr(s, "starting a transaction");
	*mine = true;
	return SP_OK;
}

sp_result
sq_tx_end(sq_store *s, bool mine, bool wrote, sp_result res)
{
	if (wrote)
		s->gen_valid = false;
	if (!mine)
		return res;
	if (sp_ok(res)) {
		if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK)
			return res;
		res = sq_dberr(s, "committing");
	}
	(void)sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	return res;
}

/* ---- opening ------------------------------------------------------------ */

static sp_result
pragma_int(sq_store *s, const char *stmt, int64_t *out)
{
	sp_result res = SP_OK;
	sqlite3_stmt *st = NULL;

	if (sqlite3_prepare_v2(s->db, stmt, -1, &st, NULL) != SQLITE_OK)
		return sq_dberr(s, "reading the schema version");
	ENSURE(sqlite3_step(st) == SQLITE_ROW, SP_E_DB, "%s: %s", stmt,
	    sqlite3_errmsg(s->db));
	*out = sqlite3_column_int64(st, 0);
out:
	sqlite3_finalize(st);
	return res;
}

static sp_result
set_wal(sq_store *s)
{
	sp_result res = SP_OK;
	sqlite3_stmt *st = NULL;
	const unsigned char *mode;

	if (sqlite3_prepare_v2(s->db, "PRAGMA journal_mode = WAL", -1, &st,
	    NULL) != SQLITE_OK || sqlite3_step(st) != SQLITE_ROW) {
		res = sq_dberr(s, "enabling WAL");
		goto out;
	}
	mode = sqlite3_column_text(st, 0);
	ENSURE(mode && strcmp((const char *)mode, "wal") == 0, SP_E_DB,
	    "store '%s': the file system does not support WAL (journal mode %s)",
	    s->path, mode ? (const char *)mode : "?");
out:
	sqlite3_finalize(st);
	return res;
}

static sp_result
schema_precheck(sq_store *s, int flags)
{
	sp_result res = SP_OK;
	int64_t ver = 0, ntables = 0;

	TRY(pragma_int(s, "PRAGMA user_version", &ver));
	ENSURE(ver >= 0 && ver <= SQ_SCHEMA_VERSION, SP_E_STATE,
	    "store '%s' has schema version %lld, newer than this sprov knows "
	    "(%d): upgrade sprov", s->path, (long long)ver, SQ_SCHEMA_VERSION);
	if (ver == 0) {
		TRY(pragma_int(s, "SELECT count(*) FROM sqlite_schema", &ntables));
		ENSURE(ntables == 0, SP_E_STATE,
		    "'%s' is an SQLite database but not an sprov store", s->path);
		ENSURE(flags & SP_STORE_CREATE, SP_E_STATE,
		    "store '%s' is not initialised: run 'sprov db init'", s->path);
	}
out:
	return res;
}

/* Create or upgrade the schema; refuse foreign or newer databases. */
static sp_result
schema(sq_store *s, int flags)
{
	sp_result res = SP_OK;
	int64_t ver = 0, ntables = 0;
	bool mine = false;

	TRY(pragma_int(s, "PRAGMA user_version", &ver));
	s->schema_found = (int)ver;
	if (ver == SQ_SCHEMA_VERSION)
		goto out;
	ENSURE(ver >= 0 && ver < SQ_SCHEMA_VERSION, SP_E_STATE,
	    "store '%s' has schema version %lld, newer than this sprov knows "
	    "(%d): upgrade sprov", s->path, (long long)ver, SQ_SCHEMA_VERSION);
	TRY(sq_tx_begin(s, true, &mine));
	/* Again under the write lock: another process may have won. */
	TRY(pragma_int(s, "PRAGMA user_version", &ver));
	s->schema_found = (int)ver;
	if (ver == 0) {
		TRY(pragma_int(s, "SELECT count(*) FROM sqlite_schema", &ntables));
		ENSURE(ntables == 0, SP_E_STATE,
		    "'%s' is an SQLite database but not an sprov store", s->path);
		ENSURE(flags & SP_STORE_CREATE, SP_E_STATE,
		    "store '%s' is not initialised: run 'sprov db init'", s->path);
	}
	for (; ver < SQ_SCHEMA_VERSION; ver++)
		TRY(sq_exec(s, migrations[ver], "creating or migrating the schema"));
out:
	return sq_tx_end(s, mine, false, res);
}

static void
sq_close(sp_store *base)
{
	sq_store *s = sq(base);

	for (int i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(s->st[i]);
	sq_cs_close(s);
	if (s->db) {
		if (s->in_tx)
			(void)sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
		sqlite3_close(s->db);
	}
	free(s->path);
	free(s);
}


static const sp_store_ops sq_ops;

sp_result
sp_store_sqlite_open(const char *path, int flags, sp_store **out)
{
	sp_result res = SP_OK;
	sq_store *s = NULL;
	struct stat sb;
	int fd = -1, rc;

	*out = NULL;
	ENSURE(sqlite3_threadsafe() != 0, SP_E_INTERNAL,
	    "SQLite was built without thread support");
	TRY_ALLOC(s, calloc(1, sizeof(*s)));
	s->base.ops = &sq_ops;
	TRY_ALLOC(s->path, strdup(path));
	if (stat(path, &sb) != 0) {
		ENSURE(errno == ENOENT, SP_E_IO, "store '%s': %s", path,
		    strerror(errno));
		ENSURE(flags & SP_STORE_CREATE, SP_E_NOTFOUND,
		    "store '%s' does not exist: run 'sprov db init'", path);
		/* Create it 0600 ourselves: SQLite would use 0644. */
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		ENSURE(fd >= 0 || errno == EEXIST, SP_E_IO,
		    "creating store '%s': %s", path, strerror(errno));
	} else {
		ENSURE(S_ISREG(sb.st_mode), SP_E_IO,
		    "store '%s' is not a regular file", path);
	}
	/*
	 * Debian's SQLite is built with SQLITE_USE_URI: a name starting with
	 * "file:" would be read as a URI (mode=memory, vfs=...), not as the
	 * file we just checked.  "./file:..." is always a plain name.
	 */
	if (strncmp(path, "file:", 5) == 0) {
		char *p = NULL;
		TRY_ALLOC(p, malloc(strlen(path) + 3));
		memcpy(p, "./", 2);
		memcpy(p + 2, path, strlen(path) + 1);
		free(s->path);
		s->path = p;
	}
	rc = sqlite3_open_v2(s->path, &s->db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		res = s->db ? sq_dberr(s, "opening the store") :
		    sp_error(SP_E_NOMEM, "out of memory");
		goto out;
	}
	sqlite3_extended_result_codes(s->db, 1);
	sqlite3_busy_timeout(s->db, SQ_BUSY_TIMEOUT_MS);
	(void)sqlite3_db_config(s->db, SQLITE_DBCONFIG_ENABLE_FKEY, 1, NULL);
	(void)sqlite3_db_config(s->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
	(void)sqlite3_db_config(s->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);
	/* Refuse a foreign or uninitialised file before writing to it. */
	TRY(schema_precheck(s, flags));
	TRY(set_wal(s));
	TRY(sq_exec(s, "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; "
	    "PRAGMA secure_delete = ON;", "configuring the store"));
	TRY(schema(s, flags));
	*out = &s->base;
	s = NULL;
out:
	if (fd >= 0)
		close(fd);
	if (sp_failed(res) && s && s->db && strstr(sp_errmsg(), path) == NULL)
		res = sp_error_wrap(res, "store '%s'", path);
	if (s)
		sq_close(&s->base);
	return res;
}

/* ---- hot path ----------------------------------------------------------- */

sp_result
sq_read_gen(sq_store *s, uint64_t *gen)
{
	sp_result res = SP_OK;
	sqlite3_stmt *st = NULL;

	TRY(sq_st_get(s, ST_GEN, &st));
	if (sqlite3_step(st) != SQLITE_ROW) {
		res = sq_dberr(s, "reading the generation");
		goto out;
	}
	*gen = (uint64_t)sqlite3_column_int64(st, 0);
out:
	sq_st_done(st);
	return res;
}

static sp_result
sq_generation(sp_store *base, uint64_t *gen)
{
	sp_result res = SP_OK;
	sq_store *s = sq(base);
	sqlite3_stmt *st = NULL;
	int64_t dv;

	if (s->in_tx) {
		TRY(sq_read_gen(s, gen));
		goto out;
	}
	TRY(sq_st_get(s, ST_DATA_VERSION, &st));
	if (sqlite3_step(st) != SQLITE_ROW) {
		res = sq_dberr(s, "reading data_version");
		goto out;
	}
	dv = sqlite3_column_int64(st, 0);
	if (!s->gen_valid || dv != s->dv) {
		TRY(sq_read_gen(s, &s->gen));
		s->dv = dv;
		s->gen_valid = true;
	}
	*gen = s->gen;
out:
	sq_st_done(st);
	return res;
}

static int
sq_notify_fd(sp_store *base)
{
	return -1;
}

static sp_result
sq_schema_version(sp_store *base, int *found, int *current)
{
	*found = sq(base)->schema_found;
	*current = SQ_SCHEMA_VERSION;
	return SP_OK;
}

sp_result
sq_row_device(sqlite3_stmt *st, int first, sp_device *d)
{
	sq_col_copy(st, first, d->serial, sizeof(d->serial));
	sq_col_copy(st, first + 1, d->product, sizeof(d->product));
	sq_col_copy(st, first + 2, d->group, sizeof(d->group));
	d->enabled = sqlite3_column_int(st, first + 3) != 0;
	d->pending = sqlite3_column_int(st, first + 4) != 0;
	d->created = sqlite3_column_int64(st, first + 5);
	return SP_OK;
}

static sp_result
sq_device_get(sp_store *base, const sp_mac *mac, sp_device *out, bool *found)
{
	sp_result res = SP_OK;
	sq_store *s = sq(base);
	sqlite3_stmt *st = NULL;
	char ma[SP_MAC_STRLEN];
	bool mine = false;
	int rc;

	*found = false;
	s->lookup_valid = false;
	sp_mac_format(mac, SP_MAC_MA, ma);
	TRY(sq_tx_begin(s, false, &mine));
	TRY(sq_st_get(s, ST_DEV_GET, &st));
	BIND(s, sq_bind_str(st, 1, ma));
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		memset(out, 0, sizeof(*out));
		out->mac = *mac;
		TRY(sq_row_device(st, 0, out));
		*found = true;
	} else if (rc != SQLITE_DONE) {
		res = sq_dberr(s, "looking up a device");
		goto out;
	}
	/* The generation of this snapshot, for the params call that follows. */
	TRY(sq_read_gen(s, &s->lookup_gen));
	s->lookup_valid = true;
out:
	sq_st_done(st);
	return sq_tx_end(s, mine, false, res);
}

/*
 * Merge (name, value, access) rows into out, in order.  A row with no
 * access keeps the access a lower level gave the name.
 */
sp_result
sq_merge_rows(sq_store *s, sqlite3_stmt *st, sp_params *out)
{
	sp_result res = SP_OK;
	int rc;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 0);
		size_t nlen = (size_t)sqlite3_column_bytes(st, 0);
		const char *val = (const char *)sqlite3_column_text(st, 1);
		size_t vlen = (size_t)sqlite3_column_bytes(st, 1);
		const char *acc = (const char *)sqlite3_column_text(st, 2);

		ENSURE(name, SP_E_DB, "a parameter row without a name");
		if (val == NULL)
			val = "", vlen = 0;
		TRY(sp_store_merge_row(out, sp_slice_mk(name, nlen),
		    sp_slice_mk(val, vlen), acc));
	}
	if (rc != SQLITE_DONE)
		res = sq_dberr(s, "reading parameters");
out:
	return res;
}

static sp_result
sq_params_effective(sp_store *base, const sp_device *dev, bool defaults_only,
    sp_params *out, uint64_t *gen)
{
	sp_result res = SP_OK;
	sq_store *s = sq(base);
	sqlite3_stmt *st = NULL;
	char ma[SP_MAC_STRLEN];
	bool mine = false;

	TRY(sq_tx_begin(s, false, &mine));
	if (defaults_only) {
		TRY(sq_st_get(s, ST_DEFAULTS, &st));
	} else {
		sp_mac_format(&dev->mac, SP_MAC_MA, ma);
		TRY(sq_st_get(s, ST_EFFECTIVE, &st));
		BIND(s, sq_bind_str(st, 1, dev->product));
		BIND(s, sq_bind_str(st, 2, dev->group));
		BIND(s, sq_bind_str(st, 3, ma));
	}
	TRY(sq_merge_rows(s, st, out));
	if (gen) {
		/*
		 * The caller decided what to ask for (this device's levels, or
		 * defaults because the device was unknown or disabled) from its
		 * sp_store_device_get snapshot.  If anything changed since, the
		 * older generation makes the cached result stale at once.
		 */
		TRY(sq_read_gen(s, gen));
		if (s->lookup_valid && s->lookup_gen < *gen)
			*gen = s->lookup_gen;
	}
	s->lookup_valid = false;
out:
	sq_st_done(st);
	return sq_tx_end(s, mine, false, res);
}

static sp_result
pending_insert(sq_store *s, const char *ma, const char *serial,
    const char *product, int64_t now)
{
	sp_result res = SP_OK;
	sqlite3_stmt *st = NULL;

	TRY(sq_st_get(s, ST_PENDING, &st));
	BIND(s, sq_bind_str(st, 1, ma));
	BIND(s, sq_bind_str(st, 2, serial));
	BIND(s, sq_bind_str(st, 3, product));
	BIND(s, sqlite3_bind_int64(st, 4, now));
	TRY(sq_step_done(s, st, "recording a pending device"));
out:
	sq_st_done(st);
	return res;
}

static sp_result
sq_device_pending(sp_store *base, const sp_mac *mac, const char *serial,
    const char *product, int64_t now)
{
	sp_result res = SP_OK;
	sq_store *s = sq(base);
	char ma[SP_MAC_STRLEN];
	bool mine = false;

	sp_mac_format(mac, SP_MAC_MA, ma);
	TRY(sq_tx_begin(s, true, &mine));
	TRY(pending_insert(s, ma, serial, product, now));
	if (sqlite3_changes(s->db) > 0)
		TRY(sq_cs_device(s, ma));
out:
	return sq_tx_end(s, mine, true, res);
}

static int
bind_opt(sqlite3_stmt *st, int i, sp_slice v, bool have)
{
	return have ? sq_bind_slice(st, i, v) : sqlite3_bind_null(st, i);
}

static sp_result
contact_put(sq_store *s, const sp_contact *c, sp_cs_agg *agg)
{
	sp_result res = SP_OK;
	sqlite3_stmt *st = NULL;
	char ma[SP_MAC_STRLEN];
	sp_ua ua;
	bool parsed;

	sp_mac_format(&c->mac, SP_MAC_MA, ma);
	if (c->record_pending) {
		TRY(pending_insert(s, ma, sp_store_field_or_empty("serial", c->serial),
		    sp_store_field_or_empty("product", c->product), c->time));
		if (sqlite3_changes(s->db) > 0)
			TRY(sq_cs_device(s, ma));
	}
	parsed = sp_ok(sp_ua_parse(sp_slice_of(c->ua), &ua));
	TRY(sq_st_get(s, ST_CONTACT_PUT, &st));
	BIND(s, sq_bind_str(st, 1, ma));
	BIND(s, sqlite3_bind_int64(st, 2, c->time));
	BIND(s, sq_bind_str(st, 3, c->ip));
	BIND(s, sq_bind_str(st, 4, c->ua));
	BIND(s, bind_opt(st, 5, ua.vendor, parsed));
	BIND(s, bind_opt(st, 6, ua.product, parsed));
	BIND(s, bind_opt(st, 7, ua.swver, parsed));
	BIND(s, bind_opt(st, 8, ua.mac, parsed && ua.mac.len));
	BIND(s, bind_opt(st, 9, ua.serial, parsed));
	BIND(s, sq_bind_str(st, 10, c->etag));
	BIND(s, sqlite3_bind_int(st, 11, c->status));
	TRY(sq_step_done(s, st, "recording a contact"));
	TRY(sq_cs_contact(s, ma, c, agg));
out:
	sq_st_done(st);
	return res;
}

static sp_result
sq_contact_batch(sp_store *base, const sp_contact *v, size_t n)
{
	sp_result res = SP_OK;
	sq_store *s = sq(base);
	sp_cs_agg agg = { 0 };
	bool mine = false;

	TRY(sq_tx_begin(s, true, &mine));
	for (size_t i = 0; i < n; i++)
		TRY(contact_put(s, &v[i], &agg));
	TRY(sq_cs_series_flush(s, &agg));
out:
	/* Contacts and pending devices do not move the generation. */
	return sq_tx_end(s, mine, false, res);
}

void
sq_row_contact(sqlite3_stmt *st, int first, sp_contact *c)
{
	c->time = sqlite3_column_int64(st, first);
	sq_col_copy(st, first + 1, c->ip, sizeof(c->ip));
	sq_col_copy(st, first + 2, c->ua, sizeof(c->ua));
	sq_col_copy(st, first + 3, c->etag, sizeof(c->etag));
	c->status = sqlite3_column_int(st, first + 4);
}

static sp_result
sq_contact_get(sp_store *base, const sp_mac *mac, sp_contact *out, bool *found)
{
	sp_result res = SP_OK;
	sq_store *s = sq(base);
	sqlite3_stmt *st = NULL;
	char ma[SP_MAC_STRLEN];
	int rc;

	*found = false;
	sp_mac_format(mac, SP_MAC_MA, ma);
	TRY(sq_st_get(s, ST_CONTACT_GET, &st));
	BIND(s, sq_bind_str(st, 1, ma));
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		goto out;
	if (rc != SQLITE_ROW) {
		res = sq_dberr(s, "reading a contact");
		goto out;
	}
	memset(out, 0, sizeof(*out));
	out->mac = *mac;
	sq_row_contact(st, 0, out);
	*found = true;
out:
	sq_st_done(st);
	return res;
}

static const sp_store_ops sq_ops = {
	.scheme = "sqlite",
	.close = sq_close,
	.generation = sq_generation,
	.notify_fd = sq_notify_fd,
	.device_get = sq_device_get,
	.params_effective = sq_params_effective,
	.device_pending = sq_device_pending,
	.contact_batch = sq_contact_batch,
	.contact_get = sq_contact_get,
	.begin = sq_begin,
	.commit = sq_commit,
	.rollback = sq_rollback,
	.device_add = sq_device_add,
	.device_rm = sq_device_rm,
	.device_set_enabled = sq_device_set_enabled,
	.device_list = sq_device_list,
	.param_set = sq_param_set,
	.param_unset = sq_param_unset,
	.params_level = sq_params_level,
	.schema_version = sq_schema_version,
	.tokens = &sq_tokens_ops,
	.cluster_put = sq_cluster_put,
	.cluster_get = sq_cluster_get,
	.begin_read = sq_begin_read,
	.level_list = sq_level_list,
	.contact_list = sq_contact_list,
	.is_empty = sq_is_empty,
	.clear = sq_clear,
	.fw_chunk_put = sq_fw_chunk_put,
	.fw_insert = sq_fw_insert,
	.fw_get = sq_fw_get,
	.fw_chunks = sq_fw_chunks,
	.fw_list = sq_fw_list,
	.fw_rm = sq_fw_rm,
	.ro_insert = sq_ro_insert,
	.ro_list = sq_ro_list,
	.ro_update = sq_ro_update,
	.audit_head = sq_audit_head,
	.audit_insert = sq_audit_insert,
	.audit_list = sq_audit_list,
	.failure_batch = sq_failure_batch,
	.inventory = sq_inventory,
	.device_detail = sq_device_detail,
	.unknown_list = sq_unknown_list,
	.summary = sq_summary,
};
