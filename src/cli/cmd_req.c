/* sprov req: the service provider's key and certificate signing request. */
#include <stdio.h>
#include <string.h>

#include "ca/csr_policy.h"
#include "cli/cli.h"
#include "common/util.h"
#include "pki/pki.h"

static const char req_help[] =
    "usage: sprov req --cn NAME [--out provserver.csr] [--key-out privkey.pem]\n"
    "                 [--key FILE | --key-type TYPE] [--force]\n"
    "\n"
    "Make a provisioning server's private key and a PEM certificate signing\n"
    "request to send to the vendor (`sprov ca sign`).  The CN is the server's\n"
    "FQDN, optionally followed by '/' and extra information\n"
    "(e.g. pv.telco.net/mailto:admin@telco.net); a CN the CA would refuse is\n"
    "refused here with the same message.\n"
    "\n"
    "Options:\n"
    "  --cn NAME        subject CN (required)\n"
    "  --out FILE       the CSR (default provserver.csr)\n"
    "  --key-out FILE   the new private key, mode 0600 (default privkey.pem)\n"
    "  --key FILE       use this existing PEM private key instead of a new one\n"
    "  --key-type TYPE  ec-p256 (default), ec-p384, rsa-2048, rsa-3072, rsa-4096\n"
    "  --force          replace existing output files\n"
    "\n"
    "Examples:\n"
    "  sprov req --cn prov.telco.net\n"
    "  sprov req --cn pv.telco.net/mailto:admin@telco.net --key-type rsa-3072 \\\n"
    "      --out pv.csr --key-out pv.key\n";

int
sp_cmd_req(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "cn", required_argument, NULL, 'c' },
		{ "out", required_argument, NULL, 'o' },
		{ "key-out", required_argument, NULL, 'K' },
		{ "key", required_argument, NULL, 'k' },
		{ "key-type", required_argument, NULL, 't' },
		{ "force", no_argument, NULL, 'f' },
		SP_OPT_HELP_AND_END,
	};
	sp_opts opt;
	sp_result res = SP_OK;
	const char *cn = NULL, *out = "provserver.csr", *key_out = NULL, *key_in = NULL;
	const char *type_s = NULL;
	sp_key_type type = SP_KEY_EC_P256;
	bool force = false, key_written = false;
	EVP_PKEY *key = NULL;
	X509_REQ *req = NULL;
	sp_csr_info info;
	sp_buf kp, cp;
	int c, rc = SP_EXIT_OK;

	sp_buf_init(&kp, SP_PEM_MAX);
	sp_buf_init(&cp, SP_PEM_MAX);
	sp_opts_init(&opt, "req", req_help, "+h", opts, argc, argv);
	while ((c = sp_opt_next(&opt)) > 0) {
		switch (c) {
		case 'c': cn = opt.arg; break;
		case 'o': out = opt.arg; break;
		case 'K': key_out = opt.arg; break;
		case 'k': key_in = opt.arg; break;
		case 't': type_s = opt.arg; break;
		case 'f': force = true; break;
		}
	}
	if (c < 0)
		return opt.rc;
	if (opt.ind < argc)
		return sp_cli_usage("req", "unexpected argument '%s'", argv[opt.ind]);
	if (cn == NULL)
		return sp_cli_usage("req", "--cn is required");
	if (key_in && (key_out || type_s))
		return sp_cli_usage("req", "--key uses an existing key; it excludes "
		    "--key-out and --key-type");
	if (type_s && sp_failed(sp_key_type_parse(type_s, &type)))
		return sp_cli_usage("req", "%s", sp_errmsg());
	if (key_out == NULL && key_in == NULL)
		key_out = "privkey.pem";

	/* The same rule and words as `sprov ca sign`, before any key is made. */
	TRY(sp_csr_policy_cn(sp_slice_of(cn), NULL, 0, &info));
	ENSURE(force || !sp_file_exists(out), SP_E_EXISTS,
	    "%s: file exists (use --force to replace it)", out);
	ENSURE(force || key_out == NULL || !sp_file_exists(key_out), SP_E_EXISTS,
	    "%s: file exists (use --force to replace it)", key_out);
	if (key_in)
		TRY(sp_key_load(key_in, &key));
	else
		TRY(sp_key_gen(type, &key));
	TRY(sp_csr_build(key, cn, &req));
	/* The full CA policy on the finished CSR: key rule included (--key). */
	TRY(sp_csr_policy(req, NULL, 0, &info));
	TRY(sp_csr_pem(req, &cp));
	if (key_out) {
		TRY(sp_key_pem(key, &kp));
		TRY(sp_write_file(key_out, kp.p, kp.len, 0600, force ? 0 : SP_WRITE_EXCL));
		key_written = true;
	}
	TRY(sp_write_file(out, cp.p, cp.len, 0644, force ? 0 : SP_WRITE_EXCL));
	key_written = false;
	if (key_out)
		printf("wrote %s (private key, mode 0600; keep it secret)\n", key_out);
	printf("wrote %s (CSR for CN=%s); send it to the vendor: sprov ca sign DIR %s\n",
	    out, cn, out);
out:
	/* A key without its CSR is useless and would block a rerun without --force. */
	if (key_written && !force)
		remove(key_out);
	if (sp_failed(res))
		rc = sp_cli_fail("req", res);
	sp_buf_free_secret(&kp);
	sp_buf_free(&cp);
	X509_REQ_free(req);
	EVP_PKEY_free(key);
	return rc;
}
