/*
 * Firmware images and rollouts (schema 4), included by test_store.c so
 * that they run on both backends with its fixture (fx, setup, teardown).
 */
#include <openssl/evp.h>

#include "firmware/image.h"
#include "pki/pki.h"

#define NDEV 400

static void
dev_mac(int i, char out[13])
{
	snprintf(out, 13, "000e08%06x", i);
}

/* The rollout's bucket key, read from the backend directly. */
static void
ro_key(fx *f, const char *name, uint8_t key[SP_ROLLOUT_KEY_LEN])
{
	char q[256], hex[2 * SP_ROLLOUT_KEY_LEN + 1];

	snprintf(q, sizeof(q), f->pg ?
	    "SELECT encode(hkey, 'hex') FROM rollouts WHERE name = '%s'" :
	    "SELECT lower(hex(hkey)) FROM rollouts WHERE name = '%s'", name);
	raw_text(f, q, hex, sizeof(hex));
	assert_int_equal(strlen(hex), 2 * SP_ROLLOUT_KEY_LEN);
	for (int i = 0; i < SP_ROLLOUT_KEY_LEN; i++) {
		unsigned v;
		assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
		key[i] = (uint8_t)v;
	}
}

static void
effective(sp_store *s, const char *mac, sp_params *out)
{
	sp_device d;
	bool found = false;
	sp_mac m = mac_of(mac);

	sp_params_init(out);
	OK(sp_store_device_get(s, &m, &d, &found));
	assert_true(found);
	OK(sp_store_params_effective(s, &d, out, NULL));
}

static void
fleet(sp_store *s)
{
	char mac[13];

	OK(sp_store_begin(s));
	for (int i = 0; i < NDEV; i++) {
		dev_mac(i, mac);
		add_dev(s, mac, "SN", i % 2 ? "SPA-962" : "SPA-504",
		    i % 4 == 0 ? "east" : "");
	}
	OK(sp_store_commit(s));
}

static sp_rollout_spec
pspec(const char *name, sp_level l, const char *key, const char *param,
    const char *value)
{
	sp_rollout_spec sp = { .name = name, .kind = SP_ROLLOUT_PARAM,
	    .target = { l, key }, .param = param, .value = sp_slice_of(value),
	    .nwaves = 3, .waves = { 10, 50, 100 }, .wave_interval = 60,
	    .success_window = 300, .halt_bp = 2000 };
	return sp;
}

static size_t
nrollouts(fx *f)
{
	char v[32];

	raw_text(f, "SELECT count(*) FROM rollouts", v, sizeof(v));
	return (size_t)atoi(v);
}

