/* Reading and checking the devices of `sprov ca issue`. */
#include "ca/issue_internal.h"

#include <stdlib.h>
#include <string.h>

#include "common/csv.h"
#include "common/text.h"
#include "common/util.h"

static bool
field_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > FIELD_MAX)
		return false;
	for (; *s; s++) {
		char c = *s;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '_' || c == ':' || c == '-'))
			return false;
	}
	return true;
}

/*
 * Validate one device the way the server will read it: the fields, then
 * sp_devid_from_attrs on the very subject we are about to issue.
 */
sp_result
sp_issue_check_dev(const issue_ctx *c, const char *mac_in, const char *serial, const char *product,
    dev *d)
{
	sp_result res = SP_OK;
	sp_mac m;
	sp_name_attr a[4];
	size_t n = 0;
	sp_devid id;
	char q[96];

	TRY(sp_mac_parse(sp_slice_of(mac_in), &m));
	sp_mac_format(&m, SP_MAC_MA, d->mac);
	if (*serial && !field_ok(serial)) {
		sp_quote(sp_slice_of(serial), q, sizeof(q));
		ENSURE(0, SP_E_POLICY, "serial '%s' must be 1-64 characters of "
		    "A-Z a-z 0-9 . _ : -", q);
	}
	if (*product && !field_ok(product)) {
		sp_quote(sp_slice_of(product), q, sizeof(q));
		ENSURE(0, SP_E_POLICY, "product '%s' must be 1-64 characters of "
		    "A-Z a-z 0-9 . _ : -", q);
	}
	snprintf(d->serial, sizeof(d->serial), "%s", serial);
	snprintf(d->product, sizeof(d->product), "%s", product);
	if (c->o->style == SP_DEVSTYLE_SPROV) {
		a[n++] = (sp_name_attr){ SP_ATTR_O, sp_slice_of(c->org) };
		if (*product)
			a[n++] = (sp_name_attr){ SP_ATTR_OU, sp_slice_of(d->product) };
		a[n++] = (sp_name_attr){ SP_ATTR_CN, sp_slice_of(d->mac) };
		if (*serial)
			a[n++] = (sp_name_attr){ SP_ATTR_SERIALNUMBER, sp_slice_of(d->serial) };
	} else {
		if (*product)
			a[n++] = (sp_name_attr){ SP_ATTR_OU, sp_slice_of(d->product) };
		if (*serial)
			a[n++] = (sp_name_attr){ SP_ATTR_L, sp_slice_of(d->serial) };
		a[n++] = (sp_name_attr){ SP_ATTR_ST, sp_slice_of(d->mac) };
	}
	res = sp_devid_from_attrs(a, n, c->o->style == SP_DEVSTYLE_SPROV ?
	    SP_IDSTYLE_SPROV : SP_IDSTYLE_SPA, &id);
	if (sp_failed(res))
		TRY(sp_error_wrap(res, "the server would not accept this identity"));
out:
	return res;
}

static int
cmp_mac(const void *a, const void *b)
{
	const dev *x = *(const dev *const *)a, *y = *(const dev *const *)b;
	int r = strcmp(x->mac, y->mac);

	return r ? r : (x->line < y->line ? -1 : x->line > y->line);
}

static sp_result
check_duplicates(issue_ctx *c)
{
	sp_result res = SP_OK;
	dev **v = NULL;

	if (c->ndevs < 2)
		return SP_OK;
	TRY_ALLOC(v, malloc(c->ndevs * sizeof(*v)));
	for (size_t i = 0; i < c->ndevs; i++)
		v[i] = &c->devs[i];
	qsort(v, c->ndevs, sizeof(*v), cmp_mac);
	for (size_t i = 1; i < c->ndevs; i++)
		ENSURE(strcmp(v[i]->mac, v[i - 1]->mac) != 0, SP_E_POLICY,
		    "%s:%zu: MAC %s repeats line %zu", c->o->csv, v[i]->line, v[i]->mac,
		    v[i - 1]->line);
out:
	free(v);
	return res;
}

/*
 * The whole file is read and every row checked before anything is issued.
 * The group column (for `db devices import`) is read and not used.
 */
sp_result
sp_issue_read_csv(issue_ctx *c)
{
	sp_result res = SP_OK;
	sp_buf b;
	sp_csv r;
	sp_csv_row *row = NULL;
	sp_csv_device cd;
	size_t cap = 0;
	bool got;
	dev *nd;

	sp_buf_init(&b, SP_CSV_MAX);
	TRY(sp_read_file(c->o->csv, SP_CSV_MAX, &b));
	TRY_ALLOC(row, malloc(sizeof(*row)));
	sp_csv_init(&r, c->o->csv, sp_slice_mk(b.p ? b.p : "", b.len));
	for (;;) {
		TRY(sp_csv_next_device(&r, row, &cd, &got));
		if (!got)
			break;
		if (c->ndevs == cap) {
			cap = cap ? cap * 2 : 1024;
			ENSURE(cap <= SP_ISSUE_DEVICES_MAX * 2, SP_E_LIMIT,
			    "%s: more than %d devices", c->o->csv, SP_ISSUE_DEVICES_MAX);
			TRY_ALLOC(nd, realloc(c->devs, cap * sizeof(*nd)));
			c->devs = nd;
		}
		nd = &c->devs[c->ndevs];
		memset(nd, 0, sizeof(*nd));
		nd->line = cd.line;
		res = sp_issue_check_dev(c, cd.mac, cd.serial, cd.product, nd);
		if (sp_failed(res))
			TRY(sp_error_wrap(res, "%s:%zu", c->o->csv, cd.line));
		c->ndevs++;
	}
	ENSURE(c->ndevs > 0, SP_E_PARSE, "%s: no devices in the file", c->o->csv);
	TRY(check_duplicates(c));
out:
	free(row);
	sp_buf_free(&b);
	return res;
}
