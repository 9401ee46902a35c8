#include "server/config.h"

#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "common/text.h"
#include "tls/tls.h"

#define DEFAULT_PATH_1 "/profiles/$MA.xml"
#define DEFAULT_PATH_2 "/spa$PSN.cfg"

typedef enum { K_STR, K_URI, K_INT, K_MS } ktype;

typedef struct key {
	const char *name;
	ktype type;
	size_t off;
	int64_t min, max;
} key;

#define S(n, f) { n, K_STR, offsetof(sp_serve_config, f), 0, 0 }
#define I(n, f, lo, hi) { n, K_INT, offsetof(sp_serve_config, f), lo, hi }
#define MS(n, f, lo, hi) { n, K_MS, offsetof(sp_serve_config, f), lo, hi }

static const key keys[] = {
	S("listen", listen), S("admin", admin), S("cert", cert), S("key", key),
	S("client-ca", client_ca), S("crl", crl), S("user", user),
	S("access-log", access_log), S("etag-key-file", etag_key_file),
	S("cluster-key-file", cluster_key_file), S("node-name", node_name),
	S("contact-spill", contact_spill),
	{ "store", K_URI, offsetof(sp_serve_config, store), 0, 0 },
	I("workers", workers, 0, SP_WORKERS_MAX),
	I("verify-depth", verify_depth, 1, SP_TLS_VERIFY_DEPTH_MAX),
	I("crl-grace", crl_grace, 0, 366 * 86400),
	I("crl-poll", crl_poll, 1, 3600),
	I("ticket-rotate", ticket_rotate, 1, 7 * 86400),
	MS("handshake-timeout", handshake_timeout, 100, 600000),
	MS("header-timeout", header_timeout, 100, 600000),
	MS("idle-timeout", idle_timeout, 100, 3600000),
	MS("drain-timeout", drain_timeout, 0, 600000),
	I("max-connections", max_connections, 1, SP_CONN_MAX),
	I("overload-connections", overload_connections, 0, SP_CONN_MAX),
	I("handshakes-per-source", handshakes_per_source, 0,
	    SP_TLS_HANDSHAKES_PER_SOURCE_MAX),
	I("retry-after", retry_after, 1, 86400),
	I("max-header-size", max_header_size, 1024, 1024 * 1024),
	I("max-request-line", max_request_line, 256, 1024 * 1024),
	MS("contact-flush", contact_flush, 10, 600000),
	I("contact-queue", contact_queue, 1, 1000000),
	MS("rollout-tick", rollout_tick, 100, 3600000),
};

void
sp_serve_config_init(sp_serve_config *cfg)
{
	sp_result r;

	memset(cfg, 0, sizeof(*cfg));
	snprintf(cfg->listen, sizeof(cfg->listen), "0.0.0.0:443");
	snprintf(cfg->admin, sizeof(cfg->admin), "127.0.0.1:9443");
	snprintf(cfg->access_log, sizeof(cfg->access_log), "-");
	cfg->identity = SP_IDSTYLE_AUTO;
	cfg->unknown = SP_UNKNOWN_404;
	cfg->tls_backend = SP_TLS_BACKEND_DEFAULT;
	cfg->key_process = true;
	cfg->sandbox = true;
	cfg->verify_depth = SP_TLS_VERIFY_DEPTH_DEFAULT;
	cfg->crl_grace = 0;
	cfg->crl_poll = 2;
	cfg->ticket_rotate = SP_TLS_TICKET_ROTATE_DEFAULT;
	cfg->handshake_timeout = 10000;
	cfg->header_timeout = 10000;
	cfg->idle_timeout = 60000;
	cfg->drain_timeout = 10000;
	cfg->max_connections = 4096;
	cfg->handshakes_per_source = SP_TLS_HANDSHAKES_PER_SOURCE_DEFAULT;
	cfg->retry_after = 30;
	cfg->max_header_size = 8192;
	cfg->max_request_line = 2048;
	cfg->contact_flush = 1000;
	cfg->contact_queue = 100000;
	cfg->rollout_tick = 5000;
	/* The defaults parse; a failure here is a bug caught by the unit test. */
	r = sp_tpl_parse(SP_SLICE_LIT(DEFAULT_PATH_1), &cfg->paths[0]);
	if (sp_ok(r))
		r = sp_tpl_parse(SP_SLICE_LIT(DEFAULT_PATH_2), &cfg->paths[1]);
	cfg->npaths = sp_ok(r) ? 2 : 0;
	if (sp_ok(r))
		r = sp_fwpath_parse(SP_SLICE_LIT(SP_FWPATH_DEFAULT), &cfg->firmware_path);
	if (sp_failed(r))
		cfg->npaths = 0;
}

/* Keys with a few named values; the value stored is the index in words. */
typedef struct choice {
	const char *name;
	size_t off;
	bool is_bool;           /* a bool field (words: no, yes), else an enum */
	const char *words[4];   /* NULL-terminated */
} choice;

