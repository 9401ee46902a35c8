/* sprov ca: the vendor's PKI (server CA, device CA, device identities). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ca/ca.h"
#include "cli/cli.h"
#include "common/util.h"
#include "pki/pki.h"
#include "server/cluster.h"
#include "store/store.h"

#define MAX_DOMAIN_ARGS 64

/* ---- init ---- */

static const char init_help[] =
    "usage: sprov ca init DIR [--org NAME] [--allow-domain D]... [--crl-url BASE]\n"
    "                     [--pkcs11 URI [--pkcs11-module PATH] [--pin-file FILE]]\n"
    "       sprov ca init DIR --add-firmware-key [--pin-file FILE]\n"
    "\n"
    "Create a CA in DIR (which must be absent or empty): three independent\n"
    "roots, the server CA (signs provisioning servers: server-ca.crt/.key, EC\n"
    "P-384), the device CA (signs device client certificates: device-ca.crt/.key,\n"
    "EC P-256) and the firmware-signing key (signs firmware images, `ca\n"
    "sign-firmware`: firmware-ca.crt/.key, EC P-384; its certificate is no CA),\n"
    "all valid until 9999-12-31 like the device certificates they anchor, and\n"
    "the issuance database ca.db.  Keys are mode 0600, DIR 0700.\n"
    "With --pkcs11 the keys are made inside a token instead, e.g.\n"
    "  SPROV_PKCS11_PIN=... sprov ca init vendor/ --pkcs11 'pkcs11:token=vendor-ca'\n"
    "--add-firmware-key gives a CA made before firmware signing its\n"
    "firmware-signing key (in its token, for a token CA); refused, with\n"
    "nothing changed, if it has one.\n"
    "\n"
    "Options:\n"
    "  --org NAME        organisation in the roots and in sprov-style device\n"
    "                    subjects (default \"sprov\")\n"
    "  --allow-domain D  `ca sign` accepts only CNs whose FQDN is D or below it\n"
    "                    (repeatable; see `sprov ca policy`)\n"
    "  --crl-url BASE    certificates carry a CRL distribution point: BASE\n"
    "                    server-ca.crl or BASE device-ca.crl (see `sprov ca set`)\n"
    "  --pkcs11 URI      generate both keys inside the PKCS#11 token that URI\n"
    "                    names (RFC 7512, e.g. 'pkcs11:token=vendor-ca'), as\n"
    "                    objects sprov-server-ca and sprov-device-ca that never\n"
    "                    leave it; DIR holds no key file, ca.db names the keys\n"
    "  --pkcs11-module PATH  the token's PKCS#11 module (default: the p11-kit\n"
    "                    proxy); kept in ca.db for later commands\n"
    "  --pin-file FILE   the token's PIN (mode 0600); default $SPROV_PKCS11_PIN.\n"
    "                    `ca sign`, `ca issue`, `ca crl` and `ca sign-firmware`\n"
    "                    take it too\n"
    "  --add-firmware-key  add the firmware-signing key to the existing CA in DIR\n"
    "\n"
    "Examples:\n"
    "  sprov ca init vendor/ --org \"Acme Phones\" --allow-domain telco.net\n";

