#include <stdio.h>
#include <stdio_ext.h>
#include <string.h>
#include <time.h>

#include "accesslog.h"
#include "session.h"

/* One key of the line: its value as text (NULL: none, written "-" in
 * logfmt, null in JSON), a number or a string. Both formats are written
 * from the same fields, so they have the same keys, in the same order,
 * with the same values. */
struct field {
	const char	*key;
	const char	*val;
	int		 num;	/* 1: digits, a JSON number */
};

#define NFIELDS	20	/* the last, event, only on a line while it lasts */

/* A line being built: one fwrite() at the end. */
struct line {
	char	 buf[ACCESS_LINE_MAX];
	size_t	 len;
	int	 full;	/* something did not fit: the line is not written */
};

static void put(struct line *l, const char *s, size_t n)
{
	if (l->full || n > sizeof(l->buf) - l->len) {
		l->full = 1;
		return;
	}
	memcpy(l->buf + l->len, s, n);
	l->len += n;
}

static void puts_(struct line *l, const char *s)
{
	put(l, s, strlen(s));
}

static const char *or_none(const char *s)
{
	return s && *s && strcmp(s, "-") != 0 ? s : NULL;
}

/* Milliseconds between two ticks as text, NULL if either is unset. */
static const char *ms_between(tick_t a, tick_t b, char *out, size_t outlen)
{
	if (a == TICK_NONE || b == TICK_NONE || b < a)
		return NULL;
	snprintf(out, outlen, "%llu", (unsigned long long)(b - a));
	return out;
}

int accesslog_json_string(char *out, size_t cap, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0, i;

	if (cap == 0)
		return -1;
	out[0] = '\0';
	if (cap < 3)
		return -1;
	out[o++] = '"';
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		size_t need = c == '"' || c == '\\' ? 2 : c >= 0x20 && c < 0x7f ? 1 : 6;

		if (cap - o < need + 2)		/* then the quote and the '\0' */
			goto full;
		if (c == '"' || c == '\\') {
			out[o++] = '\\';
			out[o++] = (char)c;
		} else if (c >= 0x20 && c < 0x7f) {
			out[o++] = (char)c;
		} else {
			memcpy(out + o, "\\u00", 4);
			out[o + 4] = hex[c >> 4];
			out[o + 5] = hex[c & 0xf];
			o += 6;
		}
	}
	out[o++] = '"';
	out[o] = '\0';
	return (int)o;
full:
	out[0] = '\0';
	return -1;
}

static void logfmt(struct line *l, const struct field *f, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (i > 0)
			put(l, " ", 1);
		puts_(l, f[i].key);
		put(l, "=", 1);
		puts_(l, f[i].val != NULL ? f[i].val : "-");
	}
	put(l, "\n", 1);
}

static void json(struct line *l, const struct field *f, size_t n)
{
	char esc[6 * 300 + 3];
	size_t i;
	int k;

	put(l, "{", 1);
	for (i = 0; i < n; i++) {
		if (i > 0)
			put(l, ",", 1);
		put(l, "\"", 1);
		puts_(l, f[i].key);
		put(l, "\":", 2);
		if (f[i].val == NULL)
			puts_(l, "null");
		else if (f[i].num)
			puts_(l, f[i].val);
		else if ((k = accesslog_json_string(esc, sizeof(esc), f[i].val,
		    strlen(f[i].val))) >= 0)
			put(l, esc, (size_t)k);
		else
			l->full = 1;
	}
	put(l, "}\n", 2);
}

