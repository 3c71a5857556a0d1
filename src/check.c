/*
 * check.c: the active health checks on a worker's loop (see check.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backend.h"
#include "check.h"
#include "conf.h"
#include "log.h"
#include "mix.h"
#include "probe_hello.h"
#include "worker.h"

enum probe_phase { PR_IDLE, PR_CONNECT, PR_REPLY };

/* One checked server: its timer, and the probe in flight, if any. */
struct probe {
	struct backend		*be;
	struct checks		*cs;
	struct ev		 ev;
	struct loop_timer	 timer;	/* the next check, or the one in flight's end */
	int			 fd;
	enum probe_phase	 phase;
	tick_t			 start;
	uint8_t			 got[5];	/* tls: the reply's record header */
	size_t			 ngot;
};

struct checks {
	struct loop		*loop;
	const struct conf	*conf;	/* the worker's reference holds it */
	struct probe		*v;
	size_t			 n;
	uint64_t		 rng;	/* splitmix64, seeded before the sandbox */
};

static uint64_t rnd64(struct checks *cs)
{
	return mix64_next(&cs->rng);
}

static const char *errno_why(int err)
{
	switch (err) {
	case ECONNREFUSED:
		return "connect refused";
	case ECONNRESET:
		return "reset";
	case EHOSTUNREACH:
	case ENETUNREACH:
		return "unreachable";
	case ETIMEDOUT:
		return "timeout";
	case EMFILE:
	case ENFILE:
		return "out of file descriptors";
	default:
		return "socket error";
	}
}

/* The probe's socket: reset, not closed (no TIME_WAIT). */
static void probe_close(struct probe *pr)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	if (pr->fd == -1)
		return;
	(void)setsockopt(pr->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(pr->fd);	/* leaves the epoll set with it */
	pr->fd = -1;
}

/* The check in flight ended: count it, log a change, arm the next. */
static void probe_end(struct probe *pr, int pass, const char *why)
{
	struct checks *cs = pr->cs;
	const struct conf *c = cs->conf;
	tick_t now = cs->loop->now, next;
	struct backend *be = pr->be;
	uint32_t ms = (uint32_t)(now - pr->start);

	probe_close(pr);
	pr->phase = PR_IDLE;
	if (backend_check_result(be, pass, why, ms, now, c->check_rise, c->check_fall)) {
		if (pass)
			backend_note(be, now, "%u check%s passed", c->check_rise,
			    c->check_rise == 1 ? "" : "s");
		else
			backend_note(be, now, "%u check%s failed: %s", c->check_fall,
			    c->check_fall == 1 ? "" : "s", why);
	} else {
		backend_note(be, now, pass ? "a check passed" : "a check failed: %s", why);
	}
	next = tick_add(pr->start, c->check_interval_ms);
	if (next <= now)
		next = tick_add(now, 1);
	(void)loop_timer_set(cs->loop, &pr->timer, next);
}

/* tls: the hello goes out once the connect is done. */
static void probe_send(struct probe *pr)
{
	uint8_t hello[PROBE_HELLO_MAX], rnd[PROBE_RANDOM];
	size_t i, len;
	uint64_t r;

	for (i = 0; i < sizeof(rnd); i += 8) {
		r = rnd64(pr->cs);
		memcpy(rnd + i, &r, 8);
	}
	len = probe_hello(hello, sizeof(hello), pr->be->health.sni, rnd);
	if (len == 0) {
		probe_end(pr, 0, "no server name for the hello");
		return;
	}
	if (send(pr->fd, hello, len, MSG_NOSIGNAL | MSG_DONTWAIT) != (ssize_t)len) {
		probe_end(pr, 0, errno_why(errno));
		return;
	}
	pr->phase = PR_REPLY;
	if (loop_mod(pr->cs->loop, pr->fd, EPOLLIN | EPOLLRDHUP, &pr->ev) == -1)
		probe_end(pr, 0, "out of memory");
}

/* tls: the first five bytes back must be a handshake or alert record header. */
static void probe_read(struct probe *pr)
{
	ssize_t n;

	while (pr->ngot < sizeof(pr->got)) {
		n = recv(pr->fd, pr->got + pr->ngot, sizeof(pr->got) - pr->ngot, MSG_DONTWAIT);
		if (n == 0) {
			probe_end(pr, 0, "closed without a TLS reply");
			return;
		}
		if (n == -1) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				probe_end(pr, 0, errno_why(errno));
			return;
		}
		pr->ngot += (size_t)n;
		if (pr->got[0] != 22 && pr->got[0] != 21) {
			probe_end(pr, 0, "not a TLS reply");
			return;
		}
	}
	probe_end(pr, pr->got[1] == 3, pr->got[1] == 3 ? "ok" : "not a TLS reply");
}

