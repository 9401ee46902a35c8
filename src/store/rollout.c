/*
 * Rollouts above the backends (store.h "rollouts", docs/ROLLOUTS.md): the
 * checks, the overlay sp_store_params_effective applies, the verdicts and
 * the tick.  A backend only stores rows (sp_ro_row) and performs the one
 * conditional update (ops->ro_update) every state change goes through, so
 * ticks from several nodes at once release each wave once.
 */
#include "store/store.h"
#include "store/store_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "common/text.h"
#include "common/util.h"

/* Attempts at a pause, resume or rollback that races another node. */
#define RO_RETRIES 3

/*
 * Room for one more element in *v (n used of *cap, elem bytes each).  The
 * old array is wiped before it is freed: rows hold keys and values.
 */
static sp_result
grow(void **v, size_t *cap, size_t n, size_t elem)
{
	sp_result res = SP_OK;
	size_t ncap;
	void *nv = NULL;

	if (n < *cap)
		goto out;
	ncap = *cap ? 2 * *cap : 16;
	TRY_ALLOC(nv, calloc(ncap, elem));
	if (n)
		memcpy(nv, *v, n * elem);
	if (*v)
		OPENSSL_cleanse(*v, *cap * elem);
	free(*v);
	*v = nv;
	*cap = ncap;
out:
	return res;
}

/* ---- waves column ------------------------------------------------------- */

void
sp_store_ro_waves_encode(const sp_rollout *r, char out[SP_RO_WAVES_TEXT_MAX])
{
	size_t len = 0;

	out[0] = '\0';
	for (int i = 0; i < r->nwaves && len < SP_RO_WAVES_TEXT_MAX; i++)
		len += (size_t)snprintf(out + len, SP_RO_WAVES_TEXT_MAX - len,
		    "%s%d@%" PRId64, i ? "," : "", r->waves[i].pct,
		    r->waves[i].released_at);
}

sp_result
sp_store_ro_waves_decode(sp_slice t, sp_rollout *r)
{
	sp_result res = SP_OK;
	size_t i = 0;
	int64_t pct, at;

	r->nwaves = 0;
	while (i < t.len) {
		size_t j = i, k;
		while (j < t.len && t.p[j] != ',')
			j++;
		for (k = i; k < j && t.p[k] != '@'; k++)
			;
		ENSURE(k < j && r->nwaves < SP_ROLLOUT_WAVES_MAX, SP_E_DB,
		    "rollout %s: malformed waves column", r->name);
		TRY(sp_parse_i64_slice(sp_slice_mk(t.p + i, k - i), 1, 100, "wave",
		    &pct));
		TRY(sp_parse_i64_slice(sp_slice_mk(t.p + k + 1, j - k - 1), 0,
		    INT64_MAX, "wave release time", &at));
		r->waves[r->nwaves].pct = (int)pct;
		r->waves[r->nwaves].released_at = at;
		r->nwaves++;
		i = j + 1;
	}
	ENSURE(r->nwaves > 0, SP_E_DB, "rollout %s: no waves", r->name);
out:
	return res;
}

/* ---- reading rows ------------------------------------------------------- */

typedef struct one_row {
	sp_ro_row row;
	bool found;
} one_row;

static sp_result
one_row_cb(void *arg, const sp_ro_row *row)
{
	one_row *o = arg;

	o->row = *row;
	o->row.value = sp_slice_mk(NULL, 0);  /* not kept past the callback */
	o->found = true;
	return SP_OK;
}

static sp_result
row_get(sp_store *s, const char *name, one_row *o)
{
	sp_result res = SP_OK;

	memset(o, 0, sizeof(*o));
	TRY(sp_rollout_name_check(sp_slice_of(name)));
	TRY(s->ops->ro_list(s, name, one_row_cb, o, NULL));
out:
	return res;
}

static sp_result
row_need(sp_store *s, const char *name, one_row *o)
{
	sp_result res = SP_OK;

	TRY(row_get(s, name, o));
	ENSURE(o->found, SP_E_NOTFOUND, "no rollout named %s", name);
out:
	return res;
}

