/*
 * sprov db dump / restore: the whole store as JSON Lines (store/dump.h).
 */
#include "store/dump.h"

#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/text.h"
#include "common/util.h"
#include "common/version.h"
#include "pki/pki.h"

#include <openssl/crypto.h>

/* ---- writing ------------------------------------------------------------ */

typedef struct wctx {
	sp_store *s;
	sp_buf *out;
	sp_dump_counts n;
	sp_params ps;
} wctx;

/* ,"key":"value" */
static sp_result
put_str(sp_buf *b, const char *key, sp_slice v)
{
	sp_result res = SP_OK;

	TRY(sp_buf_printf(b, ",\"%s\":", key));
	TRY(sp_json_str(b, v));
out:
	return res;
}

static sp_result
w_device(void *arg, const sp_device *d)
{
	sp_result res = SP_OK;
	wctx *w = arg;
	char ma[SP_MAC_STRLEN];

	sp_mac_format(&d->mac, SP_MAC_MA, ma);
	TRY(sp_buf_printf(w->out, "{\"device\":\"%s\"", ma));
	TRY(put_str(w->out, "serial", sp_slice_of(d->serial)));
	TRY(put_str(w->out, "product", sp_slice_of(d->product)));
	TRY(put_str(w->out, "group", sp_slice_of(d->group)));
	TRY(sp_buf_printf(w->out, ",\"enabled\":%s,\"pending\":%s,\"created\":%lld}\n",
	    d->enabled ? "true" : "false", d->pending ? "true" : "false",
	    (long long)d->created));
	w->n.devices++;
out:
	return res;
}

static sp_result
w_level(void *arg, const sp_level_ref *lvl)
{
	sp_result res = SP_OK;
	wctx *w = arg;

	sp_params_free(&w->ps);
	sp_params_init(&w->ps);
	TRY(sp_store_params_level(w->s, lvl, &w->ps));
	for (size_t i = 0; i < w->ps.n; i++) {
		const sp_param *p = &w->ps.v[i];

		TRY(sp_buf_append_str(w->out, "{\"param\":"));
		TRY(sp_json_cstr(w->out, p->name));
		TRY(sp_buf_printf(w->out, ",\"level\":\"%s\"", sp_level_name(lvl->level)));
		TRY(put_str(w->out, "key", sp_slice_of(lvl->key ? lvl->key : "")));
		TRY(put_str(w->out, "value", sp_slice_mk(p->value, p->value_len)));
		if (p->access == SP_ACCESS_UNSET)
			TRY(sp_buf_append_str(w->out, ",\"access\":null}\n"));
		else
			TRY(sp_buf_printf(w->out, ",\"access\":\"%s\"}\n",
			    sp_access_name(p->access)));
		w->n.params++;
	}
out:
	return res;
}

static sp_result
w_contact(void *arg, const sp_contact *c)
{
	sp_result res = SP_OK;
	wctx *w = arg;
	char ma[SP_MAC_STRLEN], hex[2 * SP_UA_MAX + 1];
	sp_slice ua = sp_slice_of(c->ua);

	sp_mac_format(&c->mac, SP_MAC_MA, ma);
	TRY(sp_buf_printf(w->out, "{\"contact\":\"%s\",\"time\":%lld", ma,
	    (long long)c->time));
	TRY(put_str(w->out, "ip", sp_slice_of(c->ip)));
	if (sp_utf8_valid(ua)) {
		TRY(put_str(w->out, "ua", ua));
	} else {
		/* The JSON writer would turn these bytes into U+FFFD. */
		sp_hex((const uint8_t *)ua.p, ua.len, hex);
		TRY(sp_buf_printf(w->out, ",\"ua_hex\":\"%s\"", hex));
	}
	TRY(put_str(w->out, "etag", sp_slice_of(c->etag)));
	TRY(sp_buf_printf(w->out, ",\"status\":%d}\n", c->status));
	w->n.contacts++;
out:
	return res;
}

