#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "accesslog.h"
#include "log.h"
#include "metrics.h"
#include "metricsd.h"
#include "worker.h"

#define MREQ_MAX	4096
#define MCONN_MAX	8
#define MCONN_TIMEOUT_MS 5000
#define MWORKERS_MAX	64

enum { MC_READ, MC_WRITE, MC_WAIT_FIN };

struct mconn {
	struct ev	 ev;
	int		 fd;
	int		 state;
	struct metricsd	*md;
	tick_t		 expire;
	size_t		 rlen, opos;
	struct mbuf	 out;
	char		 req[MREQ_MAX];
};

struct metricsd {
	struct ev	 ev;
	int		 fd;
	struct worker	*w;
	struct mconn	*c[MCONN_MAX];
};

static struct wstats *all[MWORKERS_MAX];
static size_t nall;

void metricsd_register(struct wstats *st)
{
	if (nall < MWORKERS_MAX)
		all[nall++] = st;
}

static void mconn_free(struct mconn *mc, int abort)
{
	struct metricsd *md = mc->md;
	size_t i;

	if (abort) {
		struct linger lg = { .l_onoff = 1, .l_linger = 0 };

		(void)setsockopt(mc->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	}
	loop_del(&md->w->loop, mc->fd);
	close(mc->fd);
	for (i = 0; i < MCONN_MAX; i++)
		if (md->c[i] == mc)
			md->c[i] = NULL;
	mbuf_free(&mc->out);
	free(mc);
}

static const char *status_text(int st)
{
	switch (st) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	default: return "Request Header Fields Too Large";
	}
}

/* The whole response into mc->out. */
static void respond(struct mconn *mc, int st)
{
	struct worker *w = mc->md->w;
	struct mbuf body = { 0 };

	if (st == 200) {
		if (metrics_render(&body, w->conf, all, nall) == -1)
			st = 500;
	} else
		mbuf_printf(&body, "%d %s\n", st, status_text(st));
	if (st == 500) {
		mbuf_free(&body);
		mbuf_printf(&body, "500 out of memory\n");
	}
	mbuf_printf(&mc->out, "HTTP/1.0 %d %s\r\n"
	    "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
	    "Content-Length: %zu\r\n%sConnection: close\r\n\r\n",
	    st, st == 500 ? "Internal Server Error" : status_text(st), body.len,
	    st == 405 ? "Allow: GET\r\n" : "");
	if (body.len > 0)
		mbuf_append(&mc->out, body.p, body.len);
	mbuf_free(&body);
	mc->state = MC_WRITE;
}

static void mconn_step(struct mconn *mc)
{
	ssize_t n;
	int st;
	char sink[512];

	for (;;) {
		switch (mc->state) {
		case MC_READ:
			n = recv(mc->fd, mc->req + mc->rlen, sizeof(mc->req) - mc->rlen, 0);
			if (n == -1) {
				if (errno == EINTR)
					continue;
				if (errno != EAGAIN && errno != EWOULDBLOCK)
					mconn_free(mc, 1);
				return;
			}
			if (n == 0) {
				mconn_free(mc, 1);
				return;
			}
			mc->rlen += (size_t)n;
			st = metrics_request(mc->req, mc->rlen, sizeof(mc->req));
			if (st != METRICS_NEED_MORE)
				respond(mc, st);
			break;
		case MC_WRITE:
			if (mc->out.oom) {
				mconn_free(mc, 1);
				return;
			}
			if (mc->opos == mc->out.len) {
				if (shutdown(mc->fd, SHUT_WR) == -1) {
					mconn_free(mc, 1);
					return;
				}
				mc->state = MC_WAIT_FIN;
				break;
			}
			n = send(mc->fd, mc->out.p + mc->opos, mc->out.len - mc->opos,
			    MSG_NOSIGNAL);
			if (n == -1) {
				if (errno == EINTR)
					continue;
				if (errno != EAGAIN && errno != EWOULDBLOCK)
					mconn_free(mc, 1);
				return;
			}
			mc->opos += (size_t)n;
			break;
		default:	/* MC_WAIT_FIN: the client's FIN, then close */
			n = recv(mc->fd, sink, sizeof(sink), 0);
			if (n == 0) {
				mconn_free(mc, 0);
				return;
			}
			if (n == -1) {
				if (errno == EINTR)
					continue;
				if (errno != EAGAIN && errno != EWOULDBLOCK)
					mconn_free(mc, 1);
				return;
			}
			break;
		}
	}
}

