/*
 * The provider's device database, behind one interface (docs/STORE.md).
 *
 * A store is opened from a URI:
 *   sqlite:PATH              the embedded default
 *   postgresql://... or postgres://...
 *                            several server nodes sharing one database: any
 *                            libpq connection URI, passed to libpq as it is
 *                            (multi-host with target_session_attrs too); the
 *                            database must exist, `sprov db init` creates
 *                            the schema.  Messages name the database and
 *                            host, never the URI (it may hold a password).
 * Nothing here names a backend type: the server codes against this header
 * only.  A new backend is a new file that fills sp_store_ops
 * (store_internal.h, private to src/store) plus one line in store.c.
 *
 * Data
 *   devices: MAC ($MA, 12 lowercase hex), serial, product, group, enabled,
 *            created, pending (an unknown device the server has seen; an
 *            operator adopts it with `devices add` or `devices enable`).
 *   params at four levels, each overriding the one before:
 *            defaults -> product -> group -> device.
 *            Each entry: name, value, access (na|ro|rw or unset).  At a
 *            higher level an entry replaces the lower one's value; its
 *            access replaces the lower one's only when set (an unset
 *            access inherits, so a device can override a value without
 *            repeating the access the defaults gave it).
 *   contacts: the last contact per MAC (time, IP, raw and parsed
 *            User-Agent, ETag served, HTTP status).
 *
 * Change detection: sp_store_generation() returns a number that changes
 * (grows) whenever devices, params or rollouts change, by anyone, through
 * any connection or node.  It does NOT change on reads, on contact records or
 * on recording a pending device (a pending device is served exactly as an
 * unknown one, so no answer of the server changes).  The server caches
 * rendered profiles tagged with the generation they were read at and drops
 * them when the number differs.  Polling it is cheap (SQLite: PRAGMA
 * data_version, no I/O, and one indexed row only when another connection
 * committed).  PostgreSQL: the handle LISTENs for the NOTIFY its triggers
 * send, so polling reads pending notifications without a round trip, and
 * a change from another connection is seen once its notification arrives
 * (milliseconds; test with a wait loop).  Backends with notification
 * expose its descriptor through sp_store_notify_fd(); poll-only backends
 * return -1.
 *
 * Threads: an sp_store handle is NOT thread-safe.  Use one handle per
 * thread (per server worker, plus one for the contact flusher); handles
 * opened on the same URI may be used concurrently from different threads
 * and processes.  The error message of a failed call is thread-local
 * (sp_errmsg), like everywhere in sprov.
 *
 * Secrets: parameter values hold SIP passwords.  No function here logs a
 * value or puts one in an error message; callers must not either.
 */
#ifndef SPROV_STORE_STORE_H
#define SPROV_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "common/buf.h"
#include "common/result.h"
#include "firmware/image.h"
#include "identity/mac.h"
#include "profile/param.h"

#define SP_STORE_URI_MAX 4096
#define SP_STORE_FIELD_MAX 64     /* serial, product, group */
#define SP_STORE_DEFAULT_URI "sqlite:sprov.db"
#define SP_STORE_ENV "SPROV_STORE"

#define SP_UA_MAX 512             /* stored User-Agent, bytes */
#define SP_CONTACT_IP_MAX 45      /* INET6_ADDRSTRLEN - 1 */
#define SP_ETAG_MAX 80            /* quoted ETag as served */
#define SP_CONTACT_BATCH_MAX 10000 /* entries per sp_store_contact_batch */
#define SP_CERT_SERIAL_HEX_MAX 64 /* certificate serial, hex (as SP_TLS_SERIAL_HEX_MAX) */

typedef struct sp_store sp_store;

/* ---- records ---------------------------------------------------------- */

typedef struct sp_device {
	sp_mac mac;
	char serial[SP_STORE_FIELD_MAX + 1];   /* "" when unknown */
	char product[SP_STORE_FIELD_MAX + 1];  /* "" when none: no product level */
	char group[SP_STORE_FIELD_MAX + 1];    /* "" when none: no group level */
	bool enabled;
	bool pending;     /* seen by the server, not added by an operator */
	int64_t created;  /* unix seconds */
} sp_device;

