/*
 * The dashboard's files, embedded in the binary at build time
 * (src/console/assets/, see docs/CONSOLE.md): the page loads nothing from
 * anywhere else.
 */
#ifndef SPROV_CONSOLE_ASSETS_H
#define SPROV_CONSOLE_ASSETS_H

#include <stddef.h>

typedef struct sp_asset {
	const char *path;            /* "/", "/assets/app.js", ... */
	const unsigned char *data;
	size_t len;
	const char *type;            /* Content-Type */
	const char *etag;            /* quoted, from the content */
} sp_asset;

/* The asset served at path (query string excluded), or NULL. */
const sp_asset *sp_console_asset(const char *path);

#endif
