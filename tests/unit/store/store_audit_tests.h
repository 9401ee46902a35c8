/*
 * The audit trail (schema 5), included by test_store.c after
 * store_rollout_tests.h so that it runs on both backends with its fixture.
 */

/* Entries, newest first, as one "seq action target actor" line each. */
typedef struct au_list {
	char lines[32][320];
	char detail[32][SP_AUDIT_DETAIL_MAX + 1];
	int n;
} au_list;

static sp_result
au_cb(void *arg, const sp_audit_entry *e)
{
	au_list *l = arg;

	if (l->n < 32) {
		snprintf(l->lines[l->n], sizeof(l->lines[0]), "%lld %s %s %s",
		    (long long)e->seq, e->action, e->target, e->actor);
		snprintf(l->detail[l->n], sizeof(l->detail[0]), "%s", e->detail);
	}
	l->n++;
	return SP_OK;
}

static int64_t
au_count(fx *f)
{
	char v[32];

	raw_text(f, "SELECT count(*) FROM audit", v, sizeof(v));
	return atoll(v);
}

/* No column of any entry holds the text. */
static void
au_never(fx *f, const char *text)
{
	char q[256], v[32];

	snprintf(q, sizeof(q), "SELECT count(*) FROM audit WHERE actor || "
	    "action || target || detail || prev || hash LIKE '%%%s%%'", text);
	raw_text(f, q, v, sizeof(v));
	assert_string_equal(v, "0");
}

static void
au_verify_fails(sp_store *s, const char *msg)
{
	int64_t n = -1;

	assert_int_equal(sp_store_audit_verify(s, &n).code, SP_E_VERIFY);
	assert_string_equal(sp_errmsg(), msg);
	assert_int_equal(n, -1);
}

/* Devices and parameters: recorded with actor, values only hashed. */
static void
test_audit_changes(void **state)
{
	fx *f = *state;
	sp_level_ref dev = { SP_LEVEL_DEVICE, "00:0e:08:aa:bb:cc" };
	sp_mac m = mac_of("000e08aabbcc");
	au_list l = { 0 };
	int64_t n = -1;

	sp_store_set_actor(f->s, "cli:alice");
	add_dev(f->s, "000e08aabbcc", "SN1", "SPA-962", "");
	pset(f->s, SP_LEVEL_DEVICE, "000e08aabbcc", "SIP_Password", "hunter2",
	    SP_ACCESS_NA);
	pset(f->s, SP_LEVEL_DEVICE, "000e08aabbcc", "SIP_Password", "Zebra77",
	    SP_ACCESS_UNSET);
	pset(f->s, SP_LEVEL_PRODUCT, "SPA-962", "Proxy_1_", "p.example.net",
	    SP_ACCESS_UNSET);
	OK(sp_store_param_unset(f->s, &dev, "SIP_Password"));
	OK(sp_store_device_set_enabled(f->s, &m, false));
	/* A refused change records nothing. */
	assert_int_equal(sp_store_param_unset(f->s, &dev, "SIP_Password").code,
	    SP_E_NOTFOUND);
	add_dev(f->s, "000e08aabbdd", "", "", "");
	OK(sp_store_device_rm(f->s, &(sp_mac){ { 0, 0x0e, 8, 0xaa, 0xbb, 0xdd } }));

	OK(sp_store_audit_verify(f->s, &n));
	assert_int_equal(n, 8);
	assert_int_equal(au_count(f), 8);
	OK(sp_store_audit_list(f->s, &m, 0, au_cb, &l));
	assert_int_equal(l.n, 5);
	assert_string_equal(l.lines[0], "6 device.disable 000e08aabbcc cli:alice");
	assert_string_equal(l.lines[1], "5 param.unset 000e08aabbcc cli:alice");
	assert_string_equal(l.lines[2], "3 param.set 000e08aabbcc cli:alice");
	assert_string_equal(l.lines[3], "2 param.set 000e08aabbcc cli:alice");
	assert_string_equal(l.lines[4], "1 device.add 000e08aabbcc cli:alice");
	/* Old and new value as keyed hashes: the new of 2 is the old of 3. */
	assert_non_null(strstr(l.detail[2], "\"old\":\"hmac-sha256:"));
	assert_non_null(strstr(l.detail[3], "\"old\":null,\"new\":\"hmac-sha256:"));
	assert_memory_equal(strstr(l.detail[3], "\"new\":") + 6,
	    strstr(l.detail[2], "\"old\":") + 6, 30);
	assert_non_null(strstr(l.detail[4], "\"serial\":\"SN1\""));
	au_never(f, "hunter2");
	au_never(f, "Zebra77");
	au_never(f, "example.net");
	memset(&l, 0, sizeof(l));
	OK(sp_store_audit_list(f->s, NULL, 2, au_cb, &l));
	assert_int_equal(l.n, 2);
	assert_string_equal(l.lines[0], "8 device.rm 000e08aabbdd cli:alice");
	assert_string_equal(l.lines[1], "7 device.add 000e08aabbdd cli:alice");

	/* A change inside the caller's transaction: rolled back with it. */
	OK(sp_store_begin(f->s));
	add_dev(f->s, "000e08aabbee", "", "", "");
	sp_store_rollback(f->s);
	assert_int_equal(au_count(f), 8);
	OK(sp_store_audit_verify(f->s, &n));
	assert_int_equal(n, 8);
}