typedef enum {
	SP_LEVEL_DEFAULTS = 0,
	SP_LEVEL_PRODUCT,
	SP_LEVEL_GROUP,
	SP_LEVEL_DEVICE,
} sp_level;

/*
 * Which level a parameter lives at.  key: NULL for defaults, the product or
 * group name, or the MAC (any form sp_mac_parse accepts) for a device.
 */
typedef struct sp_level_ref {
	sp_level level;
	const char *key;
} sp_level_ref;

const char *sp_level_name(sp_level l); /* "defaults", "product", ... */

/*
 * One contact, queued in memory by the server and written in batches.
 * Fixed-size fields so the server can queue by value without allocating.
 * Strings are NUL-terminated and truncated by the caller to fit.
 */
typedef struct sp_contact {
	sp_mac mac;
	int64_t time;                         /* unix seconds */
	char ip[SP_CONTACT_IP_MAX + 1];
	char ua[SP_UA_MAX + 1];               /* raw User-Agent ("" if none) */
	char etag[SP_ETAG_MAX + 1];           /* as served ("" if none) */
	int status;                           /* HTTP status answered */
	/*
	 * Unknown device served anyway: also record it as pending (serial and
	 * product from its certificate; one that fails sp_store_field_check
	 * is recorded as "" instead of failing the batch).  Ignored when the
	 * MAC is known.
	 */
	bool record_pending;
	char serial[SP_STORE_FIELD_MAX + 1];
	char product[SP_STORE_FIELD_MAX + 1];
	/*
	 * Schema 7 (store/console.h): the generation the served profile was
	 * rendered at (0: none, e.g. an error answer), so the console can tell
	 * a device that has not fetched its current profile ("behind"); and
	 * the client certificate it presented (serial hex, "" if none; its
	 * notAfter, 0 if unknown).  Not part of dumps.
	 */
	uint64_t gen;
	char cert_serial[SP_CERT_SERIAL_HEX_MAX + 1];
	int64_t cert_not_after;
} sp_contact;

/* ---- User-Agent: `Vendor/PN-SWVER (SN)` or `Vendor/PN-SWVER (MAC)(SN)` -- */

typedef struct sp_ua {
	sp_slice vendor;   /* views into the parsed input */
	sp_slice product;
	sp_slice swver;
	sp_slice mac;      /* len 0 when the UA carries no MAC */
	sp_slice serial;
} sp_ua;

/*
 * Pure parser (no I/O, no allocation; slices point into ua).  SP_E_PARSE
 * when ua does not have that form, SP_E_LIMIT past SP_UA_MAX bytes.
 */
SP_MUST_CHECK sp_result sp_ua_parse(sp_slice ua, sp_ua *out);

/* ---- opening ------------------------------------------------------------ */

enum {
	/* Create the database and its schema if missing (`sprov db init`). */
	SP_STORE_CREATE = 1,
};

/*
 * Open a store.  Without SP_STORE_CREATE the database must exist and carry
 * a schema ("run 'sprov db init'" otherwise).  An older schema is migrated
 * in one transaction; a newer one is refused.
 */
SP_MUST_CHECK sp_result sp_store_open(const char *uri, sp_store **out);
SP_MUST_CHECK sp_result sp_store_open_ex(const char *uri, int flags,
    sp_store **out);
void sp_store_close(sp_store *s); /* NULL-safe */

/*
 * uri with any password (user:PASSWORD@, password=... in the query)
 * replaced by "***", for messages; truncated to fit outsz.
 */
void sp_store_uri_safe(const char *uri, char *out, size_t outsz);

/* The URI from --store, else $SPROV_STORE, else SP_STORE_DEFAULT_URI. */
const char *sp_store_uri_default(const char *opt);

/* ---- server hot path ---------------------------------------------------- */

/* Current generation (see the top of this file). */
SP_MUST_CHECK sp_result sp_store_generation(sp_store *s, uint64_t *gen);

