/*
 * Rendering a profile into the render cache (server/render.h).
 */
#include "server/render.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "common/util.h"
#include "profile/profile.h"

sp_result
srv_render(server *s, sp_store *st, const sp_mac *mac, sp_unknown_mode unknown,
    sp_cache_entry **e, bool *pending, bool *disabled)
{
	sp_result res = SP_OK;
	sp_device dev;
	bool found = false, defaults_only = false;
	sp_params ps;
	sp_buf body;
	uint64_t gen = 0, t0 = sp_mono_ns();

	*e = NULL;
	*pending = false;
	if (disabled != NULL)
		*disabled = false;
#ifdef SPROV_TEST_TRIGGERS
	/* Tests: a slow store, to close a connection while its job is pending. */
	if (getenv("SPROV_TEST_RENDER_DELAY_MS") != NULL) {
		int64_t ms = atoll(getenv("SPROV_TEST_RENDER_DELAY_MS"));
		struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };
		nanosleep(&ts, NULL);
	}
#endif
	sp_params_init(&ps);
	sp_buf_init(&body, SP_PROFILE_MAX);
	TRY(sp_store_device_get(st, mac, &dev, &found));
	if (!found || !dev.enabled) {
		if (disabled != NULL)
			*disabled = found;
		if (unknown == SP_UNKNOWN_404)
			goto out;
		defaults_only = true;
		*pending = !found;
		TRY(sp_store_params_defaults(st, &ps, &gen));
	} else {
		TRY(sp_store_params_effective(st, &dev, &ps, &gen));
	}
	TRY(sp_profile_render(&ps, &body));
	TRY(sp_cache_entry_new(s->cache, mac, gen, defaults_only,
	    body.p ? body.p : "", body.len, e));
	sp_cache_put(s->cache, *e);
	atomic_fetch_add(&s->renders, 1);
	atomic_fetch_add(&s->render_ns, sp_mono_ns() - t0);
out:
	sp_params_free(&ps);
	sp_buf_free_secret(&body);
	return res;
}

sp_result
srv_profile_etag(server *s, sp_store *st, const sp_mac *mac, char etag[SP_ETAG_MAX + 1],
    bool *found)
{
	sp_result res = SP_OK;
	sp_cache_entry *e = NULL;
	const sp_serve_config *cfg = srv_cfg_hold(s);
	sp_unknown_mode unknown = cfg->unknown;
	bool pending = false;

	srv_cfg_release(s);
	etag[0] = '\0';
	*found = false;
	if (atomic_load(&s->gen_known))
		e = sp_cache_get(s->cache, mac, atomic_load(&s->gen));
	if (e == NULL)
		TRY(srv_render(s, st, mac, unknown, &e, &pending, NULL));
	if (e != NULL) {
		snprintf(etag, SP_ETAG_MAX + 1, "%s", e->etag);
		*found = true;
	}
out:
	sp_cache_release(e);
	return res;
}
