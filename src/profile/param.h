/*
 * A parameter set: what a profile carries and what a device applies.
 * Names are case-sensitive element names (Dial_Plan_1_), values are UTF-8,
 * access is the ua="na|ro|rw" attribute (SP_ACCESS_UNSET when absent).
 *
 * sp_params keeps its entries sorted by name (byte order), so rendering the
 * same parameters always gives the same bytes, and lookups are O(log n).
 * Setting an existing name replaces it: "the last occurrence wins".
 */
#ifndef SPROV_PROFILE_PARAM_H
#define SPROV_PROFILE_PARAM_H

#include <stddef.h>

#include "common/buf.h"
#include "common/result.h"

#define SP_PARAM_NAME_MAX 128
#define SP_PARAM_VALUE_MAX 8192
#define SP_PARAMS_MAX 20000

typedef enum {
	SP_ACCESS_UNSET = 0,
	SP_ACCESS_NA,
	SP_ACCESS_RO,
	SP_ACCESS_RW,
} sp_access;

typedef struct sp_param {
	char *name;
	char *value;
	size_t value_len;
	sp_access access;
} sp_param;

typedef struct sp_params {
	sp_param *v;
	size_t n, cap;
} sp_params;

void sp_params_init(sp_params *ps);
/* Frees every entry; values are wiped first (they hold SIP passwords). */
void sp_params_free(sp_params *ps);
SP_MUST_CHECK sp_result sp_params_set(sp_params *ps, sp_slice name, sp_slice value,
    sp_access access);
SP_MUST_CHECK sp_result sp_params_set_cstr(sp_params *ps, const char *name,
    const char *value, sp_access access);
/* Remove a name; returns true if it was there. */
bool sp_params_unset(sp_params *ps, const char *name);
const sp_param *sp_params_get(const sp_params *ps, const char *name);
/* NULL-safe: the value or `dflt`. */
const char *sp_params_value(const sp_params *ps, const char *name, const char *dflt);
/* dst gets every entry of src (src wins). */
SP_MUST_CHECK sp_result sp_params_merge(sp_params *dst, const sp_params *src);
SP_MUST_CHECK sp_result sp_params_copy(sp_params *dst, const sp_params *src);
bool sp_params_equal(const sp_params *a, const sp_params *b);

SP_MUST_CHECK sp_result sp_access_parse(sp_slice s, sp_access *out);
const char *sp_access_name(sp_access a); /* "" for UNSET */

/*
 * A valid parameter name: 1..SP_PARAM_NAME_MAX of [A-Za-z0-9_] not starting
 * with a digit (an XML element name of the flat-profile dialect).
 */
SP_MUST_CHECK sp_result sp_param_name_check(sp_slice name);

/*
 * The element name for a web field name: spaces and [ ] ( ) / become '_'
 * ("Dial Plan[1]" -> "Dial_Plan_1_").  Fails if the result is not valid.
 */
SP_MUST_CHECK sp_result sp_param_name_from_field(sp_slice field, sp_buf *out);

#endif