/*
 * -1 when the backend has no change notification (poll the generation),
 * or before the first sp_store_generation opened it.
 */
int sp_store_notify_fd(sp_store *s);

/*
 * Times a notification connection was lost and re-established, in this
 * process (every change it may have missed is re-read: nothing stale is
 * served).  For /metrics.
 */
uint64_t sp_store_notify_reconnects(void);

/*
 * The schema version the store had when this handle opened it (0 when
 * this open created it) and the version it has now (this sprov's).
 */
SP_MUST_CHECK sp_result sp_store_schema_version(sp_store *s, int *found,
    int *current);

/* *found is false (and SP_OK) when the MAC is not in the database. */
SP_MUST_CHECK sp_result sp_store_device_get(sp_store *s, const sp_mac *mac,
    sp_device *out, bool *found);

/*
 * Effective parameters of a device: defaults, then its product, its group,
 * itself, merged into out (which must be initialised; existing entries are
 * overridden).  Read in one consistent snapshot.
 *
 * *gen (optional) is the generation to tag a cached rendering with: that
 * of this snapshot, or, if an sp_store_device_get on this handle preceded
 * the call and the database changed in between, the older generation that
 * lookup saw.  So a device disabled, removed, added or moved between the
 * lookup and this call never leaves a cache entry that looks current.
 * Always tag with this value, not with an earlier sp_store_generation().
 */
SP_MUST_CHECK sp_result sp_store_params_effective(sp_store *s,
    const sp_device *dev, sp_params *out, uint64_t *gen);

/*
 * The defaults level only (unknown devices, when configured to serve them);
 * *gen as for sp_store_params_effective.
 */
SP_MUST_CHECK sp_result sp_store_params_defaults(sp_store *s, sp_params *out,
    uint64_t *gen);

/*
 * Record an unknown device as pending (enabled = false).  No-op if the MAC
 * is already known.  The server should prefer contact.record_pending, which
 * does the same inside a batch, off the request path.
 */
SP_MUST_CHECK sp_result sp_store_device_pending(sp_store *s, const sp_mac *mac,
    const char *serial, const char *product, int64_t now);

/*
 * Write n contacts in ONE transaction (one disk sync): the server queues
 * them in memory and flushes from its own thread or timer, never from the
 * request path.  Later entries for the same MAC win.  n <= SP_CONTACT_BATCH_MAX.
 * All or nothing.
 */
SP_MUST_CHECK sp_result sp_store_contact_batch(sp_store *s, const sp_contact *v,
    size_t n);

/* The last contact of a MAC; *found false if none was recorded. */
SP_MUST_CHECK sp_result sp_store_contact_get(sp_store *s, const sp_mac *mac,
    sp_contact *out, bool *found);

/* ---- management (sprov db) --------------------------------------------- */

/*
 * Explicit transaction around several management calls (imports: all or
 * nothing).  Without one, each call is its own transaction.  Not nestable.
 * sp_store_rollback is NULL-safe and a no-op outside a transaction.
 */
SP_MUST_CHECK sp_result sp_store_begin(sp_store *s);
SP_MUST_CHECK sp_result sp_store_commit(sp_store *s);
void sp_store_rollback(sp_store *s);

/*
 * Add a device (dev->created 0 means now).  SP_E_EXISTS if the MAC is
 * already there, unless it is pending: then the pending record is adopted
 * (fields replaced, pending cleared).  Fields are checked with
 * sp_store_field_check.
 */
SP_MUST_CHECK sp_result sp_store_device_add(sp_store *s, const sp_device *dev);
/* Remove a device with its device-level params and its contact record. */
SP_MUST_CHECK sp_result sp_store_device_rm(sp_store *s, const sp_mac *mac);
/* Enabling a pending device adopts it.  SP_E_NOTFOUND if absent. */
SP_MUST_CHECK sp_result sp_store_device_set_enabled(sp_store *s,
    const sp_mac *mac, bool enabled);

