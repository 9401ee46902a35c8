/*
 * Contacts, pending records and unknown or refused devices, included by
 * test_store.c so that they run on both backends with its fixture (fx,
 * setup, teardown).
 */

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
