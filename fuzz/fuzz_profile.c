/*
 * Profile decoding: plain XML, gzip, and openssl-enc encrypted input (with
 * the fixed key "fuzzkey").  Invariants:
 *  - no crash, nothing beyond the named limits;
 *  - feeding the same XML in two chunks gives the same outcome and params;
 *  - a parsed profile renders (parsed values are always renderable), and
 *    re-parsing the rendering gives equal params and, rendered again, the
 *    same bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "profile/profile.h"

#define FUZZ_KEY "fuzzkey"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool
parse_split(sp_slice xml, size_t cut, sp_params *out)
{
	sp_profile_parser *p = NULL;
	bool ok = sp_ok(sp_profile_parser_new(&p)) &&
	    sp_ok(sp_profile_parser_feed(p, sp_slice_mk(xml.p, cut))) &&
	    sp_ok(sp_profile_parser_feed(p, sp_slice_mk(xml.p + cut, xml.len - cut))) &&
	    sp_ok(sp_profile_parser_finish(p, out));
	sp_profile_parser_free(p);
	return ok;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	sp_slice in = sp_slice_mk((const char *)data, size);
	sp_params ps, back, split;
	sp_buf r1, r2;
	const char *key = sp_profile_is_encrypted(in) ? FUZZ_KEY : NULL;

	sp_params_init(&ps);
	sp_params_init(&back);
	sp_params_init(&split);
	sp_buf_init(&r1, SP_PROFILE_MAX);
	sp_buf_init(&r2, SP_PROFILE_MAX);

	bool ok = sp_ok(sp_profile_decode(in, key, &ps));
	if (!ok && ps.n != 0)
		abort();  /* all or nothing */
	if (key == NULL && !sp_profile_is_gzip(in)) {
		/* Plain XML: the incremental parser agrees with the one-shot one. */
		bool ok2 = parse_split(in, size / 2, &split);
		if (ok != ok2 || (ok && !sp_params_equal(&ps, &split)))
			abort();
	}
	if (!ok)
		goto out;
	if (ps.n > SP_PARAMS_MAX)
		abort();
	for (size_t i = 0; i < ps.n; i++)
		if (ps.v[i].value_len > SP_PARAM_VALUE_MAX)
			abort();
	if (sp_failed(sp_profile_render(&ps, &r1)))
		abort();
	if (sp_failed(sp_profile_parse(sp_slice_mk(r1.p, r1.len), &back)))
		abort();
	if (!sp_params_equal(&ps, &back))
		abort();
	if (sp_failed(sp_profile_render(&back, &r2)) || r1.len != r2.len ||
	    memcmp(r1.p, r2.p, r1.len) != 0)
		abort();
out:
	sp_params_free(&ps);
	sp_params_free(&back);
	sp_params_free(&split);
	sp_buf_free(&r1);
	sp_buf_free(&r2);
	return 0;
}
