/*
 * PKCS#11 keys: generation through the module's own C_GenerateKeyPair, use
 * through libp11, which hands OpenSSL an EVP_PKEY whose sign operation calls
 * C_Sign in the token.  URIs are parsed by p11-kit (RFC 7512).
 *
 * libp11.h names the RSA_METHOD and EC_KEY_METHOD types, which OpenSSL hides
 * under OPENSSL_NO_DEPRECATED; this file calls no deprecated function (the
 * build's -Werror turns any such call into an error).
 */
#undef OPENSSL_NO_DEPRECATED

#include "pki/token.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libp11.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <p11-kit/p11-kit.h>
#include <p11-kit/pkcs11.h>
#include <p11-kit/uri.h>

#include "common/text.h"
#include "common/util.h"

#define KEY_ID_LEN 16
#define QUOTE_MAX 160
#define LOGIN_REFUSED SP_TOKEN_LOGIN_REFUSED

bool
sp_token_is_uri(const char *s)
{
	return s != NULL && strncasecmp(s, "pkcs11:", 7) == 0;
}

/* ---- PIN ---- */

static sp_result
pin_check(sp_buf *pin, const char *from)
{
	sp_result res = SP_OK;

	while (pin->len > 0 && (pin->p[pin->len - 1] == '\n' || pin->p[pin->len - 1] == '\r'))
		pin->len--;
	ENSURE(pin->len > 0, SP_E_PARSE, "%s: empty PIN", from);
	ENSURE(!sp_has_ctl(sp_slice_mk(pin->p, pin->len)), SP_E_PARSE,
	    "%s: the PIN holds a control character", from);
	TRY(sp_buf_append_byte(pin, '\0'));
	pin->len--;
out:
	return res;
}

sp_result
sp_token_pin(const char *pin_file, sp_buf *pin)
{
	sp_result res = SP_OK;
	struct stat st;
	const char *env;

	sp_buf_init_secret(pin, SP_TOKEN_PIN_MAX + 2);
	if (pin_file != NULL) {
		ENSURE(stat(pin_file, &st) == 0, SP_E_IO, "PIN file %s: %s", pin_file,
		    strerror(errno));
		ENSURE(S_ISREG(st.st_mode), SP_E_POLICY, "PIN file %s: not a regular file",
		    pin_file);
		ENSURE((st.st_mode & 077) == 0, SP_E_POLICY, "PIN file %s: mode %04o lets "
		    "group or others read it; chmod 600 it", pin_file,
		    (unsigned)(st.st_mode & 07777));
		res = sp_read_file_secret(pin_file, SP_TOKEN_PIN_MAX + 2, pin);
		if (sp_failed(res))
			TRY(sp_error_wrap(res, "PIN file"));
		TRY(pin_check(pin, pin_file));
		goto out;
	}
	env = getenv(SP_TOKEN_PIN_ENV);
	ENSURE(env != NULL, SP_E_USAGE, "the token needs a PIN: set %s or give --pin-file "
	    "FILE", SP_TOKEN_PIN_ENV);
	ENSURE(strlen(env) <= SP_TOKEN_PIN_MAX, SP_E_LIMIT, "%s: longer than %d bytes",
	    SP_TOKEN_PIN_ENV, SP_TOKEN_PIN_MAX);
	TRY(sp_buf_append_str(pin, env));
	TRY(pin_check(pin, SP_TOKEN_PIN_ENV));
out:
	if (sp_failed(res))
		sp_buf_free_secret(pin);
	return res;
}

/* ---- URIs ---- */