sp_result
sp_store_rollout_get(sp_store *s, const char *name, sp_rollout *out, bool *found)
{
	sp_result res = SP_OK;
	one_row o;

	*found = false;
	TRY(row_get(s, name, &o));
	if (o.found) {
		*out = o.row.r;
		*found = true;
	}
out:
	OPENSSL_cleanse(&o, sizeof(o));
	return res;
}

typedef struct list_ctx {
	sp_store_rollout_cb cb;
	void *arg;
} list_ctx;

static sp_result
list_cb(void *arg, const sp_ro_row *row)
{
	list_ctx *c = arg;

	return c->cb(c->arg, &row->r);
}

sp_result
sp_store_rollout_list(sp_store *s, sp_store_rollout_cb cb, void *arg)
{
	list_ctx c = { cb, arg };

	return s->ops->ro_list(s, NULL, list_cb, &c, NULL);
}

/* ---- the overlay -------------------------------------------------------- */

typedef struct ro_active {
	uint8_t key[SP_ROLLOUT_KEY_LEN];
	sp_level level;
	char tkey[SP_STORE_FIELD_MAX + 1];
	char param[SP_PARAM_NAME_MAX + 1];
	char *value;
	size_t vlen;
	int cutoff;          /* buckets below this are released */
} ro_active;

struct sp_ro_cache {
	bool valid;
	uint64_t gen;
	size_t n, cap;
	ro_active *v;
};

static void
cache_clear(struct sp_ro_cache *c)
{
	for (size_t i = 0; i < c->n; i++) {
		if (c->v[i].value)
			OPENSSL_cleanse(c->v[i].value, c->v[i].vlen);
		free(c->v[i].value);
	}
	OPENSSL_cleanse(c->v, c->cap * sizeof(*c->v));
	free(c->v);
	c->v = NULL;
	c->n = c->cap = 0;
	c->valid = false;
}

void
sp_store_ro_free(sp_store *s)
{
	if (s->ro) {
		cache_clear(s->ro);
		free(s->ro);
		s->ro = NULL;
	}
}

/* Does a rollout's value reach devices at all? */
static bool
row_applies(const sp_rollout *r)
{
	return r->kind != SP_ROLLOUT_ROLLBACK &&
	    r->state != SP_ROLLOUT_ROLLED_BACK && r->released > 0;
}

static sp_result
cache_cb(void *arg, const sp_ro_row *row)
{
	sp_result res = SP_OK;
	struct sp_ro_cache *c = arg;
	ro_active *a;

	if (!row_applies(&row->r))
		goto out;
	TRY(grow((void **)&c->v, &c->cap, c->n, sizeof(*c->v)));
	a = &c->v[c->n];
	memset(a, 0, sizeof(*a));
	memcpy(a->key, row->key, sizeof(a->key));
	a->level = row->r.target_level;
	memcpy(a->tkey, row->r.target_key, sizeof(a->tkey));
	memcpy(a->param, row->r.param, sizeof(a->param));
	a->cutoff = row->r.waves[row->r.released - 1].pct *
	    (SP_ROLLOUT_BUCKETS / 100);
	TRY_ALLOC(a->value, malloc(row->value.len + 1));
	if (row->value.len)
		memcpy(a->value, row->value.p, row->value.len);
	a->value[row->value.len] = '\0';
	a->vlen = row->value.len;
	c->n++;
out:
	return res;
}

static bool
targets(sp_level level, const char *key, const sp_device *d)
{
	switch (level) {
	case SP_LEVEL_DEFAULTS:
		return true;
	case SP_LEVEL_PRODUCT:
		return strcmp(d->product, key) == 0;
	case SP_LEVEL_GROUP:
		return strcmp(d->group, key) == 0;
	default:
		return false;
	}
}

