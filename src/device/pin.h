/*
 * Provision_Domain: an optional pin of the server certificate's FQDN
 * (finding 10).  A rule whose URL host is an IP literal names no server:
 * checks 3 and 4 then accept any vendor-issued server certificate whose
 * FQDN resolves to that address.  A device that sets
 *
 *   Provision_Domain = prov.example.com, backup.example.net
 *
 * accepts only a server certificate whose CN FQDN equals one of the listed
 * domains or lies below one (by label: "xprov.example.com" is not below
 * "prov.example.com").  Empty or unset: no pin, the seed's behaviour.  The
 * pin is checked inside the handshake with check 2, so a refused server
 * never sees a request.
 *
 * Who may set it: device.conf (`device init --provision-domain`, or
 * --set).  A profile may only NARROW it: a profile's value is taken when
 * device.conf sets no pin, or when every domain it lists lies within the
 * device.conf pin; otherwise (widening, or clearing it) the device.conf pin
 * stays in force and the resync warns.  A profile that could widen the pin
 * would let the server it pins against unpin itself.
 *
 * Pure code: no I/O.
 */
#ifndef SPROV_DEVICE_PIN_H
#define SPROV_DEVICE_PIN_H

#include <stdbool.h>

#include "common/buf.h"
#include "common/result.h"
#include "identity/cn.h"

#define SP_PIN_PARAM "Provision_Domain"
#define SP_PIN_DOMAINS_MAX 16

typedef struct sp_pin {
	size_t n;                                   /* 0: no pin */
	char domain[SP_PIN_DOMAINS_MAX][SP_FQDN_MAX + 1];
} sp_pin;

/* Parse "a.example, b.example": FQDNs, comma-separated; "" is no pin. */
SP_MUST_CHECK sp_result sp_pin_parse(sp_slice text, sp_pin *out);

/*
 * The pin in force: local (device.conf) narrowed by prof (the profiles'
 * store; NULL when no profile set it).  *ignored: prof was given but would
 * widen the local pin, or does not parse, so local stays.  Only a local
 * pin that does not parse is an error.
 */
SP_MUST_CHECK sp_result sp_pin_effective(const char *local, const char *prof, sp_pin *out,
    bool *ignored);

/* Check 2, the pin: SP_E_VERIFY "server check 2 (cn): Provision_Domain rule: ...". */
SP_MUST_CHECK sp_result sp_pin_check(const sp_pin *pin, const char *fqdn);

/* The pin as "a.example, b.example" (for messages). */
void sp_pin_format(const sp_pin *pin, char *out, size_t outsz);

#endif