sp_result
sp_store_dump(sp_store *s, sp_buf *out, sp_dump_counts *n)
{
	sp_result res = SP_OK;
	wctx w = { s, out, { 0, 0, 0 }, { NULL, 0, 0 } };
	bool in_tx = false;

	sp_params_init(&w.ps);
	sp_buf_mark_secret(out);
	TRY(sp_store_begin_read(s));
	in_tx = true;
	TRY(sp_buf_printf(out, "{\"sprov-dump\":%d,\"sprov\":\"%s\"}\n",
	    SP_DUMP_VERSION, SPROV_VERSION));
	TRY(sp_store_device_list(s, w_device, &w));
	TRY(sp_store_level_list(s, w_level, &w));
	TRY(sp_store_contact_list(s, w_contact, &w));
	TRY(sp_buf_printf(out, "{\"end\":\"sprov-dump\",\"devices\":%zu,"
	    "\"params\":%zu,\"contacts\":%zu}\n", w.n.devices, w.n.params,
	    w.n.contacts));
	in_tx = false;
	TRY(sp_store_commit(s));
	if (n)
		*n = w.n;
out:
	if (in_tx)
		sp_store_rollback(s);
	sp_params_free(&w.ps);
	return res;
}

/* ---- reading ------------------------------------------------------------ */

typedef enum { R_HEADER, R_DEVICE, R_PARAM, R_CONTACT, R_END } rkind;

static const char *const kind_name[] = { "sprov-dump", "device", "param",
	"contact", "end" };

/* One decoded line.  Strings point into the JSON object of the reader. */
typedef struct rec {
	rkind kind;
	sp_device dev;
	sp_level_ref lvl;
	char key[SP_MAC_STRLEN > SP_STORE_FIELD_MAX + 1 ? SP_MAC_STRLEN :
	    SP_STORE_FIELD_MAX + 1];
	const char *name;
	sp_slice value;
	sp_access access;
	sp_contact ct;
	sp_dump_counts end;
} rec;

typedef struct rd {
	const char *label;
	size_t line;
	sp_json_obj o;
	rec r;
	/* order and references (the check pass) */
	rkind last;
	bool seen_end;
	bool have_prev;
	sp_mac prev_mac;
	sp_level prev_level;
	char prev_key[sizeof(((rec *)0)->key)];
	char prev_name[SP_PARAM_NAME_MAX + 1];
	sp_mac *macs;
	size_t nmacs, cap;
	sp_dump_counts n;
	/* the write pass */
	sp_store *s;
} rd;

/* What a record must hold: name, type, and whether it may be null or absent. */
typedef struct field {
	const char *name;
	sp_json_type type;
	bool nullable, optional;
} field;

static const field f_header[] = {
	{ "sprov-dump", SP_JSON_INT, false, false },
	{ "sprov", SP_JSON_STRING, false, true },
};
static const field f_device[] = {
	{ "device", SP_JSON_STRING, false, false },
	{ "serial", SP_JSON_STRING, false, false },
	{ "product", SP_JSON_STRING, false, false },
	{ "group", SP_JSON_STRING, false, false },
	{ "enabled", SP_JSON_BOOL, false, false },
	{ "pending", SP_JSON_BOOL, false, false },
	{ "created", SP_JSON_INT, false, false },
};
static const field f_param[] = {
	{ "param", SP_JSON_STRING, false, false },
	{ "level", SP_JSON_STRING, false, false },
	{ "key", SP_JSON_STRING, false, false },
	{ "value", SP_JSON_STRING, false, false },
	{ "access", SP_JSON_STRING, true, false },
};
static const field f_contact[] = {
	{ "contact", SP_JSON_STRING, false, false },
	{ "time", SP_JSON_INT, false, false },
	{ "ip", SP_JSON_STRING, false, false },
	{ "ua", SP_JSON_STRING, false, true },
	{ "ua_hex", SP_JSON_STRING, false, true },
	{ "etag", SP_JSON_STRING, false, false },
	{ "status", SP_JSON_INT, false, false },
};
static const field f_end[] = {
	{ "end", SP_JSON_STRING, false, false },
	{ "devices", SP_JSON_INT, false, false },
	{ "params", SP_JSON_INT, false, false },
	{ "contacts", SP_JSON_INT, false, false },
};

static const struct {
	const field *f;
	size_t n;
} fields_of[] = {
	[R_HEADER] = { f_header, SP_ARRAY_LEN(f_header) },
	[R_DEVICE] = { f_device, SP_ARRAY_LEN(f_device) },
	[R_PARAM] = { f_param, SP_ARRAY_LEN(f_param) },
	[R_CONTACT] = { f_contact, SP_ARRAY_LEN(f_contact) },
	[R_END] = { f_end, SP_ARRAY_LEN(f_end) },
};