sp_result
sp_store_ro_overlay(sp_store *s, const sp_device *dev, sp_params *out,
    uint64_t *gen)
{
	sp_result res = SP_OK;
	struct sp_ro_cache *c = NULL;
	uint64_t g = 0;

	if (s->ro == NULL)
		TRY_ALLOC(s->ro, calloc(1, sizeof(*s->ro)));
	c = s->ro;
	if (!c->valid || c->gen != *gen) {
		cache_clear(c);
		TRY(s->ops->ro_list(s, NULL, cache_cb, c, &g));
		c->gen = g;
		c->valid = true;
	}
	/*
	 * Rollouts read at another generation than the params: tag with the
	 * older one, so a cached rendering is stale at once if they differ.
	 */
	if (c->gen < *gen)
		*gen = c->gen;
	for (size_t i = 0; i < c->n; i++) {
		const ro_active *a = &c->v[i];
		if (!targets(a->level, a->tkey, dev) ||
		    sp_rollout_bucket(a->key, &dev->mac) >= a->cutoff)
			continue;
		/* As a level above the device's: the access stays the lower one's. */
		TRY(sp_store_merge_row(out, sp_slice_of(a->param),
		    sp_slice_mk(a->value, a->vlen), NULL));
	}
out:
	if (sp_failed(res) && c)
		cache_clear(c);
	return res;
}

/* ---- verdicts ----------------------------------------------------------- */

/* A contact as the verdicts need it, sorted by MAC. */
typedef struct ro_contact {
	sp_mac mac;
	int64_t time;
	int status;
	char swver[SP_FW_VERSION_MAX + 1];
} ro_contact;

typedef struct ro_contacts {
	ro_contact *v;
	size_t n, cap;
} ro_contacts;

static sp_result
contacts_cb(void *arg, const sp_contact *c)
{
	sp_result res = SP_OK;
	ro_contacts *cs = arg;
	ro_contact *rc;
	sp_ua ua;

	TRY(grow((void **)&cs->v, &cs->cap, cs->n, sizeof(*cs->v)));
	rc = &cs->v[cs->n++];
	memset(rc, 0, sizeof(*rc));
	rc->mac = c->mac;
	rc->time = c->time;
	rc->status = c->status;
	if (sp_ok(sp_ua_parse(sp_slice_of(c->ua), &ua)) &&
	    ua.swver.len <= SP_FW_VERSION_MAX)
		memcpy(rc->swver, ua.swver.p, ua.swver.len);
	else
		sp_error_clear();
out:
	return res;
}

static int
mac_cmp(const void *a, const void *b)
{
	return memcmp(&((const ro_contact *)a)->mac, &((const ro_contact *)b)->mac,
	    sizeof(sp_mac));
}

static const ro_contact *
contact_find(const ro_contacts *cs, const sp_mac *mac)
{
	ro_contact key;

	memset(&key, 0, sizeof(key));
	key.mac = *mac;
	return cs->n ? bsearch(&key, cs->v, cs->n, sizeof(*cs->v), mac_cmp) : NULL;
}

typedef enum { V_PENDING, V_SUCCESS, V_FAILED } verdict;

/* One released device's verdict (docs/ROLLOUTS.md, "Verdicts"). */
static verdict
judge(const sp_rollout *r, int64_t released_at, const ro_contact *c, int64_t now)
{
	bool over = now >= released_at + r->success_window;

	if (c && c->time >= released_at) {
		if (c->status >= 400)
			return V_FAILED;
		if (r->kind == SP_ROLLOUT_FIRMWARE) {
			if (strcmp(c->swver, r->fw_version) == 0)
				return V_SUCCESS;
		} else if (c->status == 200 || c->status == 304) {
			return V_SUCCESS;
		}
	}
	return over ? V_FAILED : V_PENDING;
}

typedef struct eval_ctx {
	const sp_ro_row *row;
	const ro_contacts *cs;
	int64_t now;
	sp_rollout_wave_stat *stat;
} eval_ctx;