static int
ca_init(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "org", required_argument, NULL, 'O' },
		{ "allow-domain", required_argument, NULL, 'a' },
		{ "crl-url", required_argument, NULL, 'u' },
		{ "pkcs11", required_argument, NULL, 'P' },
		{ "pkcs11-module", required_argument, NULL, 'M' },
		{ "pin-file", required_argument, NULL, 'F' },
		{ "add-firmware-key", no_argument, NULL, 'A' },
		SP_OPT_HELP_AND_END,
	};
	sp_opts opt;
	const char *org = NULL, *domains[MAX_DOMAIN_ARGS], *crl_url = NULL;
	sp_ca_token tok = { 0 };
	size_t nd = 0;
	bool add_fw = false;
	int c, dlen;
	sp_result res;

	sp_opts_init(&opt, "ca init", init_help, "h", opts, argc, argv);
	while ((c = sp_opt_next(&opt)) > 0) {
		switch (c) {
		case 'O': org = opt.arg; break;
		case 'a':
			if (nd == MAX_DOMAIN_ARGS)
				return sp_cli_usage("ca init", "too many --allow-domain");
			domains[nd++] = opt.arg;
			break;
		case 'u': crl_url = opt.arg; break;
		case 'P': tok.uri = opt.arg; break;
		case 'M': tok.module = opt.arg; break;
		case 'F': tok.pin_file = opt.arg; break;
		case 'A': add_fw = true; break;
		}
	}
	if (c < 0)
		return opt.rc;
	if (argc - opt.ind != 1)
		return sp_cli_usage("ca init", "expected one DIR");
	if (add_fw) {
		/* The CA exists: everything but its token's PIN is in ca.db already. */
		if (org || nd || crl_url || tok.uri || tok.module)
			return sp_cli_usage("ca init", "--add-firmware-key takes only --pin-file "
			    "(the CA in DIR keeps its settings and its token)");
		res = sp_ca_add_firmware_key(argv[opt.ind], tok.pin_file, stdout);
		return sp_failed(res) ? sp_cli_fail("ca init", res) : SP_EXIT_OK;
	}
	if (tok.uri == NULL && (tok.module || tok.pin_file))
		return sp_cli_usage("ca init", "--pkcs11-module and --pin-file go with --pkcs11");
	res = sp_ca_init(argv[opt.ind], org ? org : "sprov", domains, nd, crl_url,
	    tok.uri ? &tok : NULL);
	if (sp_failed(res))
		return sp_cli_fail("ca init", res);
	/* `ca init vendor/` names vendor/server-ca.crt, not vendor//server-ca.crt. */
	dlen = (int)strlen(argv[opt.ind]);
	while (dlen > 0 && argv[opt.ind][dlen - 1] == '/')
		dlen--;
	printf("created CA in %s\n  %.*s/server-ca.crt  server CA: give it to every device "
	    "(it signs provisioning servers)\n  %.*s/device-ca.crt  device CA: give it to "
	    "provisioning servers (it signs devices)\n  %.*s/firmware-ca.crt  "
	    "firmware-signing key: give it to every device (it signs firmware images)\n",
	    argv[opt.ind], dlen, argv[opt.ind], dlen, argv[opt.ind], dlen, argv[opt.ind]);
	return SP_EXIT_OK;
}

/* ---- sign ---- */

static const char sign_help[] =
    "usage: sprov ca sign DIR CSR [-o provserver.crt] [--days N] [--force]\n"
    "                     [--pin-file FILE]\n"
    "\n"
    "Sign a provisioning server's CSR (PEM or DER, from `sprov req` or\n"
    "`openssl req`) with the server CA.  The CSR must carry a valid self-\n"
    "signature, an RSA key of at least 2048 bits or an EC P-256/P-384 key, and\n"
    "exactly one CN: an FQDN optionally followed by '/' and printable extra\n"
    "information, 64 characters at most, within the allowed domains if a policy\n"
    "is set.  The certificate keeps the CN exactly, adds the FQDN as a SAN\n"
    "dNSName, EKU serverAuth, and a random 128-bit serial recorded in ca.db.\n"
    "A refusal names the rule, writes no file and records nothing.\n"
    "\n"
    "Options:\n"
    "  -o, --out FILE  where to write the certificate (default provserver.crt)\n"
    "  --days N        validity in days (default 397)\n"
    "  --force         replace an existing output file\n"
    "  --pin-file FILE the PIN of a CA in a token (default $SPROV_PKCS11_PIN)\n"
    "\n"
    "Examples:\n"
    "  sprov ca sign vendor/ provserver.csr -o provserver.crt\n"
    "  sprov ca sign vendor/ pv.csr --out pv.crt --days 90\n";

static int
ca_sign(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "out", required_argument, NULL, 'o' },
		{ "days", required_argument, NULL, 'd' },
		{ "force", no_argument, NULL, 'f' },
		{ "pin-file", required_argument, NULL, 'F' },
		SP_OPT_HELP_AND_END,
	};
	sp_opts opt;
	const char *out = "provserver.crt", *pin_file = NULL;
	int64_t days = SP_SIGN_DAYS_DEFAULT;
	bool force = false;
	int c;
	sp_result res;

	sp_opts_init(&opt, "ca sign", sign_help, "ho:", opts, argc, argv);
	while ((c = sp_opt_next(&opt)) > 0) {
		switch (c) {
		case 'o': out = opt.arg; break;
		case 'd':
			if (!sp_opt_i64(&opt, 1, SP_CA_DAYS_MAX, &days))
				return opt.rc;
			break;
		case 'f': force = true; break;
		case 'F': pin_file = opt.arg; break;
		}
	}
	if (c < 0)
		return opt.rc;
	if (argc - opt.ind != 2)
		return sp_cli_usage("ca sign", "expected DIR and CSR");
	res = sp_ca_sign(argv[opt.ind], argv[opt.ind + 1], out, days, force, pin_file,
	    stdout);
	return sp_failed(res) ? sp_cli_fail("ca sign", res) : SP_EXIT_OK;
}

