#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "quic_initial.h"
#include "reason.h"

static int mbuf_room(struct mbuf *b, size_t n)
{
	size_t cap;
	char *np;

	if (b->oom)
		return -1;
	if (b->cap - b->len > n)
		return 0;
	for (cap = b->cap ? b->cap : 4096; cap - b->len <= n; cap *= 2)
		;
	if ((np = realloc(b->p, cap)) == NULL) {
		b->oom = 1;
		return -1;
	}
	b->p = np;
	b->cap = cap;
	return 0;
}

void mbuf_printf(struct mbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || mbuf_room(b, (size_t)n) == -1)
		return;
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void mbuf_append(struct mbuf *b, const void *p, size_t n)
{
	if (mbuf_room(b, n) == -1)
		return;
	memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void mbuf_label(struct mbuf *b, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\')
			mbuf_printf(b, "\\\\");
		else if (*s == '"')
			mbuf_printf(b, "\\\"");
		else if (*s == '\n')
			mbuf_printf(b, "\\n");
		else
			mbuf_printf(b, "%c", *s);
	}
}

void mbuf_free(struct mbuf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
	b->oom = 0;
}

static void head(struct mbuf *b, const char *name, const char *type, const char *help)
{
	mbuf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* ms as seconds, exact, no trailing zero: "1.5", "0.001", "0.01", "12". */
static void ms_as_s(struct mbuf *b, unsigned long long ms)
{
	unsigned long long frac = ms % 1000;
	int digits = 3;

	mbuf_printf(b, "%llu", ms / 1000);
	if (frac == 0)
		return;
	for (; frac % 10 == 0; frac /= 10)
		digits--;
	mbuf_printf(b, ".%0*llu", digits, frac);
}

static void hist(struct mbuf *b, int h, struct wstats *const *ws, size_t n)
{
	const struct hist_def *d = stats_hist_def(h);
	uint64_t cum = 0, sum = 0, bk;
	size_t i, k;

	head(b, d->name, "histogram", d->help);
	for (k = 0; k <= d->n; k++) {
		for (bk = 0, i = 0; i < n; i++)
			bk += stat_get(&ws[i]->hist[h].b[k]);
		cum += bk;
		mbuf_printf(b, "%s_bucket{le=\"", d->name);
		if (k == d->n)
			mbuf_printf(b, "+Inf");
		else if (d->ms)
			ms_as_s(b, d->le[k]);
		else
			mbuf_printf(b, "%llu", (unsigned long long)d->le[k]);
		mbuf_printf(b, "\"} %llu\n", (unsigned long long)cum);
	}
	for (i = 0; i < n; i++)
		sum += stat_get(&ws[i]->hist[h].sum);
	mbuf_printf(b, "%s_sum ", d->name);
	if (d->ms)
		ms_as_s(b, sum);
	else
		mbuf_printf(b, "%llu", (unsigned long long)sum);
	/* _count is the +Inf bucket: they always agree */
	mbuf_printf(b, "\n%s_count %llu\n", d->name, (unsigned long long)cum);
}

static uint64_t sum_of(struct wstats *const *ws, size_t n, size_t off, size_t idx)
{
	uint64_t v = 0;
	size_t i;

	for (i = 0; i < n; i++)
		v += stat_get((const uint64_t *)((const char *)ws[i] + off) + idx);
	return v;
}

static uint64_t sum_arr(struct wstats *const *ws, size_t n, int backend, size_t idx)
{
	uint64_t v = 0;
	size_t i;

	for (i = 0; i < n; i++)
		if (idx / 2 < (backend ? ws[i]->nbackend_slots : ws[i]->nroute_slots))
			v += stat_get(backend ? &ws[i]->backend_bytes[idx] :
			    &ws[i]->route_bytes[idx]);
	return v;
}

static const char *const tcp_names[TS_COUNT] = { "FIN_WAIT_2", "CLOSE_WAIT" };

static const char *const dirs[2] = { "c2s", "s2c" };

static const char *qstate_label(size_t k) { return stats_qstate_name((enum qstate)k); }
static const char *term_label(size_t k) { return reason_code((enum close_reason)k); }
static const char *dir_label(size_t k) { return dirs[k]; }
static const char *qdrop_label(size_t k) { return stats_qdrop_name((enum qdrop)k); }
static const char *verdict_label(size_t k) { return quic_verdict_name((enum quic_verdict)k); }

#define QOFF(field) (offsetof(struct wstats, quic) + offsetof(struct quic_stats, field))

/* The QUIC families: words [first, end) of the array at off in struct
 * wstats, summed over the workers, one sample per label value. */
static const struct qfam {
	const char	*name, *type, *help, *label;
	size_t		 off, first, end;
	const char	*(*value)(size_t k);
} qfams[] = {
	{ "halfpipe_quic_flows", "gauge",
	  "QUIC flows now, by state (pending: reading the client's Initials; refused: "
	  "no answer, its datagrams dropped until quic-hello-timeout; relay: passing "
	  "datagrams to and from its server).", "state", QOFF(flows), 0, QS_COUNT,
	  qstate_label },
	{ "halfpipe_quic_flows_total", "counter",
	  "QUIC flows ended, by termination code (the access log's term=).", "term",
	  QOFF(closed), 1, CR_COUNT, term_label },
	{ "halfpipe_quic_datagrams_total", "counter",
	  "Datagrams QUIC flows passed on; c2s: sent to the server (the queued ones "
	  "included), s2c: sent to the client.", "direction", QOFF(dgrams), 0, 2, dir_label },
	{ "halfpipe_quic_bytes_total", "counter",
	  "UDP payload bytes of the datagrams QUIC flows passed on, by direction.",
	  "direction", QOFF(bytes), 0, 2, dir_label },
	{ "halfpipe_quic_dropped_total", "counter",
	  "QUIC datagrams not passed on, by reason (table-full, pending-full, draining, "
	  "no-memory: a new client given no flow).", "reason", QOFF(dropped), 0, QD_COUNT,
	  qdrop_label },
	{ "halfpipe_quic_hellos_total", "counter",
	  "New QUIC clients, by the Initial reader's verdict when the flow stopped "
	  "reading (incomplete: none yet when it ended or its queue filled).", "verdict",
	  QOFF(hello), 0, QUIC_MALFORMED + 1, verdict_label },
};
_Static_assert(QUIC_MALFORMED < QH_COUNT, "stats.h has room for every verdict");

static void quic_render(struct mbuf *b, struct wstats *const *ws, size_t n)
{
	const struct qfam *f;
	size_t k;

	for (f = qfams; f < qfams + sizeof(qfams) / sizeof(qfams[0]); f++) {
		head(b, f->name, f->type, f->help);
		for (k = f->first; k < f->end; k++)
			mbuf_printf(b, "%s{%s=\"%s\"} %llu\n", f->name, f->label, f->value(k),
			    (unsigned long long)sum_of(ws, n, f->off, k));
	}
}

int metrics_render(struct mbuf *b, const struct conf *c, struct wstats *const *ws, size_t n)
{
	size_t i, j, k, d;
	uint64_t v;

	head(b, "halfpipe_connections", "gauge",
	    "Connections now, by phase (open: relaying both ways; half-closed-c2s: "
	    "the client sent its FIN, the server not yet; closing: both FINs seen or "
	    "a rejected client).");
	for (k = 0; k < MP_COUNT; k++)
		mbuf_printf(b, "halfpipe_connections{phase=\"%s\"} %llu\n",
		    stats_phase_name((enum mphase)k),
		    (unsigned long long)sum_of(ws, n, offsetof(struct wstats, phase), k));

	head(b, "halfpipe_connections_total", "counter",
	    "Connections ended, by termination code (the access log's term=).");
	for (k = 1; k < CR_COUNT; k++)
		mbuf_printf(b, "halfpipe_connections_total{term=\"%s\"} %llu\n",
		    reason_code((enum close_reason)k),
		    (unsigned long long)sum_of(ws, n, offsetof(struct wstats, closed), k));

	head(b, "halfpipe_route_bytes_total", "counter",
	    "Bytes relayed by connections that a route line sent to its backend, "
	    "counted when the connection ends; direction c2s: written to the backend "
	    "(the hello included), s2c: written to the client.");
	for (i = 0, k = 0; i < c->nlisteners; i++) {
		const struct listener_conf *l = &c->listeners[i];

		for (j = 0; j < l->nroutes; j++, k++) {
			const struct route *r = &l->routes[j];

			for (d = 0; d < 2; d++) {
				v = sum_arr(ws, n, 0, r->mindex * 2 + d);
				mbuf_printf(b, "halfpipe_route_bytes_total{listener=\"");
				mbuf_label(b, l->naddr ? l->addrname[0] : "");
				mbuf_printf(b, "\",route=\"");
				mbuf_label(b, r->name);
				mbuf_printf(b, "\",alpn=\"");
				mbuf_label(b, r->alpn ? r->alpn : "");
				mbuf_printf(b, "\",backend=\"");
				mbuf_label(b, r->be->name);
				mbuf_printf(b, "\",direction=\"%s\"} %llu\n", dirs[d],
				    (unsigned long long)v);
			}
		}
	}

	head(b, "halfpipe_backend_bytes_total", "counter",
	    "Bytes relayed to and from a backend (routes and default/on-* actions), "
	    "counted when the connection ends; c2s: written to the backend, s2c: "
	    "written to the client.");
	for (i = 0; i < c->nbackends; i++)
		for (d = 0; d < 2; d++) {
			mbuf_printf(b, "halfpipe_backend_bytes_total{backend=\"");
			mbuf_label(b, c->backends[i]->name);
			mbuf_printf(b, "\",direction=\"%s\"} %llu\n", dirs[d],
			    (unsigned long long)sum_arr(ws, n, 1, i * 2 + d));
		}

	for (k = 0; k < H_COUNT; k++)
		hist(b, (int)k, ws, n);

	head(b, "halfpipe_tcp_sockets", "gauge",
	    "halfpipe's own sockets in a TCP state (TCP_INFO), counted by each "
	    "worker about once a second.");
	for (k = 0; k < TS_COUNT; k++)
		mbuf_printf(b, "halfpipe_tcp_sockets{state=\"%s\"} %llu\n", tcp_names[k],
		    (unsigned long long)sum_of(ws, n, offsetof(struct wstats, tcp), k));
	head(b, "halfpipe_tcp_oldest_seconds", "gauge",
	    "Age of the oldest connection with a socket in the state, from the first "
	    "FIN it saw (0: none), as of the same count.");
	for (k = 0; k < TS_COUNT; k++) {
		uint64_t oldest = 0;

		for (i = 0; i < n; i++)
			if ((v = stat_get(&ws[i]->tcp_oldest_ms[k])) > oldest)
				oldest = v;
		mbuf_printf(b, "halfpipe_tcp_oldest_seconds{state=\"%s\"} ", tcp_names[k]);
		ms_as_s(b, oldest);
		mbuf_printf(b, "\n");
	}
	quic_render(b, ws, n);
	return b->oom ? -1 : 0;
}

int metrics_http_get(const char *buf, size_t len, size_t max, const char **path, size_t *plen)
{
	const char *end = NULL, *sp1, *sp2, *eol, *p, *q;
	size_t i;

	for (i = 0; i < len && end == NULL; i++)
		if (buf[i] == '\n' && ((i >= 1 && buf[i - 1] == '\n') ||
		    (i >= 2 && buf[i - 1] == '\r' && buf[i - 2] == '\n')))
			end = buf + i;
	if (end == NULL)
		return len >= max ? 431 : METRICS_NEED_MORE;
	eol = memchr(buf, '\n', len);
	if ((sp1 = memchr(buf, ' ', (size_t)(eol - buf))) == NULL || sp1 == buf)
		return 400;
	p = sp1 + 1;
	if ((sp2 = memchr(p, ' ', (size_t)(eol - p))) == NULL || sp2 == p ||
	    (size_t)(eol - sp2) < 9 || strncmp(sp2 + 1, "HTTP/1.", 7) != 0)
		return 400;
	if ((size_t)(sp1 - buf) != 3 || strncmp(buf, "GET", 3) != 0)
		return 405;
	q = memchr(p, '?', (size_t)(sp2 - p));
	*path = p;
	*plen = (size_t)((q != NULL ? q : sp2) - p);
	return 200;
}

int metrics_request(const char *buf, size_t len, size_t max)
{
	const char *path;
	size_t plen;
	int st = metrics_http_get(buf, len, max, &path, &plen);

	if (st != 200)
		return st;
	return plen == 8 && strncmp(path, "/metrics", 8) == 0 ? 200 : 404;
}
