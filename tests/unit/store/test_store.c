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
test_contacts_and_pending(void **state)
{
	fx *f = *state;
	sp_contact v[3], got;
	sp_device d;
	bool found;
	char txt[256];
	uint64_t g;

	add_dev(f->s, "000e08aabbcc", "SN1", "SPA-962", "");
	memset(v, 0, sizeof(v));
	v[0].mac = mac_of("000e08aabbcc");
	v[0].time = 100;
	snprintf(v[0].ip, sizeof(v[0].ip), "192.0.2.1");
	snprintf(v[0].ua, sizeof(v[0].ua), "garbage");
	v[0].status = 200;
	v[1] = v[0];
	v[1].time = 200;
	snprintf(v[1].ip, sizeof(v[1].ip), "2001:db8::1");
	snprintf(v[1].ua, sizeof(v[1].ua),
	    "Cisco/SPA504G-7.6.2 (000e08aabbcc)(88012BA01234)");
	snprintf(v[1].etag, sizeof(v[1].etag), "\"abc\"");
	v[1].status = 304;
	v[2].mac = mac_of("000e08000099");   /* unknown, served defaults */
	v[2].time = 300;
	v[2].status = 200;
	v[2].record_pending = true;
	snprintf(v[2].serial, sizeof(v[2].serial), "88012BA09999");
	snprintf(v[2].product, sizeof(v[2].product), "SPA-2102");
	snprintf(v[2].ua, sizeof(v[2].ua), "Linksys/SPA-2102-2.0.5 (88012BA09999)");

	g = gen(f->s);
	OK(sp_store_contact_batch(f->s, v, 3));
	assert_int_equal(gen(f->s), g);
	OK(sp_store_contact_batch(f->s, v, 0));

	OK(sp_store_contact_get(f->s, &v[0].mac, &got, &found));
	assert_true(found);
	assert_int_equal(got.time, 200);          /* later entry wins */
	assert_string_equal(got.ip, "2001:db8::1");
	assert_string_equal(got.etag, "\"abc\"");
	assert_int_equal(got.status, 304);
	assert_string_equal(got.ua, v[1].ua);

	/* The parsed User-Agent is kept too (operators query firmware). */
	raw_text(f, "SELECT ua_vendor || ',' || ua_swver || ',' || ua_mac || ',' "
	    "|| ua_serial FROM contacts WHERE mac = '000e08aabbcc'", txt,
	    sizeof(txt));
	assert_string_equal(txt, "Cisco,7.6.2,000e08aabbcc,88012BA01234");

	/* A User-Agent is the device's bytes, not always UTF-8: kept as sent. */
	snprintf(v[1].ua, sizeof(v[1].ua), "Odd/\xff\xfe-1 (x)");
	OK(sp_store_contact_batch(f->s, &v[1], 1));
	OK(sp_store_contact_get(f->s, &v[1].mac, &got, &found));
	assert_string_equal(got.ua, "Odd/\xff\xfe-1 (x)");

	/* The unknown device is now pending and disabled. */
	OK(sp_store_device_get(f->s, &v[2].mac, &d, &found));
	assert_true(found);
	assert_true(d.pending);
	assert_false(d.enabled);
	assert_string_equal(d.serial, "88012BA09999");
	assert_string_equal(d.product, "SPA-2102");
	assert_int_equal(d.created, 300);
	/* Recording it again changes nothing. */
	OK(sp_store_device_pending(f->s, &v[2].mac, "other", "other", 400));
	OK(sp_store_device_get(f->s, &v[2].mac, &d, &found));
	assert_string_equal(d.serial, "88012BA09999");

	/* An operator adopts it with `devices add`; then it is a duplicate. */
	add_dev(f->s, "000e08000099", "88012BA09999", "SPA-2102", "lab");
	assert_true(gen(f->s) != g);
	OK(sp_store_device_get(f->s, &v[2].mac, &d, &found));
	assert_false(d.pending);
	assert_true(d.enabled);
	assert_string_equal(d.group, "lab");
	{
		sp_device dup = d;
		assert_int_equal(sp_store_device_add(f->s, &dup).code, SP_E_EXISTS);
		assert_non_null(strstr(sp_errmsg(), "already exists"));
	}

	/* Enabling a pending device adopts it too. */
	OK(sp_store_device_pending(f->s, &(sp_mac){ { 0, 0x0e, 8, 0, 0, 0x77 } },
	    "", "", 1));
	OK(sp_store_device_set_enabled(f->s, &(sp_mac){ { 0, 0x0e, 8, 0, 0, 0x77 } },
	    true));
	OK(sp_store_device_get(f->s, &(sp_mac){ { 0, 0x0e, 8, 0, 0, 0x77 } }, &d,
	    &found));
	assert_false(d.pending);
	assert_true(d.enabled);

	/* rm takes the contact record with it. */
	OK(sp_store_device_rm(f->s, &v[0].mac));
	OK(sp_store_contact_get(f->s, &v[0].mac, &got, &found));
	assert_false(found);

	/* A pending device's odd certificate fields do not fail the batch. */
	memset(&v[1], 0, sizeof(v[1]));
	v[1].mac = mac_of("000e08000055");
	v[1].record_pending = true;
	snprintf(v[1].serial, sizeof(v[1].serial), "bad\x01serial");
	snprintf(v[1].product, sizeof(v[1].product), "ok");
	OK(sp_store_contact_batch(f->s, &v[1], 1));
	OK(sp_store_device_get(f->s, &v[1].mac, &d, &found));
	assert_true(found && d.pending);
	assert_string_equal(d.serial, "");
	assert_string_equal(d.product, "ok");

	/* Unterminated fields are a caller bug, refused before writing. */
	memset(v[0].ip, 'x', sizeof(v[0].ip));
	assert_int_equal(sp_store_contact_batch(f->s, v, 1).code, SP_E_INTERNAL);
}