/* ---- sign-firmware ---- */

static const char sign_firmware_help[] =
    "usage: sprov ca sign-firmware DIR IMAGE --product P --version V [-o OUT]\n"
    "                              [--force] [--pin-file FILE]\n"
    "\n"
    "Sign a firmware image with the firmware-signing key: OUT is the signed\n"
    "container (docs/FIRMWARE.md) that carries product, version, length and\n"
    "SHA-256 of IMAGE under an ECDSA signature, which devices check against\n"
    "firmware-ca.crt before they flash.  The image is streamed, not held in\n"
    "memory.  A CA made before firmware signing gets the key from `sprov ca\n"
    "init` (see its help).  A refusal writes nothing.\n"
    "\n"
    "Options:\n"
    "  --product P      the product the image is for, as devices report it\n"
    "                   (1-64 of A-Z a-z 0-9 . _ -)\n"
    "  --version V      the image's software version (1-32 of A-Z a-z 0-9\n"
    "                   . _ ( ) -, e.g. 7.6.2 or 2.0.3(0412s))\n"
    "  -o, --out OUT    where to write the container (default IMAGE.sfw)\n"
    "  --force          replace an existing OUT\n"
    "  --pin-file FILE  the PIN of a CA in a token (default $SPROV_PKCS11_PIN)\n"
    "\n"
    "Examples:\n"
    "  sprov ca sign-firmware vendor/ spa962-7.6.2.bin --product SPA-962 \\\n"
    "      --version 7.6.2 -o spa962-7.6.2.sfw\n";

static int
ca_sign_firmware(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "product", required_argument, NULL, 'p' },
		{ "version", required_argument, NULL, 'V' },
		{ "out", required_argument, NULL, 'o' },
		{ "force", no_argument, NULL, 'f' },
		{ "pin-file", required_argument, NULL, 'F' },
		SP_OPT_HELP_AND_END,
	};
	sp_opts opt;
	const char *product = NULL, *version = NULL, *out = NULL, *pin_file = NULL;
	char def[4096];
	bool force = false;
	int c;
	sp_result res;

	sp_opts_init(&opt, "ca sign-firmware", sign_firmware_help, "ho:", opts, argc, argv);
	while ((c = sp_opt_next(&opt)) > 0) {
		switch (c) {
		case 'p': product = opt.arg; break;
		case 'V': version = opt.arg; break;
		case 'o': out = opt.arg; break;
		case 'f': force = true; break;
		case 'F': pin_file = opt.arg; break;
		}
	}
	if (c < 0)
		return opt.rc;
	if (argc - opt.ind != 2)
		return sp_cli_usage("ca sign-firmware", "expected DIR and IMAGE");
	if (product == NULL || version == NULL)
		return sp_cli_usage("ca sign-firmware", "--product and --version are required");
	if (out == NULL) {
		if ((size_t)snprintf(def, sizeof(def), "%s.sfw", argv[opt.ind + 1]) >=
		    sizeof(def))
			return sp_cli_usage("ca sign-firmware", "IMAGE: path too long");
		out = def;
	}
	res = sp_ca_sign_firmware(argv[opt.ind], argv[opt.ind + 1], product, version, out,
	    force, pin_file, stdout);
	return sp_failed(res) ? sp_cli_fail("ca sign-firmware", res) : SP_EXIT_OK;
}

/* ---- issue ---- */