static void on_mconn(struct ev *ev, uint32_t events)
{
	(void)events;
	mconn_step((struct mconn *)(void *)ev);
}

static void on_maccept(struct ev *ev, uint32_t events)
{
	struct metricsd *md = (struct metricsd *)(void *)ev;
	struct mconn *mc;
	size_t i;
	int fd;

	(void)events;
	for (;;) {
		fd = accept4(md->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				log_warn("metrics: accept");
			return;
		}
		for (i = 0; i < MCONN_MAX && md->c[i] != NULL; i++)
			;
		if (i == MCONN_MAX || (mc = calloc(1, sizeof(*mc))) == NULL) {
			struct linger lg = { .l_onoff = 1, .l_linger = 0 };

			(void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
			close(fd);
			continue;
		}
		mc->ev.fn = on_mconn;
		mc->fd = fd;
		mc->md = md;
		mc->state = MC_READ;
		mc->expire = tick_add(md->w->now, MCONN_TIMEOUT_MS);
		if (loop_add(&md->w->loop, fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
		    &mc->ev) == -1) {
			close(fd);
			free(mc);
			continue;
		}
		md->c[i] = mc;
		mconn_step(mc);
	}
}

int metricsd_open(struct worker *w)
{
	const struct conf *c = w->conf;
	struct metricsd *md;
	struct sockaddr_storage bound;
	socklen_t blen = sizeof(bound);
	char name[64];
	int one = 1;

	if ((md = calloc(1, sizeof(*md))) == NULL) {
		log_warnx("out of memory");
		return -1;
	}
	md->ev.fn = on_maccept;
	md->w = w;
	md->fd = socket(c->metrics_addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (md->fd == -1) {
		log_warn("metrics %s: socket", c->metrics_name);
		free(md);
		return -1;
	}
	(void)setsockopt(md->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (c->metrics_addr.ss_family == AF_INET6)
		(void)setsockopt(md->fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(md->fd, (const struct sockaddr *)&c->metrics_addr, c->metrics_addrlen) == -1) {
		log_warn("metrics %s: bind", c->metrics_name);
		goto fail;
	}
	if (listen(md->fd, 64) == -1) {
		log_warn("metrics %s: listen", c->metrics_name);
		goto fail;
	}
	if (getsockname(md->fd, (struct sockaddr *)&bound, &blen) == -1) {
		log_warn("metrics %s: getsockname", c->metrics_name);
		goto fail;
	}
	if (loop_add(&w->loop, md->fd, EPOLLIN, &md->ev) == -1) {
		log_warn("metrics %s: epoll", c->metrics_name);
		goto fail;
	}
	sockaddr_str(&bound, name, sizeof(name));
	log_info("serving metrics on %s", name);
	w->md = md;
	return 0;
fail:
	close(md->fd);
	free(md);
	return -1;
}

void metricsd_close(struct worker *w)
{
	struct metricsd *md = w->md;
	size_t i;

	if (md == NULL)
		return;
	for (i = 0; i < MCONN_MAX; i++)
		if (md->c[i] != NULL)
			mconn_free(md->c[i], 1);
	loop_del(&w->loop, md->fd);
	close(md->fd);
	free(md);
	w->md = NULL;
}

tick_t metricsd_next(const struct worker *w)
{
	tick_t next = TICK_NONE;
	size_t i;

	if (w->md == NULL)
		return TICK_NONE;
	for (i = 0; i < MCONN_MAX; i++)
		if (w->md->c[i] != NULL)
			next = tick_first(next, w->md->c[i]->expire);
	return next;
}

void metricsd_expire(struct worker *w)
{
	size_t i;

	if (w->md == NULL)
		return;
	for (i = 0; i < MCONN_MAX; i++)
		if (w->md->c[i] != NULL && tick_is_expired(w->md->c[i]->expire, w->now))
			mconn_free(w->md->c[i], 1);
}