/* Parse uri; refuse what sprov never takes from one. */
static sp_result
uri_parse(const char *s, bool want_object, P11KitUri **out)
{
	sp_result res = SP_OK;
	P11KitUri *u = NULL;
	char q[QUOTE_MAX];
	int rc;
	bool object;

	*out = NULL;
	/*
	 * Messages show the path part only: the query may hold pin-value, a
	 * secret that must not reach a log even when it is refused.
	 */
	sp_quote(sp_slice_mk(s, strcspn(s, "?")), q, sizeof(q));
	TRY_ALLOC(u, p11_kit_uri_new());
	rc = p11_kit_uri_parse(s, P11_KIT_URI_FOR_ANY, u);
	ENSURE(rc == P11_KIT_URI_OK, SP_E_PARSE, "'%s': not a PKCS#11 URI (RFC 7512): %s", q,
	    p11_kit_uri_message(rc));
	ENSURE(p11_kit_uri_get_pin_value(u) == NULL, SP_E_POLICY, "'%s': a PIN is never "
	    "put in a URI (command lines are visible to every user); use %s or a PIN "
	    "file", q, SP_TOKEN_PIN_ENV);
	ENSURE(!p11_kit_uri_any_unrecognized(u), SP_E_PARSE, "'%s': an attribute this "
	    "URI holds is not one of RFC 7512's", q);
	object = p11_kit_uri_get_attribute(u, CKA_LABEL) != NULL ||
	    p11_kit_uri_get_attribute(u, CKA_ID) != NULL;
	if (want_object)
		ENSURE(object, SP_E_PARSE, "'%s': names no key (object= or id=)", q);
	else {
		ENSURE(!object && p11_kit_uri_get_attribute(u, CKA_CLASS) == NULL,
		    SP_E_PARSE, "'%s': names a token, not a key (no object=, id= or type=): "
		    "sprov names the keys it makes", q);
		ENSURE(p11_kit_uri_get_module_path(u) == NULL &&
		    p11_kit_uri_get_module_name(u) == NULL &&
		    p11_kit_uri_get_pin_source(u) == NULL, SP_E_PARSE, "'%s': give the "
		    "module with --pkcs11-module and the PIN with --pin-file or %s, not in "
		    "the URI", q, SP_TOKEN_PIN_ENV);
	}
	*out = u;
	u = NULL;
out:
	p11_kit_uri_free(u);
	return res;
}

/* The token label as a C string, blank padding removed. */
static void
label_str(const CK_UTF8CHAR label[32], char out[33])
{
	size_t n = 32;

	memcpy(out, label, 32);
	while (n > 0 && out[n - 1] == ' ')
		n--;
	out[n] = '\0';
}

/* ---- key generation: the module's own function list ---- */

typedef struct raw_module {
	void *dl;
	CK_FUNCTION_LIST_PTR f;
	bool initialized;
	CK_SESSION_HANDLE s;
	bool session, logged_in;
} raw_module;

static sp_result
raw_load(const char *path, raw_module *m)
{
	sp_result res = SP_OK;
	CK_C_GetFunctionList get;
	CK_C_INITIALIZE_ARGS args = { .flags = CKF_OS_LOCKING_OK };
	CK_RV rv;

	ENSURE(access(path, R_OK) == 0, SP_E_NOTFOUND, "PKCS#11 module %s: %s", path,
	    strerror(errno));
	m->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	ENSURE(m->dl != NULL, SP_E_IO, "PKCS#11 module %s: %s", path, dlerror());
	*(void **)&get = dlsym(m->dl, "C_GetFunctionList");
	ENSURE(get != NULL, SP_E_IO, "%s: not a PKCS#11 module (no C_GetFunctionList)",
	    path);
	rv = get(&m->f);
	ENSURE(rv == CKR_OK && m->f != NULL, SP_E_CRYPTO, "%s: C_GetFunctionList: %s",
	    path, p11_kit_strerror(rv));
	rv = m->f->C_Initialize(&args);
	ENSURE(rv == CKR_OK, SP_E_CRYPTO, "%s: C_Initialize: %s", path,
	    p11_kit_strerror(rv));
	m->initialized = true;
out:
	return res;
}