/*
 * A batch is all or nothing, also when a statement fails in the middle
 * (PostgreSQL: past the first pipeline sync point, 300 of 600): nothing of
 * it is written, the error names the step, and the handle still works.
 */
static void
test_contact_batch_fails_whole(void **state)
{
	fx *f = *state;
	enum { N = 600 };
	sp_contact *v = calloc(N, sizeof(*v));
	sp_contact got;
	bool found;
	char txt[64];

	assert_non_null(v);
	for (int i = 0; i < N; i++) {
		v[i].mac = (sp_mac){ { 0, 0x0e, 8, 0, (uint8_t)(i >> 8), (uint8_t)i } };
		v[i].time = 1000 + i;
		v[i].status = 200;
		snprintf(v[i].ip, sizeof(v[i].ip), "10.0.%d.%d", i >> 8, i & 255);
	}
	if (f->pg)
		raw_exec(f, "CREATE FUNCTION boom() RETURNS trigger LANGUAGE plpgsql AS "
		    "$$ BEGIN IF NEW.mac = '000e0800012c' THEN RAISE EXCEPTION 'boom'; END IF; "
		    "RETURN NEW; END $$; CREATE TRIGGER boom BEFORE INSERT ON contacts "
		    "FOR EACH ROW EXECUTE FUNCTION boom()");
	else
		raw_exec(f, "CREATE TRIGGER boom BEFORE INSERT ON contacts "
		    "WHEN NEW.mac = '000e0800012c' BEGIN SELECT RAISE(ABORT, 'boom'); END");
	assert_int_equal(sp_store_contact_batch(f->s, v, N).code, SP_E_DB);
	assert_non_null(strstr(sp_errmsg(), "boom"));
	raw_text(f, "SELECT count(*) FROM contacts", txt, sizeof(txt));
	assert_string_equal(txt, "0");
	/* The handle is usable: the next batch (without the bad row) is written. */
	raw_exec(f, f->pg ? "DROP TRIGGER boom ON contacts" : "DROP TRIGGER boom");
	OK(sp_store_contact_batch(f->s, v, N));
	raw_text(f, "SELECT count(*) FROM contacts", txt, sizeof(txt));
	assert_string_equal(txt, "600");
	OK(sp_store_contact_get(f->s, &v[599].mac, &got, &found));
	assert_true(found);
	assert_int_equal(got.time, 1599);
	free(v);
}

