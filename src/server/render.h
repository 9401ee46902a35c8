/*
 * Rendering a device's profile into the render cache (render.c): the one
 * path from the store to a cache entry, for the store thread's cache
 * misses and for the console's drift column (the ETag a device would get
 * now).  Both run on a thread that owns its own store handle.
 */
#ifndef SPROV_SERVER_RENDER_H
#define SPROV_SERVER_RENDER_H

#include <stdbool.h>

#include "identity/mac.h"
#include "server/cache.h"
#include "server/config.h"
#include "server/srv.h"
#include "store/store.h"

/*
 * Render mac's profile with st, put it in s's cache and hand back a
 * reference (*e; sp_cache_release it).  *e NULL with SP_OK: the device is
 * unknown or disabled and unknown is SP_UNKNOWN_404 (*disabled tells
 * which; may be NULL).  *pending: an unknown device served the defaults.
 */
SP_MUST_CHECK sp_result srv_render(server *s, sp_store *st, const sp_mac *mac,
    sp_unknown_mode unknown, sp_cache_entry **e, bool *pending, bool *disabled);

/*
 * The ETag mac would be answered with now: the cache entry at the
 * generation the server serves, else rendered through srv_render (and
 * cached, as a request would), with no contact recorded.  *found false
 * (etag "") when the device would get a 404 (unknown or disabled, with
 * unknown-devices 404).  st: the caller's own store handle (one per
 * thread).  Any thread.
 */
SP_MUST_CHECK sp_result srv_profile_etag(server *s, sp_store *st, const sp_mac *mac,
    char etag[SP_ETAG_MAX + 1], bool *found);

#endif
