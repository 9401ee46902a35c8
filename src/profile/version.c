/*
 * Version comparison (version.h), shared by the rules' conditions, the
 * device's Downgrade_Rev_Limit and the server's rollouts.
 */
#include "profile/version.h"

#include <string.h>

int
sp_digits_cmp(sp_slice a, sp_slice b)
{
	while (a.len > 1 && a.p[0] == '0') {
		a.p++;
		a.len--;
	}
	while (b.len > 1 && b.p[0] == '0') {
		b.p++;
		b.len--;
	}
	if (a.len != b.len)
		return a.len < b.len ? -1 : 1;
	int c = a.len ? memcmp(a.p, b.p, a.len) : 0;
	return c < 0 ? -1 : c > 0;
}

int
sp_bytes_cmp(sp_slice a, sp_slice b)
{
	size_t n = a.len < b.len ? a.len : b.len;
	int c = n ? memcmp(a.p, b.p, n) : 0;

	if (c)
		return c < 0 ? -1 : 1;
	return a.len < b.len ? -1 : a.len > b.len;
}

static size_t
digit_run(sp_slice s, size_t i)
{
	size_t j = i;

	while (j < s.len && s.p[j] >= '0' && s.p[j] <= '9')
		j++;
	return j - i;
}

/* N(.N)*[(build)] : the dotted part and the build (without parentheses). */
static bool
split_version(sp_slice s, sp_slice *dotted, sp_slice *build)
{
	size_t i = 0;

	*build = sp_slice_mk("", 0);
	for (;;) {
		size_t d = digit_run(s, i);
		if (d == 0)
			return false;
		i += d;
		if (i < s.len && s.p[i] == '.') {
			i++;
			continue;
		}
		break;
	}
	*dotted = sp_slice_mk(s.p, i);
	if (i == s.len)
		return true;
	if (s.p[i] != '(' || s.len - i < 2 || s.p[s.len - 1] != ')')
		return false;
	*build = sp_slice_mk(s.p + i + 1, s.len - i - 2);
	return sp_slice_find(*build, '(') == build->len &&
	    sp_slice_find(*build, ')') == build->len;
}

bool
sp_version_ok(sp_slice s)
{
	sp_slice d, b;

	return split_version(s, &d, &b);
}

int
sp_version_cmp(sp_slice a, sp_slice b)
{
	sp_slice da, db, ba, bb;
	size_t i = 0, j = 0;

	if (!split_version(a, &da, &ba) || !split_version(b, &db, &bb))
		return sp_bytes_cmp(a, b);
	/* Component by component; a missing component is 0. */
	while (i < da.len || j < db.len) {
		size_t na = i < da.len ? digit_run(da, i) : 0;
		size_t nb = j < db.len ? digit_run(db, j) : 0;
		int c = sp_digits_cmp(na ? sp_slice_mk(da.p + i, na) : SP_SLICE_LIT("0"),
		    nb ? sp_slice_mk(db.p + j, nb) : SP_SLICE_LIT("0"));
		if (c)
			return c;
		i += na + (i + na < da.len ? 1 : 0);
		j += nb + (j + nb < db.len ? 1 : 0);
		if (na == 0)
			i = da.len;
		if (nb == 0)
			j = db.len;
	}
	/* Build: leading number, then the rest byte-wise ("0412s"). */
	size_t ra = digit_run(ba, 0), rb = digit_run(bb, 0);
	int c = sp_digits_cmp(ra ? sp_slice_mk(ba.p, ra) : SP_SLICE_LIT("0"),
	    rb ? sp_slice_mk(bb.p, rb) : SP_SLICE_LIT("0"));
	if (c)
		return c;
	return sp_bytes_cmp(sp_slice_mk(ba.p + ra, ba.len - ra),
	    sp_slice_mk(bb.p + rb, bb.len - rb));
}
