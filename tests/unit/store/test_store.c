#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <sqlite3.h>

#include "common/util.h"
#include "store/store.h"

/*
 * The store interface (store.h), once per backend: with no argument on a
 * fresh SQLite file per test; with --pg on the PostgreSQL database named
 * by $SPROV_TEST_PG_URI (tests/lib/pg.sh exec gives a fresh one), its
 * schema dropped before each test.  --pg without a URI fails.
 */
static const char *pg_uri;

/* What schema versions 7, 5 and 4 added; the triggers go with the tables. */
#define V7_DROP "DROP TABLE devstate; DROP TABLE failcounts; " \
    "DROP TABLE devevents; DROP TABLE failsrc; DROP TABLE levelgen; " \
    "DROP TABLE series"
#define V6_DROP "DROP TABLE tokens; DROP TABLE logins; DROP TABLE sessions"
#define V5_DROP V7_DROP "; " V6_DROP "; DROP TABLE audit; DROP TABLE audit_head"
#define V4_DROP V5_DROP "; DROP TABLE firmware; DROP TABLE firmware_chunks; " \
    "DROP TABLE rollouts"

typedef struct fx {
	char dir[64];
	char path[128];
	char uri[SP_STORE_URI_MAX + 1];
	bool pg;
	sp_store *s;
} fx;

/* Run SQL on the backend directly (not through sprov). */
static void
raw_exec(fx *f, const char *q)
{
	if (f->pg) {
		PGconn *c = PQconnectdb(f->uri);
		PGresult *r = PQexec(c, q);
		ExecStatusType st = PQresultStatus(r);

		if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
			fail_msg("%s: %s", q, PQerrorMessage(c));
		PQclear(r);
		PQfinish(c);
	} else {
		sqlite3 *db = NULL;

		assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
		if (sqlite3_exec(db, q, NULL, NULL, NULL) != SQLITE_OK)
			fail_msg("%s: %s", q, sqlite3_errmsg(db));
		sqlite3_close(db);
	}
}

/* The first column of the first row as text ("" for none or NULL). */
static void
raw_text(fx *f, const char *q, char *out, size_t outsz)
{
	out[0] = '\0';
	if (f->pg) {
		PGconn *c = PQconnectdb(f->uri);
		PGresult *r = PQexec(c, q);

		if (PQresultStatus(r) != PGRES_TUPLES_OK)
			fail_msg("%s: %s", q, PQerrorMessage(c));
		if (PQntuples(r) > 0)
			snprintf(out, outsz, "%s", PQgetvalue(r, 0, 0));
		PQclear(r);
		PQfinish(c);
	} else {
		sqlite3 *db = NULL;
		sqlite3_stmt *st = NULL;

		assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
		if (sqlite3_prepare_v2(db, q, -1, &st, NULL) != SQLITE_OK)
			fail_msg("%s: %s", q, sqlite3_errmsg(db));
		if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
			snprintf(out, outsz, "%s", sqlite3_column_text(st, 0));
		sqlite3_finalize(st);
		sqlite3_close(db);
	}
}

/* PostgreSQL: an empty database again. */
static void
pg_reset(fx *f)
{
	raw_exec(f, "SET client_min_messages = warning; "
	    "DROP SCHEMA public CASCADE; CREATE SCHEMA public");
}

static void
rm_store_files(fx *f)
{
	static const char *const sfx[] = { "", "-wal", "-shm", "-journal" };
	char p[160];

	for (size_t i = 0; i < 4; i++) {
		snprintf(p, sizeof(p), "%s%s", f->path, sfx[i]);
		unlink(p);
	}
}

static int
setup(void **state)
{
	fx *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/sprov-store.XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/t.db", f->dir);
	snprintf(f->uri, sizeof(f->uri), "sqlite:%s", f->path);
	if (pg_uri) {
		f->pg = true;
		snprintf(f->uri, sizeof(f->uri), "%s", pg_uri);
		pg_reset(f);
	}
	if (sp_failed(sp_store_open_ex(f->uri, SP_STORE_CREATE, &f->s))) {
		fprintf(stderr, "open: %s\n", sp_errmsg());
		return -1;
	}
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	fx *f = *state;
	char p[160];

	sp_store_close(f->s);
	rm_store_files(f);
	snprintf(p, sizeof(p), "%s/foreign.db", f->dir);
	unlink(p);
	rmdir(f->dir);
	free(f);
	return 0;
}

