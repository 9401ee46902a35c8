/*
 * A device's state directory (`sprov device init` creates it):
 *
 *   client.crt, client.key, server-ca.crt   the bundle from `sprov ca issue`
 *   firmware-ca.crt                         the firmware-signing root, when the
 *                                           bundle carries it (upgrade.h)
 *   firmware.img                            the running firmware (upgrade.h)
 *   device.conf                             identity + provisioning parameters
 *   params.xml                              the applied store (flat-profile XML)
 *   state                                   last result, ETags, timers
 *
 * The parameters a resync uses are device.conf's, overridden by the store's
 * (what profiles set).  The store and the state file are only ever replaced
 * whole (sp_write_file: temporary file, fsync, rename, fsync dir), so after
 * a crash either the old or the new version is there, never a mix.
 */
#ifndef SPROV_DEVICE_DEVICE_H
#define SPROV_DEVICE_DEVICE_H

#include <limits.h>

#include "common/result.h"
#include "device/conf.h"
#include "profile/param.h"

#define SP_DEV_CONF "device.conf"
#define SP_DEV_STORE "params.xml"
#define SP_DEV_STATE "state"
#define SP_DEV_CLIENT_CRT "client.crt"
#define SP_DEV_CLIENT_KEY "client.key"
#define SP_DEV_SERVER_CA "server-ca.crt"
#define SP_DEV_FIRMWARE_CA "firmware-ca.crt"
#define SP_DEV_FIRMWARE "firmware.img"
#define SP_BUNDLE_FILE_MAX (1024u * 1024)  /* one bundle file, bytes */
#define SP_PROFILE_MAX_STORE (8u * 1024 * 1024)  /* params.xml bytes */

typedef struct sp_device {
	char dir[PATH_MAX];
	sp_identity id;
	sp_params conf;   /* device.conf parameters */
	sp_params store;  /* params.xml: applied from profiles */
	sp_params state;  /* the state file */
} sp_device;

void sp_device_init_empty(sp_device *d);
void sp_device_free(sp_device *d);
SP_MUST_CHECK sp_result sp_device_load(const char *dir, sp_device *d);
/* Path of a file in the state directory. */
SP_MUST_CHECK sp_result sp_device_path(const sp_device *d, const char *file,
    char out[PATH_MAX]);
/* device.conf parameters overridden by the store's. */
SP_MUST_CHECK sp_result sp_device_effective(const sp_device *d, sp_params *out);
/* Replace the store with ps, atomically. */
SP_MUST_CHECK sp_result sp_device_apply(sp_device *d, const sp_params *ps);
SP_MUST_CHECK sp_result sp_device_save_state(const sp_device *d);
/* The guides' User-Agent: Vendor/PN-SWVER (MAC)(SN), with the running version. */
#define SP_UA_MAX 256
void sp_device_user_agent(const sp_device *d, char *out, size_t outsz);

typedef struct sp_device_init_opts {
	const char *bundle;     /* client.crt, client.key, server-ca.crt [, firmware-ca.crt] */
	const char *rule;       /* Profile_Rule, may be NULL */
	const char *provision_domain; /* Provision_Domain (device/pin.h), may be NULL */
	const char *mac, *serial, *product, *series, *swver, *hwver; /* overrides */
	const char *const *sets; /* "NAME=VALUE" parameters for device.conf */
	size_t n_sets;
	bool force;
} sp_device_init_opts;

SP_MUST_CHECK sp_result sp_device_create(const char *dir, const sp_device_init_opts *o);

#endif