static void
raw_close(raw_module *m)
{
	if (m->logged_in)
		m->f->C_Logout(m->s);
	if (m->session)
		m->f->C_CloseSession(m->s);
	if (m->initialized)
		m->f->C_Finalize(NULL);
	if (m->dl)
		dlclose(m->dl);
	memset(m, 0, sizeof(*m));
}

/* Open a read-write session on the one token that u matches and log in. */
static sp_result
raw_login(raw_module *m, P11KitUri *u, const char *uri, const char *module,
    const char *pin, char label[33])
{
	sp_result res = SP_OK;
	CK_SLOT_ID *slots = NULL, slot = 0;
	CK_ULONG n = 0, found = 0;
	CK_TOKEN_INFO ti;
	CK_RV rv;
	char q[QUOTE_MAX];

	sp_quote(sp_slice_of(uri), q, sizeof(q));
	rv = m->f->C_GetSlotList(CK_TRUE, NULL, &n);
	ENSURE(rv == CKR_OK, SP_E_CRYPTO, "%s: C_GetSlotList: %s", module,
	    p11_kit_strerror(rv));
	TRY_ALLOC(slots, calloc(n ? n : 1, sizeof(*slots)));
	rv = m->f->C_GetSlotList(CK_TRUE, slots, &n);
	ENSURE(rv == CKR_OK, SP_E_CRYPTO, "%s: C_GetSlotList: %s", module,
	    p11_kit_strerror(rv));
	for (CK_ULONG i = 0; i < n; i++) {
		if (m->f->C_GetTokenInfo(slots[i], &ti) != CKR_OK ||
		    !p11_kit_uri_match_token_info(u, &ti))
			continue;
		if (found++ == 0) {
			slot = slots[i];
			label_str(ti.label, label);
		}
	}
	ENSURE(found > 0, SP_E_NOTFOUND, "no token matches '%s' in PKCS#11 module %s", q,
	    module);
	ENSURE(found == 1, SP_E_PARSE, "'%s' matches %lu tokens in %s; name one (token=, "
	    "serial=)", q, (unsigned long)found, module);
	rv = m->f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL,
	    &m->s);
	ENSURE(rv == CKR_OK, SP_E_CRYPTO, "token '%s': C_OpenSession: %s", label,
	    p11_kit_strerror(rv));
	m->session = true;
	rv = m->f->C_Login(m->s, CKU_USER, (CK_UTF8CHAR_PTR)pin, strlen(pin));
	ENSURE(rv != CKR_PIN_INCORRECT && rv != CKR_PIN_LOCKED, SP_E_VERIFY,
	    "token '%s': %s", label, LOGIN_REFUSED);
	ENSURE(rv == CKR_OK, SP_E_CRYPTO, "token '%s': login refused: %s", label,
	    p11_kit_strerror(rv));
	m->logged_in = true;
out:
	free(slots);
	return res;
}

static sp_result
raw_label_free(raw_module *m, const char *token, const char *label)
{
	sp_result res = SP_OK;
	CK_ATTRIBUTE t[] = { { CKA_LABEL, (void *)label, strlen(label) } };
	CK_OBJECT_HANDLE h;
	CK_ULONG n = 0;
	CK_RV rv;

	rv = m->f->C_FindObjectsInit(m->s, t, 1);
	ENSURE(rv == CKR_OK, SP_E_CRYPTO, "token '%s': C_FindObjectsInit: %s", token,
	    p11_kit_strerror(rv));
	rv = m->f->C_FindObjects(m->s, &h, 1, &n);
	m->f->C_FindObjectsFinal(m->s);
	ENSURE(rv == CKR_OK, SP_E_CRYPTO, "token '%s': C_FindObjects: %s", token,
	    p11_kit_strerror(rv));
	ENSURE(n == 0, SP_E_EXISTS, "token '%s' already holds an object labelled '%s'; "
	    "use another token or remove it", token, label);
out:
	return res;
}

/* DER OIDs of the named curves, as CKA_EC_PARAMS. */
static const CK_BYTE oid_p256[] = { 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01,
	0x07 };
