/*
 * The dashboard's files (src/console/assets/), embedded at build time by
 * tools/embed_assets.cmake into console_assets.h: a table of path, bytes,
 * Content-Type and an ETag from the content's SHA-256.
 */
#include "console/assets.h"

#include <string.h>

#include "console_assets.h"

const sp_asset *
sp_console_asset(const char *path)
{
	if (path == NULL)
		return NULL;
	for (size_t i = 0; i < sizeof(assets) / sizeof(assets[0]); i++)
		if (strcmp(assets[i].path, path) == 0)
			return &assets[i];
	return NULL;
}
