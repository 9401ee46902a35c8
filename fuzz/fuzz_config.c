/*
 * `sprov serve` config text through inih (ini_parse_string) and our
 * setter.  Invariants: a config that parses has 1..SP_TPLS_MAX valid
 * templates, NUL-terminated strings within their buffers, and parsing the
 * same text again gives the same result.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static sp_serve_config a, b;

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	sp_slice s = sp_slice_mk((const char *)data, size);
	sp_result r1, r2;

	sp_serve_config_init(&a);
	sp_serve_config_init(&b);
	r1 = sp_serve_config_parse(s, &a);
	r2 = sp_serve_config_parse(s, &b);
	if (r1.code != r2.code)
		abort();
	if (sp_failed(r1))
		return 0;
	if (a.npaths > SP_TPLS_MAX || memchr(a.listen, '\0', sizeof(a.listen)) == NULL ||
	    memchr(a.store, '\0', sizeof(a.store)) == NULL)
		abort();
	for (size_t i = 0; i < a.npaths; i++)
		if (a.paths[i].src[0] != '/' || strcmp(a.paths[i].src, b.paths[i].src) != 0)
			abort();
	if (a.workers != b.workers || a.header_timeout != b.header_timeout)
		abort();
	r1 = sp_serve_config_finish(&a);
	if (sp_ok(r1) && a.overload_connections > a.max_connections)
		abort();
	return 0;
}