static sp_result
count_cb(void *arg, const sp_device *d)
{
	(void)d;
	(*(size_t *)arg)++;
	return SP_OK;
}

static sp_result
stop_cb(void *arg, const sp_device *d)
{
	(void)arg;
	(void)d;
	return sp_error(SP_E_STATE, "stop");
}

static size_t
ndevices(sp_store *s)
{
	size_t n = 0;

	OK(sp_store_device_list(s, count_cb, &n));
	return n;
}

static void
test_unknown_and_refused(void **state)
{
	fx *f = *state;
	sp_mac m = mac_of("000e08aabbcc");
	sp_device d;
	bool found = true;
	char big[SP_PARAM_VALUE_MAX + 2];
	uint64_t g;

	OK(sp_store_device_get(f->s, &m, &d, &found));
	assert_false(found);
	assert_int_equal(sp_store_device_rm(f->s, &m).code, SP_E_NOTFOUND);
	assert_non_null(strstr(sp_errmsg(), "no device 000e08aabbcc"));
	assert_int_equal(sp_store_device_set_enabled(f->s, &m, true).code,
	    SP_E_NOTFOUND);
	assert_int_equal(sp_store_param_set(f->s, &(sp_level_ref){ SP_LEVEL_DEVICE,
	    "000e08aabbcc" }, "A", SP_SLICE_LIT("v"), SP_ACCESS_UNSET).code,
	    SP_E_NOTFOUND);
	assert_int_equal(sp_store_param_unset(f->s, &(sp_level_ref){
	    SP_LEVEL_DEFAULTS, NULL }, "A").code, SP_E_NOTFOUND);
	assert_non_null(strstr(sp_errmsg(), "not set"));
	assert_int_equal(sp_store_contact_get(f->s, &m, &(sp_contact){ 0 }, &found)
	    .code, SP_E_OK);
	assert_false(found);

	g = gen(f->s);
	/* Bad names, values, fields, keys: refused, nothing written. */
	assert_int_equal(sp_store_param_set(f->s, &(sp_level_ref){
	    SP_LEVEL_DEFAULTS, NULL }, "Dial Plan", SP_SLICE_LIT("v"),
	    SP_ACCESS_UNSET).code, SP_E_PARSE);
	assert_int_equal(sp_store_param_set(f->s, &(sp_level_ref){
	    SP_LEVEL_DEFAULTS, NULL }, "A", SP_SLICE_LIT("s3cr3t\nX"),
	    SP_ACCESS_UNSET).code, SP_E_POLICY);
	assert_null(strstr(sp_errmsg(), "s3cr3t"));   /* value never echoed */
	assert_int_equal(sp_store_param_set(f->s, &(sp_level_ref){
	    SP_LEVEL_DEFAULTS, NULL }, "A", SP_SLICE_LIT("a\0b"),
	    SP_ACCESS_UNSET).code, SP_E_POLICY);
	assert_int_equal(sp_store_param_set(f->s, &(sp_level_ref){
	    SP_LEVEL_DEFAULTS, NULL }, "A", SP_SLICE_LIT("\xc3\x28"),
	    SP_ACCESS_UNSET).code, SP_E_POLICY);
	assert_int_equal(sp_store_param_set(f->s, &(sp_level_ref){
	    SP_LEVEL_DEFAULTS, NULL }, "A", SP_SLICE_LIT("\xed\xa0\x80"),
	    SP_ACCESS_UNSET).code, SP_E_POLICY);
	assert_int_equal(sp_store_param_set(f->s, &(sp_level_ref){
	    SP_LEVEL_DEFAULTS, NULL }, "A", SP_SLICE_LIT(" lead"),
	    SP_ACCESS_UNSET).code, SP_E_POLICY);
	memset(big, 'x', sizeof(big));
	assert_int_equal(sp_store_param_set(f->s, &(sp_level_ref){
	    SP_LEVEL_DEFAULTS, NULL }, "A", sp_slice_mk(big, SP_PARAM_VALUE_MAX + 1),
	    SP_ACCESS_UNSET).code, SP_E_LIMIT);
	assert_int_equal(sp_store_param_set(f->s, &(sp_level_ref){
	    SP_LEVEL_PRODUCT, "" }, "A", SP_SLICE_LIT("v"), SP_ACCESS_UNSET).code,
	    SP_E_USAGE);
	assert_int_equal(sp_store_param_set(f->s, &(sp_level_ref){
	    SP_LEVEL_GROUP, "a\tb" }, "A", SP_SLICE_LIT("v"), SP_ACCESS_UNSET).code,
	    SP_E_PARSE);
	assert_int_equal(sp_store_param_set(f->s, &(sp_level_ref){
	    SP_LEVEL_DEVICE, "nope" }, "A", SP_SLICE_LIT("v"), SP_ACCESS_UNSET).code,
	    SP_E_PARSE);
	memset(&d, 0, sizeof(d));
	d.mac = m;
	memset(d.serial, 'S', SP_STORE_FIELD_MAX);
	assert_int_equal(sp_store_device_add(f->s, &d).code, SP_E_OK);
	OK(sp_store_device_rm(f->s, &m));
	g = gen(f->s);
	snprintf(d.serial, sizeof(d.serial), " lead");
	assert_int_equal(sp_store_device_add(f->s, &d).code, SP_E_PARSE);
	snprintf(d.serial, sizeof(d.serial), "caf\xc3\xa9");
	assert_int_equal(sp_store_device_add(f->s, &d).code, SP_E_PARSE);
	assert_int_equal(gen(f->s), g);
	assert_int_equal(ndevices(f->s), 0);
	/* Valid UTF-8 and tab are fine in values. */
	pset(f->s, SP_LEVEL_DEFAULTS, NULL, "A", "caf\xc3\xa9\tok \xf0\x9f\x93\x9e",
	    SP_ACCESS_UNSET);
}