static sp_result
eval_cb(void *arg, const sp_device *d)
{
	eval_ctx *e = arg;
	const sp_rollout *r = &e->row->r;
	int b, w;

	if (!d->enabled || d->pending ||
	    !targets(r->target_level, r->target_key, d))
		return SP_OK;
	b = sp_rollout_bucket(e->row->key, &d->mac);
	for (w = 0; w < r->nwaves; w++)
		if (b < r->waves[w].pct * (SP_ROLLOUT_BUCKETS / 100))
			break;
	if (w == r->nwaves)
		return SP_OK;   /* beyond the last wave (it is below 100 %) */
	e->stat[w].targeted++;
	if (w >= r->released)
		return SP_OK;
	e->stat[w].released++;
	switch (judge(r, r->waves[w].released_at, contact_find(e->cs, &d->mac),
	    e->now)) {
	case V_SUCCESS:
		e->stat[w].succeeded++;
		break;
	case V_FAILED:
		e->stat[w].failed++;
		break;
	case V_PENDING:
		e->stat[w].pending++;
		break;
	}
	return SP_OK;
}

static sp_result
contacts_load(sp_store *s, ro_contacts *cs)
{
	sp_result res = SP_OK;

	TRY(sp_store_contact_list(s, contacts_cb, cs));
	/* Listed in MAC order already; sorting again costs little and is sure. */
	if (cs->n)
		qsort(cs->v, cs->n, sizeof(*cs->v), mac_cmp);
out:
	return res;
}

static sp_result
evaluate(sp_store *s, const sp_ro_row *row, const ro_contacts *cs, int64_t now,
    sp_rollout_wave_stat stat[SP_ROLLOUT_WAVES_MAX])
{
	eval_ctx e = { row, cs, now, stat };

	memset(stat, 0, SP_ROLLOUT_WAVES_MAX * sizeof(*stat));
	return sp_store_device_list(s, eval_cb, &e);
}

sp_result
sp_store_rollout_status(sp_store *s, const char *name, int64_t now,
    sp_rollout *r, sp_rollout_wave_stat stat[SP_ROLLOUT_WAVES_MAX])
{
	sp_result res = SP_OK;
	ro_contacts cs = { 0 };
	bool snap = false;
	one_row o;

	TRY(sp_store_begin_read(s));
	snap = true;
	TRY(row_need(s, name, &o));
	TRY(contacts_load(s, &cs));
	TRY(evaluate(s, &o.row, &cs, now, stat));
	*r = o.row.r;
out:
	if (snap)
		sp_store_rollback(s);
	free(cs.v);
	OPENSSL_cleanse(&o, sizeof(o));
	return res;
}

/* ---- changes ------------------------------------------------------------ */

static sp_result
row_update(sp_store *s, const sp_ro_row *row, bool *applied)
{
	char waves[SP_RO_WAVES_TEXT_MAX];

	sp_store_ro_waves_encode(&row->r, waves);
	return s->ops->ro_update(s, row, waves, applied);
}

/*
 * One state change and its audit entry (docs/ROLLOUTS.md), in the caller's
 * transaction or one of its own; a tick's changes are the actor
 * "rollout-tick"'s, whoever runs the tick.
 */
static sp_result
row_change(sp_store *s, const sp_ro_row *row, const char *action, bool tick,
    bool *applied)
{
	sp_result res = SP_OK;
	char actor[SP_AUDIT_ACTOR_MAX + 1];
	bool mine = !s->tx;

	memcpy(actor, s->actor, sizeof(actor));
	if (mine)
		TRY(sp_store_begin(s));
	TRY(row_update(s, row, applied));
	if (!*applied)
		goto out;
	if (tick)
		sp_store_set_actor(s, "rollout-tick");
	res = sp_store_audit_rollout(s, &row->r, action, NULL);
	memcpy(s->actor, actor, sizeof(actor));
	TRY(res);
out:
	if (mine && sp_failed(res))
		sp_store_rollback(s);
	else if (mine)
		res = sp_store_commit(s);
	return res;
}

