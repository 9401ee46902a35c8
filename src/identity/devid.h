/*
 * Which device is asking: the identity rule applied to a verified client
 * certificate's subject.  Two subject styles exist:
 *
 *   sprov: O=<org>, OU=<product>, CN=<mac>, serialNumber=<serial>
 *   spa:   OU=<product>, L=<serial>, ST=<mac>   (real units of this family)
 *
 * A subject that names no single device (no MAC, two MACs, the generic
 * "ciscogeneric" certificates, or styles that disagree) is refused.
 *
 * sp_devid_from_attrs is pure (fuzzable); sp_devid_from_x509 only reads the
 * X509_NAME and hands the attributes to it.
 */
#ifndef SPROV_IDENTITY_DEVID_H
#define SPROV_IDENTITY_DEVID_H

#include "common/buf.h"
#include "common/result.h"
#include "identity/mac.h"

#define SP_DEVID_FIELD_MAX 64

typedef enum {
	SP_IDSTYLE_AUTO = 0,  /* accept either style */
	SP_IDSTYLE_SPROV,
	SP_IDSTYLE_SPA,
} sp_idstyle;

typedef enum {
	SP_ATTR_OTHER = 0, SP_ATTR_CN, SP_ATTR_OU, SP_ATTR_O, SP_ATTR_L,
	SP_ATTR_ST, SP_ATTR_SERIALNUMBER,
} sp_attr_type;

typedef struct sp_name_attr {
	sp_attr_type type;
	sp_slice value;  /* raw UTF-8 bytes, may contain anything */
} sp_name_attr;

typedef struct sp_devid {
	sp_mac mac;
	char serial[SP_DEVID_FIELD_MAX + 1];   /* "" if absent */
	char product[SP_DEVID_FIELD_MAX + 1];  /* "" if absent */
	sp_idstyle style;                      /* which style matched */
} sp_devid;

SP_MUST_CHECK sp_result sp_idstyle_parse(const char *s, sp_idstyle *out);
const char *sp_idstyle_name(sp_idstyle s);

SP_MUST_CHECK sp_result sp_devid_from_attrs(const sp_name_attr *attrs, size_t n,
    sp_idstyle mode, sp_devid *out);

/* X509 is OpenSSL's; declared opaquely so this header needs no OpenSSL. */
struct x509_st;
SP_MUST_CHECK sp_result sp_devid_from_x509(struct x509_st *cert, sp_idstyle mode,
    sp_devid *out);

#endif