/* Exactly the members of the record's kind, each of its type. */
static sp_result
members(const sp_json_obj *o, rkind k)
{
	sp_result res = SP_OK;
	const field *f = fields_of[k].f;
	size_t nf = fields_of[k].n, j;
	char q[64];

	for (size_t i = 0; i < o->n; i++) {
		for (j = 0; j < nf && strcmp(f[j].name, o->m[i].name) != 0; j++)
			;
		if (j == nf) {
			sp_quote(sp_slice_of(o->m[i].name), q, sizeof(q));
			TRY(sp_error(SP_E_PARSE, "a %s record has no member \"%s\"",
			    kind_name[k], q));
		}
	}
	for (j = 0; j < nf; j++) {
		const sp_json_member *m = sp_json_obj_get(o, f[j].name);

		ENSURE(m || f[j].optional, SP_E_PARSE,
		    "a %s record needs the member \"%s\"", kind_name[k], f[j].name);
		ENSURE(!m || m->type == f[j].type ||
		    (f[j].nullable && m->type == SP_JSON_NULL), SP_E_PARSE,
		    "\"%s\" must be %s%s", f[j].name, sp_json_type_name(f[j].type),
		    f[j].nullable ? " or null" : "");
	}
out:
	return res;
}

static const sp_json_member *
get(const rd *d, const char *name)
{
	return sp_json_obj_get(&d->o, name);
}

/* A string member into a fixed field, checked as the store checks it. */
static sp_result
field_copy(const rd *d, const char *name, char *dst)
{
	sp_result res = SP_OK;
	sp_slice v = get(d, name)->str;

	TRY(sp_store_field_check(name, v));
	memcpy(dst, v.p, v.len + 1);
out:
	return res;
}

/* A string member of at most max bytes into dst. */
static sp_result
str_copy(const rd *d, const char *name, char *dst, size_t max)
{
	sp_slice v = get(d, name)->str;

	if (v.len > max)
		return sp_error(SP_E_LIMIT, "\"%s\" longer than %zu bytes", name, max);
	memcpy(dst, v.p, v.len + 1);
	return SP_OK;
}

static sp_result
mac_of(const rd *d, const char *name, sp_mac *mac)
{
	return sp_mac_parse(get(d, name)->str, mac);
}

static sp_result
dec_device(rd *d)
{
	sp_result res = SP_OK;
	sp_device *v = &d->r.dev;

	memset(v, 0, sizeof(*v));
	TRY(mac_of(d, "device", &v->mac));
	TRY(field_copy(d, "serial", v->serial));
	TRY(field_copy(d, "product", v->product));
	TRY(field_copy(d, "group", v->group));
	v->enabled = get(d, "enabled")->b;
	v->pending = get(d, "pending")->b;
	v->created = get(d, "created")->i;
	ENSURE(v->created > 0, SP_E_PARSE, "\"created\" must be a positive Unix time");
	ENSURE(!v->pending || (!v->enabled && !*v->group), SP_E_PARSE,
	    "a pending device is disabled and in no group");
out:
	return res;
}

static sp_result
dec_param(rd *d)
{
	sp_result res = SP_OK;
	rec *r = &d->r;
	const sp_json_member *lv = get(d, "level"), *acc = get(d, "access");
	sp_slice key = get(d, "key")->str;
	sp_mac mac;
	char q[80];
	int l;

	r->name = get(d, "param")->str.p;
	r->value = get(d, "value")->str;
	for (l = SP_LEVEL_DEFAULTS; l <= SP_LEVEL_DEVICE; l++)
		if (sp_slice_eq_cstr(lv->str, sp_level_name((sp_level)l)))
			break;
	if (l > SP_LEVEL_DEVICE) {
		sp_quote(lv->str, q, sizeof(q));
		TRY(sp_error(SP_E_PARSE, "level '%s' is not defaults, product, group "
		    "or device", q));
	}
	r->lvl.level = (sp_level)l;
	r->lvl.key = r->key;
	if (l == SP_LEVEL_DEFAULTS) {
		ENSURE(key.len == 0, SP_E_PARSE,
		    "the defaults level has the key \"\"");
		r->key[0] = '\0';
	} else if (l == SP_LEVEL_DEVICE) {
		TRY(sp_mac_parse(key, &mac));
		sp_mac_format(&mac, SP_MAC_MA, r->key);
	} else {
		ENSURE(key.len <= SP_STORE_FIELD_MAX, SP_E_LIMIT,
		    "%s longer than %d bytes", sp_level_name(r->lvl.level),
		    SP_STORE_FIELD_MAX);
		memcpy(r->key, key.p, key.len + 1);
	}
	TRY(sp_store_param_check(&r->lvl, r->name, r->value));
	r->access = SP_ACCESS_UNSET;
	if (acc->type == SP_JSON_STRING)
		TRY(sp_access_parse(acc->str, &r->access));
out:
	return res;
}