typedef struct conflict_ctx {
	const sp_rollout *r;
	char name[SP_ROLLOUT_NAME_MAX + 1];
} conflict_ctx;

static sp_result
conflict_cb(void *arg, const sp_ro_row *row)
{
	conflict_ctx *c = arg;
	const sp_rollout *a = &row->r;

	/* A done rollout does not block: the newer one overlays it. */
	if (c->name[0] == '\0' && a->kind != SP_ROLLOUT_ROLLBACK &&
	    a->state != SP_ROLLOUT_ROLLED_BACK && a->state != SP_ROLLOUT_DONE &&
	    a->target_level == c->r->target_level &&
	    strcmp(a->target_key, c->r->target_key) == 0 &&
	    strcmp(a->param, c->r->param) == 0)
		memcpy(c->name, a->name, sizeof(c->name));
	return SP_OK;
}

/* The Upgrade_Rule of a firmware rollout: (! VERSION)? PATH. */
static sp_result
fw_rule(const sp_rollout_spec *sp, sp_buf *out)
{
	sp_result res = SP_OK;
	const char *t = sp->fw_path ? sp->fw_path : SP_ROLLOUT_FW_PATH_DEFAULT;

	TRY(sp_buf_printf(out, "(! %s)? ", sp->fw_version));
	while (*t) {
		if (strncmp(t, "$PN", 3) == 0) {
			TRY(sp_buf_append_str(out, sp->fw_product));
			t += 3;
		} else if (strncmp(t, "$VERSION", 8) == 0) {
			TRY(sp_buf_append_str(out, sp->fw_version));
			t += 8;
		} else {
			TRY(sp_buf_append_byte(out, *t++));
		}
	}
out:
	return res;
}

static sp_result
spec_check(const sp_rollout_spec *sp)
{
	sp_result res = SP_OK;

	TRY(sp_rollout_name_check(sp_slice_of(sp->name)));
	ENSURE(sp->nwaves >= 1 && sp->nwaves <= SP_ROLLOUT_WAVES_MAX, SP_E_USAGE,
	    "a rollout needs 1 to %d waves", SP_ROLLOUT_WAVES_MAX);
	for (int i = 0; i < sp->nwaves; i++)
		ENSURE(sp->waves[i] >= 1 && sp->waves[i] <= 100 &&
		    (i == 0 || sp->waves[i] > sp->waves[i - 1]), SP_E_USAGE,
		    "waves must be increasing percentages from 1 to 100");
	ENSURE(sp->wave_interval >= 0, SP_E_USAGE, "negative wave interval");
	ENSURE(sp->success_window >= 1, SP_E_USAGE,
	    "the success window must be at least 1 second");
	ENSURE(sp->halt_bp >= -1 && sp->halt_bp <= 10000, SP_E_USAGE,
	    "halt threshold out of range");
	ENSURE(sp->kind == SP_ROLLOUT_PARAM || sp->kind == SP_ROLLOUT_FIRMWARE,
	    SP_E_USAGE, "a rollout sets a parameter or a firmware target");
	if (sp->kind == SP_ROLLOUT_PARAM) {
		ENSURE(sp->target.level != SP_LEVEL_DEVICE, SP_E_USAGE,
		    "a rollout targets the defaults, a product or a group, not "
		    "one device");
		TRY(sp_store_param_check(&sp->target, sp->param, sp->value));
	} else {
		ENSURE(sp->fw_product && sp->fw_version, SP_E_USAGE,
		    "a firmware rollout needs a product and a version");
	}
out:
	return res;
}