/* Firmware images: an add and a remove are recorded; refusals record nothing. */
static void
test_audit_firmware(void **state)
{
	fx *f = *state;
	EVP_PKEY *key = NULL;
	sp_fw_info fw;
	au_list l = { 0 };
	char path[200], md[65], want[160];
	int64_t n = -1;

	OK(sp_key_gen(SP_KEY_EC_P256, &key));
	make_fw(f, key, 1000, "3.0.1", path);
	sp_store_set_actor(f->s, "cli:bob");
	OK(sp_store_fw_add(f->s, path, key, 100, &fw));
	assert_int_equal(sp_store_fw_add(f->s, path, key, 100, NULL).code, SP_E_EXISTS);
	assert_int_equal(sp_store_fw_rm(f->s, "SPA-962", "9.9").code, SP_E_NOTFOUND);
	assert_int_equal(au_count(f), 1);
	OK(sp_store_fw_rm(f->s, "SPA-962", "3.0.1"));
	OK(sp_store_audit_verify(f->s, &n));
	assert_int_equal(n, 2);
	OK(sp_store_audit_list(f->s, NULL, 0, au_cb, &l));
	assert_int_equal(l.n, 2);
	assert_string_equal(l.lines[0], "2 firmware.rm firmware:SPA-962/3.0.1 cli:bob");
	assert_string_equal(l.lines[1], "1 firmware.add firmware:SPA-962/3.0.1 cli:bob");
	assert_string_equal(l.detail[0], "{}");
	sp_hex(fw.sha256, sizeof(fw.sha256), md);
	snprintf(want, sizeof(want), "{\"length\":\"%llu\",\"sha256\":\"%s\"}",
	    (unsigned long long)fw.length, md);
	assert_string_equal(l.detail[1], want);
	EVP_PKEY_free(key);
}

/* An edited, a rehashed, a deleted and a dropped last entry are caught. */
static void
test_audit_tamper(void **state)
{
	fx *f = *state;
	int64_t n = -1;

	for (int i = 0; i < 4; i++) {
		char mac[13];

		snprintf(mac, sizeof(mac), "000e08aabb%02x", i);
		add_dev(f->s, mac, "", "", "");
	}
	raw_exec(f, "CREATE TABLE audit_copy AS SELECT * FROM audit");

	raw_exec(f, "UPDATE audit SET actor = 'mallory' WHERE seq = 2");
	au_verify_fails(f->s, "audit: entry 2 was changed");
	/* Rehashed to match: its successor still names the old hash. */
	raw_exec(f, "UPDATE audit SET hash = (SELECT hash FROM audit "
	    "WHERE seq = 3) WHERE seq = 2");
	au_verify_fails(f->s, "audit: entry 2 was changed");

	raw_exec(f, "DELETE FROM audit; INSERT INTO audit SELECT * FROM audit_copy");
	OK(sp_store_audit_verify(f->s, &n));
	assert_int_equal(n, 4);

	raw_exec(f, "DELETE FROM audit WHERE seq = 2");
	au_verify_fails(f->s, "audit: entry 2 is missing (1 is followed by 3)");
	raw_exec(f, "DELETE FROM audit; INSERT INTO audit SELECT * FROM audit_copy");

	raw_exec(f, "DELETE FROM audit WHERE seq = 4");
	au_verify_fails(f->s, "audit: the last entry's hash does not match");
	assert_int_equal(au_count(f), 3);   /* verify changes nothing */
	raw_exec(f, "DROP TABLE audit_copy");
}

