/*
 * sprov db firmware add|list|rm: signed firmware containers in the store
 * (store.h "firmware images"), which the server streams to devices.
 * Product and version come from the container itself, never from the
 * command line, so a stored image is what its header says it is.
 */
#include "cli/cmd_db.h"

#include <stdio.h>
#include <string.h>

#include <openssl/x509.h>

#include "common/text.h"
#include "common/util.h"
#include "pki/pki.h"

enum { OPT_FW_CA = 0x200 };

static const char add_help[] =
    "usage: sprov db firmware add IMAGE.sfw [--firmware-ca FILE] [--store URI]\n"
    "\n"
    "Store a signed firmware container ('sprov ca sign-firmware').  Product\n"
    "and version are read from the container; its length and payload digest\n"
    "are checked while it is copied in (it is never held whole in memory).\n"
    "With --firmware-ca the signature must be the vendor's firmware-signing\n"
    "root's too.  A product and version stored already are refused.\n"
    "\n"
    "Options:\n"
    "  --firmware-ca FILE the firmware-signing root certificate (PEM)\n"
    DB_HELP_STORE
    "\n"
    "Examples:\n"
    "  sprov db firmware add SPA-962-2.0.1.sfw\n"
    "  sprov db firmware add SPA-962-2.0.2.sfw --firmware-ca firmware-ca.crt\n"
    "\n"
    "Exit status:\n"
    "  1  refused (a bad, truncated or foreign-signed container, or stored\n"
    "     already) or failed: nothing was stored\n";

static sp_result
load_pub(const char *path, EVP_PKEY **out)
{
	sp_result res = SP_OK;
	X509 *cert = NULL;
	EVP_PKEY *pub;

	*out = NULL;
	TRY(sp_cert_load(path, &cert));
	pub = X509_get0_pubkey(cert);
	ENSURE(pub != NULL, SP_E_CRYPTO, "%s: no public key", path);
	EVP_PKEY_up_ref(pub);
	*out = pub;
out:
	X509_free(cert);
	return res;
}

static int
cmd_add(int argc, char **argv)
{
	static const struct option lo[] = {
		OPT_STORE_ENTRY,
		{ "firmware-ca", required_argument, NULL, OPT_FW_CA },
		SP_OPT_HELP_AND_END,
	};
	sp_opts opt;
	const char *store = NULL, *ca = NULL;
	sp_store *s = NULL;
	EVP_PKEY *pub = NULL;
	sp_fw_info fw;
	sp_result res = SP_OK;
	char hex[65];
	int c;

	sp_opts_init(&opt, "db firmware add", add_help, "", lo, argc, argv);
	while ((c = sp_opt_next(&opt)) > 0) {
		switch (c) {
		case OPT_STORE: store = opt.arg; break;
		case OPT_FW_CA: ca = opt.arg; break;
		}
	}
	if (c < 0)
		return opt.rc;
	if (opt.ind + 1 != argc)
		return sp_cli_usage("db firmware add", opt.ind == argc ?
		    "an IMAGE.sfw is needed" : "unexpected argument '%s'",
		    argv[opt.ind + (opt.ind < argc)]);
	if (ca)
		TRY(load_pub(ca, &pub));
	TRY(sp_dbcli_open_store(store, 0, &s));
	TRY(sp_store_fw_add(s, argv[opt.ind], pub, sp_now(), &fw));
	sp_hex(fw.sha256, sizeof(fw.sha256), hex);
	printf("firmware %s %s stored: %llu bytes, sha256 %s%s\n", fw.product,
	    fw.version, (unsigned long long)fw.length, hex,
	    pub ? ", signature checked" : "");
out:
	EVP_PKEY_free(pub);
	sp_store_close(s);
	return sp_failed(res) ? sp_cli_fail("db firmware add", res) : SP_EXIT_OK;
}

static const char list_help[] =
    "usage: sprov db firmware list [--json] [--store URI]\n"
    "\n"
    "The stored firmware images, by product and version: length, SHA-256 of\n"
    "the container (the ETag the server gives it) and when it was added.\n"
    "\n"
    "Options:\n"
    "  --json             one JSON array of objects instead of a table\n"
    DB_HELP_STORE
    "\n"
    "Examples:\n"
    "  sprov db firmware list\n"
    "  sprov db firmware list --json\n";

static sp_result
list_one(void *arg, const sp_fw_info *fw)
{
	sp_result res = SP_OK;
	sp_dbcli_list *l = arg;
	char hex[65], t[32];

	sp_hex(fw->sha256, sizeof(fw->sha256), hex);
	sp_dbcli_fmt_time(fw->created, t);
	if (l->json) {
		printf("%s\n  {\"product\": ", l->n ? "," : "");
		JSON_CSTR(fw->product);
		printf(", \"version\": ");
		JSON_CSTR(fw->version);
		printf(", \"length\": %llu, \"sha256\": \"%s\", \"added\": \"%s\"}",
		    (unsigned long long)fw->length, hex, t);
	} else {
		if (l->n == 0)
			printf("%-16s %-16s %12s %-64s %s\n", "PRODUCT", "VERSION",
			    "BYTES", "SHA256", "ADDED");
		printf("%-16s %-16s %12llu %s %s\n", fw->product, fw->version,
		    (unsigned long long)fw->length, hex, t);
	}
	l->n++;
out:
	return res;
}

static sp_result
list_all(sp_dbcli_list *l)
{
	return sp_store_fw_list(l->s, list_one, l);
}

static int
cmd_list(int argc, char **argv)
{
	return sp_dbcli_list_cmd(argc, argv, "db firmware list", list_help,
	    list_all, "no firmware images");
}

static const char rm_help[] =
    "usage: sprov db firmware rm PRODUCT VERSION [--store URI]\n"
    "\n"
    "Remove a stored image.  An image that a rollout (not rolled back)\n"
    "targets is refused: devices are being sent to it.\n"
    "\n"
    "Options:\n"
    DB_HELP_STORE
    "\n"
    "Examples:\n"
    "  sprov db firmware rm SPA-962 2.0.2\n"
    "\n"
    "Exit status:\n"
    "  1  no such image, a rollout targets it, or failed: nothing removed\n";

static sp_result
rm_run(sp_store *s, char **args)
{
	sp_result res = SP_OK;

	TRY(sp_store_fw_rm(s, args[0], args[1]));
	printf("firmware %s %s removed\n", args[0], args[1]);
out:
	return res;
}

static int
cmd_rm(int argc, char **argv)
{
	return sp_dbcli_store_cmd(argc, argv, "db firmware rm", rm_help, 2,
	    "PRODUCT and VERSION are needed", rm_run);
}

static const char fw_help[] =
    "usage: sprov db firmware COMMAND [ARGS...] [--store URI]\n"
    "\n"
    "Signed firmware images the server streams to devices\n"
    "(/firmware/$PN/$VERSION.sfw by default).\n"
    "\n"
    "Examples:\n"
    "  sprov db firmware help add\n";

static const sp_cmd fw_cmds[] = {
	{ "add", cmd_add, "store a signed firmware container" },
	{ "list", cmd_list, "list the stored images" },
	{ "rm", cmd_rm, "remove an image" },
	{ NULL, NULL, NULL },
};

int
sp_dbcli_firmware(int argc, char **argv)
{
	return sp_cli_dispatch("db firmware", fw_cmds, argc, argv, fw_help);
}
