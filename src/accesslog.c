#include <stdio.h>
#include <string.h>
#include <time.h>

#include "accesslog.h"
#include "session.h"

static const char *or_dash(const char *s)
{
	return s && *s ? s : "-";
}

/* Milliseconds between two ticks as text, "-" if either is unset. */
static const char *ms_between(tick_t a, tick_t b, char *out, size_t outlen)
{
	if (a == TICK_NONE || b == TICK_NONE || b < a)
		return "-";
	snprintf(out, outlen, "%llu", (unsigned long long)(b - a));
	return out;
}

/* The wall-clock time now, "2026-01-02T03:04:05" and ".678Z". */
static void stamp(char *ts, size_t tslen, char *ms, size_t mslen)
{
	struct timespec rt;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &rt);
	gmtime_r(&rt.tv_sec, &tm);
	strftime(ts, tslen, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(ms, mslen, ".%03ldZ", rt.tv_nsec / 1000000);
}

void accesslog_write_flow(FILE *f, const struct flow_log *l, tick_t now)
{
	char ts[40], client[64], lmsg[32], dms[24];

	stamp(ts, sizeof(ts), lmsg, sizeof(lmsg));
	fprintf(f, "ts=%s%s id=%llu proto=quic listener=%s client=%s sni=%s alpn=%s "
	    "backend=%s c2s_datagrams=%llu s2c_datagrams=%llu c2s_bytes=%llu "
	    "s2c_bytes=%llu dropped=%llu duration_ms=%s term=%s\n",
	    ts, lmsg, (unsigned long long)l->id, l->lname,
	    sockaddr_str(l->peer, client, sizeof(client)), or_dash(l->sni), or_dash(l->alpn),
	    or_dash(l->backend), (unsigned long long)l->dgrams[0],
	    (unsigned long long)l->dgrams[1], (unsigned long long)l->bytes[0],
	    (unsigned long long)l->bytes[1], (unsigned long long)l->dropped,
	    ms_between(l->start, now, dms, sizeof(dms)),
	    reason_code((enum close_reason)l->reason));
}

void accesslog_write(FILE *f, const struct session *s, tick_t now)
{
	char ts[40], client[64], lmsg[32], cms[24], dms[24], lag[24];
	const char *first = s->first_close == 'c' ? "client" :
	    s->first_close == 's' ? "server" : "-";

	stamp(ts, sizeof(ts), lmsg, sizeof(lmsg));
	fprintf(f, "ts=%s%s id=%llu listener=%s client=%s sni=%s alpn=%s backend=%s "
	    "hello_bytes=%zu hello_reads=%u c2s_bytes=%llu s2c_bytes=%llu "
	    "connect_ms=%s duration_ms=%s first_close=%s close_lag_ms=%s "
	    "client_tcp=%s server_tcp=%s term=%s attempts=%u\n",
	    ts, lmsg, (unsigned long long)s->id,
	    s->lname,
	    sockaddr_str(&s->peer, client, sizeof(client)),
	    or_dash(s->sni), or_dash(s->alpn), s->be ? s->be->name : "-",
	    s->hello_bytes, s->hello_reads,
	    (unsigned long long)s->c2s.bytes, (unsigned long long)s->s2c.bytes,
	    ms_between(s->connect_start, s->connect_done, cms, sizeof(cms)),
	    ms_between(s->start, now, dms, sizeof(dms)),
	    first,
	    ms_between(s->first_close_at, s->second_close_at, lag, sizeof(lag)),
	    s->tcp_state[0], s->tcp_state[1], reason_code(s->reason), s->attempts);
}
