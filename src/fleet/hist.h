/*
 * A fixed-size latency histogram (HDR style): values in microseconds fall in
 * logarithmic buckets, SP_HIST_SUB per power of two, so every percentile is
 * within 1/SP_HIST_SUB (about 6 %) of the true value whatever the number of
 * samples, in constant memory.  The maximum is kept exactly.  Pure code.
 */
#ifndef SPROV_FLEET_HIST_H
#define SPROV_FLEET_HIST_H

#include <stdint.h>

#define SP_HIST_SUB_BITS 4
#define SP_HIST_SUB (1u << SP_HIST_SUB_BITS)  /* buckets per power of two */
#define SP_HIST_POW 40                         /* up to 2^40 us: 12 days */
#define SP_HIST_BUCKETS ((SP_HIST_POW + 1) * SP_HIST_SUB)

typedef struct sp_hist {
	uint64_t n;
	uint64_t max;
	uint64_t sum;
	uint64_t b[SP_HIST_BUCKETS];
} sp_hist;

void sp_hist_init(sp_hist *h);
void sp_hist_add(sp_hist *h, uint64_t us);
void sp_hist_merge(sp_hist *into, const sp_hist *from);
/*
 * The value at quantile q (0 < q <= 1): the upper bound of the bucket that
 * holds the ceil(q*n)-th smallest sample, never above the maximum.  0 when
 * the histogram is empty.
 */
uint64_t sp_hist_quantile(const sp_hist *h, double q);
/* The bucket of a value and the largest value in a bucket (for the tests). */
unsigned sp_hist_bucket(uint64_t us);
uint64_t sp_hist_bucket_top(unsigned b);

#endif