sp_result
sp_store_rollout_create(sp_store *s, const sp_rollout_spec *sp, int64_t now,
    sp_rollout *out)
{
	sp_result res = SP_OK;
	sp_buf rule;
	sp_ro_row row;
	sp_fw_info fw;
	conflict_ctx cc;
	one_row o;
	char waves[SP_RO_WAVES_TEXT_MAX];
	bool tx = false, found = false;

	sp_rollout *r = &row.r;

	sp_buf_init_secret(&rule, SP_PARAM_VALUE_MAX + 1);
	memset(&row, 0, sizeof(row));
	memset(&o, 0, sizeof(o));
	TRY(spec_check(sp));
	snprintf(r->name, sizeof(r->name), "%s", sp->name);
	r->kind = sp->kind;
	r->state = SP_ROLLOUT_RUNNING;
	if (sp->kind == SP_ROLLOUT_PARAM) {
		r->target_level = sp->target.level;
		snprintf(r->target_key, sizeof(r->target_key), "%s",
		    sp->target.key ? sp->target.key : "");
		snprintf(r->param, sizeof(r->param), "%s", sp->param);
		row.value = sp->value;
	} else {
		sp_level_ref lvl = { SP_LEVEL_PRODUCT, sp->fw_product };
		TRY(fw_rule(sp, &rule));
		row.value = sp_slice_mk(rule.p, rule.len);
		TRY(sp_store_param_check(&lvl, SP_ROLLOUT_FW_PARAM, row.value));
		r->target_level = SP_LEVEL_PRODUCT;
		snprintf(r->target_key, sizeof(r->target_key), "%s", sp->fw_product);
		snprintf(r->param, sizeof(r->param), "%s", SP_ROLLOUT_FW_PARAM);
		snprintf(r->fw_version, sizeof(r->fw_version), "%s", sp->fw_version);
	}
	r->nwaves = sp->nwaves;
	for (int i = 0; i < sp->nwaves; i++)
		r->waves[i].pct = sp->waves[i];
	r->waves[0].released_at = now;
	r->released = 1;
	r->wave_interval = sp->wave_interval;
	r->success_window = sp->success_window;
	r->halt_bp = sp->halt_bp;
	r->created = r->updated = now;
	TRY_OSSL(RAND_bytes(row.key, sizeof(row.key)), "rollout key");

	TRY(sp_store_begin(s));
	tx = true;
	TRY(row_get(s, r->name, &o));
	ENSURE(!o.found, SP_E_EXISTS, "a rollout named %s exists already", r->name);
	if (sp->kind == SP_ROLLOUT_FIRMWARE) {
		TRY(sp_store_fw_get(s, sp->fw_product, sp->fw_version, &fw, &found));
		ENSURE(found, SP_E_STATE, "firmware %s %s is not in the store: "
		    "add it with 'sprov db firmware add'", sp->fw_product,
		    sp->fw_version);
	}
	memset(&cc, 0, sizeof(cc));
	cc.r = r;
	TRY(s->ops->ro_list(s, NULL, conflict_cb, &cc, NULL));
	if (cc.name[0]) {
		if (r->target_level == SP_LEVEL_DEFAULTS)
			res = sp_error(SP_E_STATE, "rollout %s already changes %s "
			    "in the defaults: roll it back first", cc.name, r->param);
		else
			res = sp_error(SP_E_STATE, "rollout %s already changes %s "
			    "for %s %s: roll it back first", cc.name, r->param,
			    sp_level_name(r->target_level), r->target_key);
		goto out;
	}
	sp_store_ro_waves_encode(r, waves);
	TRY(s->ops->ro_insert(s, &row, waves));
	TRY(sp_store_audit_rollout(s, r, "create", &row.value));
	tx = false;
	TRY(sp_store_commit(s));
	if (out)
		*out = *r;
out:
	if (tx)
		sp_store_rollback(s);
	sp_buf_free_secret(&rule);
	OPENSSL_cleanse(&row, sizeof(row));
	return res;
}