/* An import: all or nothing through an explicit transaction. */
static void
test_transaction_rollback(void **state)
{
	fx *f = *state;
	sp_device d;
	sp_params ps;
	uint64_t g;
	bool found;

	add_dev(f->s, "000e08aabbcc", "", "", "");
	g = gen(f->s);
	OK(sp_store_begin(f->s));
	assert_int_equal(sp_store_begin(f->s).code, SP_E_STATE);
	add_dev(f->s, "000e08000001", "", "", "");
	add_dev(f->s, "000e08000002", "", "", "");
	pset(f->s, SP_LEVEL_DEFAULTS, NULL, "A", "1", SP_ACCESS_UNSET);
	pset(f->s, SP_LEVEL_DEVICE, "000e08000001", "A", "2", SP_ACCESS_UNSET);
	/* Inside the transaction the changes are visible to this handle. */
	assert_int_equal(ndevices(f->s), 3);
	memset(&d, 0, sizeof(d));
	d.mac = mac_of("000e08aabbcc");
	assert_int_equal(sp_store_device_add(f->s, &d).code, SP_E_EXISTS);
	sp_store_rollback(f->s);
	sp_store_rollback(f->s); /* no-op */

	assert_int_equal(gen(f->s), g);
	assert_int_equal(ndevices(f->s), 1);
	OK(sp_store_device_get(f->s, &(sp_mac){ { 0, 0x0e, 8, 0, 0, 1 } }, &d,
	    &found));
	assert_false(found);
	sp_params_init(&ps);
	OK(sp_store_params_defaults(f->s, &ps, NULL));
	assert_int_equal(ps.n, 0);
	sp_params_free(&ps);

	/* And a committed one sticks. */
	OK(sp_store_begin(f->s));
	add_dev(f->s, "000e08000001", "", "", "");
	OK(sp_store_commit(f->s));
	assert_int_equal(sp_store_commit(f->s).code, SP_E_STATE);
	assert_true(gen(f->s) != g);
	assert_int_equal(ndevices(f->s), 2);

	/* A callback can stop the listing. */
	assert_int_equal(sp_store_device_list(f->s, stop_cb, NULL).code,
	    SP_E_STATE);
	assert_int_equal(ndevices(f->s), 2);
}