/* The wall-clock time now, "2026-01-02T03:04:05.678Z". */
static void stamp(char *ts, size_t len)
{
	struct timespec rt;
	struct tm tm;
	size_t n;

	clock_gettime(CLOCK_REALTIME, &rt);
	gmtime_r(&rt.tv_sec, &tm);
	n = strftime(ts, len, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(ts + n, len - n, ".%03ldZ", rt.tv_nsec / 1000000);
}

/* Write the line of fields f[0..n) to out, in format fmt (see accesslog_write()). */
static void emit(FILE *out, const struct field *f, size_t n, enum access_format fmt)
{
	static __thread struct line l;

	l.len = 0;
	l.full = 0;
	if (fmt == ACCESS_JSON)
		json(&l, f, n);
	else
		logfmt(&l, f, n);
	if (l.full)
		return;
	/* A line that does not fit in what is left of the buffer goes after a
	 * flush, not half in this write() and half in the next: every write()
	 * ends a line, so two processes appending to one file (a hand-over,
	 * an upgrade) never cut each other's lines. */
	flockfile(out);
	if (__fpending(out) + l.len > __fbufsize(out))
		fflush(out);
	fwrite(l.buf, 1, l.len, out);
	funlockfile(out);
}

void accesslog_write_flow(FILE *f, const struct flow_log *l, tick_t now,
    enum access_format fmt)
{
	char ts[48], client[64], id[24], d0[24], d1[24], b0[24], b1[24], dr[24], dms[24];
	char mg[24];

	stamp(ts, sizeof(ts));
	snprintf(id, sizeof(id), "%llu", (unsigned long long)l->id);
	snprintf(d0, sizeof(d0), "%llu", (unsigned long long)l->dgrams[0]);
	snprintf(d1, sizeof(d1), "%llu", (unsigned long long)l->dgrams[1]);
	snprintf(b0, sizeof(b0), "%llu", (unsigned long long)l->bytes[0]);
	snprintf(b1, sizeof(b1), "%llu", (unsigned long long)l->bytes[1]);
	snprintf(dr, sizeof(dr), "%llu", (unsigned long long)l->dropped);
	snprintf(mg, sizeof(mg), "%llu", (unsigned long long)l->migrated);

	const struct field fields[] = {
		{ "ts", ts, 0 },
		{ "id", id, 1 },
		{ "proto", "quic", 0 },
		{ "listener", or_none(l->lname), 0 },
		{ "client", or_none(sockaddr_str(l->peer, client, sizeof(client))), 0 },
		{ "sni", or_none(l->sni), 0 },
		{ "alpn", or_none(l->alpn), 0 },
		{ "backend", or_none(l->backend), 0 },
		{ "c2s_datagrams", d0, 1 },
		{ "s2c_datagrams", d1, 1 },
		{ "c2s_bytes", b0, 1 },
		{ "s2c_bytes", b1, 1 },
		{ "dropped", dr, 1 },
		{ "migrated", mg, 1 },
		{ "duration_ms", ms_between(l->start, now, dms, sizeof(dms)), 1 },
		{ "term", or_none(reason_code((enum close_reason)l->reason)), 0 },
	};

	emit(f, fields, sizeof(fields) / sizeof(fields[0]), fmt);
}

void accesslog_write(FILE *f, const struct session *s, tick_t now, enum access_format fmt,
    const char *event)
{
	char ts[48], client[64], id[24], hb[24], hr[24], cb[24], sb[24], at[24];
	char cms[24], dms[24], lag[24];

	stamp(ts, sizeof(ts));
	snprintf(id, sizeof(id), "%llu", (unsigned long long)s->id);
	snprintf(hb, sizeof(hb), "%zu", s->hello_bytes);
	snprintf(hr, sizeof(hr), "%u", s->hello_reads);
	snprintf(cb, sizeof(cb), "%llu", (unsigned long long)s->c2s.bytes);
	snprintf(sb, sizeof(sb), "%llu", (unsigned long long)s->s2c.bytes);
	snprintf(at, sizeof(at), "%u", s->attempts);

	const struct field fields[NFIELDS] = {
		{ "ts", ts, 0 },
		{ "id", id, 1 },
		{ "listener", or_none(s->lname), 0 },
		{ "client", or_none(sockaddr_str(&s->peer, client, sizeof(client))), 0 },
		{ "sni", or_none(s->sni), 0 },
		{ "alpn", or_none(s->alpn), 0 },
		{ "backend", s->be ? or_none(s->be->name) : NULL, 0 },
		{ "hello_bytes", hb, 1 },
		{ "hello_reads", hr, 1 },
		{ "c2s_bytes", cb, 1 },
		{ "s2c_bytes", sb, 1 },
		{ "connect_ms", ms_between(s->connect_start, s->connect_done, cms, sizeof(cms)), 1 },
		{ "duration_ms", ms_between(s->start, now, dms, sizeof(dms)), 1 },
		{ "first_close", s->first_close == 'c' ? "client" :
		    s->first_close == 's' ? "server" : NULL, 0 },
		{ "close_lag_ms", ms_between(s->first_close_at, s->second_close_at, lag,
		    sizeof(lag)), 1 },
		{ "client_tcp", or_none(s->tcp_state[0]), 0 },
		{ "server_tcp", or_none(s->tcp_state[1]), 0 },
		{ "term", or_none(reason_code(s->reason)), 0 },
		{ "attempts", at, 1 },
		{ "event", event, 0 },
	};
	emit(f, fields, event != NULL ? NFIELDS : NFIELDS - 1, fmt);
}
