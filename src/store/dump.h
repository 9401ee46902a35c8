/*
 * A whole store as text: `sprov db dump` and `sprov db restore`
 * (docs/STORE.md, "Backup and moving between stores").  Backend-neutral: it
 * goes through store.h only, so a dump of one backend restores into another.
 *
 * Format, version 1: JSON Lines (one flat object per line, LF-terminated),
 * written with common/text.h's JSON writer, read with common/json.h:
 *
 *   {"sprov-dump":1,"sprov":"0.1.0"}                       header, first
 *   {"device":MAC,"serial":S,"product":P,"group":G,
 *    "enabled":B,"pending":B,"created":UNIX}               by MAC
 *   {"param":NAME,"level":L,"key":K,"value":V,"access":A}  by level, key, name
 *   {"contact":MAC,"time":UNIX,"ip":S,"ua":S,"etag":S,"status":N}   by MAC
 *   {"end":"sprov-dump","devices":N,"params":N,"contacts":N}         last
 *
 * MAC is 12 lowercase hex digits; L is defaults, product, group or device;
 * K is "" for the defaults, the product or group name, or the device's MAC
 * (a device of the dump); A is "na", "ro", "rw" or null (unset).  A contact
 * whose User-Agent is not valid UTF-8 carries "ua_hex" (lowercase hex of
 * the bytes) instead of "ua", so no byte is lost.  Records appear in that
 * order, each section sorted by bytes, so equal stores give equal dumps;
 * the end line's counts catch a file cut at a line boundary.
 *
 * Parameter values are SIP passwords: the dump is written 0600, buffers
 * holding it are secret ones, and no message quotes a value.
 */
#ifndef SPROV_STORE_DUMP_H
#define SPROV_STORE_DUMP_H

#include <stdbool.h>
#include <stddef.h>

#include "common/buf.h"
#include "common/result.h"
#include "store/store.h"

#define SP_DUMP_VERSION 1
#define SP_DUMP_MAX (1024u * 1024 * 1024)  /* bytes of a dump file */

typedef struct sp_dump_counts {
	size_t devices, params, contacts;
} sp_dump_counts;

/*
 * Append the whole store to out (a secret buffer, ceiling SP_DUMP_MAX), read
 * in one snapshot.  n (optional) gets the counts.
 */
SP_MUST_CHECK sp_result sp_store_dump(sp_store *s, sp_buf *out,
    sp_dump_counts *n);

/*
 * Check a whole dump without a store: syntax, fields, order, references,
 * counts.  Errors read "NAME:LINE: reason" (NAME labels the input).
 */
SP_MUST_CHECK sp_result sp_dump_check(const char *name, sp_slice in,
    sp_dump_counts *n);

/*
 * sp_dump_check, then write the dump into s in one transaction: all or
 * nothing.  A store that holds anything is refused (SP_E_EXISTS, the message
 * names it as `store`) unless force: then its content is replaced.
 */
SP_MUST_CHECK sp_result sp_store_restore(sp_store *s, const char *store,
    const char *name, sp_slice in, bool force, sp_dump_counts *n);

#endif
