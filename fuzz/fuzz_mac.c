/* MAC parsing.  Invariant: every accepted input round-trips through each style. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "identity/mac.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	sp_mac m, m2;
	char s[SP_MAC_STRLEN];

	if (sp_failed(sp_mac_parse(sp_slice_mk((const char *)data, size), &m)))
		return 0;
	if (size != 12 && size != 17)
		abort();
	for (int style = SP_MAC_MA; style <= SP_MAC_MAC; style++) {
		sp_mac_format(&m, (sp_mac_style)style, s);
		if (sp_failed(sp_mac_parse(sp_slice_of(s), &m2)) || !sp_mac_eq(&m, &m2))
			abort();
	}
	return 0;
}