static sp_result
dec_contact(rd *d)
{
	sp_result res = SP_OK;
	sp_contact *c = &d->r.ct;
	const sp_json_member *ua = get(d, "ua"), *hex = get(d, "ua_hex");
	int64_t st = get(d, "status")->i;
	char again[2 * SP_UA_MAX + 1];
	size_t n = 0;

	memset(c, 0, sizeof(*c));
	TRY(mac_of(d, "contact", &c->mac));
	c->time = get(d, "time")->i;
	ENSURE(c->time >= 0, SP_E_PARSE, "\"time\" must be a Unix time");
	TRY(str_copy(d, "ip", c->ip, SP_CONTACT_IP_MAX));
	TRY(str_copy(d, "etag", c->etag, SP_ETAG_MAX));
	ENSURE(st >= 0 && st <= 999, SP_E_PARSE, "\"status\" %lld is not an HTTP "
	    "status", (long long)st);
	c->status = (int)st;
	ENSURE((ua != NULL) != (hex != NULL), SP_E_PARSE,
	    "a contact record has either \"ua\" or \"ua_hex\"");
	if (ua) {
		TRY(str_copy(d, "ua", c->ua, SP_UA_MAX));
	} else {
		ENSURE(hex->str.len <= 2 * SP_UA_MAX, SP_E_LIMIT,
		    "\"ua_hex\" longer than %d bytes", SP_UA_MAX);
		res = sp_hex_decode(hex->str.p, (uint8_t *)c->ua, SP_UA_MAX, &n);
		if (sp_ok(res))
			sp_hex((const uint8_t *)c->ua, n, again);
		ENSURE(sp_ok(res) && strcmp(again, hex->str.p) == 0 &&
		    memchr(c->ua, '\0', n) == NULL, SP_E_PARSE,
		    "\"ua_hex\" is not lowercase hex of bytes other than NUL");
		c->ua[n] = '\0';
	}
out:
	return res;
}

static sp_result
dec_end(rd *d)
{
	sp_result res = SP_OK;
	int64_t v[3] = { get(d, "devices")->i, get(d, "params")->i,
		get(d, "contacts")->i };

	ENSURE(sp_slice_eq_cstr(get(d, "end")->str, "sprov-dump"), SP_E_PARSE,
	    "the end line reads {\"end\":\"sprov-dump\",...}");
	ENSURE(v[0] >= 0 && v[1] >= 0 && v[2] >= 0, SP_E_PARSE,
	    "the end line's counts must not be negative");
	d->r.end = (sp_dump_counts){ (size_t)v[0], (size_t)v[1], (size_t)v[2] };
out:
	return res;
}

/* Which kind of record, by its identifying member. */
static sp_result
kind_of(const sp_json_obj *o, rkind *k)
{
	sp_result res = SP_OK;
	size_t found = 0;

	for (int i = R_HEADER; i <= R_END; i++)
		if (sp_json_obj_get(o, kind_name[i])) {
			*k = (rkind)i;
			found++;
		}
	ENSURE(found == 1, SP_E_PARSE, found ? "a record of two kinds" :
	    "not a device, param, contact or end record");
out:
	return res;
}

