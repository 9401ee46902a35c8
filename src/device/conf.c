#include "device/conf.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/util.h"
#include "common/text.h"

static const char *const id_keys[] = {
	"MAC", "Serial_Number", "Product_Name", "Product_Series",
	"Software_Version", "Hardware_Version",
};

sp_result
sp_kv_parse(sp_slice text, sp_params *kv)
{
	sp_result res = SP_OK;
	size_t pos = 0, lineno = 0;

	ENSURE(text.len <= SP_DEVCONF_MAX, SP_E_LIMIT, "more than %u bytes", SP_DEVCONF_MAX);
	while (pos < text.len) {
		sp_slice rest = sp_slice_mk(text.p + pos, text.len - pos);
		size_t nl = sp_slice_find(rest, '\n');
		sp_slice line = sp_slice_mk(rest.p, nl);
		size_t eq;
		sp_slice name, value;
		char q[80];

		pos += nl < rest.len ? nl + 1 : nl;
		lineno++;
		if (line.len > 0 && line.p[line.len - 1] == '\r')
			line.len--;
		ENSURE(line.len <= SP_DEVCONF_LINE_MAX, SP_E_LIMIT, "line %zu: longer than %d bytes",
		    lineno, SP_DEVCONF_LINE_MAX);
		for (size_t i = 0; i < line.len; i++) {
			unsigned char c = (unsigned char)line.p[i];
			ENSURE(!((c < 0x20 && c != '\t') || c == 0x7f), SP_E_PARSE,
			    "line %zu: control character", lineno);
		}
		line = sp_slice_trim(line);
		if (line.len == 0 || line.p[0] == '#')
			continue;
		eq = sp_slice_find(line, '=');
		sp_quote(line, q, sizeof(q));
		ENSURE(eq < line.len, SP_E_PARSE, "line %zu: expected 'Name = value', got '%s'",
		    lineno, q);
		name = sp_slice_trim(sp_slice_mk(line.p, eq));
		value = sp_slice_trim(sp_slice_mk(line.p + eq + 1, line.len - eq - 1));
		res = sp_param_name_check(name);
		if (sp_failed(res)) {
			res = sp_error_wrap(res, "line %zu", lineno);
			goto out;
		}
		TRY(sp_params_set(kv, name, value, SP_ACCESS_UNSET));
	}
out:
	return res;
}

sp_result
sp_kv_render(const sp_params *kv, sp_buf *out)
{
	sp_result res = SP_OK;

	for (size_t i = 0; i < kv->n; i++) {
		ENSURE(memchr(kv->v[i].value, '\n', kv->v[i].value_len) == NULL &&
		    memchr(kv->v[i].value, '\r', kv->v[i].value_len) == NULL, SP_E_PARSE,
		    "%s: a value cannot hold a line break here", kv->v[i].name);
		TRY(sp_buf_printf(out, "%s = ", kv->v[i].name));
		TRY(sp_buf_append(out, kv->v[i].value, kv->v[i].value_len));
		TRY(sp_buf_append_byte(out, '\n'));
	}
out:
	return res;
}

static sp_result
copy_field(const sp_params *kv, const char *key, char out[SP_DEVID_FIELD_MAX + 1])
{
	const sp_param *p = sp_params_get(kv, key);

	out[0] = '\0';
	if (p == NULL)
		return SP_OK;
	if (p->value_len > SP_DEVID_FIELD_MAX)
		return sp_error(SP_E_LIMIT, "%s: longer than %d bytes", key, SP_DEVID_FIELD_MAX);
	for (size_t i = 0; i < p->value_len; i++) {
		unsigned char c = (unsigned char)p->value[i];
		/* These reach URLs, paths and log lines through macros: keep them tame. */
		if (!(isalnum(c) || c == '.' || c == '-' || c == '_' || c == '(' || c == ')'))
			return sp_error(SP_E_PARSE, "%s: only letters, digits and . - _ ( ) are allowed", key);
	}
	memcpy(out, p->value, p->value_len);
	out[p->value_len] = '\0';
	return SP_OK;
}

void
sp_identity_series_from_product(const char *product, char out[SP_DEVID_FIELD_MAX + 1])
{
	size_t n = strlen(product), i = n;

	while (i > 0 && isdigit((unsigned char)product[i - 1]))
		i--;
	snprintf(out, SP_DEVID_FIELD_MAX + 1, "%s", i < n ? product + i : product);
}

sp_result
sp_devconf_parse(sp_slice text, sp_identity *id, sp_params *params)
{
	sp_result res = SP_OK;
	sp_params kv;
	const sp_param *mac;

	sp_params_init(&kv);
	memset(id, 0, sizeof(*id));
	TRY(sp_kv_parse(text, &kv));
	mac = sp_params_get(&kv, "MAC");
	ENSURE(mac != NULL, SP_E_PARSE, "no MAC line");
	res = sp_mac_parse(sp_slice_mk(mac->value, mac->value_len), &id->mac);
	if (sp_failed(res)) {
		res = sp_error_wrap(res, "MAC");
		goto out;
	}
	TRY(copy_field(&kv, "Serial_Number", id->serial));
	TRY(copy_field(&kv, "Product_Name", id->product));
	TRY(copy_field(&kv, "Product_Series", id->series));
	TRY(copy_field(&kv, "Software_Version", id->swver));
	TRY(copy_field(&kv, "Hardware_Version", id->hwver));
	if (id->series[0] == '\0')
		sp_identity_series_from_product(id->product, id->series);
	for (size_t i = 0; i < SP_ARRAY_LEN(id_keys); i++)
		(void)sp_params_unset(&kv, id_keys[i]);
	TRY(sp_params_merge(params, &kv));
out:
	sp_params_free(&kv);
	return res;
}

sp_result
sp_devconf_render(const sp_identity *id, const sp_params *params, sp_buf *out)
{
	sp_result res = SP_OK;
	char mac[SP_MAC_STRLEN];

	sp_mac_format(&id->mac, SP_MAC_MA, mac);
	TRY(sp_buf_printf(out,
	    "# sprov device: identity (from client.crt) and provisioning parameters\n"
	    "MAC = %s\nSerial_Number = %s\nProduct_Name = %s\nProduct_Series = %s\n"
	    "Software_Version = %s\nHardware_Version = %s\n\n",
	    mac, id->serial, id->product, id->series, id->swver, id->hwver));
	TRY(sp_kv_render(params, out));
out:
	return res;
}

sp_result
sp_param_bool(const char *v, const char *name, bool *out)
{
	if (strcasecmp(v, "yes") == 0 || strcasecmp(v, "true") == 0 || strcmp(v, "1") == 0)
		*out = true;
	else if (strcasecmp(v, "no") == 0 || strcasecmp(v, "false") == 0 || strcmp(v, "0") == 0)
		*out = false;
	else
		return sp_error(SP_E_PARSE, "%s: '%.32s' is not Yes or No", name, v);
	return SP_OK;
}
