/*
 * Internals of `sprov ca issue` shared by issue.c (the run, its chunks and
 * the bundle writer) and issue_input.c (reading and checking the devices).
 */
#ifndef SP_CA_ISSUE_INTERNAL_H
#define SP_CA_ISSUE_INTERNAL_H

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/types.h>

#include "ca/ca.h"
#include "ca/db.h"
#include "common/buf.h"
#include "identity/devid.h"
#include "identity/mac.h"

#define FIELD_MAX SP_DEVID_FIELD_MAX

enum bundle_state { B_NONE, B_COMPLETE, B_BROKEN };
enum action { A_SKIP, A_ISSUE, A_REFUSE };

typedef struct dev {
	char mac[SP_MAC_STRLEN];
	char serial[FIELD_MAX + 1];
	char product[FIELD_MAX + 1];
	size_t line;               /* CSV line, 0 for --mac */
	enum bundle_state bstate;
	char bserial[65];          /* serial of the bundle's client.crt */
	enum action act;
	bool revoke_old, replace_dir, mark_delivered;
	char old_serial[65];
	char new_serial[65];
	bool written;              /* in this chunk: row committed, bundle to write */
} dev;

struct issue_ctx;

/* The bundle writer thread and the chunk it places. */
typedef struct issue_writer {
	struct issue_ctx *c;
	dev **chunk;
	size_t n;
	size_t set;                /* which half of keys/certs the chunk uses */
	pthread_t th;
	bool running;
	sp_result res;
	char msg[1024];
} issue_writer;

typedef struct issue_ctx {
	const sp_issue_opts *o;
	FILE *report;
	sp_issue_stats *st;
	sp_cadb *db;
	X509 *ca;
	EVP_PKEY *ca_key;
	sp_devcert_maker *maker;
	sp_keygen *kg;
	char org[SP_CA_ORG_MAX + 1];
	char outdir[PATH_MAX];     /* realpath, "" while OUTDIR does not exist */
	int outfd;
	char run_id[SP_RUNID_HEXLEN + 1];
	int lockfd;
	char lockpath[PATH_MAX];
	char shared[SP_RUNID_HEXLEN + 16]; /* .tmp-<run>-shared, "" until made */
	bool link_ok;              /* hard links work in OUTDIR */
	mode_t umask_bits;         /* the process umask, read once */
	sp_buf server_ca;          /* server-ca.crt, copied into each bundle */
	sp_buf firmware_ca;        /* firmware-ca.crt, likewise if the CA has it */
	dev *devs;
	size_t ndevs;
	/* per chunk: two sets of SP_ISSUE_CHUNK slots, one being made, one written */
	sp_buf *keys, *certs;
	issue_writer writer;
	uint64_t t0;
	size_t done_for_progress, last_progress;
} issue_ctx;

/* Check one device (fields, and the identity the server would read) into d. */
SP_MUST_CHECK sp_result sp_issue_check_dev(const issue_ctx *c, const char *mac_in,
    const char *serial, const char *product, dev *d);
/* Read and check --csv whole; a bad line or a repeated MAC refuses the batch. */
SP_MUST_CHECK sp_result sp_issue_read_csv(issue_ctx *c);

#endif