/*
 * One handle per thread, as the server runs: workers read, the flusher
 * writes contact batches, the CLI writes params, all at once.  Nobody may
 * fail with "database is locked".
 */
typedef struct th_arg {
	const char *uri;
	int role;
	int iters;
	bool ok;
	char err[256];
} th_arg;

static void *
th_main(void *p)
{
	th_arg *a = p;
	sp_store *s = NULL;
	sp_result r = SP_OK;
	sp_mac m = { { 0, 0x0e, 8, 0xaa, 0xbb, 0xcc } };

	r = sp_store_open(a->uri, &s);
	for (int i = 0; sp_ok(r) && i < a->iters; i++) {
		if (a->role == 0) {
			sp_device d;
			sp_params ps;
			bool found;
			uint64_t g;

			sp_params_init(&ps);
			r = sp_store_generation(s, &g);
			if (sp_ok(r))
				r = sp_store_device_get(s, &m, &d, &found);
			if (sp_ok(r) && found)
				r = sp_store_params_effective(s, &d, &ps, &g);
			sp_params_free(&ps);
		} else if (a->role == 1) {
			sp_contact v[50];

			memset(v, 0, sizeof(v));
			for (int k = 0; k < 50; k++) {
				v[k].mac = (sp_mac){ { 0, 0x0e, 8, 1, (uint8_t)i,
				    (uint8_t)k } };
				v[k].time = i;
				v[k].record_pending = (k % 10) == 0;
			}
			r = sp_store_contact_batch(s, v, 50);
		} else {
			char val[32];

			snprintf(val, sizeof(val), "v%d", i);
			r = sp_store_param_set(s, &(sp_level_ref){ SP_LEVEL_DEVICE,
			    "000e08aabbcc" }, "A", sp_slice_of(val), SP_ACCESS_UNSET);
		}
	}
	a->ok = sp_ok(r);
	if (!a->ok)
		snprintf(a->err, sizeof(a->err), "%s", sp_errmsg());
	sp_store_close(s);
	return NULL;
}

static void
test_threads(void **state)
{
	fx *f = *state;
	th_arg a[4] = {
		{ f->uri, 0, 300, false, "" }, { f->uri, 0, 300, false, "" },
		{ f->uri, 1, 20, false, "" }, { f->uri, 2, 40, false, "" },
	};
	pthread_t t[4];
	sp_params ps;
	sp_device d;
	bool found;

	add_dev(f->s, "000e08aabbcc", "", "", "");
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, th_main, &a[i]), 0);
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		if (!a[i].ok)
			fail_msg("thread %d (role %d): %s", i, a[i].role, a[i].err);
	}
	OK(sp_store_device_get(f->s, &(sp_mac){ { 0, 0x0e, 8, 0xaa, 0xbb, 0xcc } },
	    &d, &found));
	sp_params_init(&ps);
	OK(sp_store_params_effective(f->s, &d, &ps, NULL));
	expect_param(&ps, "A", "v39", SP_ACCESS_UNSET);
	sp_params_free(&ps);
}

/* ---- the whole store: listings, emptiness, clear ----------------------- */