static const CK_BYTE oid_p384[] = { 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22 };

static sp_result
raw_generate(raw_module *m, const char *token, const sp_token_keyspec *k,
    CK_OBJECT_HANDLE *pub, CK_OBJECT_HANDLE *priv)
{
	sp_result res = SP_OK;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_MECHANISM mech = { CKM_EC_KEY_PAIR_GEN, NULL, 0 };
	CK_BYTE id[KEY_ID_LEN];
	const CK_BYTE *oid = k->type == SP_KEY_EC_P256 ? oid_p256 : oid_p384;
	CK_ULONG oidlen = k->type == SP_KEY_EC_P256 ? sizeof(oid_p256) : sizeof(oid_p384);
	CK_RV rv;

	TRY_OSSL(RAND_bytes(id, sizeof(id)), "key id");
	{
		CK_ATTRIBUTE pt[] = {
			{ CKA_TOKEN, &yes, sizeof(yes) },
			{ CKA_VERIFY, &yes, sizeof(yes) },
			{ CKA_EC_PARAMS, (void *)oid, oidlen },
			{ CKA_LABEL, (void *)k->label, strlen(k->label) },
			{ CKA_ID, id, sizeof(id) },
		};
		CK_ATTRIBUTE kt[] = {
			{ CKA_TOKEN, &yes, sizeof(yes) },
			{ CKA_PRIVATE, &yes, sizeof(yes) },
			{ CKA_SENSITIVE, &yes, sizeof(yes) },
			{ CKA_EXTRACTABLE, &no, sizeof(no) },
			{ CKA_SIGN, &yes, sizeof(yes) },
			{ CKA_LABEL, (void *)k->label, strlen(k->label) },
			{ CKA_ID, id, sizeof(id) },
		};
		rv = m->f->C_GenerateKeyPair(m->s, &mech, pt, sizeof(pt) / sizeof(pt[0]), kt,
		    sizeof(kt) / sizeof(kt[0]), pub, priv);
	}
	ENSURE(rv == CKR_OK, SP_E_CRYPTO, "token '%s': generating %s key '%s': %s", token,
	    sp_key_type_name(k->type), k->label, p11_kit_strerror(rv));
out:
	return res;
}

static sp_result
key_uri_format(P11KitUri *u, const char *label, char **out)
{
	sp_result res = SP_OK;
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_ATTRIBUTE a_label = { CKA_LABEL, (void *)label, strlen(label) };
	CK_ATTRIBUTE a_class = { CKA_CLASS, &cls, sizeof(cls) };
	char *s = NULL;

	ENSURE(p11_kit_uri_set_attribute(u, &a_label) == P11_KIT_URI_OK &&
	    p11_kit_uri_set_attribute(u, &a_class) == P11_KIT_URI_OK &&
	    p11_kit_uri_format(u, P11_KIT_URI_FOR_OBJECT_ON_TOKEN, &s) == P11_KIT_URI_OK,
	    SP_E_INTERNAL, "formatting the URI of key '%s'", label);
	ENSURE(strlen(s) <= SP_TOKEN_URI_MAX, SP_E_LIMIT, "URI of key '%s': longer than %d "
	    "bytes", label, SP_TOKEN_URI_MAX);
	*out = s;
	s = NULL;
out:
	free(s);
	return res;
}