#define OK(expr)                                                            \
	do {                                                                \
		sp_result r_ = (expr);                                      \
		if (sp_failed(r_))                                          \
			fail_msg("%s: %s", #expr, sp_errmsg());             \
	} while (0)

static sp_mac
mac_of(const char *s)
{
	sp_mac m;

	if (sp_failed(sp_mac_parse(sp_slice_of(s), &m)))
		fail_msg("bad MAC in test: %s", s);
	return m;
}

static void
add_dev(sp_store *s, const char *mac, const char *sn, const char *pn,
    const char *grp)
{
	sp_device d;

	memset(&d, 0, sizeof(d));
	d.mac = mac_of(mac);
	snprintf(d.serial, sizeof(d.serial), "%s", sn);
	snprintf(d.product, sizeof(d.product), "%s", pn);
	snprintf(d.group, sizeof(d.group), "%s", grp);
	d.enabled = true;
	OK(sp_store_device_add(s, &d));
}

static void
pset(sp_store *s, sp_level l, const char *key, const char *name,
    const char *val, sp_access a)
{
	sp_level_ref lv = { l, key };

	OK(sp_store_param_set(s, &lv, name, sp_slice_of(val), a));
}

static uint64_t
gen(sp_store *s)
{
	uint64_t g = 0;

	OK(sp_store_generation(s, &g));
	return g;
}

static void
expect_param(const sp_params *ps, const char *name, const char *val, sp_access a)
{
	const sp_param *p = sp_params_get(ps, name);

	if (p == NULL)
		fail_msg("%s missing", name);
	assert_string_equal(p->value, val);
	if (p->access != a)
		fail_msg("%s: access %s, expected %s", name,
		    sp_access_name(p->access), sp_access_name(a));
}

/* Refusals common to both backends: URIs that name no store. */
static void
test_open_refusals(void **state)
{
	fx *f = *state;
	sp_store *s = NULL;
	char uri[200], p[160];
	struct stat sb;
	sqlite3 *db = NULL;

	/* Nothing listens there: a one-line error that hides the password. */
	assert_int_equal(sp_store_open("postgresql://u:secret@127.0.0.1:1/db?"
	    "connect_timeout=2", &s).code, SP_E_DB);
	assert_non_null(strstr(sp_errmsg(), "postgresql store 'db' on 127.0.0.1"));
	assert_null(strstr(sp_errmsg(), "secret"));
	assert_null(strchr(sp_errmsg(), '\n'));
	assert_null(s);
	assert_int_equal(sp_store_open("postgres://u:secret@h/db?bogus=1", &s).code,
	    SP_E_USAGE);
	assert_null(strstr(sp_errmsg(), "secret"));
	assert_int_equal(sp_store_open("mysql://h/db", &s).code, SP_E_USAGE);
	assert_non_null(strstr(sp_errmsg(), "unknown store URI scheme"));
	assert_int_equal(sp_store_open("sprov.db", &s).code, SP_E_USAGE);
	assert_int_equal(sp_store_open("sqlite:", &s).code, SP_E_USAGE);
	assert_int_equal(sp_store_open("", &s).code, SP_E_USAGE);
	if (f->pg)
		return;

	/* A missing file is not created without SP_STORE_CREATE. */
	snprintf(uri, sizeof(uri), "sqlite:%s/missing.db", f->dir);
	assert_int_equal(sp_store_open(uri, &s).code, SP_E_NOTFOUND);
	assert_non_null(strstr(sp_errmsg(), "sprov db init"));
	assert_null(s);
	snprintf(p, sizeof(p), "%s/missing.db", f->dir);
	assert_false(sp_file_exists(p));

	/* The store holds passwords: 0600. */
	assert_int_equal(stat(f->path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);

	/* A foreign SQLite file is refused, even with CREATE, and untouched. */
	snprintf(p, sizeof(p), "%s/foreign.db", f->dir);
	assert_int_equal(sqlite3_open(p, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "CREATE TABLE t(x)", NULL, NULL, NULL),
	    SQLITE_OK);
	sqlite3_close(db);
	snprintf(uri, sizeof(uri), "sqlite:%s", p);
	assert_int_equal(sp_store_open_ex(uri, SP_STORE_CREATE, &s).code,
	    SP_E_STATE);
	assert_non_null(strstr(sp_errmsg(), "not an sprov store"));
}

static size_t ndevices(sp_store *s);

/* Add a device through a handle of its own (as the CLI would). */
static void
add_dev_uri(const char *uri, const char *mac)
{
	sp_store *s = NULL;

	OK(sp_store_open(uri, &s));
	add_dev(s, mac, "", "", "");
	sp_store_close(s);
}

/* Set the schema version behind sprov's back. */
static void
set_version(fx *f, int v)
{
	char q[96];

	if (f->pg)
		snprintf(q, sizeof(q), "UPDATE schema_version SET version = %d", v);
	else
		snprintf(q, sizeof(q), "PRAGMA user_version = %d", v);
	raw_exec(f, q);
}

static const char *
version_sql(fx *f)
{
	return f->pg ? "SELECT version FROM schema_version" :
	    "PRAGMA user_version";
}

/* Schema versions: newer refused, older migrated, uninitialised refused. */
static void
test_schema(void **state)
{
	fx *f = *state;
	sp_store *s = NULL;
	int found = -1, cur = -1;
	char v[32];

	OK(sp_store_schema_version(f->s, &found, &cur));
	assert_int_equal(found, 0);   /* setup created it */
	assert_int_equal(cur, 7);
	sp_store_close(f->s);
	f->s = NULL;

	/* A newer schema is refused and left alone. */
	set_version(f, 99);
	assert_int_equal(sp_store_open(f->uri, &s).code, SP_E_STATE);
	assert_non_null(strstr(sp_errmsg(), "newer than this sprov knows (7)"));
	assert_null(s);
	raw_text(f, version_sql(f), v, sizeof(v));
	assert_string_equal(v, "99");

	/* A version-1 store (2 added the index, 3 cluster_data) is migrated on open. */
	raw_exec(f, "DROP INDEX contacts_time");
	raw_exec(f, "DROP TABLE cluster_data");
	raw_exec(f, V4_DROP);
	set_version(f, 1);
	add_dev_uri(f->uri, "000e08aabbcc");
	OK(sp_store_open(f->uri, &s));
	OK(sp_store_schema_version(s, &found, &cur));
	assert_int_equal(found, 7);   /* add_dev_uri's open migrated it */
	sp_store_close(s);
	raw_text(f, version_sql(f), v, sizeof(v));
	assert_string_equal(v, "7");
	raw_text(f, f->pg ? "SELECT count(*) FROM pg_indexes WHERE "
	    "indexname = 'contacts_time'" : "SELECT count(*) FROM sqlite_schema "
	    "WHERE name = 'contacts_time'", v, sizeof(v));
	assert_string_equal(v, "1");
	raw_exec(f, "DROP INDEX contacts_time");
	raw_exec(f, "DROP TABLE cluster_data");
	raw_exec(f, V4_DROP);
	set_version(f, 1);
	OK(sp_store_open(f->uri, &s));
	OK(sp_store_schema_version(s, &found, &cur));
	assert_int_equal(found, 1);
	assert_int_equal(cur, 7);
	assert_int_equal(ndevices(s), 1);   /* the data survived */
	sp_store_close(s);

	/* 2 -> 3 alone: cluster_data appears, usable, the devices stay. */
	raw_exec(f, "DROP TABLE cluster_data");
	raw_exec(f, V4_DROP);
	set_version(f, 2);
	OK(sp_store_open(f->uri, &s));
	OK(sp_store_schema_version(s, &found, &cur));
	assert_int_equal(found, 2);
	assert_int_equal(cur, 7);
	OK(sp_store_cluster_put(s, "t", 1, 1, sp_slice_of("x"), 0));
	assert_int_equal(ndevices(s), 1);
	sp_store_close(s);
	raw_text(f, "SELECT count(*) FROM cluster_data", v, sizeof(v));
	assert_string_equal(v, "1");

	/* 3 -> 4 alone: firmware and rollouts appear, usable, the data stays. */
	raw_exec(f, V4_DROP);
	set_version(f, 3);
	OK(sp_store_open(f->uri, &s));
	OK(sp_store_schema_version(s, &found, &cur));
	assert_int_equal(found, 3);
	assert_int_equal(cur, 7);
	assert_int_equal(ndevices(s), 1);
	{
		sp_rollout_spec sp = { .name = "r", .kind = SP_ROLLOUT_PARAM,
		    .target = { SP_LEVEL_DEFAULTS, NULL }, .param = "Proxy_1_",
		    .value = sp_slice_of("p.example.net"), .nwaves = 1,
		    .waves = { 100 }, .success_window = 60, .halt_bp = -1 };
		OK(sp_store_rollout_create(s, &sp, 1000, NULL));
	}
	sp_store_close(s);
	raw_text(f, "SELECT count(*) FROM rollouts", v, sizeof(v));
	assert_string_equal(v, "1");

	/* 4 -> 5 alone: the audit trail appears, with a key, and chains. */
	raw_exec(f, V5_DROP);
	set_version(f, 4);
	OK(sp_store_open(f->uri, &s));
	OK(sp_store_schema_version(s, &found, &cur));
	assert_int_equal(found, 4);
	assert_int_equal(cur, 7);
	add_dev(s, "000e08aabbdd", "", "", "");
	{
		int64_t n = -1;

		OK(sp_store_audit_verify(s, &n));
		assert_int_equal(n, 1);
	}
	sp_store_close(s);
	raw_text(f, "SELECT length(hkey) FROM audit_head", v, sizeof(v));
	assert_string_equal(v, "32");

	if (!f->pg)
		return;
	/* PostgreSQL: an empty database needs `db init`; nothing is created. */
	pg_reset(f);
	assert_int_equal(sp_store_open(f->uri, &s).code, SP_E_STATE);
	assert_non_null(strstr(sp_errmsg(), "is not initialised: run 'sprov db init'"));
	raw_text(f, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'",
	    v, sizeof(v));
	assert_string_equal(v, "0");
	/* A database with a table of ours but no version: refused, even CREATE. */
	raw_exec(f, "CREATE TABLE devices (x int)");
	assert_int_equal(sp_store_open_ex(f->uri, SP_STORE_CREATE, &s).code,
	    SP_E_STATE);
	assert_non_null(strstr(sp_errmsg(), "not an sprov store"));
	raw_text(f, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'",
	    v, sizeof(v));
	assert_string_equal(v, "1");
	pg_reset(f);
	OK(sp_store_open_ex(f->uri, SP_STORE_CREATE, &f->s));
}

static void
test_levels(void **state)
{
	fx *f = *state;
	sp_params ps;
	sp_device d;
	bool found;
	uint64_t g;

	add_dev(f->s, "000e08aabbcc", "SN1", "SPA-962", "office");
	add_dev(f->s, "00:0e:08:aa:bb:dd", "SN2", "SPA-2102", "");
	pset(f->s, SP_LEVEL_DEFAULTS, NULL, "A", "defaults", SP_ACCESS_NA);
	pset(f->s, SP_LEVEL_DEFAULTS, NULL, "B", "defaults", SP_ACCESS_UNSET);
	pset(f->s, SP_LEVEL_DEFAULTS, NULL, "C", "defaults", SP_ACCESS_RW);
	pset(f->s, SP_LEVEL_DEFAULTS, NULL, "D", "defaults", SP_ACCESS_UNSET);
	pset(f->s, SP_LEVEL_PRODUCT, "SPA-962", "A", "product", SP_ACCESS_UNSET);
	pset(f->s, SP_LEVEL_PRODUCT, "SPA-962", "B", "product", SP_ACCESS_RO);
	pset(f->s, SP_LEVEL_GROUP, "office", "B", "group", SP_ACCESS_UNSET);
	pset(f->s, SP_LEVEL_GROUP, "office", "C", "group", SP_ACCESS_NA);
	pset(f->s, SP_LEVEL_DEVICE, "000E08AABBCC", "A", "device <&>",
	    SP_ACCESS_UNSET);
	pset(f->s, SP_LEVEL_DEVICE, "000e08aabbcc", "E", "", SP_ACCESS_RW);
	/* Same product name as a group name: levels do not mix. */
	pset(f->s, SP_LEVEL_GROUP, "SPA-2102", "D", "group-not-product",
	    SP_ACCESS_UNSET);

	OK(sp_store_device_get(f->s, &(sp_mac){ { 0, 0x0e, 8, 0xaa, 0xbb, 0xcc } },
	    &d, &found));
	assert_true(found);
	assert_string_equal(d.serial, "SN1");
	assert_string_equal(d.product, "SPA-962");
	assert_string_equal(d.group, "office");
	assert_true(d.enabled);
	assert_false(d.pending);
	assert_true(d.created > 0);

	sp_params_init(&ps);
	OK(sp_store_params_effective(f->s, &d, &ps, &g));
	assert_int_equal(g, gen(f->s));
	assert_int_equal(ps.n, 5);
	expect_param(&ps, "A", "device <&>", SP_ACCESS_NA); /* access inherited */
	expect_param(&ps, "B", "group", SP_ACCESS_RO);
	expect_param(&ps, "C", "group", SP_ACCESS_NA);
	expect_param(&ps, "D", "defaults", SP_ACCESS_UNSET);
	expect_param(&ps, "E", "", SP_ACCESS_RW);
	sp_params_free(&ps);

	/* The other device: defaults only (no product params, no group). */
	OK(sp_store_device_get(f->s, &(sp_mac){ { 0, 0x0e, 8, 0xaa, 0xbb, 0xdd } },
	    &d, &found));
	assert_true(found);
	sp_params_init(&ps);
	OK(sp_store_params_effective(f->s, &d, &ps, NULL));
	assert_int_equal(ps.n, 4);
	expect_param(&ps, "A", "defaults", SP_ACCESS_NA);
	expect_param(&ps, "D", "defaults", SP_ACCESS_UNSET);
	sp_params_free(&ps);

	sp_params_init(&ps);
	OK(sp_store_params_defaults(f->s, &ps, &g));
	assert_int_equal(ps.n, 4);
	expect_param(&ps, "C", "defaults", SP_ACCESS_RW);
	sp_params_free(&ps);

	/* One level alone. */
	sp_params_init(&ps);
	OK(sp_store_params_level(f->s, &(sp_level_ref){ SP_LEVEL_GROUP, "office" },
	    &ps));
	assert_int_equal(ps.n, 2);
	expect_param(&ps, "B", "group", SP_ACCESS_UNSET);
	sp_params_free(&ps);

	/* Re-setting without --access keeps the access; unset falls back. */
	pset(f->s, SP_LEVEL_DEFAULTS, NULL, "C", "again", SP_ACCESS_UNSET);
	OK(sp_store_param_unset(f->s, &(sp_level_ref){ SP_LEVEL_GROUP, "office" },
	    "C"));
	OK(sp_store_device_get(f->s, &(sp_mac){ { 0, 0x0e, 8, 0xaa, 0xbb, 0xcc } },
	    &d, &found));
	sp_params_init(&ps);
	OK(sp_store_params_effective(f->s, &d, &ps, NULL));
	expect_param(&ps, "C", "again", SP_ACCESS_RW);
	sp_params_free(&ps);

	/* Removing the device removes its params. */
	OK(sp_store_device_rm(f->s, &d.mac));
	add_dev(f->s, "000e08aabbcc", "SN1", "", "");
	sp_params_init(&ps);
	OK(sp_store_params_level(f->s, &(sp_level_ref){ SP_LEVEL_DEVICE,
	    "000e08aabbcc" }, &ps));
	assert_int_equal(ps.n, 0);
	sp_params_free(&ps);
}

static void
test_generation(void **state)
{
	fx *f = *state;
	sp_store *other = NULL;
	sp_mac m = mac_of("000e08aabbcc");
	sp_level_ref dl = { SP_LEVEL_DEVICE, "000e08aabbcc" };
	sp_params ps;
	sp_device d;
	sp_contact c;
	bool found;
	uint64_t g0, g;

	g0 = gen(f->s);
	assert_int_equal(gen(f->s), g0);
#define CHANGED() do { g = gen(f->s); assert_true(g != g0); g0 = g; } while (0)
#define SAME() assert_int_equal(gen(f->s), g0)
	/* Another connection's change arrives as a notification (PostgreSQL). */
#define CHANGED_SOON() do { \
	for (int i_ = 0; i_ < 200 && gen(f->s) == g0; i_++) \
		usleep(10000); \
	CHANGED(); } while (0)
	add_dev(f->s, "000e08aabbcc", "", "", "");
	CHANGED();
	pset(f->s, SP_LEVEL_DEVICE, "000e08aabbcc", "A", "1", SP_ACCESS_UNSET);
	CHANGED();
	pset(f->s, SP_LEVEL_DEVICE, "000e08aabbcc", "A", "1", SP_ACCESS_UNSET);
	CHANGED(); /* every write, even one that changes nothing */
	pset(f->s, SP_LEVEL_PRODUCT, "P", "A", "1", SP_ACCESS_UNSET);
	CHANGED();
	pset(f->s, SP_LEVEL_DEFAULTS, NULL, "A", "1", SP_ACCESS_UNSET);
	CHANGED();
	OK(sp_store_param_unset(f->s, &dl, "A"));
	CHANGED();
	OK(sp_store_device_set_enabled(f->s, &m, false));
	CHANGED();

	/* Reads do not move it. */
	OK(sp_store_device_get(f->s, &m, &d, &found));
	sp_params_init(&ps);
	OK(sp_store_params_effective(f->s, &d, &ps, NULL));
	OK(sp_store_params_defaults(f->s, &ps, NULL));
	OK(sp_store_params_level(f->s, &dl, &ps));
	sp_params_free(&ps);
	OK(sp_store_contact_get(f->s, &m, &c, &found));
	SAME();

	/* Neither do contacts or pending devices (no answer changes). */
	memset(&c, 0, sizeof(c));
	c.mac = mac_of("000e08000001");
	c.time = 1000;
	c.record_pending = true;
	OK(sp_store_contact_batch(f->s, &c, 1));
	OK(sp_store_device_pending(f->s, &(sp_mac){ { 0, 0x0e, 8, 0, 0, 2 } },
	    "SN", "PN", 1000));
	SAME();

	/* A refused write does not move it either. */
	assert_int_equal(sp_store_device_rm(f->s, &(sp_mac){ { 1, 2, 3, 4, 5, 6 } })
	    .code, SP_E_NOTFOUND);
	SAME();

	/* Writes through another handle (another worker, the CLI) are seen. */
	OK(sp_store_open(f->uri, &other));
	pset(other, SP_LEVEL_GROUP, "G", "X", "y", SP_ACCESS_UNSET);
	CHANGED_SOON();
	OK(sp_store_device_rm(other, &m));
	CHANGED_SOON();
	assert_int_equal(gen(other), g0);
	sp_store_close(other);
#undef CHANGED
#undef CHANGED_SOON
#undef SAME
}

/*
 * PostgreSQL: the LISTEN connection is the notify_fd; if it is killed, a
 * change made meanwhile is still seen (the generation is re-read after
 * LISTEN again) and the reconnect is counted.  SQLite has no descriptor.
 */
static void
test_notify(void **state)
{
	fx *f = *state;
	sp_store *other = NULL;
	uint64_t g0, g = 0, before;
	sp_device d;
	bool found;

	g0 = gen(f->s);
	if (!f->pg) {
		assert_int_equal(sp_store_notify_fd(f->s), -1);
		return;
	}
	assert_true(sp_store_notify_fd(f->s) >= 0);
	before = sp_store_notify_reconnects();
	raw_exec(f, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
	    "WHERE query = 'LISTEN sprov_changed'");
	OK(sp_store_open(f->uri, &other));
	pset(other, SP_LEVEL_DEFAULTS, NULL, "A", "1", SP_ACCESS_UNSET);
	sp_store_close(other);
	for (int i = 0; i < 200 && (g = gen(f->s)) == g0; i++)
		usleep(10000);
	assert_true(g != g0);
	assert_int_equal(sp_store_notify_reconnects(), before + 1);
	assert_true(sp_store_notify_fd(f->s) >= 0);

	/*
	 * Both connections killed (a database restart): the next call runs
	 * on a new connection, reads and writes alike.
	 */
	raw_exec(f, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
	    "WHERE application_name = 'sprov' AND datname = current_database()");
	usleep(100000);
	add_dev(f->s, "000e08aabbcc", "", "", "");
	OK(sp_store_device_get(f->s, &(sp_mac){ { 0, 0x0e, 8, 0xaa, 0xbb, 0xcc } },
	    &d, &found));
	assert_true(found);
	raw_exec(f, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
	    "WHERE application_name = 'sprov' AND datname = current_database()");
	usleep(100000);
	OK(sp_store_device_get(f->s, &(sp_mac){ { 0, 0x0e, 8, 0xaa, 0xbb, 0xcc } },
	    &d, &found));
	assert_true(found);
	assert_true(gen(f->s) > g);
}

/*
 * The server looks a device up, then reads its params.  A change in
 * between must not produce a cache tag that looks current.
 */
static void
test_lookup_race(void **state)
{
	fx *f = *state;
	sp_store *op = NULL;
	sp_mac m = mac_of("000e08aabbcc");
	sp_device d;
	sp_params ps;
	bool found;
	uint64_t g;

	add_dev(f->s, "000e08aabbcc", "", "P", "");
	OK(sp_store_open(f->uri, &op));   /* the operator's CLI */

	/* Disabled between lookup and params. */
	OK(sp_store_device_get(f->s, &m, &d, &found));
	assert_true(found && d.enabled);
	OK(sp_store_device_set_enabled(op, &m, false));
	sp_params_init(&ps);
	OK(sp_store_params_effective(f->s, &d, &ps, &g));
	sp_params_free(&ps);
	assert_true(g < gen(f->s));

	/* No change in between: the tag is current. */
	OK(sp_store_device_get(f->s, &m, &d, &found));
	sp_params_init(&ps);
	OK(sp_store_params_effective(f->s, &d, &ps, &g));
	sp_params_free(&ps);
	assert_int_equal(g, gen(f->s));

	/* Unknown at lookup, added before the defaults are read. */
	OK(sp_store_device_get(f->s, &(sp_mac){ { 0, 0x0e, 8, 0, 0, 0x42 } }, &d,
	    &found));
	assert_false(found);
	add_dev(op, "000e08000042", "", "", "");
	sp_params_init(&ps);
	OK(sp_store_params_defaults(f->s, &ps, &g));
	sp_params_free(&ps);
	assert_true(g < gen(f->s));

	/* Without a preceding lookup: the snapshot's own generation. */
	sp_params_init(&ps);
	OK(sp_store_params_defaults(f->s, &ps, &g));
	sp_params_free(&ps);
	assert_int_equal(g, gen(f->s));
	sp_store_close(op);
}

static void
test_uri_default(void **state)
{
	(void)state;
	unsetenv(SP_STORE_ENV);
	assert_string_equal(sp_store_uri_default(NULL), "sqlite:sprov.db");
	setenv(SP_STORE_ENV, "sqlite:/x.db", 1);
	assert_string_equal(sp_store_uri_default(NULL), "sqlite:/x.db");
	assert_string_equal(sp_store_uri_default("sqlite:y"), "sqlite:y");
	unsetenv(SP_STORE_ENV);
}

#include "store_contacts_tests.h"
#include "store_txn_tests.h"
#include "store_rollout_tests.h"
#include "store_audit_tests.h"
#include "store_console_tests.h"

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_schema, setup, teardown),
		cmocka_unit_test_setup_teardown(test_levels, setup, teardown),
		cmocka_unit_test_setup_teardown(test_generation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lookup_race, setup, teardown),
		cmocka_unit_test_setup_teardown(test_notify, setup, teardown),
		cmocka_unit_test_setup_teardown(test_contact_batch_fails_whole, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_contacts_and_pending, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_unknown_and_refused, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_transaction_rollback, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_whole_store, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cluster_data, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rollout_overlay, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rollout_tick, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rollout_pause_rollback, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_firmware, setup, teardown),
		cmocka_unit_test_setup_teardown(test_audit_changes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_audit_firmware, setup, teardown),
		cmocka_unit_test_setup_teardown(test_audit_tamper, setup, teardown),
		cmocka_unit_test_setup_teardown(test_audit_rollouts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_audit_concurrent, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_console_status, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_console_inventory, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_console_failures, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_console_summary, setup,
		    teardown),
		cmocka_unit_test(test_uri_default),
	};
	if (argc > 1 && strcmp(argv[1], "--pg") == 0) {
		pg_uri = getenv("SPROV_TEST_PG_URI");
		if (pg_uri == NULL || *pg_uri == '\0') {
			fprintf(stderr, "--pg: SPROV_TEST_PG_URI is not set (run me "
			    "through tests/lib/pg.sh exec)\n");
			return 1;
		}
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