/* Every device, pending ones included, ordered by MAC.  cb may abort. */
typedef sp_result (*sp_store_device_cb)(void *arg, const sp_device *dev);
SP_MUST_CHECK sp_result sp_store_device_list(sp_store *s, sp_store_device_cb cb,
    void *arg);

/*
 * Set or replace one parameter at a level.  name must pass
 * sp_param_name_check; a device level needs an existing device
 * (SP_E_NOTFOUND).  value is a secret: never logged.
 */
SP_MUST_CHECK sp_result sp_store_param_set(sp_store *s, const sp_level_ref *lvl,
    const char *name, sp_slice value, sp_access access);
/*
 * The checks sp_store_param_set makes (level key, name, value), without a
 * store: restore validates a whole dump before it writes anything.
 */
SP_MUST_CHECK sp_result sp_store_param_check(const sp_level_ref *lvl,
    const char *name, sp_slice value);
/* SP_E_NOTFOUND if the name is not set at that level. */
SP_MUST_CHECK sp_result sp_store_param_unset(sp_store *s,
    const sp_level_ref *lvl, const char *name);
/* The entries of one level only, merged into out. */
SP_MUST_CHECK sp_result sp_store_params_level(sp_store *s,
    const sp_level_ref *lvl, sp_params *out);

/* ---- the whole store (sprov db dump / restore) ---------------------------
 *
 * Listings are in byte order (memcmp of the keys, SQLite's BINARY, a
 * PostgreSQL backend's COLLATE "C"), so two stores with the same content
 * list the same way, whatever the backend.
 */

/*
 * A read-only snapshot around several reads: every listing inside sees the
 * same state.  End it with sp_store_commit or sp_store_rollback.  Writes
 * inside one may be refused.  Not nestable, not inside sp_store_begin.
 */
SP_MUST_CHECK sp_result sp_store_begin_read(sp_store *s);

/*
 * Every level that holds at least one parameter: the defaults (key NULL),
 * then products and groups (key: the name) and devices (key: $MA), each in
 * byte order.  Read each level with sp_store_params_level.
 */
typedef sp_result (*sp_store_level_cb)(void *arg, const sp_level_ref *lvl);
SP_MUST_CHECK sp_result sp_store_level_list(sp_store *s, sp_store_level_cb cb,
    void *arg);

/*
 * Every contact record, unknown MACs included, ordered by MAC
 * (record_pending false, serial and product "": a contact keeps neither).
 */
typedef sp_result (*sp_store_contact_cb)(void *arg, const sp_contact *c);
SP_MUST_CHECK sp_result sp_store_contact_list(sp_store *s,
    sp_store_contact_cb cb, void *arg);

/* True when the store holds no device, parameter or contact record. */
SP_MUST_CHECK sp_result sp_store_is_empty(sp_store *s, bool *empty);

/*
 * Remove every device, parameter and contact record (restore --force).
 * Call it inside sp_store_begin so the store is never seen half-emptied.
 */
SP_MUST_CHECK sp_result sp_store_clear(sp_store *s);

/*
 * serial / product / group: at most SP_STORE_FIELD_MAX bytes of printable
 * ASCII (0x20-0x7e), no leading or trailing space.  `what` names it in
 * the message.  Empty is allowed (callers refuse it where it is not).
 */
SP_MUST_CHECK sp_result sp_store_field_check(const char *what, sp_slice v);

/* ---- cluster data (schema 3) ---------------------------------------------
 *
 * Versioned blobs every node shares, one row per (name, version): the
 * server's encrypted ticket keys and ETag key (src/server/cluster.c) and
 * the CRLs `sprov ca crl --publish` stores.  Nothing here encrypts: a
 * caller that stores a secret seals it first.  They change no generation,
 * are not in dumps and survive sp_store_clear.
 */
#define SP_CLUSTER_NAME_MAX 128          /* printable ASCII */
#define SP_CLUSTER_DATA_MAX (1024 * 1024)
#define SP_CLUSTER_KEEP_ALL 0

/*
 * Store version `version` (>= 1) of name, only if it is above every
 * version of name already stored: SP_E_EXISTS otherwise (another node or
 * publisher got there first, or the caller is stale), with nothing
 * written.  Race-free across nodes.  keep > 0: versions of name at or below
 * version - keep are deleted in the same transaction.
 */
