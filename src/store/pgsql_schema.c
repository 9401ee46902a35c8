/*
 * The PostgreSQL backend's schema: one migration script per version
 * (the same tables as SQLite's, sqlite.c), applied by pgsql.c's schema()
 * in one transaction under an advisory lock.
 */
#include "store/pgsql_internal.h"

#include "common/util.h"

/*
 * migrations[i] takes the schema from version i to i + 1.  Append, never
 * edit.  The version row is written by schema() after the script.
 */
const char *const pg_migrations[] = {
	/* 0 -> 1: the first schema (the same tables as SQLite's). */
	("CREATE TABLE schema_version (version integer NOT NULL);"
	"INSERT INTO schema_version (version) VALUES (0);"
	"CREATE TABLE meta (k text PRIMARY KEY, v bigint NOT NULL);"
	"INSERT INTO meta (k, v) VALUES ('generation', 1);"
	"CREATE TABLE devices ("
	"  mac text PRIMARY KEY CHECK (mac ~ '^[0-9a-f]{12}$'),"
	"  serial text NOT NULL DEFAULT '' CHECK (length(serial) <= 64),"
	"  product text NOT NULL DEFAULT '' CHECK (length(product) <= 64),"
	"  grp text NOT NULL DEFAULT '' CHECK (length(grp) <= 64),"
	"  enabled boolean NOT NULL DEFAULT true,"
	"  pending boolean NOT NULL DEFAULT false,"
	"  created bigint NOT NULL);"
	"CREATE TABLE params ("
	"  level smallint NOT NULL CHECK (level IN (0, 1, 2)),"
	"  key text NOT NULL,"
	"  name text NOT NULL,"
	"  value text NOT NULL,"
	"  access text CHECK (access IN ('na', 'ro', 'rw')),"
	"  PRIMARY KEY (level, key, name),"
	"  CHECK ((level = 0) = (key = '')));"
	"CREATE TABLE device_params ("
	"  mac text NOT NULL REFERENCES devices (mac) ON DELETE CASCADE,"
	"  name text NOT NULL,"
	"  value text NOT NULL,"
	"  access text CHECK (access IN ('na', 'ro', 'rw')),"
	"  PRIMARY KEY (mac, name));"
	/* The raw User-Agent is the device's bytes: bytea, not UTF-8 text. */
	"CREATE TABLE contacts ("
	"  mac text PRIMARY KEY,"
	"  time bigint NOT NULL,"
	"  ip text NOT NULL,"
	"  ua bytea NOT NULL,"
	"  ua_vendor text, ua_product text, ua_swver text, ua_mac text,"
	"  ua_serial text,"
	"  etag text NOT NULL,"
	"  status integer NOT NULL);"
	"CREATE FUNCTION sprov_changed() RETURNS trigger LANGUAGE plpgsql AS $f$"
	"  BEGIN"
	"    UPDATE meta SET v = v + 1 WHERE k = 'generation';"
	"    PERFORM pg_notify('" PG_CHANNEL "', '');"
	"    RETURN NULL;"
	"  END $f$;"
	"CREATE TRIGGER devices_gen_ins AFTER INSERT ON devices FOR EACH ROW"
	"  WHEN (NOT NEW.pending) EXECUTE FUNCTION sprov_changed();"
	"CREATE TRIGGER devices_gen_ud AFTER UPDATE OR DELETE ON devices"
	"  FOR EACH ROW EXECUTE FUNCTION sprov_changed();"
	"CREATE TRIGGER params_gen AFTER INSERT OR UPDATE OR DELETE ON params"
	"  FOR EACH ROW EXECUTE FUNCTION sprov_changed();"
	"CREATE TRIGGER device_params_gen AFTER INSERT OR UPDATE OR DELETE"
	"  ON device_params FOR EACH ROW EXECUTE FUNCTION sprov_changed();"),
	/* 1 -> 2: operators ask "who has not called in since ...". */
	("CREATE INDEX contacts_time ON contacts (time);"),
	/* 2 -> 3: what every node shares (sp_store_cluster_put). */
	("CREATE TABLE cluster_data ("
	"  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 128),"
	"  version bigint NOT NULL CHECK (version >= 1),"
	"  created bigint NOT NULL,"
	"  data bytea NOT NULL,"
	"  PRIMARY KEY (name, version));"),
	/* 3 -> 4: firmware images and rollouts (as SQLite's, sqlite.c). */
	("CREATE TABLE firmware ("
	"  product text NOT NULL CHECK (length(product) BETWEEN 1 AND 64),"
	"  version text NOT NULL CHECK (length(version) BETWEEN 1 AND 32),"
	"  id bigint NOT NULL UNIQUE,"
	"  length bigint NOT NULL CHECK (length >= 0),"
	"  sha256 bytea NOT NULL CHECK (length(sha256) = 32),"
	"  created bigint NOT NULL,"
	"  PRIMARY KEY (product, version));"
	"CREATE TABLE firmware_chunks ("
	"  fw bigint NOT NULL,"
	"  seq bigint NOT NULL CHECK (seq >= 0),"
	"  data bytea NOT NULL,"
	"  PRIMARY KEY (fw, seq));"
	"CREATE TABLE rollouts ("
	"  id bigserial PRIMARY KEY,"
	"  name text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 64),"
	"  kind smallint NOT NULL CHECK (kind IN (0, 1, 2)),"
	"  state smallint NOT NULL CHECK (state BETWEEN 0 AND 4),"
	"  level smallint NOT NULL CHECK (level IN (0, 1, 2)),"
	"  key text NOT NULL,"
	"  param text NOT NULL,"
	"  value text NOT NULL,"
	"  fw_version text NOT NULL,"
	"  parent text NOT NULL,"
	"  rolled_back_by text NOT NULL,"
	"  hkey bytea NOT NULL CHECK (length(hkey) = 32),"
	"  waves text NOT NULL,"
	"  released integer NOT NULL,"
	"  wave_interval bigint NOT NULL,"
	"  success_window bigint NOT NULL,"
	"  halt_bp integer NOT NULL,"
	"  created bigint NOT NULL,"
	"  updated bigint NOT NULL,"
	"  reason text NOT NULL,"
	"  seq bigint NOT NULL);"
	"CREATE TRIGGER rollouts_gen AFTER INSERT OR UPDATE OR DELETE ON rollouts"
	"  FOR EACH ROW EXECUTE FUNCTION sprov_changed();"),
	/*
	 * 4 -> 5: the audit trail (as SQLite's, sqlite.c).  Appends lock the
	 * head row (SELECT ... FOR UPDATE): two writers queue, the chain does
	 * not fork.  The key: SHA-256 over two gen_random_uuid()s (the
	 * server's strong random source, 244 random bits), no extension.
	 */
	("CREATE TABLE audit ("
	"  seq bigint PRIMARY KEY,"
	"  time bigint NOT NULL,"
	"  actor text NOT NULL,"
	"  action text NOT NULL,"
	"  target text NOT NULL,"
	"  detail text NOT NULL,"
	"  prev text NOT NULL,"
	"  hash text NOT NULL);"
	"CREATE INDEX audit_target ON audit (target, seq);"
	"CREATE TABLE audit_head ("
	"  id integer PRIMARY KEY CHECK (id = 1),"
	"  seq bigint NOT NULL,"
	"  hash text NOT NULL,"
	"  hkey bytea NOT NULL CHECK (length(hkey) = 32));"
	"INSERT INTO audit_head VALUES (1, 0, repeat('0', 64),"
	"  sha256(convert_to(gen_random_uuid()::text || gen_random_uuid()::text,"
	"  'UTF8')));"),
	/*
	 * 5 -> 6: the console's tokens and sessions (src/store/tokens*.c).
	 * A placeholder on this branch: the lead puts the API helper's
	 * script here at merge.
	 */
	("SELECT 1;"),
	/*
	 * 6 -> 7: the console records (as SQLite's, sqlite_console.c).
	 * serial, product and group compare byte-wise, COLLATE "C", as the
	 * inventory's prefix ranges need; so does levelgen's key, which is
	 * looked up by them.  The MAC keeps the default collation of the
	 * devices and contacts it is joined with, so their keys serve the
	 * joins (12 lowercase hex digits sort alike in any collation).
	 */
	("CREATE TABLE devstate ("
	"  mac text PRIMARY KEY,"
	"  inv smallint NOT NULL DEFAULT 0 CHECK (inv IN (0, 1, 2)),"
	"  serial text COLLATE \"C\" NOT NULL DEFAULT '',"
	"  product text COLLATE \"C\" NOT NULL DEFAULT '',"
	"  grp text COLLATE \"C\" NOT NULL DEFAULT '',"
	"  enabled integer NOT NULL DEFAULT 1,"
	"  status integer NOT NULL DEFAULT 3,"
	"  last_seen bigint NOT NULL DEFAULT 0,"
	"  last_http integer NOT NULL DEFAULT 0,"
	"  last_any bigint NOT NULL DEFAULT 0,"
	"  fetched_gen bigint NOT NULL DEFAULT 0,"
	"  fetched_etag text NOT NULL DEFAULT '',"
	"  fail_time bigint NOT NULL DEFAULT 0,"
	"  fail_first bigint NOT NULL DEFAULT 0,"
	"  fail_reason integer NOT NULL DEFAULT 0,"
	"  fail_ip text NOT NULL DEFAULT '',"
	"  fail_newer integer NOT NULL DEFAULT 0,"
	"  fail_total bigint NOT NULL DEFAULT 0,"
	"  cert_serial text NOT NULL DEFAULT '',"
	"  cert_not_after bigint NOT NULL DEFAULT 0,"
	"  ncontacts bigint NOT NULL DEFAULT 0,"
	"  nfailures bigint NOT NULL DEFAULT 0);"
	"CREATE INDEX ds_inv_mac ON devstate (mac) WHERE inv = 1;"
	"CREATE INDEX ds_inv_seen ON devstate (last_seen, mac) WHERE inv = 1;"
	"CREATE INDEX ds_inv_serial ON devstate (serial, mac) WHERE inv = 1;"
	"CREATE INDEX ds_inv_product ON devstate (product, mac) WHERE inv = 1;"
	"CREATE INDEX ds_inv_grp ON devstate (grp, mac) WHERE inv = 1;"
	"CREATE INDEX ds_st_mac ON devstate (status, mac) WHERE inv = 1;"
	"CREATE INDEX ds_st_seen ON devstate (status, last_seen, mac) WHERE inv = 1;"
	"CREATE INDEX ds_st_serial ON devstate (status, serial, mac) WHERE inv = 1;"
	"CREATE INDEX ds_unknown ON devstate (last_any) WHERE inv <> 1;"
	"CREATE TABLE failcounts (mac text NOT NULL, reason integer NOT NULL,"
	"  n bigint NOT NULL, PRIMARY KEY (mac, reason));"
	"CREATE TABLE devevents (mac text NOT NULL, slot integer NOT NULL,"
	"  time bigint NOT NULL, failure integer NOT NULL, http integer NOT NULL,"
	"  reason integer NOT NULL, n bigint NOT NULL, ip text NOT NULL,"
	"  etag text NOT NULL, detail text NOT NULL, PRIMARY KEY (mac, slot));"
	"CREATE TABLE failsrc (reason integer NOT NULL, ip text NOT NULL,"
	"  n bigint NOT NULL, first_seen bigint NOT NULL,"
	"  last_seen bigint NOT NULL, PRIMARY KEY (reason, ip));"
	"CREATE INDEX failsrc_seen ON failsrc (last_seen);"
	"CREATE TABLE levelgen (level integer NOT NULL,"
	"  key text COLLATE \"C\" NOT NULL,"
	"  gen bigint NOT NULL, PRIMARY KEY (level, key));"
	"CREATE TABLE series (bucket bigint NOT NULL, kind integer NOT NULL,"
	"  n bigint NOT NULL, PRIMARY KEY (bucket, kind));"
	"INSERT INTO devstate (mac, inv, serial, product, grp, enabled, status,"
	"  last_seen, last_http, last_any, ncontacts)"
	"  SELECT d.mac, CASE WHEN d.pending THEN 2 ELSE 1 END, d.serial,"
	"  d.product, d.grp, CASE WHEN d.enabled THEN 1 ELSE 0 END,"
	"  CASE WHEN NOT d.enabled THEN 4 WHEN c.mac IS NULL THEN 3"
	"  WHEN c.status >= 400 THEN 2 ELSE 0 END,"
	"  coalesce(c.time, 0), coalesce(c.status, 0), coalesce(c.time, 0),"
	"  CASE WHEN c.mac IS NULL THEN 0 ELSE 1 END"
	"  FROM devices d LEFT JOIN contacts c ON c.mac = d.mac;"),
};
const int pg_schema_current = (int)SP_ARRAY_LEN(pg_migrations);
