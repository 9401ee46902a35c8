/*
 * Text for people and for machines, written one way everywhere.
 *
 * sp_quote: untrusted bytes made safe for a one-line message or a terminal.
 * Printable ASCII passes, except '\\'; every other byte becomes \xNN.  Long
 * input is cut at a whole character and ends in "...", so a message stays
 * one line.  sp_quote_field: the same rule, and '"' becomes \x22 too, for a
 * value that sits between double quotes (the access log's fields).
 *
 * sp_json_*: JSON string values (RFC 8259).  '"', '\\' and control bytes are
 * escaped; valid UTF-8 passes through; each byte of an invalid sequence
 * becomes U+FFFD, so the output is always valid JSON in valid UTF-8.
 */
#ifndef SPROV_COMMON_TEXT_H
#define SPROV_COMMON_TEXT_H

#include <stdbool.h>
#include <stdio.h>

#include "common/buf.h"
#include "common/result.h"

/* Quote s into out (size outsz, NUL-terminated); see above. */
void sp_quote(sp_slice s, char *out, size_t outsz);
void sp_quote_field(sp_slice s, char *out, size_t outsz);

/* Is s valid UTF-8 (no overlong forms, surrogates or code points past
 * U+10FFFF)?  The rule sp_json_str keeps and the JSON reader enforces. */
bool sp_utf8_valid(sp_slice s);

/*
 * Append s as a Prometheus label value, without the quotes (text exposition
 * format): '\\', '"' and LF escaped as \\, \" and \n; other control bytes
 * and each byte of an invalid UTF-8 sequence become U+FFFD.
 */
SP_MUST_CHECK sp_result sp_prom_label(sp_buf *out, sp_slice s);

/* Append s as a JSON string, quotes included. */
SP_MUST_CHECK sp_result sp_json_str(sp_buf *out, sp_slice s);
/* The same for a C string; NULL is written as "". */
SP_MUST_CHECK sp_result sp_json_cstr(sp_buf *out, const char *s);
/*
 * Write s as a JSON string to f, for streaming writers (CLI listings).
 * SP_E_IO if f reports an error.
 */
SP_MUST_CHECK sp_result sp_json_fput(FILE *f, sp_slice s);

#endif