static const char issue_help[] =
    "usage: sprov ca issue DIR (--mac MAC [--serial SN] [--product PN] | --csv FILE)\n"
    "                      [--subject-style sprov|spa] [--days N] [--reissue]\n"
    "                      [--key-type TYPE] [--pin-file FILE] --out OUTDIR\n"
    "\n"
    "Issue device identities from the device CA.  Each device gets a fresh key\n"
    "(EC P-256 by default), a client certificate (EKU clientAuth, notAfter\n"
    "99991231235959Z unless --days) and a bundle OUTDIR/<mac>/ holding\n"
    "client.crt, client.key (0600), server-ca.crt and, if the CA has a\n"
    "firmware-signing key, firmware-ca.crt, <mac> being 12 lower-case\n"
    "hex digits.  MACs are accepted as 00:0E:08:aa:bb:cc, 000e08aabbcc or\n"
    "000E08AABBCC; serials and products are 1-64 of [A-Za-z0-9._:-].\n"
    "\n"
    "Subject styles:\n"
    "  sprov (default)  O=<org>, OU=<product>, CN=<mac>, serialNumber=<serial>\n"
    "  spa              OU=<product>, L=<serial>, ST=<mac>  (as real units carry)\n"
    "\n"
    "The CSV has the columns mac,serial,product[,group] (the file `sprov db\n"
    "devices import` reads; group is not used here): a first row whose first\n"
    "field is 'mac' is a header; blank lines and lines starting with '#' are\n"
    "ignored; fields may be quoted with \"...\" (\"\" for a quote).  The whole\n"
    "file is checked first; an error names FILE:LINE.\n"
    "\n"
    "Bulk issuance is crash-safe and resumable: rerun the same command after an\n"
    "interruption and it completes the batch.  Devices whose bundle is already\n"
    "complete in OUTDIR are skipped.  A MAC with a valid certificate whose\n"
    "bundle is not in OUTDIR is refused unless --reissue, which revokes the old\n"
    "certificate (superseded) and issues a new one.  Any refusal found before\n"
    "issuing stops the whole run with nothing written.\n"
    "\n"
    "Options:\n"
    "  --mac MAC              the one device to issue for\n"
    "  --serial SN            its serial number (default: none)\n"
    "  --product PN           its product name (default: none)\n"
    "  --csv FILE             issue for every device in FILE instead\n"
    "  --subject-style STYLE  sprov (default) or spa, see above\n"
    "  --reissue              revoke a device's valid certificate and issue anew\n"
    "  -o, --out OUTDIR       where the bundles go (required)\n"
    "  --days N               validity in days instead of 99991231235959Z\n"
    "  --key-type TYPE        ec-p256 (default), ec-p384, rsa-2048, rsa-3072, rsa-4096\n"
    "  --pin-file FILE        the PIN of a CA in a token (default $SPROV_PKCS11_PIN)\n"
    "\n"
    "Examples:\n"
    "  sprov ca issue vendor/ --mac 00:0e:08:aa:bb:cc --serial 88012BA01234 \\\n"
    "      --product SPA2102 --out bundles/\n"
    "  sprov ca issue vendor/ --csv devices.csv --out bundles/\n"
    "\n"
    "Exit status:\n"
    "  0  every device issued, or skipped as already complete\n"
    "  1  a device was refused: nothing issued (unless a concurrent run took it:\n"
    "     then that one is named and the rest issued); or another failure\n";

static int
ca_issue(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "mac", required_argument, NULL, 'm' },
		{ "serial", required_argument, NULL, 's' },
		{ "product", required_argument, NULL, 'p' },
		{ "csv", required_argument, NULL, 'c' },
		{ "subject-style", required_argument, NULL, 'S' },
		{ "days", required_argument, NULL, 'd' },
		{ "reissue", no_argument, NULL, 'r' },
		{ "key-type", required_argument, NULL, 't' },
		{ "out", required_argument, NULL, 'o' },
		{ "pin-file", required_argument, NULL, 'F' },
		SP_OPT_HELP_AND_END,
	};
	sp_opts opt;
	sp_issue_opts o = { .style = SP_DEVSTYLE_SPROV, .key_type = SP_KEY_EC_P256 };
	sp_issue_stats st = { 0 };
	int c;
	sp_result res;

	sp_opts_init(&opt, "ca issue", issue_help, "ho:", opts, argc, argv);
	while ((c = sp_opt_next(&opt)) > 0) {
		switch (c) {
		case 'm': o.mac = opt.arg; break;
		case 's': o.serial = opt.arg; break;
		case 'p': o.product = opt.arg; break;
		case 'c': o.csv = opt.arg; break;
		case 'S':
			if (strcmp(opt.arg, "sprov") == 0)
				o.style = SP_DEVSTYLE_SPROV;
			else if (strcmp(opt.arg, "spa") == 0)
				o.style = SP_DEVSTYLE_SPA;
			else
				return sp_cli_usage("ca issue",
				    "--subject-style '%s' is not sprov or spa", opt.arg);
			break;
		case 'd':
			if (!sp_opt_i64(&opt, 1, SP_CA_DAYS_MAX, &o.days))
				return opt.rc;
			break;
		case 'r': o.reissue = true; break;
		case 't':
			if (sp_failed(sp_key_type_parse(opt.arg, &o.key_type)))
				return sp_cli_usage("ca issue", "%s", sp_errmsg());
			break;
		case 'o': o.outdir = opt.arg; break;
		case 'F': o.pin_file = opt.arg; break;
		}
	}
	if (c < 0)
		return opt.rc;
	if (argc - opt.ind != 1)
		return sp_cli_usage("ca issue", "expected one DIR");
	if ((o.mac == NULL) == (o.csv == NULL))
		return sp_cli_usage("ca issue", "give exactly one of --mac and --csv");
	if (o.csv && (o.serial || o.product))
		return sp_cli_usage("ca issue", "--serial and --product go with --mac; "
		    "in CSV mode they are columns");
	if (o.outdir == NULL)
		return sp_cli_usage("ca issue", "--out OUTDIR is required");
	o.dir = argv[opt.ind];
	o.progress_bar = sp_cli_isatty();
	res = sp_ca_issue(&o, stdout, &st);
	if (sp_failed(res))
		return sp_cli_fail("ca issue", res);
	return st.refused ? SP_EXIT_FAIL : SP_EXIT_OK;
}