SP_MUST_CHECK sp_result sp_store_cluster_put(sp_store *s, const char *name,
    int64_t version, int64_t created, sp_slice data, int64_t keep);

/* One stored version; data points into the backend's row (valid in cb). */
typedef struct sp_cluster_row {
	const char *name;
	int64_t version;
	int64_t created;
	sp_slice data;
} sp_cluster_row;
typedef sp_result (*sp_store_cluster_cb)(void *arg, const sp_cluster_row *row);

/* Up to max (>= 1) versions of name, newest first.  None: cb not called. */
SP_MUST_CHECK sp_result sp_store_cluster_get(sp_store *s, const char *name,
    int max, sp_store_cluster_cb cb, void *arg);

/* The newest version of every name that starts with prefix, by name. */
SP_MUST_CHECK sp_result sp_store_cluster_newest(sp_store *s, const char *prefix,
    sp_store_cluster_cb cb, void *arg);

/* A name as the functions above take it: 1..SP_CLUSTER_NAME_MAX printable. */
SP_MUST_CHECK sp_result sp_store_cluster_name_check(const char *name);

/* ---- firmware images (schema 4) ------------------------------------------
 *
 * Signed containers (firmware/image.h) as `sprov db firmware add` stored
 * them, one per (product, version), read from the container itself.  The
 * bytes are kept in SP_FW_CHUNK-sized rows so that nobody, neither the
 * adding CLI nor a serving node, ever holds a whole image in memory: the
 * server asks for metadata once (length, SHA-256: its ETag material) and
 * then for ranges.  Images change no generation (a profile never embeds
 * one), are not in dumps and survive sp_store_clear.
 */
#define SP_FW_CHUNK (64 * 1024)          /* bytes per stored row */
#define SP_FW_READ_MAX (1024 * 1024)     /* bytes per sp_store_fw_read */

typedef struct sp_fw_info {
	int64_t id;          /* this stored copy: a re-added image gets a new one */
	char product[SP_FW_PRODUCT_MAX + 1];
	char version[SP_FW_VERSION_MAX + 1];
	uint64_t length;     /* bytes of the whole container, as served */
	uint8_t sha256[32];  /* SHA-256 of the whole container (ETag material) */
	int64_t created;     /* unix seconds */
} sp_fw_info;

/*
 * Store the container file at path: header parsed, payload streamed
 * through SHA-256 against the header's digest, exact length checked (the
 * file is read once and never held whole).  pub non-NULL: the signature
 * must be the firmware-signing root's too (sp_fw_verify_sig).
 * SP_E_EXISTS when that product and version are stored already; errors
 * name the file.  All or nothing.  *out (optional) gets the new row.
 */
SP_MUST_CHECK sp_result sp_store_fw_add(sp_store *s, const char *path,
    EVP_PKEY *pub, int64_t now, sp_fw_info *out);

/* Metadata of one image; *found false (and SP_OK) when absent. */
SP_MUST_CHECK sp_result sp_store_fw_get(sp_store *s, const char *product,
    const char *version, sp_fw_info *out, bool *found);

/*
 * Up to len (<= SP_FW_READ_MAX) bytes of the container from offset off into
 * dst; *got is len unless the image ends first (0 at or past the end).
 * img is what sp_store_fw_get returned: SP_E_NOTFOUND when that copy was
 * removed (or replaced) since, so a response never mixes two images.
 */
SP_MUST_CHECK sp_result sp_store_fw_read(sp_store *s, const sp_fw_info *img,
    uint64_t off, void *dst, size_t len, size_t *got);

/* Every image, by product then version (byte order). */
typedef sp_result (*sp_store_fw_cb)(void *arg, const sp_fw_info *fw);
SP_MUST_CHECK sp_result sp_store_fw_list(sp_store *s, sp_store_fw_cb cb,
    void *arg);