static sp_result
set_state(sp_store *s, const char *name, int64_t now, sp_rollout_state from,
    sp_rollout_state to, const char *action)
{
	sp_result res = SP_OK;
	bool applied = false;
	one_row o;

	for (int attempt = 0; attempt < RO_RETRIES && !applied; attempt++) {
		TRY(row_need(s, name, &o));
		ENSURE(o.row.r.kind != SP_ROLLOUT_ROLLBACK, SP_E_STATE,
		    "%s is a rollback: it cannot be %s", name,
		    to == SP_ROLLOUT_PAUSED ? "paused" : "resumed");
		ENSURE(o.row.r.state == from, SP_E_STATE, "rollout %s is %s, not %s",
		    name, sp_rollout_state_name(o.row.r.state),
		    sp_rollout_state_name(from));
		o.row.r.state = to;
		o.row.r.updated = now;
		TRY(row_change(s, &o.row, action, false, &applied));
	}
	ENSURE(applied, SP_E_STATE, "rollout %s keeps changing: try again", name);
out:
	OPENSSL_cleanse(&o, sizeof(o));
	return res;
}

sp_result
sp_store_rollout_pause(sp_store *s, const char *name, int64_t now)
{
	return set_state(s, name, now, SP_ROLLOUT_RUNNING, SP_ROLLOUT_PAUSED,
	    "pause");
}

sp_result
sp_store_rollout_resume(sp_store *s, const char *name, int64_t now)
{
	return set_state(s, name, now, SP_ROLLOUT_PAUSED, SP_ROLLOUT_RUNNING,
	    "resume");
}

sp_result
sp_store_rollout_rollback(sp_store *s, const char *name, const char *rb_name,
    int64_t now, sp_rollout *out)
{
	sp_result res = SP_OK;
	char rbn[SP_ROLLOUT_NAME_MAX + 16], waves[SP_RO_WAVES_TEXT_MAX];
	sp_ro_row rb;
	one_row o, other;
	bool tx = false, applied = false;

	memset(&rb, 0, sizeof(rb));
	memset(&o, 0, sizeof(o));
	TRY(sp_rollout_name_check(sp_slice_of(name)));
	if (rb_name == NULL) {
		snprintf(rbn, sizeof(rbn), "%s-rollback", name);
		rb_name = rbn;
	}
	TRY(sp_rollout_name_check(sp_slice_of(rb_name)));
	TRY(sp_store_begin(s));
	tx = true;
	TRY(row_need(s, name, &o));
	ENSURE(o.row.r.kind != SP_ROLLOUT_ROLLBACK, SP_E_STATE,
	    "%s is a rollback itself: create a new rollout instead", name);
	ENSURE(o.row.r.state != SP_ROLLOUT_ROLLED_BACK, SP_E_STATE,
	    "rollout %s was rolled back already (by %s)", name,
	    o.row.r.rolled_back_by);
	TRY(row_get(s, rb_name, &other));
	ENSURE(!other.found, SP_E_EXISTS, "a rollout named %s exists already",
	    rb_name);
	/* The same devices, bucket for bucket: the parent's key and target. */
	rb.r = o.row.r;
	memcpy(rb.key, o.row.key, sizeof(rb.key));
	snprintf(rb.r.name, sizeof(rb.r.name), "%s", rb_name);
	snprintf(rb.r.parent, sizeof(rb.r.parent), "%s", name);
	rb.r.rolled_back_by[0] = '\0';
	rb.r.reason[0] = '\0';
	rb.r.kind = SP_ROLLOUT_ROLLBACK;
	rb.r.state = SP_ROLLOUT_RUNNING;
	rb.r.nwaves = o.row.r.released;
	for (int i = 0; i < rb.r.nwaves; i++)
		rb.r.waves[i].released_at = now;
	rb.r.released = rb.r.nwaves;
	rb.r.halt_bp = -1;
	rb.r.created = rb.r.updated = now;
	rb.value = sp_slice_mk("", 0);
	sp_store_ro_waves_encode(&rb.r, waves);
	TRY(s->ops->ro_insert(s, &rb, waves));
	o.row.r.state = SP_ROLLOUT_ROLLED_BACK;
	o.row.r.updated = now;
	snprintf(o.row.r.rolled_back_by, sizeof(o.row.r.rolled_back_by), "%s",
	    rb_name);
	TRY(row_change(s, &o.row, "rolled-back", false, &applied));
	ENSURE(applied, SP_E_STATE, "rollout %s changed meanwhile: try again",
	    name);
	TRY(sp_store_audit_rollout(s, &rb.r, "rollback", NULL));
	tx = false;
	TRY(sp_store_commit(s));
	if (out)
		*out = rb.r;
out:
	if (tx)
		sp_store_rollback(s);
	OPENSSL_cleanse(&rb, sizeof(rb));
	OPENSSL_cleanse(&o, sizeof(o));
	return res;
}

