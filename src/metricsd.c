#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include "accesslog.h"
#include "ctl.h"
#include "inherit.h"
#include "log.h"
#include "metrics.h"
#include "metricsd.h"
#include "worker.h"

#define MREQ_MAX	4096

struct metricsd {
	struct ctl_server	 sv;
	struct worker		*w;
};

/* A page: a row. render appends the body for GET path and returns the
 * status (200, or another the page means, such as /ready's 503), or -1
 * (out of memory: a 500). */
struct page {
	const char	*path;
	const char	*help;
	int		(*render)(struct worker *w, struct mbuf *body);
};

static int render_metrics(struct worker *w, struct mbuf *body)
{
	struct wstats *st[WORKERS_MAX];
	struct worker **ws;
	size_t i, n;

	ws = workers_all(&n);
	for (i = 0; i < n; i++)
		st[i] = &ws[i]->stats;
	if (metrics_render(body, w->conf, st, n) == -1)
		return -1;
	backend_metrics(body, w->conf, w->loop.now);	/* the servers' states */
	return body->oom ? -1 : 200;
}

/* For a balancer's health check: 200 while halfpipe accepts, 503 from the
 * first SIGTERM/SIGINT on (drain-delay, then the drain). */
static int render_ready(struct worker *w, struct mbuf *body)
{
	int ready = workers_ready();

	(void)w;
	mbuf_printf(body, "%s\n", ready ? "ready" : "draining");
	return body->oom ? -1 : ready ? 200 : 503;
}

static const struct page pages[] = {
	{ "/metrics", "Prometheus text format 0.0.4 (docs/metrics.md)", render_metrics },
	{ "/ready", "200 ready, or 503 draining from the first SIGTERM on", render_ready },
};
#define NPAGES (sizeof(pages) / sizeof(pages[0]))

static const char *status_text(int st)
{
	switch (st) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	default: return "Request Header Fields Too Large";
	}
}

static enum ctl_verdict on_request(struct ctl_conn *cc, const char *req, size_t len)
{
	struct metricsd *md = ctl_server_of(cc)->arg;
	struct mbuf body = { 0 }, *out = ctl_out(cc);
	const struct page *pg = NULL;
	const char *path;
	size_t plen, i;
	int st = metrics_http_get(req, len, MREQ_MAX, &path, &plen);

	if (st == METRICS_NEED_MORE)
		return CTL_MORE;
	for (i = 0; st == 200 && i < NPAGES && pg == NULL; i++)
		if (strlen(pages[i].path) == plen && memcmp(pages[i].path, path, plen) == 0)
			pg = &pages[i];
	if (st == 200 && pg == NULL)
		st = 404;
	if (pg != NULL && (st = pg->render(md->w, &body)) == -1) {
		mbuf_free(&body);
		st = 500;
	}
	if (st != 200 && body.len == 0)
		mbuf_printf(&body, "%d %s\n", st, st == 500 ? "out of memory" : status_text(st));
	mbuf_printf(out, "HTTP/1.0 %d %s\r\n"
	    "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
	    "Content-Length: %zu\r\n%sConnection: close\r\n\r\n",
	    st, status_text(st), body.len, st == 405 ? "Allow: GET\r\n" : "");
	if (body.len > 0)
		mbuf_append(out, body.p, body.len);
	mbuf_free(&body);
	return CTL_ANSWER;
}

static const struct ctl_proto metrics_proto = {
	.name = "metrics",
	.req_max = MREQ_MAX,
	.request = on_request,
};

int metricsd_open(struct worker *w)
{
	const struct conf *c = w->conf;
	struct sockaddr_storage bound;
	socklen_t blen = sizeof(bound);
	struct metricsd *md;
	char name[80];
	int fd;

	snprintf(name, sizeof(name), "metrics %s", c->metrics_name);
	/* inherited (inherit.h: systemd's, an old halfpipe's), else bound */
	if ((fd = inherit_metrics(&c->metrics_addr)) == -1 &&
	    (fd = ctl_listen_tcp(&c->metrics_addr, c->metrics_addrlen, name)) == -1)
		return -1;
	if (getsockname(fd, (struct sockaddr *)&bound, &blen) == -1) {
		log_warn("metrics %s: getsockname", c->metrics_name);
		close(fd);
		return -1;
	}
	if ((md = calloc(1, sizeof(*md))) == NULL) {
		log_warnx("out of memory");
		close(fd);
		return -1;
	}
	md->w = w;
	if (ctl_open(&md->sv, &w->loop, fd, &metrics_proto, md) == -1) {
		free(md);
		return -1;
	}
	sockaddr_str(&bound, name, sizeof(name));
	log_info("serving metrics on %s", name);
	w->md = md;
	return 0;
}

void metricsd_close(struct worker *w)
{
	if (w->md == NULL)
		return;
	ctl_close(&w->md->sv);
	free(w->md);
	w->md = NULL;
}

int metricsd_fd(const struct worker *w)
{
	return w->md != NULL ? w->md->sv.fd : -1;
}
