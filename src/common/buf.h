/*
 * Length-carrying byte strings.
 *
 * sp_slice is a borrowed view (pointer + length, not NUL-terminated).
 * sp_buf is an owned, growable buffer with a hard ceiling (after curl's
 * dynbuf): growing past `max` fails with SP_E_LIMIT instead of allocating
 * without bound.  The content is always kept NUL-terminated for convenience,
 * but the length is authoritative and the bytes may contain NUL.
 */
#ifndef SPROV_COMMON_BUF_H
#define SPROV_COMMON_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/result.h"

typedef struct sp_slice {
	const char *p;
	size_t len;
} sp_slice;

#define SP_SLICE_LIT(s) ((sp_slice){ (s), sizeof(s) - 1 })

static inline sp_slice sp_slice_of(const char *s) { return (sp_slice){ s, s ? strlen(s) : 0 }; }
static inline sp_slice sp_slice_mk(const char *p, size_t n) { return (sp_slice){ p, n }; }
bool sp_slice_eq(sp_slice a, sp_slice b);
bool sp_slice_eq_nocase(sp_slice a, sp_slice b);
bool sp_slice_eq_cstr(sp_slice a, const char *s);
/* Index of the first `c` in s, or s.len if none. */
size_t sp_slice_find(sp_slice s, char c);
sp_slice sp_slice_trim(sp_slice s);

typedef struct sp_buf {
	char *p;     /* NULL until the first append */
	size_t len;
	size_t cap;
	size_t max;  /* ceiling on len */
	bool secret; /* wiped on every grow and on free */
} sp_buf;

void sp_buf_init(sp_buf *b, size_t max);
/*
 * A buffer for secrets (keys, rendered profiles, SIP passwords): growing
 * copies into a new block and wipes the old one instead of realloc (which
 * may leave a copy behind in freed memory), and sp_buf_free wipes.
 * sp_buf_mark_secret makes an existing buffer one, before it receives a
 * secret; producers of secrets (sp_profile_render, sp_read_file_secret)
 * mark their output themselves.  A stolen secret buffer
 * (sp_buf_steal) is the new owner's to wipe.
 */
void sp_buf_init_secret(sp_buf *b, size_t max);
void sp_buf_mark_secret(sp_buf *b);
void sp_buf_free(sp_buf *b);
/* Wipes the content, then frees, whether or not b was marked secret. */
void sp_buf_free_secret(sp_buf *b);
void sp_buf_reset(sp_buf *b);
SP_MUST_CHECK sp_result sp_buf_append(sp_buf *b, const void *p, size_t n);
SP_MUST_CHECK sp_result sp_buf_append_str(sp_buf *b, const char *s);
SP_MUST_CHECK sp_result sp_buf_append_byte(sp_buf *b, char c);
SP_MUST_CHECK sp_result sp_buf_printf(sp_buf *b, const char *fmt, ...) SP_PRINTF(2, 3);
/* The content as a NUL-terminated string ("" when empty). */
const char *sp_buf_cstr(const sp_buf *b);
/* Hand the allocation to the caller (NUL-terminated); b is reset. */
char *sp_buf_steal(sp_buf *b, size_t *len);

#endif
