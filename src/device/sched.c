#include "device/sched.h"

#include <string.h>

#include "common/util.h"
#include "device/conf.h"
#include "common/text.h"

sp_result
sp_sched_parse(sp_slice s, sp_sched *out)
{
	sp_result res = SP_OK;
	size_t pos = 0;

	memset(out, 0, sizeof(*out));
	s = sp_slice_trim(s);
	ENSURE(s.len > 0, SP_E_PARSE, "empty schedule");
	for (;;) {
		sp_slice rest = sp_slice_mk(s.p + pos, s.len - pos);
		size_t comma = sp_slice_find(rest, ',');
		sp_slice ent = sp_slice_trim(sp_slice_mk(rest.p, comma));
		size_t plus = sp_slice_find(ent, '+');
		sp_sched_entry e = { 0, 0 };

		ENSURE(out->n < SP_SCHED_ENTRIES_MAX, SP_E_LIMIT,
		    "schedule: more than %d entries", SP_SCHED_ENTRIES_MAX);
		TRY(sp_parse_i64_slice(sp_slice_trim(sp_slice_mk(ent.p, plus)), 0,
		    SP_SCHED_SECONDS_MAX, "schedule delay", &e.base));
		if (plus < ent.len)
			TRY(sp_parse_i64_slice(sp_slice_trim(sp_slice_mk(ent.p + plus + 1,
			    ent.len - plus - 1)), 0, SP_SCHED_SECONDS_MAX, "schedule random delay",
			    &e.rand));
		out->v[out->n++] = e;
		if (comma >= rest.len)
			break;
		pos += comma + 1;
	}
	/* "0" alone switches periodic resync off; a 0 inside a list would spin. */
	if (out->n == 1 && out->v[0].base == 0 && out->v[0].rand == 0) {
		out->n = 0;
		goto out;
	}
	for (size_t i = 0; i < out->n; i++)
		ENSURE(out->v[i].base > 0, SP_E_PARSE, "schedule entry %zu: delay must be positive",
		    i + 1);
out:
	if (sp_failed(res))
		memset(out, 0, sizeof(*out));
	return res;
}

sp_result
sp_resync_at_parse(sp_slice s, int *minute)
{
	sp_result res = SP_OK;
	char d[4];
	size_t n = 0;
	int64_t hh, mm;

	*minute = -1;
	s = sp_slice_trim(s);
	if (s.len == 0)
		return SP_OK;
	for (size_t i = 0; i < s.len; i++) {
		if (s.p[i] == ':' && i == 2)
			continue;
		if (n >= 4 || s.p[i] < '0' || s.p[i] > '9') {
			char q[40];
			sp_quote(s, q, sizeof(q)); /* s is a slice: never %s it */
			ENSURE(0, SP_E_PARSE, "Resync_At: '%s' is not HHmm", q);
		}
		d[n++] = s.p[i];
	}
	ENSURE(n == 4, SP_E_PARSE, "Resync_At: expected HHmm");
	TRY(sp_parse_i64_slice(sp_slice_mk(d, 2), 0, 23, "Resync_At hour", &hh));
	TRY(sp_parse_i64_slice(sp_slice_mk(d + 2, 2), 0, 59, "Resync_At minute", &mm));
	*minute = (int)(hh * 60 + mm);
out:
	return res;
}

static sp_result
num(const sp_params *ps, const char *name, const char *dflt, int64_t *out)
{
	return sp_parse_i64(sp_params_value(ps, name, dflt), 0, SP_SCHED_SECONDS_MAX, name, out);
}

sp_result
sp_timers_from_params(const sp_params *ps, sp_timers *out)
{
	sp_result res = SP_OK;

	memset(out, 0, sizeof(*out));
	TRY(num(ps, "Resync_Random_Delay", "2", &out->random_delay));
	res = sp_sched_parse(sp_slice_of(sp_params_value(ps, "Resync_Periodic", "3600")),
	    &out->periodic);
	if (sp_failed(res)) {
		res = sp_error_wrap(res, "Resync_Periodic");
		goto out;
	}
	TRY(num(ps, "Resync_Error_Retry_Delay", "3600", &out->error_retry));
	TRY(sp_resync_at_parse(sp_slice_of(sp_params_value(ps, "Resync_At", "")),
	    &out->at_minute));
	TRY(num(ps, "Resync_At_Random_Delay", "600", &out->at_random));
	TRY(sp_param_bool(sp_params_value(ps, "Resync_On_Reset", "Yes"), "Resync_On_Reset",
	    &out->on_reset));
out:
	return res;
}

static int64_t
rnd(sp_rng_fn rng, void *arg, int64_t bound)
{
	return bound > 0 ? (int64_t)rng(arg, (uint64_t)bound) : 0;
}

static int64_t
next_success(const sp_timers *t, unsigned *idx, int64_t now, int64_t utc_offset,
    sp_rng_fn rng, void *arg)
{
	if (t->at_minute >= 0) {
		int64_t local = now + utc_offset;
		int64_t day = ((local % 86400) + 86400) % 86400;
		int64_t delta = (int64_t)t->at_minute * 60 - day;
		if (delta <= 0)
			delta += 86400;
		return now + delta + rnd(rng, arg, t->at_random);
	}
	if (t->periodic.n == 0)
		return SP_NEVER;
	const sp_sched_entry *e = &t->periodic.v[*idx < t->periodic.n ? *idx : t->periodic.n - 1];
	if (*idx < t->periodic.n)
		(*idx)++;
	return now + e->base + rnd(rng, arg, e->rand);
}

int64_t
sp_next_resync(const sp_timers *t, sp_timer_event ev, unsigned *periodic_idx, int64_t now,
    int64_t utc_offset, sp_rng_fn rng, void *rng_arg)
{
	switch (ev) {
	case SP_EV_START:
		*periodic_idx = 0;
		if (t->on_reset)
			return now + rnd(rng, rng_arg, t->random_delay);
		return next_success(t, periodic_idx, now, utc_offset, rng, rng_arg);
	case SP_EV_FAILURE:
		if (t->error_retry > 0)
			return now + t->error_retry;
		return next_success(t, periodic_idx, now, utc_offset, rng, rng_arg);
	case SP_EV_SUCCESS:
	default:
		return next_success(t, periodic_idx, now, utc_offset, rng, rng_arg);
	}
}
