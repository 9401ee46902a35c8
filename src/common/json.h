/*
 * The one JSON reader: a strict parser for one flat object per line (the
 * JSON Lines of `sprov db dump`).  Writing JSON is common/text.h's job.
 *
 * Accepted: {"name": value, ...} where a value is a string, an integer
 * (-?(0|[1-9][0-9]*) within int64), true, false or null; blanks (space,
 * tab, CR) between tokens.  Refused, with the column and the reason:
 * nested objects and arrays, fractions and exponents, duplicate names,
 * raw control bytes, invalid UTF-8 (also as escaped surrogates), \u0000,
 * anything after the closing brace, more than SP_JSON_MEMBERS_MAX members.
 *
 * Decoded names and strings live in the object's own buffer, each
 * NUL-terminated (no string holds a NUL), so they can be used as C strings.
 * The buffer is a secret one (values may be SIP passwords): freeing wipes.
 */
#ifndef SPROV_COMMON_JSON_H
#define SPROV_COMMON_JSON_H

#include <stdbool.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/result.h"

#define SP_JSON_MEMBERS_MAX 16
#define SP_JSON_LINE_MAX (256u * 1024)  /* bytes of one line */

typedef enum {
	SP_JSON_STRING,
	SP_JSON_INT,
	SP_JSON_BOOL,
	SP_JSON_NULL,
} sp_json_type;

typedef struct sp_json_member {
	const char *name;   /* decoded, NUL-terminated */
	sp_json_type type;
	sp_slice str;       /* SP_JSON_STRING: decoded (str.p[str.len] == 0) */
	int64_t i;          /* SP_JSON_INT */
	bool b;             /* SP_JSON_BOOL */
} sp_json_member;

typedef struct sp_json_obj {
	sp_json_member m[SP_JSON_MEMBERS_MAX];
	size_t n;
	sp_buf text;        /* the decoded names and strings */
} sp_json_obj;

void sp_json_obj_init(sp_json_obj *o);
/* Wipes the decoded text; NULL-safe after init. */
void sp_json_obj_free(sp_json_obj *o);
/*
 * Parse one line (without its LF) into o, replacing what o held.
 * SP_E_PARSE "column N: reason" or SP_E_LIMIT past SP_JSON_LINE_MAX.
 */
SP_MUST_CHECK sp_result sp_json_obj_parse(sp_json_obj *o, sp_slice line);
/* The member called name, or NULL. */
const sp_json_member *sp_json_obj_get(const sp_json_obj *o, const char *name);
/* "a string", "an integer", "true or false", "null": for messages. */
const char *sp_json_type_name(sp_json_type t);

#endif
