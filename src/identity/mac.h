/*
 * MAC addresses as devices and the digest's macros spell them.
 * Accepted input: 12 hex digits (any case) or six colon-separated pairs.
 */
#ifndef SPROV_IDENTITY_MAC_H
#define SPROV_IDENTITY_MAC_H

#include <stdint.h>

#include "common/buf.h"
#include "common/result.h"

typedef struct sp_mac {
	uint8_t b[6];
} sp_mac;

typedef enum {
	SP_MAC_MA,   /* 000e08aabbcc ($MA, also the bundle directory name) */
	SP_MAC_MAU,  /* 000E08AABBCC ($MAU) */
	SP_MAC_MAC,  /* 00:0e:08:aa:bb:cc ($MAC) */
} sp_mac_style;

#define SP_MAC_STRLEN 18 /* enough for every style plus NUL */

SP_MUST_CHECK sp_result sp_mac_parse(sp_slice s, sp_mac *out);
void sp_mac_format(const sp_mac *m, sp_mac_style style, char out[SP_MAC_STRLEN]);
bool sp_mac_eq(const sp_mac *a, const sp_mac *b);

#endif
