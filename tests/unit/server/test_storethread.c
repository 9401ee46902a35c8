/*
 * The store thread (server/storethread.c) against a SQLite store: jobs come
 * back to the worker's done list with the right outcome, the generation is
 * published without any request, contact records are written behind, and
 * at stop what the store cannot take is spilled.  The worker here is a bare
 * event base whose done event collects the jobs (no evhttp).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "common/util.h"
#include "server/failures.h"
#include "server/spill.h"
#include "server/storethread.h"

static void
must(sp_result r)
{
	if (sp_failed(r))
		fail_msg("unexpected failure: %s", sp_errmsg());
}

typedef struct fix {
	char dir[64], db[128], spill[128];
	server s;
	worker w;
	sp_serve_config cfg;
	sp_store *admin;      /* the test's own handle, as `sprov db` would be */
	struct srv_jobq got;
	size_t ngot;
} fix;

static void
collect(evutil_socket_t fd, short what, void *arg)
{
	fix *f = arg;
	struct srv_jobq q = STAILQ_HEAD_INITIALIZER(q);
	srv_job *j;

	srv_jobs_take(&f->w, &q);
	while ((j = STAILQ_FIRST(&q)) != NULL) {
		STAILQ_REMOVE_HEAD(&q, link);
		STAILQ_INSERT_TAIL(&f->got, j, link);
		f->ngot++;
	}
}

static sp_mac
mac_of(const char *s)
{
	sp_mac m;

	must(sp_mac_parse(sp_slice_of(s), &m));
	return m;
}

