/*
 * Placeholder until the embedded dashboard lands: one page.
 */
#include "console/assets.h"

#include <string.h>

static const unsigned char index_html[] =
    "<!doctype html><html><head><meta charset=\"utf-8\"><title>sprov</title>"
    "</head><body><p>sprov console</p></body></html>\n";

static const sp_asset assets[] = {
	{ "/", index_html, sizeof(index_html) - 1, "text/html; charset=utf-8",
	    "\"placeholder-1\"" },
};

const sp_asset *
sp_console_asset(const char *path)
{
	for (size_t i = 0; i < sizeof(assets) / sizeof(assets[0]); i++)
		if (strcmp(assets[i].path, path) == 0)
			return &assets[i];
	return NULL;
}