static void on_probe_event(struct ev *ev, uint32_t events)
{
	struct probe *pr = container_of(ev, struct probe, ev);
	socklen_t len = sizeof(int);
	int err = 0;

	if (pr->phase == PR_REPLY) {
		probe_read(pr);
		return;
	}
	if (pr->phase != PR_CONNECT)
		return;
	if ((events & (EPOLLERR | EPOLLHUP)) &&
	    getsockopt(pr->fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
		err = errno;
	if (err != 0 || (events & (EPOLLERR | EPOLLHUP))) {
		probe_end(pr, 0, errno_why(err));
		return;
	}
	if (!(events & EPOLLOUT))
		return;
	if (pr->be->health.check == BC_TLS)
		probe_send(pr);
	else
		probe_end(pr, 1, "ok");
}

/* The timer: a check is due, or the one in flight ran out of time. */
static void on_probe_timer(struct loop_timer *lt)
{
	struct probe *pr = container_of(lt, struct probe, timer);
	struct checks *cs = pr->cs;
	const struct backend *be = pr->be;

	if (pr->phase != PR_IDLE) {
		probe_end(pr, 0, "timeout");
		return;
	}
	pr->start = cs->loop->now;
	pr->ngot = 0;
	pr->fd = socket(be->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (pr->fd == -1) {
		probe_end(pr, 0, errno_why(errno));
		return;
	}
	pr->phase = PR_CONNECT;
	if (loop_add(cs->loop, pr->fd, EPOLLOUT | EPOLLRDHUP, &pr->ev) == -1) {
		probe_end(pr, 0, "out of memory");
		return;
	}
	if (connect(pr->fd, (const struct sockaddr *)&be->addr, be->addrlen) == -1 &&
	    errno != EINPROGRESS) {
		probe_end(pr, 0, errno_why(errno));
		return;
	}
	(void)loop_timer_in(cs->loop, &pr->timer, cs->conf->check_timeout_ms);
}

int checks_init(struct worker *w)
{
	struct checks *cs;

	if ((cs = calloc(1, sizeof(*cs))) == NULL) {
		log_warnx("out of memory");
		return -1;
	}
	cs->loop = &w->loop;
	if (getrandom(&cs->rng, sizeof(cs->rng), GRND_NONBLOCK) != (ssize_t)sizeof(cs->rng))
		cs->rng = tick_now() ^ ((uint64_t)(unsigned)w->index << 32);
	w->checks = cs;
	return 0;
}

static void checks_stop(struct checks *cs)
{
	size_t i;

	for (i = 0; i < cs->n; i++) {
		probe_close(&cs->v[i]);
		loop_timer_stop(cs->loop, &cs->v[i].timer);
	}
	free(cs->v);
	cs->v = NULL;
	cs->n = 0;
	cs->conf = NULL;
}

int checks_start(struct worker *w, const struct conf *c)
{
	struct checks *cs = w->checks;
	struct probe *pr;
	size_t i, nw, n = 0;

	workers_all(&nw);
	checks_stop(cs);
	cs->conf = c;
	for (i = 0; i < c->nbackends; i++)
		if (c->backends[i]->health.check != BC_NONE && i % nw == (size_t)w->index)
			n++;
	if (n == 0)
		return 0;
	if ((cs->v = calloc(n, sizeof(*cs->v))) == NULL) {
		log_warnx("worker %d: out of memory: no health checks", w->index);
		return -1;
	}
	for (i = 0; i < c->nbackends; i++) {
		if (c->backends[i]->health.check == BC_NONE || i % nw != (size_t)w->index)
			continue;
		pr = &cs->v[cs->n++];
		pr->be = c->backends[i];
		pr->cs = cs;
		pr->fd = -1;
		pr->ev.fn = on_probe_event;
		loop_timer_init(&pr->timer, on_probe_timer);
		(void)loop_timer_in(cs->loop, &pr->timer,
		    1 + (uint32_t)(rnd64(cs) % c->check_interval_ms));
	}
	return 0;
}

void checks_free(struct worker *w)
{
	if (w->checks == NULL)
		return;
	checks_stop(w->checks);
	free(w->checks);
	w->checks = NULL;
}