static const choice choices[] = {
	{ "unknown-device", offsetof(sp_serve_config, unknown), false, { "404", "defaults" } },
	{ "access-log-format", offsetof(sp_serve_config, access_log_format), false,
	    { "text", "json" } },
	{ "log", offsetof(sp_serve_config, log), false, { "stderr", "syslog", "journal" } },
	{ "reuse-port", offsetof(sp_serve_config, reuse_port), true, { "no", "yes" } },
	{ "key-process", offsetof(sp_serve_config, key_process), true, { "off", "on" } },
	{ "sandbox", offsetof(sp_serve_config, sandbox), true, { "off", "on" } },
	{ "crl-from-store", offsetof(sp_serve_config, crl_from_store), true, { "off", "on" } },
};
_Static_assert(SP_UNKNOWN_404 == 0 && SP_UNKNOWN_DEFAULTS == 1 && SP_ALOG_JSON == 1 &&
    SP_LOGTO_SYSLOG == 1 && SP_LOGTO_JOURNAL == 2, "choices follow the enums");
_Static_assert(sizeof(sp_unknown_mode) == sizeof(int) && sizeof(sp_alog_format) ==
    sizeof(int) && sizeof(sp_logto) == sizeof(int), "enum fields are stored as int");

/* "'x' is not a, b or c" names the words in the order given. */
static sp_result
choice_parse(const choice *c, const char *value, int *out)
{
	char list[128] = "";
	size_t n = 0, len = 0;

	while (n < 4 && c->words[n] != NULL) {
		if (strcmp(c->words[n], value) == 0) {
			*out = (int)n;
			return SP_OK;
		}
		n++;
	}
	/* Booleans list the true word first: "'x' is not yes or no". */
	for (size_t i = 0; i < n; i++) {
		size_t k = c->is_bool ? n - 1 - i : i;
		len += (size_t)snprintf(list + len, sizeof(list) - len, "%s%s",
		    i == 0 ? "" : i == n - 1 ? " or " : ", ", c->words[k]);
		if (len >= sizeof(list))
			break;
	}
	return sp_error(SP_E_PARSE, "%s: '%s' is not %s", c->name, value, list);
}

/* Seconds with an optional "ms" suffix for the *_timeout / flush keys. */
static sp_result
parse_ms(const char *name, const char *v, int64_t lo, int64_t hi, int64_t *out)
{
	size_t n = strlen(v);
	int64_t x;
	sp_result r;

	if (n > 2 && strcmp(v + n - 2, "ms") == 0) {
		char tmp[32];
		if (n - 2 >= sizeof(tmp))
			return sp_error(SP_E_PARSE, "%s: '%s' is too long", name, v);
		memcpy(tmp, v, n - 2);
		tmp[n - 2] = '\0';
		r = sp_parse_i64(tmp, lo, hi, name, &x);
	} else {
		r = sp_parse_i64(v, (lo + 999) / 1000, hi / 1000, name, &x);
		/* Only a parsed, in-range x: it is unset after a refusal. */
		if (sp_ok(r))
			x *= 1000;
	}
	if (sp_ok(r))
		*out = x;
	return r;
}

sp_result
sp_serve_config_set(sp_serve_config *cfg, const char *name, const char *value)
{
	sp_result res = SP_OK;
	sp_slice v = sp_slice_of(value);
	char q[96];

	ENSURE(!sp_has_ctl(v), SP_E_PARSE, "%s: value has a control byte", name);
	if (strcmp(name, "path") == 0) {
		if (!cfg->paths_set) {
			cfg->npaths = 0;
			cfg->paths_set = true;
		}
		ENSURE(cfg->npaths < SP_TPLS_MAX, SP_E_LIMIT, "more than %d path templates",
		    SP_TPLS_MAX);
		TRY(sp_tpl_parse(v, &cfg->paths[cfg->npaths]));
		cfg->npaths++;
		goto out;
	}
	if (strcmp(name, "firmware-path") == 0) {
		TRY(sp_fwpath_parse(v, &cfg->firmware_path));
		goto out;
	}
	if (strcmp(name, "identity") == 0) {
		TRY(sp_idstyle_parse(value, &cfg->identity));
		goto out;
	}
	if (strcmp(name, "proxy-from") == 0) {
		TRY(sp_proxy_acl_parse(v, &cfg->proxy_from));
		goto out;
	}
	if (strcmp(name, "tls-backend") == 0) {
		TRY(sp_tls_backend_parse(value, &cfg->tls_backend));
		goto out;
	}
	for (size_t i = 0; i < sizeof(choices) / sizeof(choices[0]); i++) {
		int v_ = 0;
		if (strcmp(choices[i].name, name) != 0)
			continue;
		TRY(choice_parse(&choices[i], value, &v_));
		if (choices[i].is_bool)
			*(bool *)(void *)((char *)cfg + choices[i].off) = v_ != 0;
		else
			*(int *)(void *)((char *)cfg + choices[i].off) = v_;
		goto out;
	}
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const key *k = &keys[i];
		char *base = (char *)cfg + k->off;
		int64_t x;

		if (strcmp(k->name, name) != 0)
			continue;
		switch (k->type) {
		case K_STR:
		case K_URI: {
			size_t cap = k->type == K_URI ? SP_CFG_URI_MAX : SP_CFG_STR_MAX;
			ENSURE(v.len < cap, SP_E_LIMIT, "%s: longer than %zu bytes", name, cap - 1);
			memcpy(base, value, v.len + 1);
			break;
		}
		case K_INT:
			TRY(sp_parse_i64(value, k->min, k->max, name, &x));
			if (k->off == offsetof(sp_serve_config, workers) ||
			    k->off == offsetof(sp_serve_config, verify_depth))
				*(int *)(void *)base = (int)x;
			else
				*(int64_t *)(void *)base = x;
			break;
		case K_MS:
			TRY(parse_ms(name, value, k->min, k->max, &x));
			*(int64_t *)(void *)base = x;
			break;
		}
		goto out;
	}
	sp_quote(sp_slice_of(name), q, sizeof(q));
	res = sp_error(SP_E_PARSE, "unknown setting '%s'", q);
