#include "fleet/hist.h"

#include <math.h>
#include <string.h>

void
sp_hist_init(sp_hist *h)
{
	memset(h, 0, sizeof(*h));
}

/*
 * Values below SP_HIST_SUB get one bucket each; above, a value with its top
 * bit at position p (p >= SUB_BITS) lands in row p - SUB_BITS + 1, column
 * given by the SUB_BITS bits after the top bit.
 */
unsigned
sp_hist_bucket(uint64_t v)
{
	unsigned p, row, col;

	if (v < SP_HIST_SUB)
		return (unsigned)v;
	p = 63u - (unsigned)__builtin_clzll(v);
	row = p - SP_HIST_SUB_BITS + 1;
	if (row > SP_HIST_POW)
		return SP_HIST_BUCKETS - 1;
	col = (unsigned)((v >> (p - SP_HIST_SUB_BITS)) & (SP_HIST_SUB - 1));
	return row * SP_HIST_SUB + col;
}

uint64_t
sp_hist_bucket_top(unsigned b)
{
	unsigned row = b / SP_HIST_SUB, col = b % SP_HIST_SUB, p;

	if (row == 0)
		return col;
	if (b >= SP_HIST_BUCKETS - 1)
		return UINT64_MAX;
	p = row + SP_HIST_SUB_BITS - 1;
	return (((uint64_t)(SP_HIST_SUB + col + 1)) << (p - SP_HIST_SUB_BITS)) - 1;
}

void
sp_hist_add(sp_hist *h, uint64_t us)
{
	h->b[sp_hist_bucket(us)]++;
	h->n++;
	h->sum += us;
	if (us > h->max)
		h->max = us;
}

void
sp_hist_merge(sp_hist *into, const sp_hist *from)
{
	for (unsigned i = 0; i < SP_HIST_BUCKETS; i++)
		into->b[i] += from->b[i];
	into->n += from->n;
	into->sum += from->sum;
	if (from->max > into->max)
		into->max = from->max;
}

uint64_t
sp_hist_quantile(const sp_hist *h, double q)
{
	uint64_t rank, seen = 0;

	if (h->n == 0)
		return 0;
	if (q > 1.0)
		q = 1.0;
	rank = (uint64_t)ceil(q * (double)h->n);
	if (rank == 0)
		rank = 1;
	for (unsigned i = 0; i < SP_HIST_BUCKETS; i++) {
		seen += h->b[i];
		if (seen >= rank) {
			uint64_t top = sp_hist_bucket_top(i);
			return top < h->max ? top : h->max;
		}
	}
	return h->max;
}