/* Overlay: released devices get the value, every other one is unchanged. */
static void
test_rollout_overlay(void **state)
{
	fx *f = *state;
	sp_params before[NDEV], p;
	uint8_t key[SP_ROLLOUT_KEY_LEN];
	sp_rollout_spec sp;
	sp_rollout r;
	char mac[13];
	uint64_t g0;
	int released = 0, untouched = 0;

	fleet(f->s);
	pset(f->s, SP_LEVEL_DEFAULTS, NULL, "Proxy_1_", "old.example.net",
	    SP_ACCESS_RO);
	pset(f->s, SP_LEVEL_DEVICE, "000e08000003", "Proxy_1_", "mine.example.net",
	    SP_ACCESS_UNSET);
	for (int i = 0; i < NDEV; i++) {
		dev_mac(i, mac);
		effective(f->s, mac, &before[i]);
	}
	g0 = gen(f->s);
	sp = pspec("p1", SP_LEVEL_DEFAULTS, NULL, "Proxy_1_", "new.example.net");
	OK(sp_store_rollout_create(f->s, &sp, 1000, &r));
	assert_int_equal(r.released, 1);
	assert_int_equal(r.waves[0].released_at, 1000);
	assert_true(gen(f->s) != g0);
	ro_key(f, "p1", key);
	for (int i = 0; i < NDEV; i++) {
		sp_mac m;
		dev_mac(i, mac);
		m = mac_of(mac);
		effective(f->s, mac, &p);
		if (sp_rollout_bucket(key, &m) < 1000) {
			const sp_param *e = sp_params_get(&p, "Proxy_1_");
			assert_non_null(e);
			assert_string_equal(e->value, "new.example.net");
			assert_int_equal(e->access, SP_ACCESS_RO);  /* kept */
			released++;
		} else {
			assert_true(sp_params_equal(&p, &before[i]));
			untouched++;
		}
		sp_params_free(&p);
	}
	/* 10 % of 400, within a generous tolerance. */
	assert_in_range(released, 20, 60);
	assert_int_equal(released + untouched, NDEV);

	/* A group rollout touches that group's released devices only. */
	sp = pspec("g1", SP_LEVEL_GROUP, "east", "Codec", "G711u");
	sp.waves[0] = 100, sp.nwaves = 1;
	OK(sp_store_rollout_create(f->s, &sp, 1000, NULL));
	for (int i = 0; i < NDEV; i++) {
		dev_mac(i, mac);
		effective(f->s, mac, &p);
		assert_true((sp_params_get(&p, "Codec") != NULL) == (i % 4 == 0));
		sp_params_free(&p);
	}

	/* Refusals write nothing: a name in use, the same parameter again. */
	g0 = gen(f->s);
	sp = pspec("p1", SP_LEVEL_PRODUCT, "SPA-962", "Proxy_2_", "x");
	assert_int_equal(sp_store_rollout_create(f->s, &sp, 1001, NULL).code,
	    SP_E_EXISTS);
	assert_string_equal(sp_errmsg(), "a rollout named p1 exists already");
	sp = pspec("p2", SP_LEVEL_DEFAULTS, NULL, "Proxy_1_", "other");
	assert_int_equal(sp_store_rollout_create(f->s, &sp, 1001, NULL).code,
	    SP_E_STATE);
	assert_string_equal(sp_errmsg(), "rollout p1 already changes Proxy_1_ in "
	    "the defaults: roll it back first");
	sp = pspec("p3", SP_LEVEL_DEVICE, "000e08000003", "Proxy_1_", "x");
	assert_int_equal(sp_store_rollout_create(f->s, &sp, 1001, NULL).code,
	    SP_E_USAGE);
	sp = pspec("p4", SP_LEVEL_DEFAULTS, NULL, "Proxy_1_", "bad\001value");
	assert_int_not_equal(sp_store_rollout_create(f->s, &sp, 1001, NULL).code,
	    SP_E_OK);
	sp = pspec("bad name", SP_LEVEL_DEFAULTS, NULL, "Proxy_3_", "x");
	assert_int_equal(sp_store_rollout_create(f->s, &sp, 1001, NULL).code,
	    SP_E_USAGE);
	assert_int_equal(nrollouts(f), 2);
	assert_int_equal(gen(f->s), g0);
	for (int i = 0; i < NDEV; i++)
		sp_params_free(&before[i]);
}

/* A contact of each device of wave w (0-based) of rollout with key. */
static void
contacts_for(sp_store *s, const uint8_t *key, int lo, int hi, int64_t t,
    int status, const char *swver)
{
	sp_contact c;
	char mac[13];

	for (int i = 0; i < NDEV; i++) {
		sp_mac m;
		int b;
		dev_mac(i, mac);
		m = mac_of(mac);
		b = sp_rollout_bucket(key, &m);
		if (b < lo || b >= hi)
			continue;
		memset(&c, 0, sizeof(c));
		c.mac = m;
		c.time = t;
		snprintf(c.ip, sizeof(c.ip), "192.0.2.1");
		snprintf(c.ua, sizeof(c.ua), "Cisco/SPA-962-%s (%s)(SN)", swver, mac);
		c.status = status;
		OK(sp_store_contact_batch(s, &c, 1));
	}
}

