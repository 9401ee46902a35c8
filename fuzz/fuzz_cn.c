/*
 * The CN rule.  Invariants: an accepted CN is at most 64 bytes, has no NUL,
 * its FQDN part passes the FQDN rule on its own, and fqdn + "/" + extra
 * rebuilds the input exactly.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "identity/cn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	sp_slice in = sp_slice_mk((const char *)data, size);
	sp_cn cn;

	if (sp_failed(sp_cn_parse(in, &cn)))
		return 0;
	if (size > SP_CN_MAX || memchr(data, 0, size))
		abort();
	if (sp_failed(sp_fqdn_check(cn.fqdn)))
		abort();
	size_t rebuilt = cn.fqdn.len + (cn.has_extra ? 1 + cn.extra.len : 0);
	if (rebuilt != size || cn.fqdn.p != in.p)
		abort();
	if (cn.has_extra && (cn.extra.p != in.p + cn.fqdn.len + 1 || cn.extra.len == 0))
		abort();
	if (!sp_fqdn_within(cn.fqdn, cn.fqdn))
		abort();
	return 0;
}
