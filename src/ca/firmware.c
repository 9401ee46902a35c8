/*
 * `sprov ca sign-firmware`: the vendor's firmware-signing root turns an
 * image into the signed container the device checks (src/firmware/image.h,
 * docs/FIRMWARE.md).  The container code builds and signs; this file picks
 * the key, refuses what must not be written, and checks the result.
 */
#include "ca/ca.h"

#include <limits.h>
#include <unistd.h>

#include <openssl/x509.h>

#include "common/text.h"
#include "common/util.h"
#include "firmware/image.h"

sp_result
sp_ca_sign_firmware(const char *dir, const char *image, const char *product,
    const char *version, const char *out_path, bool force, const char *pin_file,
    FILE *report)
{
	sp_result res = SP_OK;
	sp_cadb *db = NULL;
	X509 *cert = NULL;
	EVP_PKEY *key = NULL;
	sp_fw_header h;
	char q[2 * SP_FW_PRODUCT_MAX + 8], hex[2 * SP_FW_DIGEST_LEN + 1];
	bool written = false;

	/* The arguments first: no PIN is asked for, no image read, for a typo. */
	sp_quote(sp_slice_of(product), q, sizeof(q));
	ENSURE(sp_fw_product_ok(sp_slice_of(product)), SP_E_USAGE, "--product '%s': 1-%d "
	    "of A-Z a-z 0-9 . _ - (the container's product syntax)", q, SP_FW_PRODUCT_MAX);
	sp_quote(sp_slice_of(version), q, sizeof(q));
	ENSURE(sp_fw_version_ok(sp_slice_of(version)), SP_E_USAGE, "--version '%s': 1-%d "
	    "of A-Z a-z 0-9 . _ ( ) - (the container's version syntax)", q,
	    SP_FW_VERSION_MAX);
	ENSURE(force || !sp_file_exists(out_path), SP_E_EXISTS,
	    "%s: file exists (use --force to replace it)", out_path);
	TRY(sp_ca_open_db(dir, &db));
	TRY(sp_ca_load_root(dir, db, SP_ROOT_FIRMWARE, pin_file, &cert, &key));
	TRY(sp_fw_build_file(image, product, version, key, out_path));
	written = true;
	/*
	 * Read it back as a device would, against the certificate the devices
	 * hold: what leaves the vendor is what they accept.
	 */
	res = sp_fw_verify_file(out_path, X509_get0_pubkey(cert), &h);
	if (sp_failed(res))
		TRY(sp_error_wrap(res, "%s does not verify against %s/%s; removed", out_path,
		    dir, SP_CA_FIRMWARE_CRT));
	written = false;
	sp_hex(h.digest, sizeof(h.digest), hex);
	fprintf(report, "signed %s\nproduct: %s\nversion: %s\nlength:  %llu bytes\n"
	    "sha256:  %s\n", out_path, h.product, h.version,
	    (unsigned long long)h.payload_len, hex);
out:
	if (written)
		unlink(out_path);
	X509_free(cert);
	EVP_PKEY_free(key);
	sp_cadb_close(db);
	return res;
}