static sp_result
decode(rd *d, sp_slice line)
{
	sp_result res = SP_OK;
	const sp_json_member *v;
	rkind k = R_END;

	res = sp_json_obj_parse(&d->o, line);
	if (d->line == 1 && (sp_failed(res) || sp_failed(kind_of(&d->o, &k)) ||
	    k != R_HEADER)) {
		res = sp_error(SP_E_PARSE, "not an sprov dump (the first line is "
		    "not a {\"sprov-dump\":%d,...} header)", SP_DUMP_VERSION);
		goto out;
	}
	ENSURE(line.len > 0, SP_E_PARSE, "an empty line");
	TRY(res);
	TRY(kind_of(&d->o, &k));
	d->r.kind = k;
	if (k == R_HEADER) {
		v = get(d, "sprov-dump");
		ENSURE(v->type == SP_JSON_INT, SP_E_PARSE,
		    "\"sprov-dump\" must be an integer");
		ENSURE(v->i == SP_DUMP_VERSION, SP_E_PARSE,
		    "dump format version %lld is not supported (this sprov reads "
		    "version %d)", (long long)v->i, SP_DUMP_VERSION);
	}
	TRY(members(&d->o, k));
	switch (k) {
	case R_HEADER: break;
	case R_DEVICE: TRY(dec_device(d)); break;
	case R_PARAM: TRY(dec_param(d)); break;
	case R_CONTACT: TRY(dec_contact(d)); break;
	case R_END: TRY(dec_end(d)); break;
	}
out:
	return res;
}

static int
mac_cmp(const void *a, const void *b)
{
	return memcmp(((const sp_mac *)a)->b, ((const sp_mac *)b)->b,
	    sizeof(((const sp_mac *)a)->b));
}

/* Order, uniqueness, references: the check pass, per record. */
static sp_result
check_rec(rd *d)
{
	sp_result res = SP_OK;
	rec *r = &d->r;
	char ma[SP_MAC_STRLEN];
	sp_mac *nm, mac;
	int c;

	ENSURE(!d->seen_end, SP_E_PARSE, "a record after the end line");
	ENSURE(r->kind != R_HEADER || d->line == 1, SP_E_PARSE, "a second header");
	ENSURE(r->kind >= d->last, SP_E_PARSE, "a %s record after the %s records "
	    "(the order is devices, params, contacts, end)", kind_name[r->kind],
	    kind_name[d->last]);
	if (r->kind != d->last)
		d->have_prev = false;
	d->last = r->kind;
	switch (r->kind) {
	case R_HEADER:
		break;
	case R_DEVICE:
	case R_CONTACT:
		mac = r->kind == R_DEVICE ? r->dev.mac : r->ct.mac;
		sp_mac_format(&mac, SP_MAC_MA, ma);
		ENSURE(!d->have_prev || mac_cmp(&d->prev_mac, &mac) < 0, SP_E_PARSE,
		    "%s %s is repeated or out of order (sorted by MAC)",
		    kind_name[r->kind], ma);
		d->prev_mac = mac;
		if (r->kind == R_CONTACT) {
			d->n.contacts++;
			break;
		}
		if (d->nmacs == d->cap) {
			d->cap = d->cap ? 2 * d->cap : 256;
			TRY_ALLOC(nm, realloc(d->macs, d->cap * sizeof(*nm)));
			d->macs = nm;
		}
		d->macs[d->nmacs++] = mac;
		d->n.devices++;
		break;
	case R_PARAM:
		c = d->have_prev ? (int)r->lvl.level - (int)d->prev_level : 1;
		if (c == 0)
			c = strcmp(r->key, d->prev_key);
		if (c == 0)
			c = strcmp(r->name, d->prev_name);
		ENSURE(c > 0, SP_E_PARSE, "param %s (%s '%s') is repeated or out of "
		    "order (sorted by level, key, name)", r->name,
		    sp_level_name(r->lvl.level), r->key);
		d->prev_level = r->lvl.level;
		memcpy(d->prev_key, r->key, sizeof(d->prev_key));
		snprintf(d->prev_name, sizeof(d->prev_name), "%s", r->name);
		if (r->lvl.level == SP_LEVEL_DEVICE) {
			TRY(sp_mac_parse(sp_slice_of(r->key), &mac));
			ENSURE(bsearch(&mac, d->macs, d->nmacs, sizeof(mac), mac_cmp),
			    SP_E_PARSE, "param %s is for device %s, which is not in "
			    "the dump", r->name, r->key);
		}
		d->n.params++;
		break;
	case R_END:
		d->seen_end = true;
		ENSURE(r->end.devices == d->n.devices && r->end.params == d->n.params &&
		    r->end.contacts == d->n.contacts, SP_E_PARSE,
		    "the end line counts %zu devices, %zu params, %zu contacts; the "
		    "dump holds %zu, %zu, %zu", r->end.devices, r->end.params,
		    r->end.contacts, d->n.devices, d->n.params, d->n.contacts);
		break;
	}
	d->have_prev = true;
out:
	return res;
}

