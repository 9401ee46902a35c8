/*
 * The contact spill file: contact records the store could not take while
 * it was unreachable and the in-memory queue (contact-queue) was full.
 * docs/SERVER.md, "Contact spill".
 *
 * The file is a sequence of self-delimiting records, appended and fsynced
 * per batch, mode 0600:
 *
 *   "SPC2" | u32 payload length | payload | u64 FNV-1a of length+payload
 *
 * (little endian).  The payload is one sp_contact: MAC (6 bytes), time
 * (i64), status (i32), pending flag (u8), then ip, ua, etag, serial and
 * product, each a u16 length and that many bytes; then (schema 7) the
 * generation served (u64), the certificate's notAfter (i64) and its
 * serial (u16 length, bytes).  Records written before schema 7 ("SPC1",
 * the same without the last three fields) are still read, with those
 * fields 0 and "", so an upgrade replays a spill file the old version left.  A crash mid-append
 * leaves a torn tail: the parser stops at the first record that is
 * incomplete or fails its check, and the caller drops the rest with a
 * warning.  FNV-1a finds torn and bit-flipped records; the file is ours
 * (0600, the serving user), so it need not resist a forger.
 *
 * sp_spill_parse is pure (no I/O, no global state): fuzz/fuzz_spill.c.
 */
#ifndef SPROV_SERVER_SPILL_H
#define SPROV_SERVER_SPILL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/result.h"
#include "store/store.h"

#define SP_SPILL_MAGIC "SPC2"      /* written */
#define SP_SPILL_MAGIC_V1 "SPC1"   /* read too: no generation or certificate */
#define SP_SPILL_HEAD 8   /* magic + length */
#define SP_SPILL_TAIL 8   /* checksum */
/* Largest payload: fixed fields plus every string at its maximum. */
#define SP_SPILL_PAYLOAD_MAX (6 + 8 + 4 + 1 + 5 * 2 + SP_CONTACT_IP_MAX + SP_UA_MAX + \
	SP_ETAG_MAX + 2 * SP_STORE_FIELD_MAX + 8 + 8 + 2 + SP_CERT_SERIAL_HEX_MAX)
#define SP_SPILL_FILE_MAX ((size_t)1 << 30) /* read at replay; larger: refused */

/* Append the encoding of n records to b. */
SP_MUST_CHECK sp_result sp_spill_encode(const sp_contact *v, size_t n, sp_buf *b);

/*
 * Decode records from the start of in until the end or the first bad
 * record.  *used: bytes of the good prefix (== in.len: no torn tail).
 * Each record is handed to cb (may be NULL: count only); *n counts them.
 * SP_E_NOMEM only from cb; a bad tail is not an error here.
 */
typedef sp_result (*sp_spill_cb)(void *arg, const sp_contact *c);
SP_MUST_CHECK sp_result sp_spill_parse(sp_slice in, sp_spill_cb cb, void *arg,
    size_t *n, size_t *used);

/*
 * Check that path can be opened for appending, or (missing) that its
 * directory takes a new file: the startup test, so a bad contact-spill
 * fails at once, naming the file.  Creates nothing.
 */
SP_MUST_CHECK sp_result sp_spill_check(const char *path);

/* Append n records and fsync; all or nothing as far as a reader can tell. */
SP_MUST_CHECK sp_result sp_spill_append(const char *path, const sp_contact *v, size_t n);

/*
 * Read every good record of the file (missing: none) into *v (malloc'd,
 * *n records).  A torn or corrupt tail is logged as a warning and dropped
 * (*dropped: its bytes).
 */
SP_MUST_CHECK sp_result sp_spill_load(const char *path, sp_contact **v, size_t *n,
    size_t *dropped);

/* Empty the file (after its records were committed), and fsync. */
SP_MUST_CHECK sp_result sp_spill_truncate(const char *path);

#endif
