/*
 * bench/hist.h: the load generators' latency histogram (bench-loadgen,
 * bench-quicload): log-linear buckets, values in microseconds, 1/64
 * relative precision; one per process (static state).
 */
#ifndef BENCH_HIST_H
#define BENCH_HIST_H

#include <stdint.h>

#define H_SUB_BITS  6
#define H_SUB       (1 << H_SUB_BITS)          /* 64 sub-buckets per octave */
#define H_LINEAR    (2 * H_SUB)                /* 0..127 exact */
#define H_OCTAVES   40
#define H_BUCKETS   (H_LINEAR + H_OCTAVES * H_SUB)

static uint64_t hist[H_BUCKETS];
static uint64_t hist_n, hist_max;

static int h_index(uint64_t v)
{
	if (v < H_LINEAR)
		return (int)v;
	int e = 63 - __builtin_clzll(v);        /* >= 7 */
	int sub = (int)((v >> (e - H_SUB_BITS)) & (H_SUB - 1));
	int idx = H_LINEAR + (e - (H_SUB_BITS + 1)) * H_SUB + sub;
	return idx < H_BUCKETS ? idx : H_BUCKETS - 1;
}

/* The middle of a bucket's range. */
static double h_value(int idx)
{
	if (idx < H_LINEAR)
		return idx;
	int e = (idx - H_LINEAR) / H_SUB + H_SUB_BITS + 1;
	int sub = (idx - H_LINEAR) % H_SUB;
	double lo = (double)((uint64_t)(H_SUB + sub) << (e - H_SUB_BITS));
	double width = (double)(1ULL << (e - H_SUB_BITS));
	return lo + width / 2;
}

static void h_record(uint64_t us)
{
	hist[h_index(us)]++;
	hist_n++;
	if (us > hist_max)
		hist_max = us;
}

static double h_percentile(double p)
{
	if (hist_n == 0)
		return 0;
	uint64_t rank = (uint64_t)(p * (double)hist_n + 0.999999);
	if (rank < 1)
		rank = 1;
	uint64_t cum = 0;
	for (int i = 0; i < H_BUCKETS; i++) {
		cum += hist[i];
		if (cum >= rank)
			return h_value(i);
	}
	return (double)hist_max;
}

#endif
