/*
 * The identity rule over arbitrary subjects.  Input: records of
 * [type byte][len byte][value].  Invariants: an accepted identity has a
 * serial and product of tame characters, and the same subject gives the same
 * answer in auto mode as in the style auto mode picked.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "identity/devid.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_tame(const char *s)
{
	for (; *s; s++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:", *s))
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	sp_name_attr attrs[40];
	size_t n = 0, i = 0;
	sp_devid id, id2;

	while (i + 2 <= size && n < sizeof(attrs) / sizeof(attrs[0])) {
		size_t len = data[i + 1];
		if (i + 2 + len > size)
			len = size - i - 2;
		attrs[n].type = (sp_attr_type)(data[i] % 7);
		attrs[n].value = sp_slice_mk((const char *)data + i + 2, len);
		n++;
		i += 2 + len;
	}
	for (int mode = SP_IDSTYLE_AUTO; mode <= SP_IDSTYLE_SPA; mode++) {
		if (sp_failed(sp_devid_from_attrs(attrs, n, (sp_idstyle)mode, &id)))
			continue;
		check_tame(id.serial);
		check_tame(id.product);
		if (mode == SP_IDSTYLE_AUTO) {
			if (sp_failed(sp_devid_from_attrs(attrs, n, id.style, &id2)) ||
			    !sp_mac_eq(&id.mac, &id2.mac) || strcmp(id.serial, id2.serial) != 0)
				abort();
		}
	}
	return 0;
}
