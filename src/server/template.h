/*
 * Profile path templates: "/profiles/$MA.xml", "/spa$PSN.cfg".
 *
 * Pure code (no I/O, no globals): the request fuzzer links it directly.
 *
 * Macros ($NAME or $(NAME); "$$" is a literal '$'):
 *   $MA   MAC, 12 lowercase hex digits        identity
 *   $MAU  MAC, 12 uppercase hex digits        identity
 *   $MAC  MAC, lowercase with colons          identity
 *   $SN   serial number                       identity
 *   $PN   product name ("SPA2102")            product
 *   $PSN  product series ("2102")             product
 *
 * A request path matches a template when it has the template's literal
 * text and, where each macro stands, a value of that macro's shape
 * (hex digits, or 1..64 of [A-Za-z0-9._:-]).  Matching is a dynamic
 * programme over (segment, offset): O(segments x length x 64), no
 * backtracking blow-up.
 *
 * Routing, sp_route(): the path is matched against every template.
 *   - A matching template WITH identity macros: the template expanded with
 *     the certificate's identity must equal the path, byte for byte; if so
 *     the device gets its own profile, else MISMATCH (403 + audit line).
 *   - A matching template WITHOUT identity macros: the asking device gets
 *     its own profile (product macros only shape the path).
 *   - Nothing matches: NONE (404).
 * Any template giving SELF wins over another giving MISMATCH (a serial can
 * look like a MAC: "/p/$MAU" and "/p/$SN" may both match one path).
 *
 * $PSN, the product series: the product name without its leading ASCII
 * letters and one '-' after them: "SPA2102" -> "2102", "SPA-962" -> "962",
 * "PAP2T" -> "2T".  A product of letters only is its own series.
 */
#ifndef SPROV_SERVER_TEMPLATE_H
#define SPROV_SERVER_TEMPLATE_H

#include <stdbool.h>
#include <stddef.h>

#include "common/buf.h"
#include "common/result.h"
#include "identity/devid.h"

#define SP_TPL_LEN_MAX 256   /* template source, bytes */
#define SP_TPL_SEGS_MAX 32   /* literal runs + macros */
#define SP_TPLS_MAX 16       /* templates per server */
#define SP_REQ_PATH_MAX 2048 /* request path matched against templates */
#define SP_MACRO_VALUE_MAX SP_DEVID_FIELD_MAX

typedef enum {
	SP_MACRO_MA, SP_MACRO_MAU, SP_MACRO_MAC, SP_MACRO_SN, SP_MACRO_PN,
	SP_MACRO_PSN,
} sp_macro;

typedef struct sp_tpl_seg {
	bool is_macro;
	sp_macro macro;
	unsigned short off, len; /* literal: bytes in sp_tpl.lit */
} sp_tpl_seg;

typedef struct sp_tpl {
	char src[SP_TPL_LEN_MAX + 1]; /* as configured */
	char lit[SP_TPL_LEN_MAX + 1]; /* literal bytes, "$$" unescaped */
	sp_tpl_seg seg[SP_TPL_SEGS_MAX];
	size_t nseg;
	bool has_identity;
} sp_tpl;

/* Parse a template: starts with '/', no control bytes, no '?', no '%'. */
SP_MUST_CHECK sp_result sp_tpl_parse(sp_slice src, sp_tpl *out);

/* Structural match (shapes only). */
bool sp_tpl_match(const sp_tpl *t, sp_slice path);

/* The path this device would ask for (bounded by SP_REQ_PATH_MAX). */
SP_MUST_CHECK sp_result sp_tpl_expand(const sp_tpl *t, const sp_devid *id,
    sp_buf *out);

typedef enum {
	SP_ROUTE_NONE = 0,  /* no template matches: 404 */
	SP_ROUTE_SELF,      /* serve the asking device its own profile */
	SP_ROUTE_MISMATCH,  /* names another device: 403 + audit */
} sp_route_kind;

/* *which: index of the deciding template (valid unless NONE). */
sp_route_kind sp_route(const sp_tpl *tpls, size_t n, sp_slice path,
    const sp_devid *id, size_t *which);

#define SP_PSN_MAX SP_DEVID_FIELD_MAX
void sp_psn(const char *product, char out[SP_PSN_MAX + 1]);

#endif