typedef struct seen {
	char v[16][160];
	size_t n;
} seen;

static sp_result
level_seen(void *arg, const sp_level_ref *l)
{
	seen *sn = arg;

	if (sn->n < 16)
		snprintf(sn->v[sn->n++], sizeof(sn->v[0]), "%s:%s",
		    sp_level_name(l->level), l->key ? l->key : "(null)");
	return SP_OK;
}

static sp_result
contact_seen(void *arg, const sp_contact *c)
{
	seen *sn = arg;
	char ma[SP_MAC_STRLEN];

	sp_mac_format(&c->mac, SP_MAC_MA, ma);
	if (sn->n < 16)
		snprintf(sn->v[sn->n++], sizeof(sn->v[0]), "%s %lld %s %s %d%s", ma,
		    (long long)c->time, c->ip, c->etag, c->status,
		    c->record_pending || *c->serial || *c->product ? " !" : "");
	return SP_OK;
}

static sp_result
stop_at_first(void *arg, const sp_level_ref *l)
{
	(void)arg;
	(void)l;
	return sp_error(SP_E_EXISTS, "stop");
}

/* Cluster data: versions only go up, races have one winner, prune, prefix. */
typedef struct cl_seen {
	int n;
	char names[8][SP_CLUSTER_NAME_MAX + 1];
	int64_t versions[8];
	char data[8][64];
} cl_seen;

static sp_result
cl_cb(void *arg, const sp_cluster_row *row)
{
	cl_seen *c = arg;

	if (c->n >= 8)
		return sp_error(SP_E_LIMIT, "too many rows");
	snprintf(c->names[c->n], sizeof(c->names[0]), "%s", row->name);
	c->versions[c->n] = row->version;
	if (row->data.len >= sizeof(c->data[0]))
		return sp_error(SP_E_LIMIT, "row too long");
	memcpy(c->data[c->n], row->data.p, row->data.len);
	c->n++;
	return SP_OK;
}