/* ---- the tick ----------------------------------------------------------- */

typedef struct rows {
	sp_ro_row *v;
	size_t n, cap;
} rows;

static sp_result
rows_cb(void *arg, const sp_ro_row *row)
{
	sp_result res = SP_OK;
	rows *rs = arg;

	if (row->r.state != SP_ROLLOUT_RUNNING)
		goto out;
	TRY(grow((void **)&rs->v, &rs->cap, rs->n, sizeof(*rs->v)));
	rs->v[rs->n] = *row;
	rs->v[rs->n].value = sp_slice_mk(NULL, 0);
	rs->n++;
out:
	return res;
}

/* The state change one running rollout needs now, if any. */
static bool
decide(sp_ro_row *row, const sp_rollout_wave_stat *st, int64_t now,
    sp_rollout_tick_report *rep, const char **action)
{
	sp_rollout *r = &row->r;
	const sp_rollout_wave *last = &r->waves[r->released - 1];

	for (int w = 0; w < r->released && r->halt_bp >= 0; w++) {
		if (st[w].targeted == 0 ||
		    st[w].failed * 10000 <= (uint64_t)r->halt_bp * st[w].targeted)
			continue;
		r->state = SP_ROLLOUT_HALTED;
		snprintf(r->reason, sizeof(r->reason), "wave %d: %" PRIu64 " of %"
		    PRIu64 " devices failed (%.2f%% > %d.%02d%%)", w + 1,
		    st[w].failed, st[w].targeted,
		    100.0 * (double)st[w].failed / (double)st[w].targeted,
		    r->halt_bp / 100, r->halt_bp % 100);
		rep->halted++;
		*action = "halt";
		return true;
	}
	if (r->released < r->nwaves && now >= last->released_at + r->wave_interval) {
		r->waves[r->released].released_at = now;
		r->released++;
		rep->released++;
		*action = "release";
		return true;
	}
	/* Every wave released and judged: done. */
	if (r->released == r->nwaves && now >= last->released_at + r->success_window) {
		r->state = SP_ROLLOUT_DONE;
		rep->done++;
		*action = "done";
		return true;
	}
	return false;
}

sp_result
sp_store_rollout_tick(sp_store *s, int64_t now, sp_rollout_tick_report *rep)
{
	sp_result res = SP_OK;
	sp_rollout_tick_report local;
	sp_rollout_wave_stat st[SP_ROLLOUT_WAVES_MAX];
	ro_contacts cs = { 0 };
	rows rs = { 0 };
	const char *action = NULL;
	bool applied;

	if (rep == NULL)
		rep = &local;
	memset(rep, 0, sizeof(*rep));
	TRY(s->ops->ro_list(s, NULL, rows_cb, &rs, NULL));
	if (rs.n == 0)
		goto out;
	TRY(contacts_load(s, &cs));
	for (size_t i = 0; i < rs.n; i++) {
		sp_ro_row *row = &rs.v[i];
		sp_rollout_tick_report mine = { 0 };

		TRY(evaluate(s, row, &cs, now, st));
		if (!decide(row, st, now, &mine, &action))
			continue;
		row->r.updated = now;
		/* Another node may have done it first: then it counts there. */
		TRY(row_change(s, row, action, true, &applied));
		if (!applied)
			continue;
		rep->released += mine.released;
		rep->halted += mine.halted;
		rep->done += mine.done;
	}
out:
	free(cs.v);
	if (rs.v)
		OPENSSL_cleanse(rs.v, rs.cap * sizeof(*rs.v));
	free(rs.v);
	return res;
}
