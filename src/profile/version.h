/*
 * Software versions as the rules compare them (Profile_Rule and
 * Upgrade_Rule conditions, Downgrade_Rev_Limit, rollout targets):
 *
 *   version := N ( '.' N )* [ '(' build ')' ]     N: decimal digits
 *   build   := any bytes but '(' and ')'          ("0412s")
 *
 * Dotted parts compare as numbers, component by component (a missing
 * component is 0, so 2.0 == 2.0.0, and leading zeros do not count); then
 * the build: its leading number, then the rest byte-wise.  No build sorts
 * as build 0.  2.0.3(0412s) < 2.0.3(0413a) < 2.0.4.
 *
 * Pure code: no I/O, no global state.
 */
#ifndef SPROV_PROFILE_VERSION_H
#define SPROV_PROFILE_VERSION_H

#include <stdbool.h>

#include "common/buf.h"

/* s is a version in the syntax above. */
bool sp_version_ok(sp_slice s);

/*
 * -1, 0 or 1 as a is below, equal to or above b.  When either is not a
 * version (sp_version_ok), the order is byte-wise, so the result is still
 * a total order; callers that need versions check them first.
 */
int sp_version_cmp(sp_slice a, sp_slice b);

/* Two strings of decimal digits of any length, by value (-1, 0, 1). */
int sp_digits_cmp(sp_slice a, sp_slice b);

/* Byte-wise, shorter first on a common prefix (-1, 0, 1). */
int sp_bytes_cmp(sp_slice a, sp_slice b);

#endif