sp_result
sp_token_keygen(const char *module, const char *token_uri, const char *pin,
    const sp_token_keyspec *keys, size_t n, char **key_uri)
{
	sp_result res = SP_OK;
	raw_module m = { 0 };
	P11KitUri *u = NULL;
	CK_OBJECT_HANDLE pub[SP_TOKEN_KEYGEN_MAX], priv[SP_TOKEN_KEYGEN_MAX];
	size_t made = 0;
	char label[33];

	for (size_t i = 0; i < n; i++)
		key_uri[i] = NULL;
	if (module == NULL)
		module = SP_TOKEN_MODULE_DEFAULT;
	ENSURE(n <= SP_TOKEN_KEYGEN_MAX, SP_E_INTERNAL, "sp_token_keygen: %zu keys", n);
	for (size_t i = 0; i < n; i++)
		ENSURE(keys[i].type == SP_KEY_EC_P256 || keys[i].type == SP_KEY_EC_P384,
		    SP_E_POLICY, "a token key is EC P-256 or P-384, not %s",
		    sp_key_type_name(keys[i].type));
	TRY(uri_parse(token_uri, false, &u));
	TRY(raw_load(module, &m));
	TRY(raw_login(&m, u, token_uri, module, pin, label));
	for (size_t i = 0; i < n; i++)
		TRY(raw_label_free(&m, label, keys[i].label));
	for (made = 0; made < n; made++)
		TRY(raw_generate(&m, label, &keys[made], &pub[made], &priv[made]));
	for (size_t i = 0; i < n; i++)
		TRY(key_uri_format(u, keys[i].label, &key_uri[i]));
out:
	if (sp_failed(res)) {
		/* All or nothing: a half-made CA leaves no keys behind in the token. */
		for (size_t i = 0; i < made; i++) {
			m.f->C_DestroyObject(m.s, priv[i]);
			m.f->C_DestroyObject(m.s, pub[i]);
		}
		for (size_t i = 0; i < n; i++) {
			free(key_uri[i]);
			key_uri[i] = NULL;
		}
	}
	raw_close(&m);
	p11_kit_uri_free(u);
	return res;
}

sp_result
sp_token_uri_of_token(const char *key_uri, char **out)
{
	sp_result res = SP_OK;
	P11KitUri *u = NULL;
	P11KitUri *t = NULL;

	*out = NULL;
	TRY(uri_parse(key_uri, true, &u));
	/*
	 * FOR_TOKEN keeps the token's attributes and drops object, id and type;
	 * the query (PIN source, module) goes by hand: keygen takes them apart.
	 */
	p11_kit_uri_set_pin_source(u, NULL);
	p11_kit_uri_set_module_path(u, NULL);
	p11_kit_uri_set_module_name(u, NULL);
	ENSURE(p11_kit_uri_format(u, P11_KIT_URI_FOR_TOKEN, out) == P11_KIT_URI_OK,
	    SP_E_INTERNAL, "formatting a token URI");
	/* What we made must be what sp_token_keygen takes. */
	res = uri_parse(*out, false, &t);
	if (sp_failed(res)) {
		free(*out);
		*out = NULL;
	}
out:
	p11_kit_uri_free(t);
	p11_kit_uri_free(u);
	return res;
}

/* ---- key use: libp11 ---- */

/*
 * A module is initialised once per process (C_Initialize is process-wide),
 * and libp11 caches each EVP_PKEY it hands out (a second load of the same
 * key returns the same object) for as long as its slots live.  So sprov
 * loads one module on first use and keeps it, with its slots, until the
 * process ends: a key freed by the CA or by an old SSL_CTX after a reload
 * never outlives the module that signs for it.
 */
typedef struct loaded {
	char *module;
	PKCS11_CTX *ctx;
	PKCS11_SLOT *slots;
	unsigned nslots;
} loaded;

static pthread_mutex_t lmu = PTHREAD_MUTEX_INITIALIZER;
static loaded lmod;

static void
lmod_free_locked(void)
{
	if (lmod.slots)
		PKCS11_release_all_slots(lmod.ctx, lmod.slots, lmod.nslots);
	if (lmod.ctx) {
		PKCS11_CTX_unload(lmod.ctx);
		PKCS11_CTX_free(lmod.ctx);
	}
	free(lmod.module);
	memset(&lmod, 0, sizeof(lmod));
}