out:
	return res;
}

typedef struct ini_ctx {
	sp_serve_config *cfg;
	sp_result res;
	int line;
} ini_ctx;

static int
ini_cb(void *user, const char *section, const char *name, const char *value)
{
	ini_ctx *c = user;
	char q[64];

	c->line++;
	if (sp_failed(c->res))
		return 0;
	if (section[0] != '\0' && strcmp(section, "serve") != 0) {
		sp_quote(sp_slice_of(section), q, sizeof(q));
		c->res = sp_error(SP_E_PARSE, "unknown section [%s] (settings go under [serve])", q);
		return 0;
	}
	c->res = sp_serve_config_set(c->cfg, name, value ? value : "");
	return sp_ok(c->res);
}

sp_result
sp_serve_config_parse(sp_slice ini, sp_serve_config *cfg)
{
	sp_result res = SP_OK;
	char *text = NULL;
	ini_ctx c = { cfg, SP_OK, 0 };
	int rc;

	ENSURE(ini.len <= SP_CFG_FILE_MAX, SP_E_LIMIT, "config larger than %d bytes",
	    SP_CFG_FILE_MAX);
	ENSURE(memchr(ini.p, '\0', ini.len) == NULL, SP_E_PARSE, "config has a NUL byte");
	TRY_ALLOC(text, malloc(ini.len + 1));
	memcpy(text, ini.p, ini.len);
	text[ini.len] = '\0';
	rc = ini_parse_string(text, ini_cb, &c);
	if (sp_failed(c.res)) {
		res = sp_error_wrap(c.res, "config line %d", rc > 0 ? rc : c.line);
		goto out;
	}
	ENSURE(rc == 0, SP_E_PARSE, "config line %d: not 'key = value' or '[section]' "
	    "(or longer than %d bytes)", rc, 200);
out:
	free(text);
	return res;
}

static bool
node_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > SP_NODE_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '.' || s[i] == '_' || s[i] == '-'))
			return false;
	return true;
}

sp_result
sp_serve_config_finish(sp_serve_config *cfg)
{
	sp_result res = SP_OK;

	ENSURE(cfg->cert[0] && cfg->key[0] && cfg->client_ca[0], SP_E_USAGE,
	    "--cert, --key and --client-ca are required");
	ENSURE(cfg->npaths > 0, SP_E_USAGE, "no path template");
	ENSURE(cfg->listen[0], SP_E_USAGE, "--listen is required");
	if (cfg->overload_connections == 0)
		cfg->overload_connections = cfg->max_connections * 9 / 10;
	if (cfg->overload_connections < 1)
		cfg->overload_connections = 1;
	ENSURE(cfg->overload_connections <= cfg->max_connections, SP_E_USAGE,
	    "overload-connections (%lld) is above max-connections (%lld)",
	    (long long)cfg->overload_connections, (long long)cfg->max_connections);
	ENSURE(!cfg->crl_from_store || cfg->crl[0], SP_E_USAGE,
	    "crl-from-store = on needs crl = FILE (where this node keeps its copy)");
	ENSURE(cfg->max_request_line <= cfg->max_header_size, SP_E_USAGE,
	    "max-request-line (%lld) is above max-header-size (%lld)",
	    (long long)cfg->max_request_line, (long long)cfg->max_header_size);
	if (cfg->node_name[0] == '\0') {
		/* The host's name, if it is one a node name may be. */
		char host[256] = "";
		(void)gethostname(host, sizeof(host) - 1);
		snprintf(cfg->node_name, sizeof(cfg->node_name), "%s",
		    node_name_ok(host) ? host : "node");
	}
	ENSURE(node_name_ok(cfg->node_name), SP_E_USAGE, "node-name '%s' is not 1 to %d "
	    "letters, digits, '.', '_' or '-'", cfg->node_name, SP_NODE_NAME_MAX);
out:
	return res;
}
