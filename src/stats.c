#include "stats.h"

#define HP_MPHASE_NAME(e, name) [e] = name,
static const char *const mphase_names[MP_COUNT] = { HP_MPHASES(HP_MPHASE_NAME) };

#define HP_QSTATE_NAME(e, name) [e] = name,
static const char *const qstate_names[QS_COUNT] = { HP_QSTATES(HP_QSTATE_NAME) };
#define HP_QDROP_NAME(e, name) [e] = name,
static const char *const qdrop_names[QD_COUNT] = { HP_QDROPS(HP_QDROP_NAME) };

static const struct hist_def hist_defs[H_COUNT] = {
	[H_CONNECT] = { "halfpipe_backend_connect_seconds",
	    "Time from connect() to the backend to its completion.", 1, 12,
	    { 1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000 } },
	[H_HELLO] = { "halfpipe_hello_size_bytes",
	    "Raw bytes of the TLS records that carried the ClientHello.", 0, 9,
	    { 256, 512, 1024, 1536, 2048, 4096, 8192, 16384, 32768 } },
	[H_DURATION] = { "halfpipe_connection_duration_seconds",
	    "Time from accept to the end of a connection.", 1, 13,
	    { 10, 50, 100, 500, 1000, 5000, 10000, 30000, 60000, 300000, 900000,
	      3600000, 86400000 } },
};

const struct hist_def *stats_hist_def(int h)
{
	return h >= 0 && h < H_COUNT ? &hist_defs[h] : NULL;
}

void stats_observe(struct wstats *st, int h, uint64_t v)
{
	const struct hist_def *d = &hist_defs[h];
	struct hist *hs = &st->hist[h];
	size_t i;

	for (i = 0; i < d->n && v > d->le[i]; i++)
		;
	stat_add(&hs->b[i], 1);
	stat_add(&hs->sum, v);
}

const char *stats_phase_name(enum mphase p)
{
	return (unsigned)p < MP_COUNT ? mphase_names[p] : "?";
}

const char *stats_qstate_name(enum qstate s)
{
	return (unsigned)s < QS_COUNT ? qstate_names[s] : "?";
}

const char *stats_qdrop_name(enum qdrop d)
{
	return (unsigned)d < QD_COUNT ? qdrop_names[d] : "?";
}
