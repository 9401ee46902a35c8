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
	/* 5 -> 6: console tokens, login links, sessions (as SQLite's). */
	("CREATE TABLE tokens ("
	"  id text PRIMARY KEY CHECK (id ~ '^[0-9a-f]{8}$'),"
	"  name text NOT NULL UNIQUE,"
	"  role integer NOT NULL CHECK (role IN (0, 1)),"
	"  created bigint NOT NULL,"
	"  last_used bigint NOT NULL DEFAULT 0,"
	"  revoked boolean NOT NULL DEFAULT false,"
	"  hash bytea NOT NULL CHECK (length(hash) = 32));"
	"CREATE TABLE logins ("
	"  hash bytea PRIMARY KEY CHECK (length(hash) = 32),"
	"  actor text NOT NULL,"
	"  expires bigint NOT NULL);"
	"CREATE TABLE sessions ("
	"  hash bytea PRIMARY KEY CHECK (length(hash) = 32),"
	"  csrf_hash bytea NOT NULL CHECK (length(csrf_hash) = 32),"
	"  actor text NOT NULL,"
	"  expires bigint NOT NULL);"),
};
const int pg_schema_current = (int)SP_ARRAY_LEN(pg_migrations);
