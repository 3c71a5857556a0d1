/*
 * Per-worker statistics for the metrics endpoint (docs/metrics.md).
 *
 * Each worker owns one struct wstats and is the only thread that writes it;
 * the worker serving a scrape reads every worker's. Every field is a 64-bit
 * aligned word written with a relaxed atomic store of (load + n) by its owner
 * (no lock prefix: a plain add on x86-64) and read with a relaxed atomic load
 * by the scraper, so a read is never torn and the relay path takes no lock
 * and no shared cache line. A scrape sees each word as it was at some moment;
 * words are not read at one instant together (a histogram's sum may be one
 * observation ahead of its buckets).
 */
#ifndef HP_STATS_H
#define HP_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "reason.h"

/* "Connections now by phase", finer than the session's phase: RELAY is split
 * by which direction has seen its FIN. */
#define HP_MPHASES(X)                                                          \
	X(MP_HELLO,	"hello")                                               \
	X(MP_CONNECT,	"connecting")                                          \
	X(MP_OPEN,	"open")                                                \
	X(MP_HALF_C2S,	"half-closed-c2s")                                     \
	X(MP_HALF_S2C,	"half-closed-s2c")                                     \
	X(MP_CLOSING,	"closing")

#define HP_MPHASE_ENUM(e, name) e,
enum mphase { HP_MPHASES(HP_MPHASE_ENUM) MP_COUNT, MP_NONE = MP_COUNT };
#undef HP_MPHASE_ENUM

/* Histogram buckets (upper bounds, inclusive), fixed at build time. Times are
 * kept in milliseconds (the resolution of the clock) and shown in seconds. */
#define HIST_MAX 16
struct hist_def {
	const char	*name;
	const char	*help;
	int		 ms;		/* values are ms, shown as seconds */
	size_t		 n;
	uint64_t	 le[HIST_MAX];
};

enum { H_CONNECT, H_HELLO, H_DURATION, H_COUNT };

struct hist {
	uint64_t	 b[HIST_MAX + 1];	/* per bucket, not cumulative; [n]: +Inf */
	uint64_t	 sum;		/* the count is the sum of b[] */
};

/* QUIC flows (quic.h): the states a flow is in, in quic.c's order. */
#define HP_QSTATES(X)                                                          \
	X(QS_PENDING,	"pending")                                             \
	X(QS_REFUSED,	"refused")                                             \
	X(QS_RELAY,	"relay")

#define HP_QSTATE_ENUM(e, name) e,
enum qstate { HP_QSTATES(HP_QSTATE_ENUM) QS_COUNT, QS_NONE = QS_COUNT };
#undef HP_QSTATE_ENUM

/* Why a QUIC datagram was not passed on (docs/metrics.md says each). */
#define HP_QDROPS(X)                                                           \
	X(QD_TOO_LARGE,		"too-large")                                   \
	X(QD_EMPTY,		"empty")                                       \
	X(QD_TABLE_FULL,	"table-full")                                  \
	X(QD_PENDING_FULL,	"pending-full")                                \
	X(QD_DRAINING,		"draining")                                    \
	X(QD_NO_MEMORY,		"no-memory")                                   \
	X(QD_QUEUE_FULL,	"queue-full")                                  \
	X(QD_REFUSED,		"refused")                                     \
	X(QD_SEND_FAILED,	"send-failed")

#define HP_QDROP_ENUM(e, name) e,
enum qdrop { HP_QDROPS(HP_QDROP_ENUM) QD_COUNT };
#undef HP_QDROP_ENUM

#define QH_COUNT 8	/* room for every enum quic_verdict (quic_initial.h) */

struct quic_stats {
	uint64_t	 flows[QS_COUNT];	/* gauges: flows now */
	uint64_t	 closed[CR_COUNT];	/* counters: ended, by term code */
	uint64_t	 dgrams[2], bytes[2];	/* passed on; [0] c2s, [1] s2c */
	uint64_t	 dropped[QD_COUNT];	/* not passed on, by why */
	uint64_t	 hello[QH_COUNT];	/* pending flows ended, by verdict */
};

/* TCP states of this worker's sockets, published about once a second. */
enum { TS_FIN_WAIT2, TS_CLOSE_WAIT, TS_COUNT };

struct wstats {
	uint64_t	 phase[MP_COUNT];	/* gauges: connections now */
	uint64_t	 closed[CR_COUNT];	/* counters: ended, by term code */
	uint64_t	*route_bytes;		/* [route mindex * 2 + dir], dir 0 c2s */
	uint64_t	*backend_bytes;		/* [backend index * 2 + dir] */
	size_t		 nroute_slots;		/* routes and backends room is made */
	size_t		 nbackend_slots;	/* for (set once: reloads fit in it) */
	struct hist	 hist[H_COUNT];
	uint64_t	 tcp[TS_COUNT];		/* sockets in the state */
	uint64_t	 tcp_oldest_ms[TS_COUNT];	/* age of the oldest, 0: none */
	struct quic_stats quic;
};

/** The bucket table of histogram h (H_*). */
const struct hist_def *stats_hist_def(int h);

/** Owner only: *p += n, without a lock, readable by others without tearing. */
static inline void stat_add(uint64_t *p, uint64_t n)
{
	__atomic_store_n(p, __atomic_load_n(p, __ATOMIC_RELAXED) + n, __ATOMIC_RELAXED);
}

/** Owner only: *p = v. */
static inline void stat_set(uint64_t *p, uint64_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELAXED);
}

/** Any thread. */
static inline uint64_t stat_get(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

/** Owner only: count value v in histogram h of st. */
void stats_observe(struct wstats *st, int h, uint64_t v);

/** Owner only: a connection moved from phase `from` to `to` (MP_NONE: not
 *  counted, before it starts or after it ends). */
static inline void stats_phase(struct wstats *st, enum mphase from, enum mphase to)
{
	if (from == to)
		return;
	if (from != MP_NONE)
		stat_add(&st->phase[from], (uint64_t)-1);
	if (to != MP_NONE)
		stat_add(&st->phase[to], 1);
}

/** Owner only: a QUIC flow moved from state `from` to `to` (QS_NONE: before
 *  it starts or after it ends). */
static inline void stats_qstate(struct wstats *st, enum qstate from, enum qstate to)
{
	if (from == to)
		return;
	if (from != QS_NONE)
		stat_add(&st->quic.flows[from], (uint64_t)-1);
	if (to != QS_NONE)
		stat_add(&st->quic.flows[to], 1);
}

/** The label of QUIC flow state s ("relay"), of drop reason d ("too-large"). */
const char *stats_qstate_name(enum qstate s);
const char *stats_qdrop_name(enum qdrop d);

/** The label of phase p ("half-closed-c2s"). */
const char *stats_phase_name(enum mphase p);

#endif