/* The loaded module, loading it first if need be. */
static sp_result
lmod_get_locked(const char *module)
{
	sp_result res = SP_OK;

	if (lmod.ctx != NULL) {
		ENSURE(strcmp(lmod.module, module) == 0, SP_E_STATE, "PKCS#11 module %s: "
		    "%s is already in use in this process", module, lmod.module);
		goto out;
	}
	TRY(sp_token_module_check(module));
	TRY_ALLOC(lmod.module, strdup(module));
	TRY_OSSL_PTR(lmod.ctx, PKCS11_CTX_new(), "PKCS#11 context");
	ENSURE(PKCS11_CTX_load(lmod.ctx, module) == 0, SP_E_IO,
	    "PKCS#11 module %s: cannot load it", module);
	ENSURE(PKCS11_enumerate_slots(lmod.ctx, &lmod.slots, &lmod.nslots) == 0,
	    SP_E_CRYPTO, "PKCS#11 module %s: cannot list its slots", module);
out:
	if (sp_failed(res))
		lmod_free_locked();
	return res;
}

static void
pad(CK_UTF8CHAR *dst, size_t n, const char *s)
{
	size_t l = s ? strlen(s) : 0;

	memset(dst, ' ', n);
	memcpy(dst, s, l < n ? l : n);
}

static sp_result
find_slot_locked(P11KitUri *u, const char *q, const char *module, PKCS11_SLOT **out)
{
	sp_result res = SP_OK;
	CK_TOKEN_INFO ti;
	unsigned found = 0;

	for (unsigned i = 0; i < lmod.nslots; i++) {
		PKCS11_TOKEN *t = lmod.slots[i].token;
		if (t == NULL || !t->initialized)
			continue;
		memset(&ti, 0, sizeof(ti));
		pad(ti.label, sizeof(ti.label), t->label);
		pad(ti.manufacturerID, sizeof(ti.manufacturerID), t->manufacturer);
		pad(ti.model, sizeof(ti.model), t->model);
		pad(ti.serialNumber, sizeof(ti.serialNumber), t->serialnr);
		if (!p11_kit_uri_match_token_info(u, &ti))
			continue;
		if (found++ == 0)
			*out = &lmod.slots[i];
	}
	ENSURE(found > 0, SP_E_NOTFOUND, SP_TOKEN_NO_TOKEN, q, module);
	ENSURE(found == 1, SP_E_PARSE, "'%s' matches %u tokens in %s; name one (token=, "
	    "serial=)", q, found, module);
out:
	return res;
}

static bool
attr_eq(CK_ATTRIBUTE *a, const void *p, size_t n)
{
	return a == NULL || (a->ulValueLen == n && (n == 0 || memcmp(a->pValue, p, n) == 0));
}

static sp_result
find_key_locked(PKCS11_SLOT *slot, P11KitUri *u, const char *q, PKCS11_KEY **out)
{
	sp_result res = SP_OK;
	PKCS11_KEY *keys = NULL;
	unsigned n = 0, found = 0;
	CK_ATTRIBUTE *label = p11_kit_uri_get_attribute(u, CKA_LABEL);
	CK_ATTRIBUTE *id = p11_kit_uri_get_attribute(u, CKA_ID);

	ENSURE(PKCS11_enumerate_keys(slot->token, &keys, &n) == 0, SP_E_CRYPTO,
	    "token '%s': cannot list its keys", slot->token->label);
	for (unsigned i = 0; i < n; i++) {
		const char *l = keys[i].label ? keys[i].label : "";
		if (!attr_eq(label, l, strlen(l)) || !attr_eq(id, keys[i].id, keys[i].id_len))
			continue;
		if (found++ == 0)
			*out = &keys[i];
	}
	ENSURE(found > 0, SP_E_NOTFOUND, SP_TOKEN_NO_KEY, slot->token->label, q);
	ENSURE(found == 1, SP_E_PARSE, "'%s' names %u keys in token '%s'", q, found,
	    slot->token->label);
out:
	return res;
}