static sp_rollout
ro_get(sp_store *s, const char *name)
{
	sp_rollout r;
	bool found = false;

	OK(sp_store_rollout_get(s, name, &r, &found));
	assert_true(found);
	return r;
}

/* The tick: release on interval, idempotent, two handles, halt. */
static void
test_rollout_tick(void **state)
{
	fx *f = *state;
	sp_store *s2 = NULL;
	sp_rollout_spec sp;
	sp_rollout_tick_report a, b;
	sp_rollout_wave_stat st[SP_ROLLOUT_WAVES_MAX];
	sp_rollout r;
	uint8_t key[SP_ROLLOUT_KEY_LEN];
	uint64_t g0;

	fleet(f->s);
	sp = pspec("t", SP_LEVEL_PRODUCT, "SPA-962", "Proxy_1_", "new");
	OK(sp_store_rollout_create(f->s, &sp, 1000, NULL));
	ro_key(f, "t", key);
	OK(sp_store_open(f->uri, &s2));

	/* Not due yet: nothing, and the generation stays. */
	g0 = gen(f->s);
	OK(sp_store_rollout_tick(f->s, 1059, &a));
	assert_int_equal(a.released + a.halted + a.done, 0);
	assert_int_equal(gen(f->s), g0);

	/* Due: one of two handles at the same moment releases wave 2. */
	OK(sp_store_rollout_tick(f->s, 1060, &a));
	OK(sp_store_rollout_tick(s2, 1060, &b));
	assert_int_equal(a.released + b.released, 1);
	assert_int_equal(a.released, 1);
	OK(sp_store_rollout_tick(f->s, 1060, &a));  /* again: nothing */
	assert_int_equal(a.released, 0);
	assert_true(gen(f->s) != g0);
	r = ro_get(f->s, "t");
	assert_int_equal(r.released, 2);
	assert_int_equal(r.waves[1].released_at, 1060);

	/* Wave 1 comes back (200), wave 2 on the new profile too (304). */
	contacts_for(f->s, key, 0, 1000, 1010, 200, "1.0");
	contacts_for(f->s, key, 1000, 3000, 1070, 304, "1.0");
	OK(sp_store_rollout_status(f->s, "t", 1100, &r, st));
	assert_true(st[0].targeted > 0);
	assert_int_equal(st[0].succeeded, st[0].targeted);
	assert_int_equal(st[0].failed + st[0].pending, 0);
	assert_int_equal(st[2].released, 0);
	assert_int_equal(st[0].targeted + st[1].targeted + st[2].targeted,
	    NDEV / 2);
	/* The rest of wave 2 never came back: pending, then failed. */
	assert_true(st[1].pending > 0);
	OK(sp_store_rollout_status(f->s, "t", 1360, &r, st));
	assert_int_equal(st[1].pending, 0);
	assert_true(st[1].failed > 0);

	/* Wave 3 is due at 1120, before wave 2's window ends: released. */
	OK(sp_store_rollout_tick(f->s, 1120, &a));
	assert_int_equal(a.released, 1);
	/* At 1360 wave 2's silent devices fail: > 20 %, halted, on two handles. */
	g0 = gen(f->s);
	OK(sp_store_rollout_tick(s2, 1360, &b));
	OK(sp_store_rollout_tick(f->s, 1360, &a));
	assert_int_equal(a.halted + b.halted, 1);
	/*
	 * s2 may have made the change: on PostgreSQL it reaches f->s as a
	 * notification, a moment later (CI once read the old generation).
	 */
	for (int i = 0; i < 200 && gen(f->s) == g0; i++)
		usleep(10000);
	assert_true(gen(f->s) != g0);
	r = ro_get(f->s, "t");
	assert_int_equal(r.state, SP_ROLLOUT_HALTED);
	assert_non_null(strstr(r.reason, "wave 2: "));
	assert_non_null(strstr(r.reason, "> 20.00%"));
	/* Halted: no tick changes it any more; resume is refused. */
	OK(sp_store_rollout_tick(f->s, 99999, &a));
	assert_int_equal(a.released + a.halted + a.done, 0);
	assert_int_equal(sp_store_rollout_resume(f->s, "t", 2000).code, SP_E_STATE);
	assert_string_equal(sp_errmsg(), "rollout t is halted, not paused");

	/* Errors >= 400 after release fail a device at once. */
	sp = pspec("e", SP_LEVEL_PRODUCT, "SPA-504", "Proxy_1_", "new");
	sp.waves[0] = 100, sp.nwaves = 1;
	OK(sp_store_rollout_create(f->s, &sp, 5000, NULL));
	ro_key(f, "e", key);
	contacts_for(f->s, key, 0, 10000, 5001, 403, "1.0");
	OK(sp_store_rollout_status(f->s, "e", 5002, &r, st));
	assert_int_equal(st[0].failed, NDEV / 2);
	/* A done rollout: every wave released and its window over. */
	contacts_for(f->s, key, 0, 10000, 5001, 200, "1.0");
	OK(sp_store_rollout_tick(f->s, 5299, &a));
	assert_int_equal(a.done, 0);
	OK(sp_store_rollout_tick(f->s, 5300, &a));
	assert_int_equal(a.done, 1);
	assert_int_equal(ro_get(f->s, "e").state, SP_ROLLOUT_DONE);

	/*
	 * A done rollout does not block a new one on its parameter: the new
	 * one overlays it, and its rollback gives back the done one's value.
	 * A halted one ("t") still blocks.
	 */
	sp = pspec("e2", SP_LEVEL_PRODUCT, "SPA-504", "Proxy_1_", "newer");
	sp.waves[0] = 50, sp.waves[1] = 100, sp.nwaves = 2;
	OK(sp_store_rollout_create(f->s, &sp, 6000, NULL));
	ro_key(f, "e2", key);
	{
		int newer = 0, old = 0;
		char mac[13];
		for (int i = 0; i < NDEV; i += 2) {
			sp_params p;
			const sp_param *v;
			sp_mac m;
			dev_mac(i, mac);
			m = mac_of(mac);
			effective(f->s, mac, &p);
			v = sp_params_get(&p, "Proxy_1_");
			assert_non_null(v);
			if (sp_rollout_bucket(key, &m) < 50 * (SP_ROLLOUT_BUCKETS / 100)) {
				assert_string_equal(v->value, "newer");
				newer++;
			} else {
				assert_string_equal(v->value, "new");
				old++;
			}
			sp_params_free(&p);
		}
		assert_true(newer > 0 && old > 0);
	}
	OK(sp_store_rollout_rollback(f->s, "e2", NULL, 6001, NULL));
	for (int i = 0; i < NDEV; i += 2) {
		sp_params p;
		char mac[13];
		dev_mac(i, mac);
		effective(f->s, mac, &p);
		assert_string_equal(sp_params_get(&p, "Proxy_1_")->value, "new");
		sp_params_free(&p);
	}
	sp = pspec("t2", SP_LEVEL_PRODUCT, "SPA-962", "Proxy_1_", "x");
	assert_int_equal(sp_store_rollout_create(f->s, &sp, 6002, NULL).code,
	    SP_E_STATE);
	assert_string_equal(sp_errmsg(), "rollout t already changes Proxy_1_ for "
	    "product SPA-962: roll it back first");
	sp_store_close(s2);
}

