/*
 * Firmware images and rollouts above the backends (store.h, schema 4).
 * XXX: stubs while the schema lands; the API is final.
 */
#include "store/store.h"
#include "store/store_internal.h"

#define STUB(fn) sp_error(SP_E_INTERNAL, "%s: not implemented yet", fn)

sp_result
sp_store_fw_add(sp_store *s, const char *path, EVP_PKEY *pub, int64_t now,
    sp_fw_info *out)
{
	(void)s, (void)path, (void)pub, (void)now, (void)out;
	return STUB(__func__);
}

sp_result
sp_store_fw_get(sp_store *s, const char *product, const char *version,
    sp_fw_info *out, bool *found)
{
	(void)s, (void)product, (void)version, (void)out;
	*found = false;
	return STUB(__func__);
}

sp_result
sp_store_fw_read(sp_store *s, const sp_fw_info *img, uint64_t off, void *dst,
    size_t len, size_t *got)
{
	(void)s, (void)img, (void)off, (void)dst, (void)len;
	*got = 0;
	return STUB(__func__);
}

sp_result
sp_store_fw_list(sp_store *s, sp_store_fw_cb cb, void *arg)
{
	(void)s, (void)cb, (void)arg;
	return STUB(__func__);
}

sp_result
sp_store_fw_rm(sp_store *s, const char *product, const char *version)
{
	(void)s, (void)product, (void)version;
	return STUB(__func__);
}

sp_result
sp_store_rollout_create(sp_store *s, const sp_rollout_spec *spec, int64_t now,
    sp_rollout *out)
{
	(void)s, (void)spec, (void)now, (void)out;
	return STUB(__func__);
}

sp_result
sp_store_rollout_get(sp_store *s, const char *name, sp_rollout *out, bool *found)
{
	(void)s, (void)name, (void)out;
	*found = false;
	return STUB(__func__);
}

sp_result
sp_store_rollout_list(sp_store *s, sp_store_rollout_cb cb, void *arg)
{
	(void)s, (void)cb, (void)arg;
	return STUB(__func__);
}

sp_result
sp_store_rollout_status(sp_store *s, const char *name, int64_t now,
    sp_rollout *r, sp_rollout_wave_stat stat[SP_ROLLOUT_WAVES_MAX])
{
	(void)s, (void)name, (void)now, (void)r, (void)stat;
	return STUB(__func__);
}

sp_result
sp_store_rollout_pause(sp_store *s, const char *name, int64_t now)
{
	(void)s, (void)name, (void)now;
	return STUB(__func__);
}

sp_result
sp_store_rollout_resume(sp_store *s, const char *name, int64_t now)
{
	(void)s, (void)name, (void)now;
	return STUB(__func__);
}

sp_result
sp_store_rollout_rollback(sp_store *s, const char *name, const char *rb_name,
    int64_t now, sp_rollout *out)
{
	(void)s, (void)name, (void)rb_name, (void)now, (void)out;
	return STUB(__func__);
}

sp_result
sp_store_rollout_tick(sp_store *s, int64_t now, sp_rollout_tick_report *rep)
{
	(void)s, (void)now;
	if (rep)
		*rep = (sp_rollout_tick_report){ 0 };
	return SP_OK;
}
