/*
 * CSV records (RFC 4180) for device lists, the one reader of `ca issue --csv`
 * and `db devices import`.
 *
 * Fields are separated by ',' and records end in LF or CRLF.  A field quoted
 * with '"' may hold ',' and '""' for a quote.  Kept from the files operators
 * already have: blanks around a field (and around its quotes) are dropped,
 * empty lines and lines whose first non-blank byte is '#' are skipped.  Not
 * taken from RFC 4180: a quoted field may not span lines, so an error always
 * names one line.  NUL and control bytes other than tab are refused.
 *
 * Errors are SP_E_PARSE or SP_E_LIMIT with the message "NAME:LINE: reason".
 */
#ifndef SPROV_COMMON_CSV_H
#define SPROV_COMMON_CSV_H

#include <stdbool.h>
#include <stddef.h>

#include "common/buf.h"
#include "common/result.h"

#define SP_CSV_LINE_MAX 4096     /* one line, in bytes, without its LF/CRLF */
#define SP_CSV_FIELD_MAX 256     /* one field, after unquoting */
#define SP_CSV_FIELDS_MAX 16     /* fields in one record */

typedef struct sp_csv {
	const char *name;   /* the file, for messages */
	sp_slice in;
	size_t pos;
	size_t line;        /* lines consumed so far */
	size_t records;     /* records returned so far */
} sp_csv;

/* One record.  Each f[i] is also NUL-terminated (NUL is refused in input). */
typedef struct sp_csv_row {
	size_t line;
	size_t n;
	sp_slice f[SP_CSV_FIELDS_MAX];
	char buf[SP_CSV_LINE_MAX + SP_CSV_FIELDS_MAX];
} sp_csv_row;

void sp_csv_init(sp_csv *r, const char *name, sp_slice in);
/* The next record into row; *got is false at the end of the input. */
SP_MUST_CHECK sp_result sp_csv_next(sp_csv *r, sp_csv_row *row, bool *got);

/*
 * The device list: columns mac,serial,product[,group], an optional header
 * row (its first field is "mac", any case) skipped.  A record with another
 * number of fields is refused: "NAME:LINE: expected mac,serial,product[,group],
 * got N fields".  Fields are not checked here: each command has its rules.
 */
typedef struct sp_csv_device {
	size_t line;
	const char *mac, *serial, *product, *group;   /* group "" if absent */
} sp_csv_device;

SP_MUST_CHECK sp_result sp_csv_next_device(sp_csv *r, sp_csv_row *row,
    sp_csv_device *d, bool *got);

#endif