/* ---- revoke ---- */

static const char revoke_help[] =
    "usage: sprov ca revoke DIR (--serial HEX | --mac MAC) [--reason REASON]\n"
    "\n"
    "Mark a certificate revoked in ca.db (publish with `sprov ca crl`).  --mac\n"
    "revokes the device's valid certificate.  REASON is one of unspecified\n"
    "(default), keyCompromise, caCompromise, affiliationChanged, superseded,\n"
    "cessationOfOperation.\n"
    "\n"
    "Options:\n"
    "  --serial HEX     the certificate's serial, as `sprov ca list` shows it\n"
    "  --mac MAC        the device whose valid certificate to revoke\n"
    "  --reason REASON  the CRL reason code (default unspecified)\n"
    "\n"
    "Examples:\n"
    "  sprov ca revoke vendor/ --mac 000e08aabbcd --reason keyCompromise\n";

static int
ca_revoke(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "serial", required_argument, NULL, 's' },
		{ "mac", required_argument, NULL, 'm' },
		{ "reason", required_argument, NULL, 'r' },
		SP_OPT_HELP_AND_END,
	};
	sp_opts opt;
	const char *serial = NULL, *mac = NULL;
	int reason = 0, c;
	sp_result res;

	sp_opts_init(&opt, "ca revoke", revoke_help, "h", opts, argc, argv);
	while ((c = sp_opt_next(&opt)) > 0) {
		switch (c) {
		case 's': serial = opt.arg; break;
		case 'm': mac = opt.arg; break;
		case 'r':
			if (sp_failed(sp_reason_parse(opt.arg, &reason)))
				return sp_cli_usage("ca revoke", "%s", sp_errmsg());
			break;
		}
	}
	if (c < 0)
		return opt.rc;
	if (argc - opt.ind != 1)
		return sp_cli_usage("ca revoke", "expected one DIR");
	if ((serial == NULL) == (mac == NULL))
		return sp_cli_usage("ca revoke", "give exactly one of --serial and --mac");
	res = sp_ca_revoke(argv[opt.ind], serial, mac, reason, stdout);
	return sp_failed(res) ? sp_cli_fail("ca revoke", res) : SP_EXIT_OK;
}

/* ---- crl ---- */