static int
setup(void **state)
{
	fix *f = calloc(1, sizeof(*f));
	sp_device d;
	sp_level_ref lv = { SP_LEVEL_DEFAULTS, NULL };
	sp_store *st = NULL;

	assert_non_null(f);
	assert_int_equal(evthread_use_pthreads(), 0);
	snprintf(f->dir, sizeof(f->dir), "/tmp/sprov-storeth.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->db, sizeof(f->db), "%s/t.db", f->dir);
	snprintf(f->spill, sizeof(f->spill), "%s/contacts.spill", f->dir);
	snprintf(f->s.store_uri, sizeof(f->s.store_uri), "sqlite:%s", f->db);
	must(sp_store_open_ex(f->s.store_uri, SP_STORE_CREATE, &f->admin));
	memset(&d, 0, sizeof(d));
	d.mac = mac_of("000e08aaaa01");
	d.enabled = true;
	must(sp_store_device_add(f->admin, &d));
	must(sp_store_param_set(f->admin, &lv, "Proxy_1_", sp_slice_of("sip.example.net"),
	    SP_ACCESS_UNSET));

	sp_serve_config_init(&f->cfg);
	snprintf(f->cfg.contact_spill, sizeof(f->cfg.contact_spill), "%s", f->spill);
	f->cfg.contact_flush = 20;
	f->cfg.contact_queue = 100;
	pthread_rwlock_init(&f->s.cfg_mu, NULL);
	f->s.cfg = &f->cfg;
	must(sp_contacts_new(&f->s.contacts));
	must(srv_failures_new(SRV_FAIL_KEYS_MAX, &f->s.failures));
	{
		uint8_t key[SP_ETAG_KEY_LEN] = { 1 };
		must(sp_cache_new(100, key, &f->s.cache));
	}
	STAILQ_INIT(&f->got);
	STAILQ_INIT(&f->w.done);
	f->w.s = &f->s;
	pthread_mutex_init(&f->w.done_mu, NULL);
	assert_non_null(f->w.base = event_base_new());
	assert_non_null(f->w.done_ev = event_new(f->w.base, -1, 0, collect, f));
	must(sp_store_open(f->s.store_uri, &st));
	must(srv_store_start(&f->s, &st));
	assert_null(st);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	fix *f = *state;
	srv_job *j;

	srv_store_stop(&f->s);
	while ((j = STAILQ_FIRST(&f->got)) != NULL) {
		STAILQ_REMOVE_HEAD(&f->got, link);
		sp_cache_release(j->e);
		free(j);
	}
	event_free(f->w.done_ev);
	event_base_free(f->w.base);
	pthread_mutex_destroy(&f->w.done_mu);
	sp_cache_free(f->s.cache);
	sp_contacts_free(f->s.contacts);
	srv_failures_free(f->s.failures);
	pthread_rwlock_destroy(&f->s.cfg_mu);
	sp_store_close(f->admin);
	unlink(f->spill);
	unlink(f->db);
	{
		char p[160];
		snprintf(p, sizeof(p), "%s-wal", f->db);
		unlink(p);
		snprintf(p, sizeof(p), "%s-shm", f->db);
		unlink(p);
	}
	rmdir(f->dir);
	free(f);
	return 0;
}

/* Run the worker's loop until n jobs came back (2 s at most). */
static void
wait_jobs(fix *f, size_t n)
{
	uint64_t end = sp_mono_ns() + 2000000000ull;

	while (f->ngot < n && sp_mono_ns() < end)
		event_base_loop(f->w.base, EVLOOP_ONCE | EVLOOP_NONBLOCK), usleep(1000);
	assert_int_equal(f->ngot, n);
}

static srv_job *
job(fix *f, const char *mac, sp_unknown_mode unknown)
{
	srv_job *j = calloc(1, sizeof(*j));

	assert_non_null(j);
	j->w = &f->w;
	j->owner = f;
	j->id.mac = mac_of(mac);
	j->unknown = unknown;
	return j;
}

static void
test_jobs(void **state)
{
	fix *f = *state;
	srv_job *a = job(f, "000e08aaaa01", SP_UNKNOWN_404);
	srv_job *u = job(f, "000e08bbbb02", SP_UNKNOWN_404);
	srv_job *d = job(f, "000e08bbbb03", SP_UNKNOWN_DEFAULTS);
	srv_job *c = job(f, "000e08aaaa01", SP_UNKNOWN_404);
	srv_job *j;
	int k = 0;

	/* Up at once (the first generation was read at start). */
	assert_true(atomic_load(&f->s.store_up));
	assert_true(atomic_load(&f->s.gen_known));
	atomic_store(&c->cancelled, true);
	assert_true(srv_store_submit(&f->s, a));
	assert_true(srv_store_submit(&f->s, u));
	assert_true(srv_store_submit(&f->s, d));
	assert_true(srv_store_submit(&f->s, c));
	wait_jobs(f, 4);
	STAILQ_FOREACH(j, &f->got, link) {
		switch (k++) {
		case 0: /* known: rendered, and in the cache at the published generation */
			assert_int_equal(j->outcome, SRV_JOB_OK);
			assert_non_null(strstr(j->e->body, "sip.example.net"));
			assert_false(j->pending);
			{
				sp_cache_entry *e = sp_cache_get(f->s.cache, &j->id.mac,
				    atomic_load(&f->s.gen));
				assert_ptr_equal(e, j->e);
				sp_cache_release(e);
			}
			break;
		case 1: /* unknown, 404 mode */
			assert_int_equal(j->outcome, SRV_JOB_NOTFOUND);
			assert_null(j->e);
			break;
		case 2: /* unknown, defaults: served and pending */
			assert_int_equal(j->outcome, SRV_JOB_OK);
			assert_true(j->pending);
			assert_true(j->e->defaults_only);
			break;
		case 3: /* cancelled before its turn: not rendered */
			assert_int_equal(j->outcome, SRV_JOB_UNAVAILABLE);
			assert_null(j->e);
			break;
		}
	}
}

/* A change through another handle is published within one second, no job asked. */
static void
test_generation(void **state)
{
	fix *f = *state;
	uint64_t g0 = atomic_load(&f->s.gen), end;
	sp_level_ref lv = { SP_LEVEL_DEFAULTS, NULL };

	must(sp_store_param_set(f->admin, &lv, "Proxy_1_", sp_slice_of("sip2.example.net"),
	    SP_ACCESS_UNSET));
	end = sp_mono_ns() + 1000000000ull;
	while (atomic_load(&f->s.gen) == g0 && sp_mono_ns() < end)
		usleep(5000);
	assert_int_not_equal(atomic_load(&f->s.gen), g0);
}

/* Contacts are written behind; the queue empties without a request. */
static void
test_contacts_written(void **state)
{
	fix *f = *state;
	sp_contact c, got;
	bool found = false;
	uint64_t end = sp_mono_ns() + 2000000000ull;

	memset(&c, 0, sizeof(c));
	c.mac = mac_of("000e08aaaa01");
	c.time = 1700000000;
	c.status = 200;
	snprintf(c.ip, sizeof(c.ip), "10.0.0.1");
	assert_true(sp_contacts_put(f->s.contacts, &c, 100));
	while (!found && sp_mono_ns() < end) {
		usleep(10000);
		must(sp_store_contact_get(f->admin, &c.mac, &got, &found));
	}
	assert_true(found);
	assert_string_equal(got.ip, "10.0.0.1");
	/* The store took it: no spill file was made. */
	assert_false(sp_file_exists(f->spill));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_jobs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_generation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_contacts_written, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
