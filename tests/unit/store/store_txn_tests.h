/*
 * Transactions, threads, cluster data and the whole store's dump, included
 * by test_store.c so that they run on both backends with its fixture (fx,
 * setup, teardown).
 */

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
