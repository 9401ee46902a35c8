/*
 * device.conf and the state file: "Name = value" lines, '#' comments.
 *
 *   # identity
 *   MAC = 000e08aabbcc
 *   Serial_Number = 88012BA01234
 *   Product_Name = SPA2102
 *   Product_Series = 2102
 *   Software_Version = 1.0.0
 *   Hardware_Version = 1.0
 *   # provisioning parameters (any flat-profile name)
 *   Profile_Rule = [--key $SA] https://prov.example.test/$MA.cfg
 *   Resync_Periodic = 1800+300,3600+600
 *
 * A value runs to the end of its line, trimmed; it may be empty.  Names
 * follow the flat-profile rule (sp_param_name_check).  The last line for a
 * name wins.  Pure code: no I/O.
 */
#ifndef SPROV_DEVICE_CONF_H
#define SPROV_DEVICE_CONF_H

#include "common/buf.h"
#include "common/result.h"
#include "identity/devid.h"
#include "identity/mac.h"
#include "profile/param.h"

#define SP_DEVCONF_MAX (256u * 1024)  /* device.conf / state file bytes */
#define SP_DEVCONF_LINE_MAX (SP_PARAM_NAME_MAX + SP_PARAM_VALUE_MAX + 16)

typedef struct sp_identity {
	sp_mac mac;
	char serial[SP_DEVID_FIELD_MAX + 1];
	char product[SP_DEVID_FIELD_MAX + 1];  /* $PN */
	char series[SP_DEVID_FIELD_MAX + 1];   /* $PSN */
	char swver[SP_DEVID_FIELD_MAX + 1];
	char hwver[SP_DEVID_FIELD_MAX + 1];
} sp_identity;

/* Parse "Name = value" lines into kv (merged, last wins). */
SP_MUST_CHECK sp_result sp_kv_parse(sp_slice text, sp_params *kv);
/* Render kv as "Name = value" lines, sorted (deterministic). */
SP_MUST_CHECK sp_result sp_kv_render(const sp_params *kv, sp_buf *out);

/*
 * device.conf: the identity keys (MAC required) are taken out of the lines,
 * everything else becomes a provisioning parameter in params.
 */
SP_MUST_CHECK sp_result sp_devconf_parse(sp_slice text, sp_identity *id,
    sp_params *params);
SP_MUST_CHECK sp_result sp_devconf_render(const sp_identity *id,
    const sp_params *params, sp_buf *out);

/* The product series from a product name: its trailing digits ("SPA2102" -> "2102"). */
void sp_identity_series_from_product(const char *product, char out[SP_DEVID_FIELD_MAX + 1]);

/* "Yes"/"No" style booleans of the guides (yes, no, true, false, 1, 0). */
SP_MUST_CHECK sp_result sp_param_bool(const char *v, const char *name, bool *out);

#endif