static void
test_rollout_pause_rollback(void **state)
{
	fx *f = *state;
	sp_rollout_spec sp;
	sp_rollout_tick_report a;
	sp_rollout r;
	sp_params p;
	uint8_t key[SP_ROLLOUT_KEY_LEN];
	char mac[13];
	uint64_t g0;
	size_t n;

	fleet(f->s);
	sp = pspec("r", SP_LEVEL_DEFAULTS, NULL, "Proxy_1_", "new");
	sp.halt_bp = -1;   /* nobody calls in here: never halt */
	OK(sp_store_rollout_create(f->s, &sp, 1000, NULL));
	ro_key(f, "r", key);
	g0 = gen(f->s);
	OK(sp_store_rollout_pause(f->s, "r", 1001));
	assert_true(gen(f->s) != g0);
	assert_int_equal(sp_store_rollout_pause(f->s, "r", 1001).code, SP_E_STATE);
	assert_string_equal(sp_errmsg(), "rollout r is paused, not running");
	OK(sp_store_rollout_tick(f->s, 5000, &a));   /* paused: no release */
	assert_int_equal(a.released, 0);
	OK(sp_store_rollout_resume(f->s, "r", 5000));
	OK(sp_store_rollout_tick(f->s, 5000, &a));
	assert_int_equal(a.released, 1);

	/* Rollback: a rollout of its own over the released waves. */
	g0 = gen(f->s);
	OK(sp_store_rollout_rollback(f->s, "r", NULL, 6000, &r));
	assert_string_equal(r.name, "r-rollback");
	assert_int_equal(r.kind, SP_ROLLOUT_ROLLBACK);
	assert_string_equal(r.parent, "r");
	assert_int_equal(r.nwaves, 2);
	assert_int_equal(r.released, 2);
	assert_int_equal(r.waves[1].pct, 50);
	assert_int_equal(r.waves[1].released_at, 6000);
	assert_true(gen(f->s) != g0);
	r = ro_get(f->s, "r");
	assert_int_equal(r.state, SP_ROLLOUT_ROLLED_BACK);
	assert_string_equal(r.rolled_back_by, "r-rollback");
	for (int i = 0; i < NDEV; i++) {
		dev_mac(i, mac);
		effective(f->s, mac, &p);
		assert_null(sp_params_get(&p, "Proxy_1_"));
		sp_params_free(&p);
	}
	/* Its verdicts: a fetch after the rollback is success. */
	contacts_for(f->s, key, 0, 5000, 6001, 200, "1.0");
	{
		sp_rollout_wave_stat st[SP_ROLLOUT_WAVES_MAX];
		OK(sp_store_rollout_status(f->s, "r-rollback", 6002, &r, st));
		assert_int_equal(st[0].succeeded + st[1].succeeded,
		    st[0].targeted + st[1].targeted);
	}
	/* Refusals, nothing written. */
	n = nrollouts(f);
	g0 = gen(f->s);
	assert_int_equal(sp_store_rollout_rollback(f->s, "r", NULL, 7000, NULL).code,
	    SP_E_STATE);
	assert_string_equal(sp_errmsg(), "rollout r was rolled back already (by "
	    "r-rollback)");
	assert_int_equal(sp_store_rollout_rollback(f->s, "r-rollback", NULL, 7000,
	    NULL).code, SP_E_STATE);
	assert_int_equal(sp_store_rollout_rollback(f->s, "nope", NULL, 7000,
	    NULL).code, SP_E_NOTFOUND);
	assert_string_equal(sp_errmsg(), "no rollout named nope");
	assert_int_equal(nrollouts(f), n);
	assert_int_equal(gen(f->s), g0);
	/* After a rollback the parameter may be rolled out again. */
	sp = pspec("r2", SP_LEVEL_DEFAULTS, NULL, "Proxy_1_", "newer");
	OK(sp_store_rollout_create(f->s, &sp, 8000, NULL));
}