sp_result
sp_token_module_check(const char *module)
{
	sp_result res = SP_OK;

	ENSURE(access(module, R_OK) == 0, SP_E_NOTFOUND, "PKCS#11 module %s: %s", module,
	    strerror(errno));
out:
	return res;
}

/*
 * The module and the PIN for the key that u names: module NULL means the
 * URI's module-path, else the p11-kit proxy; pin NULL means the URI's
 * pin-source file, else $SPROV_PKCS11_PIN (read into *pinb).
 */
static sp_result
key_module_pin(P11KitUri *u, const char **module, const char **pin, sp_buf *pinb)
{
	sp_result res = SP_OK;
	const char *src;

	if (*module == NULL)
		*module = p11_kit_uri_get_module_path(u);
	if (*module == NULL)
		*module = SP_TOKEN_MODULE_DEFAULT;
	if (*pin == NULL) {
		src = p11_kit_uri_get_pin_source(u);
		if (src != NULL && strncmp(src, "file:", 5) == 0)
			src += 5;
		TRY(sp_token_pin(src, pinb));
		*pin = pinb->p;
	}
out:
	return res;
}

sp_result
sp_token_ref_get(const char *key_uri, sp_token_ref *ref)
{
	sp_result res = SP_OK;
	P11KitUri *u = NULL;
	const char *module = NULL, *pin = NULL;

	memset(ref, 0, sizeof(*ref));
	sp_buf_init_secret(&ref->pin, SP_TOKEN_PIN_MAX + 2);
	TRY(uri_parse(key_uri, true, &u));
	TRY(key_module_pin(u, &module, &pin, &ref->pin));
	TRY_ALLOC(ref->module, strdup(module));
	/* The PIN is read here, by our rules; the library that logs in gets it from us. */
	p11_kit_uri_set_pin_source(u, NULL);
	ENSURE(p11_kit_uri_format(u, P11_KIT_URI_FOR_OBJECT_ON_TOKEN, &ref->uri) ==
	    P11_KIT_URI_OK, SP_E_INTERNAL, "formatting key URI");
out:
	if (sp_failed(res))
		sp_token_ref_free(ref);
	p11_kit_uri_free(u);
	return res;
}

void
sp_token_ref_free(sp_token_ref *ref)
{
	free(ref->uri);
	free(ref->module);
	sp_buf_free_secret(&ref->pin);
	ref->uri = ref->module = NULL;
}

sp_result
sp_token_key_load(const char *module, const char *key_uri, const char *pin,
    EVP_PKEY **out)
{
	sp_result res = SP_OK;
	P11KitUri *u = NULL;
	PKCS11_SLOT *slot = NULL;
	PKCS11_KEY *key = NULL;
	EVP_PKEY *pk = NULL;
	sp_buf pinb;
	bool locked = false;
	char q[QUOTE_MAX];
	int in = 0;

	*out = NULL;
	sp_buf_init_secret(&pinb, SP_TOKEN_PIN_MAX + 2);
	sp_quote(sp_slice_of(key_uri), q, sizeof(q));
	TRY(uri_parse(key_uri, true, &u));
	TRY(key_module_pin(u, &module, &pin, &pinb));
	pthread_mutex_lock(&lmu);
	locked = true;
	TRY(lmod_get_locked(module));
	TRY(find_slot_locked(u, q, module, &slot));
	if (PKCS11_is_logged_in(slot, 0, &in) != 0 || !in) {
		ERR_clear_error();
		ENSURE(PKCS11_login(slot, 0, pin) == 0, SP_E_VERIFY, "token '%s': %s",
		    slot->token->label, LOGIN_REFUSED);
	}
	TRY(find_key_locked(slot, u, q, &key));
	TRY_OSSL_PTR(pk, PKCS11_get_private_key(key), "token '%s': key '%s'",
	    slot->token->label, q);
	*out = pk;
out:
	if (locked)
		pthread_mutex_unlock(&lmu);
	ERR_clear_error();
	sp_buf_free_secret(&pinb);
	p11_kit_uri_free(u);
	return res;
}