static const char crl_help[] =
    "usage: sprov ca crl DIR --ca device|server [-o|--out FILE] [--next-update-days N]\n"
    "                    [--pin-file FILE] [--publish STORE]\n"
    "       sprov ca crl --publish STORE --from FILE\n"
    "\n"
    "Write a CRL of the chosen CA listing its revoked certificates, with a CRL\n"
    "number that only ever increases (kept in ca.db).  nextUpdate defaults to 30\n"
    "days: publish a new CRL before then, as servers reject clients on an\n"
    "expired CRL.  --publish also stores it in a store (keyed by its issuer),\n"
    "from which every server with crl-from-store = on takes it within its\n"
    "crl-poll; --from publishes a CRL already signed (PEM or DER, one CRL).\n"
    "\n"
    "Options:\n"
    "  --ca device|server     which CA's CRL\n"
    "  -o, --out FILE         where to write it (default DIR/device-ca.crl or\n"
    "                         DIR/server-ca.crl)\n"
    "  --next-update-days N   nextUpdate N days from now (default 30)\n"
    "  --pin-file FILE        the PIN of a CA in a token (default $SPROV_PKCS11_PIN)\n"
    "  --publish STORE        store the CRL in STORE (a store URI) as well\n"
    "  --from FILE            with --publish: the CRL to publish, instead of a new one\n"
    "\n"
    "Examples:\n"
    "  sprov ca crl vendor/ --ca device\n"
    "  sprov ca crl vendor/ --ca server -o server-ca.crl --next-update-days 7\n"
    "  sprov ca crl vendor/ --ca device --publish sqlite:sprov.db\n"
    "  sprov ca crl --publish sqlite:sprov.db --from server-ca.crl\n"
    "\n"
    "Exit status:\n"
    "  1  failed, or --publish refused a CRL whose number is not above the\n"
    "     published one of its issuer (nothing stored)\n";

/* One CRL to publish: the first, and a count to refuse files with more. */
typedef struct crl_pub {
	size_t n;
	sp_crl_info info;
	sp_buf der;
} crl_pub;

static sp_result
crl_pub_take(void *arg, const sp_crl_info *crl)
{
	crl_pub *p = arg;

	if (p->n++ > 0)
		return SP_OK;
	p->info = *crl;
	p->info.der = (sp_slice){ NULL, 0 };
	return sp_buf_append(&p->der, crl->der.p, crl->der.len);
}

static sp_result
newest_version(void *arg, const sp_cluster_row *row)
{
	*(int64_t *)arg = row->version;
	return SP_OK;
}

/* Store the CRL in path in the store at uri, as version = its CRL number. */
static sp_result
crl_publish(const char *uri, const char *path, FILE *report)
{
	sp_result res = SP_OK;
	sp_store *st = NULL;
	sp_buf data;
	crl_pub p = { 0 };
	char name[SP_CLUSTER_NAME_MAX + 1], safe[SP_STORE_URI_MAX + 1];

	sp_buf_init(&data, SP_CLUSTER_DATA_MAX);
	sp_buf_init(&p.der, SP_CLUSTER_DATA_MAX);
	sp_store_uri_safe(uri, safe, sizeof(safe));   /* no password */
	TRY(sp_read_file(path, SP_CLUSTER_DATA_MAX, &data));
	TRY(sp_crls_each((sp_slice){ data.p, data.len }, path, crl_pub_take, &p));
	ENSURE(p.n == 1, SP_E_PARSE, "%s holds %zu CRLs: publish one at a time", path,
	    p.n);
	ENSURE(p.info.number >= 1, SP_E_PARSE, "%s: the CRL of '%s' has no CRL number "
	    "(or one past 2^63): nothing to order it by", path, p.info.issuer);
	sp_cluster_crl_name(p.info.issuer_id, name, sizeof(name));
	TRY(sp_error_wrap(sp_store_open(uri, &st), "store %s", safe));
	res = sp_store_cluster_put(st, name, p.info.number, sp_now(),
	    (sp_slice){ p.der.p, p.der.len }, 1);
	if (res.code == SP_E_EXISTS) {
		int64_t newest = 0;

		TRY(sp_store_cluster_get(st, name, 1, newest_version, &newest));
		res = sp_error(SP_E_EXISTS, "CRL number %lld of '%s' is not above the "
		    "published %lld: refusing a stale CRL", (long long)p.info.number,
		    p.info.issuer, (long long)newest);
	}
	TRY(res);
	fprintf(report, "published CRL number %lld of '%s' to %s\n",
	    (long long)p.info.number, p.info.issuer, safe);
out:
	sp_store_close(st);
	sp_buf_free(&data);
	sp_buf_free(&p.der);
	return res;
}