static void
test_cluster_data(void **state)
{
	fx *f = *state;
	cl_seen c;
	sp_store *other = NULL;
	uint64_t g0 = gen(f->s);
	const char bin[] = { 'a', '\0', '\377', 'b' };
	char v[32];

	memset(&c, 0, sizeof(c));
	OK(sp_store_cluster_get(f->s, "ticket", 3, cl_cb, &c));
	assert_int_equal(c.n, 0);

	OK(sp_store_cluster_put(f->s, "ticket", 1, 100, sp_slice_of("one"), 3));
	/* A second handle (another node) racing for the same version loses. */
	OK(sp_store_open(f->uri, &other));
	assert_int_equal(sp_store_cluster_put(other, "ticket", 1, 101,
	    sp_slice_of("uno"), 3).code, SP_E_EXISTS);
	assert_non_null(strstr(sp_errmsg(), "ticket: version 1 is not above the "
	    "newest stored (1)"));
	OK(sp_store_cluster_put(other, "ticket", 2, 200, sp_slice_of("two"), 3));
	/* Stale: below the newest.  Nothing written. */
	assert_int_equal(sp_store_cluster_put(f->s, "ticket", 1, 300,
	    sp_slice_of("old"), 3).code, SP_E_EXISTS);
	raw_text(f, "SELECT count(*) FROM cluster_data", v, sizeof(v));
	assert_string_equal(v, "2");
	sp_store_close(other);

	/* Binary data round-trips; keep 3 prunes version 1 when 4 arrives. */
	OK(sp_store_cluster_put(f->s, "ticket", 3, 300,
	    (sp_slice){ bin, sizeof(bin) }, 3));
	OK(sp_store_cluster_put(f->s, "ticket", 4, 400, sp_slice_of("four"), 3));
	memset(&c, 0, sizeof(c));
	OK(sp_store_cluster_get(f->s, "ticket", 10, cl_cb, &c));
	assert_int_equal(c.n, 3);
	assert_int_equal(c.versions[0], 4);
	assert_int_equal(c.versions[1], 3);
	assert_int_equal(c.versions[2], 2);
	assert_memory_equal(c.data[1], bin, sizeof(bin));
	memset(&c, 0, sizeof(c));
	OK(sp_store_cluster_get(f->s, "ticket", 1, cl_cb, &c));
	assert_int_equal(c.n, 1);
	assert_string_equal(c.data[0], "four");

	/* Newest per name under a prefix, by name; other names untouched. */
	OK(sp_store_cluster_put(f->s, "crl/bb", 5, 1, sp_slice_of("b5"), 1));
	OK(sp_store_cluster_put(f->s, "crl/bb", 9, 1, sp_slice_of("b9"), 1));
	OK(sp_store_cluster_put(f->s, "crl/aa", 2, 1, sp_slice_of("a2"), 0));
	memset(&c, 0, sizeof(c));
	OK(sp_store_cluster_newest(f->s, "crl/", cl_cb, &c));
	assert_int_equal(c.n, 2);
	assert_string_equal(c.names[0], "crl/aa");
	assert_string_equal(c.data[0], "a2");
	assert_string_equal(c.names[1], "crl/bb");
	assert_int_equal(c.versions[1], 9);
	raw_text(f, "SELECT count(*) FROM cluster_data WHERE name = 'crl/bb'", v,
	    sizeof(v));
	assert_string_equal(v, "1");   /* keep 1: version 5 went */

	/* Refusals, nothing written; no generation change for any of it. */
	assert_int_equal(sp_store_cluster_put(f->s, "", 1, 1, sp_slice_of("x"),
	    0).code, SP_E_USAGE);
	assert_int_equal(sp_store_cluster_put(f->s, "a b", 1, 1, sp_slice_of("x"),
	    0).code, SP_E_USAGE);
	assert_non_null(strstr(sp_errmsg(), "is not printable ASCII"));
	assert_int_equal(sp_store_cluster_put(f->s, "z", 0, 1, sp_slice_of("x"),
	    0).code, SP_E_USAGE);
	assert_int_equal(sp_store_cluster_put(f->s, "z", 1, 1,
	    (sp_slice){ "", SP_CLUSTER_DATA_MAX + 1 }, 0).code, SP_E_LIMIT);
	raw_text(f, "SELECT count(*) FROM cluster_data", v, sizeof(v));
	assert_string_equal(v, "5");
	assert_true(gen(f->s) == g0);
}