/* A container of payload_len bytes signed with key, at path. */
static void
make_fw(fx *f, EVP_PKEY *key, size_t payload_len, const char *version,
    char path[200])
{
	char pay[200];
	FILE *fp;

	snprintf(pay, 200, "%s/payload", f->dir);
	fp = fopen(pay, "wb");
	assert_non_null(fp);
	for (size_t i = 0; i < payload_len; i++)
		fputc((int)(i * 7 % 251), fp);
	fclose(fp);
	snprintf(path, 200, "%s/SPA-962-%s.sfw", f->dir, version);
	OK(sp_fw_build_file(pay, "SPA-962", version, key, path));
	unlink(pay);
}

static size_t
file_bytes(const char *path, unsigned char **out)
{
	FILE *fp = fopen(path, "rb");
	long n;

	assert_non_null(fp);
	fseek(fp, 0, SEEK_END);
	n = ftell(fp);
	rewind(fp);
	*out = malloc((size_t)n);
	assert_int_equal(fread(*out, 1, (size_t)n, fp), (size_t)n);
	fclose(fp);
	return (size_t)n;
}

static sp_result
fw_count_cb(void *arg, const sp_fw_info *fw)
{
	(void)fw;
	(*(size_t *)arg)++;
	return SP_OK;
}

static size_t
nfw(sp_store *s)
{
	size_t n = 0;

	OK(sp_store_fw_list(s, fw_count_cb, &n));
	return n;
}