static int
ca_crl(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "ca", required_argument, NULL, 'c' },
		{ "out", required_argument, NULL, 'o' },
		{ "next-update-days", required_argument, NULL, 'n' },
		{ "pin-file", required_argument, NULL, 'F' },
		{ "publish", required_argument, NULL, 'P' },
		{ "from", required_argument, NULL, 'f' },
		SP_OPT_HELP_AND_END,
	};
	sp_opts opt;
	const char *which = NULL, *out = NULL, *pin_file = NULL, *publish = NULL;
	const char *from = NULL;
	char def[4096];
	int64_t days = SP_CRL_DAYS_DEFAULT;
	int c;
	sp_result res;

	sp_opts_init(&opt, "ca crl", crl_help, "ho:", opts, argc, argv);
	while ((c = sp_opt_next(&opt)) > 0) {
		switch (c) {
		case 'c': which = opt.arg; break;
		case 'o': out = opt.arg; break;
		case 'n':
			if (!sp_opt_i64(&opt, 1, SP_CA_DAYS_MAX, &days))
				return opt.rc;
			break;
		case 'F': pin_file = opt.arg; break;
		case 'P': publish = opt.arg; break;
		case 'f': from = opt.arg; break;
		}
	}
	if (c < 0)
		return opt.rc;
	if (from != NULL) {
		if (publish == NULL)
			return sp_cli_usage("ca crl", "--from needs --publish STORE");
		if (argc - opt.ind != 0 || which || out)
			return sp_cli_usage("ca crl", "--from publishes a file: no DIR, "
			    "--ca or --out");
		res = crl_publish(publish, from, stdout);
		return sp_failed(res) ? sp_cli_fail("ca crl", res) : SP_EXIT_OK;
	}
	if (argc - opt.ind != 1)
		return sp_cli_usage("ca crl", "expected one DIR");
	if (which == NULL || (strcmp(which, "device") != 0 && strcmp(which, "server") != 0))
		return sp_cli_usage("ca crl", "--ca device or --ca server is required");
	res = sp_ca_crl(argv[opt.ind], strcmp(which, "device") == 0, out, days, pin_file,
	    stdout);
	if (sp_ok(res) && publish != NULL) {
		if (out == NULL) {
			snprintf(def, sizeof(def), "%s/%s", argv[opt.ind], strcmp(which,
			    "device") == 0 ? SP_CA_CRL_DEVICE_FILE : SP_CA_CRL_SERVER_FILE);
			out = def;
		}
		res = crl_publish(publish, out, stdout);
	}
	return sp_failed(res) ? sp_cli_fail("ca crl", res) : SP_EXIT_OK;
}

/* ---- list ---- */

static const char list_help[] =
    "usage: sprov ca list DIR [--json] [--revoked]\n"
    "\n"
    "One entry per certificate issued: serial (hex), CA, status, dates, MAC\n"
    "(devices) and subject.\n"
    "\n"
    "Options:\n"
    "  --json     one JSON array of objects instead of a table\n"
    "  --revoked  only the revoked certificates\n"
    "\n"
    "Examples:\n"
    "  sprov ca list vendor/ --revoked --json\n";

static int
ca_list(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "revoked", no_argument, NULL, 'r' },
		SP_OPT_HELP_AND_END,
	};
	sp_opts opt;
	bool json = false, revoked = false;
	int c;
	sp_result res;

	sp_opts_init(&opt, "ca list", list_help, "h", opts, argc, argv);
	while ((c = sp_opt_next(&opt)) > 0) {
		switch (c) {
		case 'j': json = true; break;
		case 'r': revoked = true; break;
		}
	}
	if (c < 0)
		return opt.rc;
	if (argc - opt.ind != 1)
		return sp_cli_usage("ca list", "expected one DIR");
	res = sp_ca_list(argv[opt.ind], json, revoked, stdout);
	return sp_failed(res) ? sp_cli_fail("ca list", res) : SP_EXIT_OK;
}

/* ---- policy ---- */

static const char policy_help[] =
    "usage: sprov ca policy DIR [--allow-domain D]... [--remove-domain D]... [--clear]\n"
    "\n"
    "Show or change the allowed-domain policy of `ca sign`: with domains set, a\n"
    "CSR's FQDN must equal one of them or lie below it.  Without options it\n"
    "lists the domains.\n"
    "\n"
    "Options:\n"
    "  --allow-domain D   add D to the allowed domains (repeatable)\n"
    "  --remove-domain D  remove D from them (repeatable)\n"
    "  --clear            remove them all: any FQDN is then accepted\n"
    "\n"
    "Examples:\n"
    "  sprov ca policy vendor/ --allow-domain voip.example.net\n"
    "  sprov ca policy vendor/\n";

