/*
 * Profile rules and macros.  Input: the rule text, optionally followed by
 * "\n" and a value that GPP_B takes (so odd macro values are exercised too).
 * Invariants:
 *  - no crash, every output within its named limit;
 *  - non-interference: with two different values of the secret macro $SA
 *    (same length), everything but the expanded --key is byte-identical:
 *    the URL, uid/pwd, assignments, the trace, the description and a
 *    flags=0 expansion.  So $SA reaches nothing but the key;
 *  - text without '$' expands to itself.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "profile/rule.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
must(sp_result r)
{
	if (sp_failed(r))
		abort();
}

static bool
buf_eq(const sp_buf *a, const sp_buf *b)
{
	return a->len == b->len && (a->len == 0 || memcmp(a->p, b->p, a->len) == 0);
}

static void
fill(sp_macros *m, sp_slice gpp_b, const char *secret)
{
	sp_macros_init(m);
	must(sp_macros_set_cstr(m, "MA", "000e08aabbcc"));
	must(sp_macros_set_cstr(m, "MAU", "000E08AABBCC"));
	must(sp_macros_set_cstr(m, "MAC", "00:0e:08:aa:bb:cc"));
	must(sp_macros_set_cstr(m, "PN", "SPA2102"));
	must(sp_macros_set_cstr(m, "PSN", "2102"));
	must(sp_macros_set_cstr(m, "SN", "88012BA01234"));
	must(sp_macros_set_cstr(m, "SWVER", "2.0.3(0412s)"));
	must(sp_macros_set_cstr(m, "PRVST", "-1"));
	must(sp_macros_set_cstr(m, "A", "1"));
	must(sp_macros_set_cstr(m, "SA", secret));
	must(sp_macros_set(m, SP_M_B, gpp_b));
}

typedef struct run {
	sp_macros m;
	sp_rule_choice c;
	sp_buf exp, desc;
	sp_code exp_code, sel_code, desc_code;
} run;

static void
one(const sp_rule *r, sp_slice rule, sp_slice gpp_b, const char *secret, run *o)
{
	fill(&o->m, gpp_b, secret);
	sp_rule_choice_init(&o->c);
	sp_buf_init(&o->exp, 1u << 20);
	sp_buf_init(&o->desc, 1u << 20);
	o->exp_code = sp_macro_expand(rule, &o->m, 0, &o->exp).code;
	o->sel_code = o->desc_code = SP_E_OK;
	if (r == NULL)
		return;
	o->sel_code = sp_rule_select(r, &o->m, &o->c).code;
	if (o->sel_code == SP_E_OK)
		o->desc_code = sp_rule_describe(r, &o->c, &o->m, &o->desc).code;
}

static void
done(run *o)
{
	sp_macros_free(&o->m);
	sp_rule_choice_free(&o->c);
	sp_buf_free(&o->exp);
	sp_buf_free(&o->desc);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	sp_slice in = sp_slice_mk((const char *)data, size), rule = in, gpp_b = { "", 0 };
	sp_rule *r = NULL;
	run a, b;
	bool has_dollar = size && memchr(data, '$', size) != NULL;

	size_t nl = sp_slice_find(in, '\n');
	if (nl < in.len) {
		rule = sp_slice_mk(in.p, nl);
		gpp_b = sp_slice_mk(in.p + nl + 1, in.len - nl - 1);
		if (gpp_b.len > SP_MACRO_VALUE_MAX)
			gpp_b.len = SP_MACRO_VALUE_MAX;
	}
	if (sp_ok(sp_rule_parse(rule, &r)) &&
	    (rule.len > SP_RULE_MAX || sp_rule_count(r) > SP_RULE_ALTS_MAX))
		abort();
	one(r, rule, gpp_b, "first-secret", &a);
	one(r, rule, gpp_b, "other-SECRET", &b);

	if (a.exp_code != b.exp_code || !buf_eq(&a.exp, &b.exp))
		abort();
	if (a.exp_code == SP_E_OK) {
		if (a.exp.len > SP_MACRO_OUT_MAX)
			abort();
		if (!has_dollar && !sp_slice_eq(sp_slice_mk(a.exp.p, a.exp.len), rule))
			abort();
	}
	if (r == NULL)
		goto out;
	if (a.sel_code != b.sel_code)
		abort();
	if (a.sel_code == SP_E_OK) {
		sp_rule_choice *c = &a.c, *d = &b.c;
		if (c->alt >= (int)sp_rule_count(r) || c->n_tried > sp_rule_count(r))
			abort();
		if (c->alt >= 0 && c->n_tried != (size_t)c->alt + 1)
			abort();
		if (c->url.len > SP_MACRO_OUT_MAX || c->key.len > SP_MACRO_OUT_MAX ||
		    strlen(c->target.host) > SP_URL_HOST_MAX || c->n_assign > SP_RULE_ASSIGNS_MAX)
			abort();
		if (c->has_url && c->target.path[0] != '/')
			abort();
		if (c->alt != d->alt || c->has_url != d->has_url || !buf_eq(&c->url, &d->url) ||
		    !buf_eq(&c->uid, &d->uid) || !buf_eq(&c->pwd, &d->pwd) ||
		    !buf_eq(&c->trace, &d->trace) || c->n_assign != d->n_assign ||
		    c->has_key != d->has_key)
			abort();
		for (size_t i = 0; i < c->n_assign; i++)
			if (!buf_eq(&c->assign[i].value, &d->assign[i].value))
				abort();
		if (a.desc_code != b.desc_code || !buf_eq(&a.desc, &b.desc))
			abort();
	}
out:
	done(&a);
	done(&b);
	sp_rule_free(r);
	return 0;
}