static void
test_firmware(void **state)
{
	fx *f = *state;
	EVP_PKEY *key = NULL, *other = NULL;
	sp_fw_info fw, got;
	unsigned char *want = NULL, *buf = NULL;
	char path[200], bad[200], v[32];
	size_t n, len, rd;
	bool found = false;
	sp_rollout_spec sp;
	sp_params p;
	uint64_t g0;
	/* Offsets around chunk boundaries, the start and the end. */
	const uint64_t offs[] = { 0, 1, SP_FW_CHUNK - 1, SP_FW_CHUNK,
	    2 * SP_FW_CHUNK + 5, 0 };

	OK(sp_key_gen(SP_KEY_EC_P256, &key));
	OK(sp_key_gen(SP_KEY_EC_P256, &other));
	make_fw(f, key, 3 * SP_FW_CHUNK + 1234, "2.0.1", path);
	len = file_bytes(path, &want);
	g0 = gen(f->s);
	OK(sp_store_fw_add(f->s, path, key, 100, &fw));
	assert_string_equal(fw.product, "SPA-962");
	assert_string_equal(fw.version, "2.0.1");
	assert_int_equal(fw.length, len);
	assert_int_equal(gen(f->s), g0);   /* images are not profiles */
	{
		unsigned char md[32];
		EVP_Digest(want, len, md, NULL, EVP_sha256(), NULL);
		assert_memory_equal(md, fw.sha256, 32);
	}
	OK(sp_store_fw_get(f->s, "SPA-962", "2.0.1", &got, &found));
	assert_true(found);
	assert_int_equal(got.id, fw.id);
	buf = malloc(SP_FW_READ_MAX);
	for (size_t i = 0; i < SP_ARRAY_LEN(offs); i++) {
		uint64_t off = i + 1 == SP_ARRAY_LEN(offs) ? len - 10 : offs[i];
		OK(sp_store_fw_read(f->s, &got, off, buf, 70000, &rd));
		n = len - off < 70000 ? len - off : 70000;
		assert_int_equal(rd, n);
		assert_memory_equal(buf, want + off, n);
	}
	OK(sp_store_fw_read(f->s, &got, len, buf, 10, &rd));
	assert_int_equal(rd, 0);
	assert_int_equal(sp_store_fw_read(f->s, &got, 0, buf, SP_FW_READ_MAX + 1,
	    &rd).code, SP_E_LIMIT);

	/* Refused, nothing stored: twice, another key, truncated, trailing. */
	assert_int_equal(sp_store_fw_add(f->s, path, NULL, 100, NULL).code,
	    SP_E_EXISTS);
	make_fw(f, other, 1000, "2.0.2", bad);
	assert_int_equal(sp_store_fw_add(f->s, bad, key, 100, NULL).code,
	    SP_E_VERIFY);
	assert_non_null(strstr(sp_errmsg(), bad));
	assert_int_equal(truncate(bad, 900), 0);
	assert_int_equal(sp_store_fw_add(f->s, bad, NULL, 100, NULL).code,
	    SP_E_PARSE);
	assert_non_null(strstr(sp_errmsg(), "truncated"));
	make_fw(f, key, 1000, "2.0.3", bad);
	{
		FILE *fp = fopen(bad, "ab");
		fputs("x", fp);
		fclose(fp);
	}
	assert_int_equal(sp_store_fw_add(f->s, bad, NULL, 100, NULL).code,
	    SP_E_PARSE);
	assert_non_null(strstr(sp_errmsg(), "trailing"));
	assert_int_equal(nfw(f->s), 1);
	raw_text(f, "SELECT count(DISTINCT fw) FROM firmware_chunks", v, sizeof(v));
	assert_string_equal(v, "1");

	/* A firmware rollout: Upgrade_Rule for product SPA-962 only. */
	fleet(f->s);
	sp = (sp_rollout_spec){ .name = "fw", .kind = SP_ROLLOUT_FIRMWARE,
	    .fw_product = "SPA-962", .fw_version = "2.0.9", .nwaves = 1,
	    .waves = { 100 }, .success_window = 60, .halt_bp = -1 };
	assert_int_equal(sp_store_rollout_create(f->s, &sp, 200, NULL).code,
	    SP_E_STATE);
	assert_string_equal(sp_errmsg(), "firmware SPA-962 2.0.9 is not in the "
	    "store: add it with 'sprov db firmware add'");
	sp.fw_version = "2.0.1";
	OK(sp_store_rollout_create(f->s, &sp, 200, NULL));
	effective(f->s, "000e08000001", &p);
	assert_string_equal(sp_params_value(&p, "Upgrade_Rule", ""),
	    "(! 2.0.1)? /firmware/SPA-962/2.0.1.sfw");
	sp_params_free(&p);
	effective(f->s, "000e08000002", &p);   /* SPA-504 */
	assert_null(sp_params_get(&p, "Upgrade_Rule"));
	sp_params_free(&p);
	{
		uint8_t k[SP_ROLLOUT_KEY_LEN];
		sp_rollout_wave_stat st[SP_ROLLOUT_WAVES_MAX];
		sp_rollout r;
		ro_key(f, "fw", k);
		/* Half report the target, half come back on the old version. */
		contacts_for(f->s, k, 0, 5000, 210, 200, "2.0.1");
		contacts_for(f->s, k, 5000, 10000, 210, 200, "1.0.0");
		OK(sp_store_rollout_status(f->s, "fw", 220, &r, st));
		assert_int_equal(st[0].succeeded + st[0].pending, NDEV / 2);
		assert_int_equal(st[0].failed, 0);
		OK(sp_store_rollout_status(f->s, "fw", 260, &r, st));
		assert_true(st[0].succeeded > 0 && st[0].failed > 0);
		assert_int_equal(st[0].succeeded + st[0].failed, NDEV / 2);
	}
	/* The target image cannot go while the rollout stands. */
	assert_int_equal(sp_store_fw_rm(f->s, "SPA-962", "2.0.1").code, SP_E_STATE);
	assert_string_equal(sp_errmsg(), "firmware SPA-962 2.0.1 is the target of "
	    "rollout fw: roll it back first");
	assert_int_equal(nfw(f->s), 1);
	OK(sp_store_rollout_rollback(f->s, "fw", NULL, 300, NULL));
	OK(sp_store_fw_rm(f->s, "SPA-962", "2.0.1"));
	assert_int_equal(nfw(f->s), 0);
	raw_text(f, "SELECT count(*) FROM firmware_chunks", v, sizeof(v));
	assert_string_equal(v, "0");
	assert_int_equal(sp_store_fw_read(f->s, &got, 0, buf, 10, &rd).code,
	    SP_E_NOTFOUND);
	assert_int_equal(sp_store_fw_rm(f->s, "SPA-962", "2.0.1").code,
	    SP_E_NOTFOUND);
	assert_string_equal(sp_errmsg(), "no firmware SPA-962 2.0.1 in the store");
	free(buf);
	free(want);
	EVP_PKEY_free(key);
	EVP_PKEY_free(other);
}