static void
test_whole_store(void **state)
{
	fx *f = *state;
	seen sn;
	bool empty = false;
	sp_contact c[2];
	sp_params ps;

	OK(sp_store_is_empty(f->s, &empty));
	assert_true(empty);
	memset(&sn, 0, sizeof(sn));
	OK(sp_store_level_list(f->s, level_seen, &sn));
	assert_int_equal(sn.n, 0);

	/* A contact alone (an unknown MAC) makes a store non-empty. */
	memset(c, 0, sizeof(c));
	c[0].mac = mac_of("000e08aabb02");
	c[0].time = 1700000000;
	snprintf(c[0].ip, sizeof(c[0].ip), "192.0.2.7");
	snprintf(c[0].ua, sizeof(c[0].ua), "Linksys/SPA-2102-5.2 (SN1)");
	snprintf(c[0].etag, sizeof(c[0].etag), "\"e1\"");
	c[0].status = 404;
	OK(sp_store_contact_batch(f->s, c, 1));
	OK(sp_store_is_empty(f->s, &empty));
	assert_false(empty);

	add_dev(f->s, "000e08aabbcc", "SN", "SPA-2102", "east");
	add_dev(f->s, "000e08aabb01", "", "", "");
	pset(f->s, SP_LEVEL_GROUP, "west", "A", "g", SP_ACCESS_UNSET);
	pset(f->s, SP_LEVEL_DEVICE, "000e08aabbcc", "A", "d", SP_ACCESS_RO);
	pset(f->s, SP_LEVEL_PRODUCT, "SPA-2102", "A", "p", SP_ACCESS_NA);
	pset(f->s, SP_LEVEL_PRODUCT, "SPA-2102", "B", "p", SP_ACCESS_NA);
	pset(f->s, SP_LEVEL_PRODUCT, "Aardvark", "A", "p", SP_ACCESS_NA);
	pset(f->s, SP_LEVEL_GROUP, "east", "A", "g", SP_ACCESS_UNSET);
	pset(f->s, SP_LEVEL_DEFAULTS, NULL, "A", "x", SP_ACCESS_RW);
	pset(f->s, SP_LEVEL_DEVICE, "000e08aabb01", "A", "d", SP_ACCESS_UNSET);

	/* Levels: defaults, products, groups, devices, each in byte order. */
	memset(&sn, 0, sizeof(sn));
	OK(sp_store_level_list(f->s, level_seen, &sn));
	assert_int_equal(sn.n, 7);
	assert_string_equal(sn.v[0], "defaults:(null)");
	assert_string_equal(sn.v[1], "product:Aardvark");
	assert_string_equal(sn.v[2], "product:SPA-2102");
	assert_string_equal(sn.v[3], "group:east");
	assert_string_equal(sn.v[4], "group:west");
	assert_string_equal(sn.v[5], "device:000e08aabb01");
	assert_string_equal(sn.v[6], "device:000e08aabbcc");
	/* A callback's error ends the listing and comes back as is. */
	assert_int_equal(sp_store_level_list(f->s, stop_at_first, NULL).code,
	    SP_E_EXISTS);

	/* Contacts by MAC, known and unknown, without pending data. */
	c[1] = c[0];
	c[1].mac = mac_of("000e08aabbcc");
	c[1].time = 1700000100;
	c[1].status = 200;
	c[1].record_pending = true;
	snprintf(c[1].serial, sizeof(c[1].serial), "SN");
	OK(sp_store_contact_batch(f->s, &c[1], 1));
	memset(&sn, 0, sizeof(sn));
	OK(sp_store_contact_list(f->s, contact_seen, &sn));
	assert_int_equal(sn.n, 2);
	assert_string_equal(sn.v[0], "000e08aabb02 1700000000 192.0.2.7 \"e1\" 404");
	assert_string_equal(sn.v[1], "000e08aabbcc 1700000100 192.0.2.7 \"e1\" 200");

	/* A read snapshot: one transaction, not nestable, ended by commit. */
	OK(sp_store_begin_read(f->s));
	assert_int_equal(sp_store_begin_read(f->s).code, SP_E_STATE);
	assert_int_equal(sp_store_begin(f->s).code, SP_E_STATE);
	OK(sp_store_commit(f->s));

	/* clear inside a transaction that rolls back changes nothing ... */
	OK(sp_store_begin(f->s));
	OK(sp_store_clear(f->s));
	OK(sp_store_is_empty(f->s, &empty));
	assert_true(empty);
	sp_store_rollback(f->s);
	OK(sp_store_is_empty(f->s, &empty));
	assert_false(empty);
	sp_params_init(&ps);
	OK(sp_store_params_level(f->s, &(sp_level_ref){ SP_LEVEL_DEVICE,
	    "000e08aabbcc" }, &ps));
	expect_param(&ps, "A", "d", SP_ACCESS_RO);
	sp_params_free(&ps);
	/* ... and on its own empties everything. */
	OK(sp_store_clear(f->s));
	OK(sp_store_is_empty(f->s, &empty));
	assert_true(empty);
	memset(&sn, 0, sizeof(sn));
	OK(sp_store_contact_list(f->s, contact_seen, &sn));
	OK(sp_store_level_list(f->s, level_seen, &sn));
	assert_int_equal(sn.n, 0);
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