/* The write pass, per record, inside the restore's transaction. */
static sp_result
apply_rec(rd *d)
{
	rec *r = &d->r;

	switch (r->kind) {
	case R_DEVICE:
		if (r->dev.pending)
			return sp_store_device_pending(d->s, &r->dev.mac, r->dev.serial,
			    r->dev.product, r->dev.created);
		return sp_store_device_add(d->s, &r->dev);
	case R_PARAM:
		return sp_store_param_set(d->s, &r->lvl, r->name, r->value, r->access);
	case R_CONTACT:
		return sp_store_contact_batch(d->s, &r->ct, 1);
	case R_HEADER:
	case R_END:
		break;
	}
	return SP_OK;
}

/* Every LF-terminated line through decode and fn; FILE:LINE on errors. */
static sp_result
walk(rd *d, sp_slice in, sp_result (*fn)(rd *))
{
	sp_result res = SP_OK;
	size_t pos = 0;

	d->line = 0;
	ENSURE(in.len > 0, SP_E_PARSE, "%s: empty, not an sprov dump", d->label);
	while (pos < in.len) {
		const char *nl = memchr(in.p + pos, '\n', in.len - pos);
		size_t len = nl ? (size_t)(nl - (in.p + pos)) : in.len - pos;

		d->line++;
		if (nl || d->line == 1)
			res = decode(d, sp_slice_mk(in.p + pos, len));
		if (sp_ok(res) && !nl)
			res = sp_error(SP_E_PARSE, "truncated: the last line has no "
			    "end of line");
		if (sp_ok(res))
			res = fn(d);
		if (sp_failed(res)) {
			res = sp_error_wrap(res, "%s:%zu", d->label, d->line);
			goto out;
		}
		pos += len + 1;
	}
out:
	return res;
}

static void
rd_init(rd *d, const char *label, sp_store *s)
{
	memset(d, 0, sizeof(*d));
	d->label = label;
	d->s = s;
	sp_json_obj_init(&d->o);
}

static void
rd_free(rd *d)
{
	sp_json_obj_free(&d->o);
	free(d->macs);
	OPENSSL_cleanse(&d->r, sizeof(d->r));
}

sp_result
sp_dump_check(const char *name, sp_slice in, sp_dump_counts *n)
{
	sp_result res = SP_OK;
	rd *d = NULL;

	TRY_ALLOC(d, malloc(sizeof(*d)));
	rd_init(d, name, NULL);
	TRY(walk(d, in, check_rec));
	ENSURE(d->seen_end, SP_E_PARSE, "%s: truncated: no end line after line %zu",
	    name, d->line);
	if (n)
		*n = d->n;
out:
	if (d) {
		rd_free(d);
		free(d);
	}
	return res;
}

sp_result
sp_store_restore(sp_store *s, const char *store, const char *name, sp_slice in,
    bool force, sp_dump_counts *n)
{
	sp_result res = SP_OK;
	rd *d = NULL;
	bool in_tx = false, empty = false;

	TRY(sp_dump_check(name, in, n));
	TRY_ALLOC(d, malloc(sizeof(*d)));
	rd_init(d, name, s);
	TRY(sp_store_begin(s));
	in_tx = true;
	TRY(sp_store_is_empty(s, &empty));
	if (!empty) {
		ENSURE(force, SP_E_EXISTS, "store %s is not empty: restore only into "
		    "an empty store, or use --force to replace its content", store);
		TRY(sp_store_clear(s));
	}
	TRY(walk(d, in, apply_rec));
	in_tx = false;
	TRY(sp_store_commit(s));
out:
	if (in_tx)
		sp_store_rollback(s);
	if (d) {
		rd_free(d);
		free(d);
	}
	return res;
}
