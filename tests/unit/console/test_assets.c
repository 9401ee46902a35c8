/*
 * console/assets: the embedded dashboard.  Each file is served whole, with
 * its type and an ETag from its content, and the files keep to what the
 * Content-Security-Policy allows (no inline script or style, no other
 * origin) and to the rule that data reaches the page as text only.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "console/assets.h"

static const char *const paths[] = {
	"/", "/assets/app.js", "/assets/app.css", "/assets/icon.svg",
};

/* The bytes of the file the asset was made from, read from the tree. */
static char *
read_source(const char *name, size_t *len)
{
	const char *dir = getenv("SPROV_SRCDIR");
	char path[4096];
	FILE *f;
	char *buf;
	long n;

	assert_non_null(dir);
	snprintf(path, sizeof(path), "%s/src/console/assets/%s", dir, name);
	f = fopen(path, "rb");
	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n >= 0);
	rewind(f);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return buf;
}

/* The asset's bytes as a string (the embedder ends each with a NUL). */
static const char *
text_of(const char *path)
{
	const sp_asset *a = sp_console_asset(path);
	assert_non_null(a);
	assert_int_equal(a->data[a->len], 0);
	assert_int_equal(strlen((const char *)a->data), a->len);
	return (const char *)a->data;
}

static void
test_every_file_embedded_whole(void **state)
{
	static const char *const names[] = {
		"index.html", "app.js", "app.css", "icon.svg",
	};
	static const char *const types[] = {
		"text/html; charset=utf-8", "text/javascript; charset=utf-8",
		"text/css; charset=utf-8", "image/svg+xml",
	};
	(void)state;
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		const sp_asset *a = sp_console_asset(paths[i]);
		size_t len;
		char *src = read_source(names[i], &len);

		assert_non_null(a);
		assert_string_equal(a->path, paths[i]);
		assert_string_equal(a->type, types[i]);
		assert_int_equal(a->len, len);
		assert_memory_equal(a->data, src, len);
		/* A quoted strong ETag of 20 hex digits. */
		assert_int_equal(strlen(a->etag), 22);
		assert_int_equal(a->etag[0], '"');
		assert_int_equal(a->etag[21], '"');
		assert_int_equal(strspn(a->etag + 1, "0123456789abcdef"), 20);
		free(src);
	}
}

static void
test_etags_differ(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		for (size_t j = i + 1; j < sizeof(paths) / sizeof(paths[0]); j++)
			assert_string_not_equal(sp_console_asset(paths[i])->etag,
			    sp_console_asset(paths[j])->etag);
}

static void
test_unknown_paths(void **state)
{
	(void)state;
	assert_null(sp_console_asset(NULL));
	assert_null(sp_console_asset(""));
	assert_null(sp_console_asset("/index.html"));
	assert_null(sp_console_asset("/assets/"));
	assert_null(sp_console_asset("/assets/app.js?x=1"));
	assert_null(sp_console_asset("/assets/../assets/app.js"));
	assert_null(sp_console_asset("/app.js"));
	assert_null(sp_console_asset("/assets/APP.JS"));
}

/* What the CSP and the text-only rule ask of the files themselves. */
static void
test_files_keep_to_the_policy(void **state)
{
	const char *html = text_of("/");
	const char *js = text_of("/assets/app.js");
	const char *css = text_of("/assets/app.css");
	(void)state;

	/* One script, from this server; no inline script, handler or style. */
	assert_non_null(strstr(html, "<script src=\"/assets/app.js\" defer></script>"));
	assert_null(strstr(html, "<script>"));
	assert_null(strstr(html, "<style"));
	assert_null(strstr(html, "style="));
	assert_null(strstr(html, "onclick="));
	assert_null(strstr(html, "onload="));
	/* Nothing from another origin. */
	for (const char *const *t = (const char *const[]){ html, js, css, NULL }; *t; t++) {
		assert_null(strstr(*t, "//cdn"));
		assert_null(strstr(*t, "https://"));
		assert_null(strstr(*t, "@import"));
		assert_null(strstr(*t, "url("));
	}
	/* Data is inserted as text only. */
	assert_null(strstr(js, "innerHTML"));
	assert_null(strstr(js, "outerHTML"));
	assert_null(strstr(js, "insertAdjacentHTML"));
	assert_null(strstr(js, "document.write"));
	assert_null(strstr(js, "eval("));
	/* The ids the browser test and the contract name. */
	assert_non_null(strstr(js, "'search'"));
	assert_non_null(strstr(js, "'search-go'"));
	assert_non_null(strstr(js, "'inventory'"));
	assert_non_null(strstr(js, "'device-mac'"));
	assert_non_null(strstr(js, "'device-status'"));
	assert_non_null(strstr(js, "'failures'"));
	assert_non_null(strstr(js, "'params'"));
	assert_non_null(strstr(js, "'param-edit-name'"));
	assert_non_null(strstr(js, "'param-edit-value'"));
	assert_non_null(strstr(js, "'param-edit-save'"));
	assert_non_null(strstr(js, "'audit'"));
	assert_non_null(strstr(js, "'overview-status'"));
	assert_non_null(strstr(js, "'chart-resyncs'"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_file_embedded_whole),
		cmocka_unit_test(test_etags_differ),
		cmocka_unit_test(test_unknown_paths),
		cmocka_unit_test(test_files_keep_to_the_policy),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