/*
 * Remove an image.  SP_E_NOTFOUND when absent; SP_E_STATE when a rollout
 * that is not rolled back targets it (the message names the rollout).
 */
SP_MUST_CHECK sp_result sp_store_fw_rm(sp_store *s, const char *product,
    const char *version);

/* ---- rollouts (schema 4; docs/ROLLOUTS.md) -------------------------------
 *
 * A rollout changes one parameter (or, for firmware, Upgrade_Rule) for the
 * devices it targets, in waves.  Each device falls into a bucket
 * 0..SP_ROLLOUT_BUCKETS-1 by HMAC-SHA256 of its $MA under the rollout's own
 * random key (kept in the store, never shown); wave i holds the buckets
 * below waves[i].pct * 100, so waves are cumulative, stable and the same
 * on every node.  A device in a released wave gets the rollout's value in
 * sp_store_params_effective, overriding every level; every other device's
 * parameters are exactly what they were.  Creating, releasing, halting,
 * pausing, resuming and rolling back change the generation, so every
 * node's cache drops.
 */
#define SP_ROLLOUT_NAME_MAX 64           /* [A-Za-z0-9._-] */
#define SP_ROLLOUT_WAVES_MAX 16
#define SP_ROLLOUT_BUCKETS 10000
#define SP_ROLLOUT_KEY_LEN 32
#define SP_ROLLOUT_REASON_MAX 160
#define SP_ROLLOUT_FW_PATH_DEFAULT "/firmware/$PN/$VERSION.sfw"
#define SP_ROLLOUT_FW_PARAM "Upgrade_Rule"

typedef enum {
	SP_ROLLOUT_PARAM = 0,     /* --param NAME=VALUE on a level */
	SP_ROLLOUT_FIRMWARE,      /* --firmware PN:VERSION */
	SP_ROLLOUT_ROLLBACK,      /* puts another rollout's released waves back */
} sp_rollout_kind;

typedef enum {
	SP_ROLLOUT_RUNNING = 0,   /* releases waves on its interval */
	SP_ROLLOUT_PAUSED,        /* released waves keep the value; no release */
	SP_ROLLOUT_HALTED,        /* a wave passed the failure threshold */
	SP_ROLLOUT_DONE,          /* every wave released */
	SP_ROLLOUT_ROLLED_BACK,   /* its rollback released: no device keeps it */
} sp_rollout_state;

const char *sp_rollout_kind_name(sp_rollout_kind k);   /* "param", ... */
const char *sp_rollout_state_name(sp_rollout_state s); /* "running", ... */

/* What `sprov rollout create` asks for. */
typedef struct sp_rollout_spec {
	const char *name;
	sp_rollout_kind kind;        /* PARAM or FIRMWARE */
	/* PARAM: the level whose devices it targets (not DEVICE), the name
	 * and the value (a secret: never logged or shown). */
	sp_level_ref target;
	const char *param;
	sp_slice value;
	/* FIRMWARE: targets devices of product fw_product; the image must be
	 * stored.  fw_path: NULL for SP_ROLLOUT_FW_PATH_DEFAULT; $PN and
	 * $VERSION are expanded at create time into
	 * Upgrade_Rule = (! VERSION)? PATH. */
	const char *fw_product;
	const char *fw_version;
	const char *fw_path;
	int nwaves;                  /* 1..SP_ROLLOUT_WAVES_MAX */
	int waves[SP_ROLLOUT_WAVES_MAX]; /* percent, strictly increasing, 1..100 */
	int64_t wave_interval;       /* seconds between releases, >= 0 */
	int64_t success_window;      /* seconds, >= 1 */
	int halt_bp;                 /* halt above this failure rate, in basis
	                                points (200 = 2 %); -1: never */
} sp_rollout_spec;

typedef struct sp_rollout_wave {
	int pct;                     /* cumulative percent of the targeted */
	int64_t released_at;         /* unix seconds; 0: not released */
} sp_rollout_wave;