/* Every rollout action, the tick's as "rollout-tick"; values hashed. */
static void
test_audit_rollouts(void **state)
{
	fx *f = *state;
	sp_rollout_spec sp;
	au_list l = { 0 };
	int64_t n = -1;

	sp_store_set_actor(f->s, "cli:bob");
	sp = pspec("a", SP_LEVEL_DEFAULTS, NULL, "Proxy_1_", "secret.example");
	OK(sp_store_rollout_create(f->s, &sp, 1000, NULL));
	OK(sp_store_rollout_pause(f->s, "a", 1001));
	OK(sp_store_rollout_resume(f->s, "a", 1002));
	OK(sp_store_rollout_tick(f->s, 1062, NULL));
	OK(sp_store_rollout_rollback(f->s, "a", NULL, 1070, NULL));
	OK(sp_store_audit_list(f->s, NULL, 0, au_cb, &l));
	assert_int_equal(l.n, 6);
	assert_string_equal(l.lines[0], "6 rollout.rollback rollout:a-rollback cli:bob");
	assert_string_equal(l.lines[1], "5 rollout.rolled-back rollout:a cli:bob");
	assert_string_equal(l.lines[2], "4 rollout.release rollout:a rollout-tick");
	assert_string_equal(l.lines[3], "3 rollout.resume rollout:a cli:bob");
	assert_string_equal(l.lines[4], "2 rollout.pause rollout:a cli:bob");
	assert_string_equal(l.lines[5], "1 rollout.create rollout:a cli:bob");
	assert_non_null(strstr(l.detail[5], "\"value\":\"hmac-sha256:"));
	assert_non_null(strstr(l.detail[2], "\"waves_released\":\"2/3\""));
	au_never(f, "secret.example");
	OK(sp_store_audit_verify(f->s, &n));
	assert_int_equal(n, 6);
}

/* Writers on several handles at once: the chain stays one chain. */
typedef struct au_th {
	const char *uri;
	int id;
	bool ok;
	char err[256];
} au_th;

static void *
au_writer(void *arg)
{
	au_th *a = arg;
	sp_store *s = NULL;
	sp_result r = sp_store_open(a->uri, &s);

	for (int i = 0; i < 25 && sp_ok(r); i++) {
		char val[32];

		snprintf(val, sizeof(val), "w%d-%d", a->id, i);
		r = sp_store_param_set(s, &(sp_level_ref){ SP_LEVEL_PRODUCT, "P" },
		    "A", sp_slice_of(val), SP_ACCESS_UNSET);
	}
	a->ok = sp_ok(r);
	if (!a->ok)
		snprintf(a->err, sizeof(a->err), "%s", sp_errmsg());
	sp_store_close(s);
	return NULL;
}

static void
test_audit_concurrent(void **state)
{
	fx *f = *state;
	au_th a[3] = { { f->uri, 0, false, "" }, { f->uri, 1, false, "" },
	    { f->uri, 2, false, "" } };
	pthread_t t[3];
	int64_t n = -1;
	char v[32];

	for (int i = 0; i < 3; i++)
		assert_int_equal(pthread_create(&t[i], NULL, au_writer, &a[i]), 0);
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < 3; i++)
		if (!a[i].ok)
			fail_msg("writer %d: %s", i, a[i].err);
	OK(sp_store_audit_verify(f->s, &n));
	assert_int_equal(n, 75);
	/* No two entries name the same predecessor: no fork. */
	raw_text(f, "SELECT count(DISTINCT prev) FROM audit", v, sizeof(v));
	assert_string_equal(v, "75");
}