static int
ca_policy(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "allow-domain", required_argument, NULL, 'a' },
		{ "remove-domain", required_argument, NULL, 'R' },
		{ "clear", no_argument, NULL, 'C' },
		SP_OPT_HELP_AND_END,
	};
	sp_opts opt;
	const char *add[MAX_DOMAIN_ARGS], *rm[MAX_DOMAIN_ARGS];
	size_t na = 0, nr = 0;
	bool clear = false;
	int c;
	sp_result res;

	sp_opts_init(&opt, "ca policy", policy_help, "h", opts, argc, argv);
	while ((c = sp_opt_next(&opt)) > 0) {
		switch (c) {
		case 'a':
			if (na == MAX_DOMAIN_ARGS)
				return sp_cli_usage("ca policy", "too many --allow-domain");
			add[na++] = opt.arg;
			break;
		case 'R':
			if (nr == MAX_DOMAIN_ARGS)
				return sp_cli_usage("ca policy", "too many --remove-domain");
			rm[nr++] = opt.arg;
			break;
		case 'C': clear = true; break;
		}
	}
	if (c < 0)
		return opt.rc;
	if (argc - opt.ind != 1)
		return sp_cli_usage("ca policy", "expected one DIR");
	res = sp_ca_policy(argv[opt.ind], add, na, rm, nr, clear, stdout);
	return sp_failed(res) ? sp_cli_fail("ca policy", res) : SP_EXIT_OK;
}

/* ---- set ---- */

static const char set_help[] =
    "usage: sprov ca set DIR --crl-url BASE\n"
    "\n"
    "Change a setting of an existing CA.  Certificates already issued keep\n"
    "theirs.\n"
    "\n"
    "Options:\n"
    "  --crl-url BASE  certificates signed from now on carry a CRL distribution\n"
    "                  point, BASE server-ca.crl (server CA) or BASE device-ca.crl\n"
    "                  (device CA); BASE is an http:// or https:// URL ending in\n"
    "                  '/', and '' removes it\n"
    "\n"
    "Examples:\n"
    "  sprov ca set vendor/ --crl-url http://pki.example.net/crl/\n";

static int
ca_set(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "crl-url", required_argument, NULL, 'u' },
		SP_OPT_HELP_AND_END,
	};
	sp_opts opt;
	const char *crl_url = NULL;
	int c;
	sp_result res;

	sp_opts_init(&opt, "ca set", set_help, "h", opts, argc, argv);
	while ((c = sp_opt_next(&opt)) > 0)
		if (c == 'u')
			crl_url = opt.arg;
	if (c < 0)
		return opt.rc;
	if (argc - opt.ind != 1)
		return sp_cli_usage("ca set", "expected one DIR");
	if (crl_url == NULL)
		return sp_cli_usage("ca set", "nothing to set (--crl-url BASE)");
	res = sp_ca_set_crl_url(argv[opt.ind], crl_url, stdout);
	return sp_failed(res) ? sp_cli_fail("ca set", res) : SP_EXIT_OK;
}

static const sp_cmd ca_cmds[] = {
	{ "init", ca_init, "create the server CA, the device CA, the firmware key and ca.db" },
	{ "sign", ca_sign, "sign a provisioning server's CSR with the server CA" },
	{ "issue", ca_issue, "issue device identities (one MAC or a CSV)" },
	{ "sign-firmware", ca_sign_firmware, "sign a firmware image with the firmware key" },
	{ "revoke", ca_revoke, "revoke a certificate by serial or MAC" },
	{ "crl", ca_crl, "write the CRL of the device or server CA" },
	{ "list", ca_list, "list issued certificates" },
	{ "policy", ca_policy, "show or set the allowed domains for sign" },
	{ "set", ca_set, "change a setting of the CA (the CRL distribution point)" },
	{ NULL, NULL, NULL },
};

static const char ca_help[] =
    "usage: sprov ca COMMAND DIR [ARGS...]\n"
    "\n"
    "The vendor's PKI: the server CA that every device trusts, the device CA\n"
    "that signs each device's client certificate, the firmware-signing key\n"
    "that signs firmware images, and the issuance database.\n"
    "\n"
    "Examples:\n"
    "  sprov ca list vendor/\n"
    "  sprov ca help issue\n";

int
sp_cmd_ca(int argc, char **argv)
{
	return sp_cli_dispatch("ca", ca_cmds, argc, argv, ca_help);
}