typedef struct sp_rollout {
	char name[SP_ROLLOUT_NAME_MAX + 1];
	sp_rollout_kind kind;
	sp_rollout_state state;
	sp_level target_level;       /* FIRMWARE: SP_LEVEL_PRODUCT */
	char target_key[SP_STORE_FIELD_MAX + 1]; /* product or group; "" defaults */
	char param[SP_PARAM_NAME_MAX + 1];       /* FIRMWARE: Upgrade_Rule */
	char fw_version[SP_FW_VERSION_MAX + 1];  /* FIRMWARE only */
	char parent[SP_ROLLOUT_NAME_MAX + 1];    /* ROLLBACK: what it undoes */
	char rolled_back_by[SP_ROLLOUT_NAME_MAX + 1];
	int nwaves;
	sp_rollout_wave waves[SP_ROLLOUT_WAVES_MAX];
	int released;                /* waves released so far */
	int64_t wave_interval;
	int64_t success_window;
	int halt_bp;
	int64_t created;
	int64_t updated;
	char reason[SP_ROLLOUT_REASON_MAX + 1];  /* why it halted ("" if not) */
} sp_rollout;

/* One wave as `rollout status` shows it (devices, not percent). */
typedef struct sp_rollout_wave_stat {
	uint64_t targeted;   /* targeted devices whose bucket is in this wave */
	uint64_t released;   /* targeted if the wave is released, else 0 */
	uint64_t succeeded;
	uint64_t failed;
	uint64_t pending;    /* released, window not over, no verdict yet */
} sp_rollout_wave_stat;

/* Parsers for the command line and config (pure). */
SP_MUST_CHECK sp_result sp_rollout_name_check(sp_slice name);
/* "1,10,50,100" into spec->waves / nwaves. */
SP_MUST_CHECK sp_result sp_rollout_waves_parse(sp_slice s, sp_rollout_spec *spec);
/* "failure-rate>2%" or "failure-rate>0.5%" into basis points. */
SP_MUST_CHECK sp_result sp_rollout_halt_parse(sp_slice s, int *bp);
/* "90", "90s", "15m", "2h", "1d" into seconds (at most 365 days). */
SP_MUST_CHECK sp_result sp_rollout_duration_parse(sp_slice s, int64_t *secs);

/* The bucket of a MAC under a rollout key: 0..SP_ROLLOUT_BUCKETS-1. */
int sp_rollout_bucket(const uint8_t key[SP_ROLLOUT_KEY_LEN], const sp_mac *mac);

/*
 * Create a rollout and release its first wave at now.  Refused, with
 * nothing written: a name in use (SP_E_EXISTS); a firmware image not in
 * the store, a parameter or level that sp_store_param_check refuses, or
 * another rollout not rolled back that sets the same parameter on the
 * same target (SP_E_STATE, naming it).
 */
SP_MUST_CHECK sp_result sp_store_rollout_create(sp_store *s,
    const sp_rollout_spec *spec, int64_t now, sp_rollout *out);

SP_MUST_CHECK sp_result sp_store_rollout_get(sp_store *s, const char *name,
    sp_rollout *out, bool *found);

/* Every rollout, oldest first. */
typedef sp_result (*sp_store_rollout_cb)(void *arg, const sp_rollout *r);
SP_MUST_CHECK sp_result sp_store_rollout_list(sp_store *s,
    sp_store_rollout_cb cb, void *arg);

/*
 * Per-wave counts as of now (stat[i] for waves[i]), from the devices
 * and contacts tables, read in one snapshot.
 */
SP_MUST_CHECK sp_result sp_store_rollout_status(sp_store *s, const char *name,
    int64_t now, sp_rollout *r, sp_rollout_wave_stat stat[SP_ROLLOUT_WAVES_MAX]);

/* RUNNING -> PAUSED; PAUSED -> RUNNING.  SP_E_STATE from any other state. */
SP_MUST_CHECK sp_result sp_store_rollout_pause(sp_store *s, const char *name,
    int64_t now);
SP_MUST_CHECK sp_result sp_store_rollout_resume(sp_store *s, const char *name,
    int64_t now);

