/* The one seccomp loader (sandbox.h). */
#include "common/sandbox.h"

#include <errno.h>
#include <string.h>

#include <seccomp.h>

sp_result
sp_sandbox_load(const char *who, const sp_sandbox_rule *rules, size_t n)
{
	sp_result res = SP_OK;
	scmp_filter_ctx ctx = NULL;
	int rv;

	ENSURE((ctx = seccomp_init(SCMP_ACT_KILL_PROCESS)) != NULL, SP_E_INTERNAL,
	    "%s: seccomp_init failed", who);
	/* The kernel logs what the filter kills (audit / dmesg). */
	(void)seccomp_attr_set(ctx, SCMP_FLTATR_CTL_LOG, 1);
	ENSURE((rv = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1)) == 0, SP_E_INTERNAL,
	    "%s: seccomp thread sync: %s", who, strerror(-rv));
	for (size_t i = 0; i < n; i++) {
		const sp_sandbox_rule *r = &rules[i];
		uint32_t act = r->errno_ret ? SCMP_ACT_ERRNO((uint32_t)r->errno_ret) :
		    SCMP_ACT_ALLOW;

		if (r->nr < 0 && r->nr == __NR_SCMP_ERROR)
			continue;
		if (r->arg < 0)
			rv = seccomp_rule_add(ctx, act, r->nr, 0);
		else
			rv = seccomp_rule_add(ctx, act, r->nr, 1, SCMP_CMP((unsigned)r->arg,
			    SCMP_CMP_MASKED_EQ, r->mask, r->val));
		/* A call this architecture does not have (a pseudo number): skip it. */
		if (rv == -EDOM || (rv != 0 && r->nr < 0))
			continue;
		ENSURE(rv == 0, SP_E_INTERNAL, "%s: seccomp rule %zu (%d): %s", who, i, r->nr,
		    strerror(-rv));
	}
	ENSURE((rv = seccomp_load(ctx)) == 0, SP_E_INTERNAL, "%s: seccomp_load: %s", who,
	    strerror(-rv));
out:
	seccomp_release(ctx);
	return res;
}
