/* Between the key process (keyproc.c) and its client (client.c) only. */
#ifndef SPROV_KEYPROC_INTERNAL_H
#define SPROV_KEYPROC_INTERNAL_H

#include "keyproc/keyproc.h"

#define SP_KP_FILE_MAX (256 * 1024) /* a key file (the PEM cap of src/pki) */
#define SP_KP_READY "ready"         /* the key process' first answer on channel 0 */

/*
 * The key process after fork: takes over fds[0..n-1] and the control
 * socket ctl, loads the key files (a failure is its first answer on
 * fds[0]), with sandbox enters its seccomp filter (a failure to is one
 * too), answers until ctl and every channel are closed, then exits.  A
 * message on ctl carries a new set of channels (SCM_RIGHTS); the answer
 * on ctl is "ready" or a refusal.  Never returns.
 */
void sp_kp_child(const char *const *key_files, size_t nfiles, const int *fds, int n,
    int ctl, bool sandbox) __attribute__((noreturn));
/*
 * Whether in (k bytes, the size of a key of bits) is an EMSA-PSS block as
 * TLS makes it (pss.c): the key process refuses any other raw RSA input.
 */
bool sp_kp_raw_is_pss(const uint8_t *in, size_t k, int bits);
/* The key process' seccomp allow-list (sandbox.c), after the keys are loaded. */
SP_MUST_CHECK sp_result sp_kp_sandbox(void);

#endif