/*
 * Roll a rollout back: a new ROLLBACK rollout named rb_name (NULL:
 * "NAME-rollback") whose waves are the released waves of NAME, all
 * released at now; from then on no device gets NAME's value, and NAME is
 * ROLLED_BACK.  SP_E_STATE for a rollback or a rollout rolled back already.
 */
SP_MUST_CHECK sp_result sp_store_rollout_rollback(sp_store *s, const char *name,
    const char *rb_name, int64_t now, sp_rollout *out);

/* What one tick did, summed over rollouts (for logs and metrics). */
typedef struct sp_rollout_tick_report {
	int released;   /* waves released */
	int halted;     /* rollouts halted */
	int done;       /* rollouts whose last wave was released */
} sp_rollout_tick_report;

/*
 * Drive every RUNNING rollout at time now: evaluate its released waves
 * from the contacts table and halt it when one's failure rate passes
 * halt_bp; otherwise release the next wave when wave_interval has passed
 * since the last release.  Idempotent and safe from several handles,
 * processes and nodes at once: each change is a conditional update, so
 * of two ticks at the same moment one does it and the other finds it
 * done.  Verdicts (docs/ROLLOUTS.md): success is a contact since the
 * wave's release answered 200 or 304 (FIRMWARE: whose User-Agent reports
 * fw_version); failure is a contact since release answered >= 400, or,
 * once the success window has passed, no contact since release or one on
 * another version.  rep may be NULL.
 */
SP_MUST_CHECK sp_result sp_store_rollout_tick(sp_store *s, int64_t now,
    sp_rollout_tick_report *rep);

/* ---- audit trail (schema 5, docs/STORE.md "Audit trail") ---------------- */

#define SP_AUDIT_ACTOR_MAX 128
#define SP_AUDIT_ACTION_MAX 32
#define SP_AUDIT_TARGET_MAX 128    /* "firmware:" PRODUCT (64) "/" VERSION (32) fits */
#define SP_AUDIT_DETAIL_MAX 1024
#define SP_AUDIT_HASH_HEX 64

/*
 * One entry.  Every change made through this interface to devices,
 * parameters and rollouts appends one, in the same transaction as the
 * change.  Parameter values appear only as "hmac-sha256:<16 hex>" under
 * the store's own key; detail is a JSON object.  hash = SHA-256 over prev
 * and the other fields, length-prefixed (docs/STORE.md).
 */
typedef struct sp_audit_entry {
	int64_t seq;
	int64_t time;
	char actor[SP_AUDIT_ACTOR_MAX + 1];
	char action[SP_AUDIT_ACTION_MAX + 1];
	char target[SP_AUDIT_TARGET_MAX + 1];  /* a MAC ($MA), "rollout:NAME", ... */
	char detail[SP_AUDIT_DETAIL_MAX + 1];
	char prev[SP_AUDIT_HASH_HEX + 1];
	char hash[SP_AUDIT_HASH_HEX + 1];
} sp_audit_entry;
typedef sp_result (*sp_store_audit_cb)(void *arg, const sp_audit_entry *e);

/* Who makes the changes on this handle ("cli:alice"); copied, truncated. */
void sp_store_set_actor(sp_store *s, const char *actor);

/*
 * Entries newest first; mac (may be NULL) keeps those whose target is
 * that device; at most limit (0: all).
 */
SP_MUST_CHECK sp_result sp_store_audit_list(sp_store *s, const sp_mac *mac,
    int64_t limit, sp_store_audit_cb cb, void *arg);

/*
 * Walk the chain.  SP_OK with *n entries when intact; SP_E_VERIFY naming
 * the first bad entry otherwise ("audit: entry 17 was changed", "audit:
 * entry 17 is missing (16 is followed by 18)", "audit: the last entry's
 * hash does not match").
 */
SP_MUST_CHECK sp_result sp_store_audit_verify(sp_store *s, int64_t *n);

/* The entry's hash (hex) from its fields and prev: what verify checks. */
SP_MUST_CHECK sp_result sp_audit_hash(const sp_audit_entry *e,
    char out[SP_AUDIT_HASH_HEX + 1]);

#endif
