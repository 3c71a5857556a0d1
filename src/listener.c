#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "accesslog.h"
#include "fds.h"
#include "inherit.h"
#include "limits.h"
#include "listener.h"
#include "log.h"
#include "session.h"
#include "tcpopt.h"
#include "worker.h"

#define ACCEPT_BATCH 64
#define SPARE_RETRY_MS 100	/* without a spare fd, look again this often */

static void spare_open(struct listeners *set)
{
	if (set->spare_fd == -1)
		set->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

/* Reset a connection we will not serve. */
static void drop(int fd)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	(void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
}

/* A connection dropped for lack of fds: counted, said once per interval. */
static void shed_note(struct listener *l)
{
	l->shed++;
	fds_shed(&l->set->w->fd_log, l->name);
}

/* The limit a refusal passed, as configured. */
static uint32_t limit_value(const struct worker *w, const struct listener_conf *lc,
    enum limit_why why)
{
	if (why == LIMIT_GLOBAL)
		return w->conf->max_conns;
	if (why == LIMIT_LISTENER)
		return lc->max_conns;
	return w->conf->max_conns_per_source;
}

/* The process-wide refusal counts, by reason, for a log line. */
static void refused_text(char *buf, size_t len)
{
	snprintf(buf, len, "%llu so far: %llu max-conns, %llu listener-max-conns, "
	    "%llu max-conns-per-source", limits_refused(LIMIT_OK),
	    limits_refused(LIMIT_GLOBAL), limits_refused(LIMIT_LISTENER),
	    limits_refused(LIMIT_SOURCE));
}

static void limit_summary(struct lognote *ln, unsigned long long n, const char *name)
{
	struct listeners *set = ln->arg;
	char counts[160];

	refused_text(counts, sizeof(counts));
	log_warnx("%s: connection limit reached: %llu more reset by worker %d in the "
	    "last second (%s)", name, n, set->w->index, counts);
}

/* accept_log says each pause; what it kept quiet needs no summary. */
static void no_summary(struct lognote *ln, unsigned long long n, const char *name)
{
	(void)ln;
	(void)n;
	(void)name;
}

/* A connection over a limit was reset: counted by reason for the whole
 * process, said at most once a second per worker (limit_log); what comes
 * in between is summed up when the second is over. */
static void limit_note(struct listener *l, enum limit_why why)
{
	struct worker *w = l->set->w;
	char counts[160];

	l->refused++;
	limits_count_refusal(why);
	if (!lognote_take(&l->set->limit_log, l->name))
		return;
	refused_text(counts, sizeof(counts));
	log_warnx("%s: connection limit reached (%s %u): resetting new connections "
	    "(%s)", l->name, limits_name(why), limit_value(w, l->lc, why), counts);
}

/* Watch the listeners level-triggered (the normal way) or, paused (no spare
 * fd, so what cannot be accepted cannot be dropped either; no kernel
 * memory), edge-triggered: a pending connection then costs one wakeup when
 * it arrives instead of making epoll_wait return at once for ever. */
static void watch(struct listeners *set, int et)
{
	struct listener *l;
	size_t i;

	/* Only on a change: EPOLL_CTL_MOD puts a ready listener straight
	 * back on the ready list, so re-arming on every failed accept would
	 * wake the worker at once, for ever. */
	if (set->et == et)
		return;
	set->et = et;
	for (i = 0; i < set->n; i++)
		for (l = set->v[i]; l != NULL; l = l->next) {
			if (l->fd == -1)
				continue;
			if (!l->excl) {
				(void)loop_mod(&set->w->loop, l->fd,
				    EPOLLIN | (et ? EPOLLET : 0), &l->ev);
				continue;
			}
			/* EPOLL_CTL_MOD is refused (EINVAL) on an
			 * EPOLLEXCLUSIVE registration: delete, add again */
			(void)loop_del(&set->w->loop, l->fd);
			(void)loop_add(&set->w->loop, l->fd,
			    EPOLLIN | EPOLLEXCLUSIVE | (et ? EPOLLET : 0), &l->ev);
		}
}

/* Pause: edge-triggered until the retry timer (armed if it is not). */
static void pause_for(struct listeners *set)
{
	watch(set, 1);
	if (loop_timer_when(&set->retry) == TICK_NONE)
		(void)loop_timer_in(&set->w->loop, &set->retry, SPARE_RETRY_MS);
}

/* The pause is over if the spare fd can be had: level-triggered again, so
 * what queued up meanwhile is taken. */
static void unpause(struct listeners *set)
{
	spare_open(set);
	if (set->spare_fd == -1)
		return;
	loop_timer_stop(&set->w->loop, &set->retry);
	watch(set, 0);
}

static void on_retry(struct loop_timer *lt)
{
	struct listeners *set = container_of(lt, struct listeners, retry);

	unpause(set);
	if (set->et)
		(void)loop_timer_in(&set->w->loop, &set->retry, SPARE_RETRY_MS);
}

/* accept4 failed with EMFILE (which it does even when the queue is empty):
 * take one pending connection with the spare fd and reset it, so the queue
 * drains and level-triggered epoll does not spin. 1: one was dropped, go
 * on; 0: none pending, or no spare fd to do it with (then stop). The spare
 * can be lost when another worker takes the slot it freed. */
static int shed_one(struct listener *l)
{
	struct listeners *set = l->set;
	int fd;

	if (set->spare_fd == -1) {
		spare_open(set);
		if (set->spare_fd == -1) {
			pause_for(set);
			if (lognote_take(&set->accept_log, l->name))
				log_warnx("%s: out of file descriptors, none spare: "
				    "new connections wait (%llu so far)", l->name,
				    fds_shed_total());
			return 0;
		}
		watch(set, 0);
	}
	close(set->spare_fd);
	set->spare_fd = -1;
	fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd != -1) {
		drop(fd);
		shed_note(l);
	}
	spare_open(set);
	if (set->spare_fd == -1) {	/* another worker holds the slot for a moment */
		sched_yield();
		spare_open(set);
	}
	return fd != -1;
}

/* accept4 failed for want of kernel memory (or oddly): pause, then take
 * what queued up. */
static void accept_pause(struct listener *l)
{
	int e = errno;

	if (lognote_take(&l->set->accept_log, l->name)) {
		errno = e;
		log_warn("%s: accept: pausing new connections for %d ms", l->name,
		    SPARE_RETRY_MS);
	}
	pause_for(l->set);
}

static void on_accept(struct ev *ev, uint32_t events)
{
	struct listener *l = (struct listener *)ev;
	struct listeners *set = l->set;
	struct worker *w = set->w;
	int i;

	(void)events;
	if (l->fd == -1)	/* closed earlier in this batch (the drain) */
		return;
	if (set->spare_fd == -1)	/* lost while out of fds: take it back */
		unpause(set);
	if (w->loop.now - set->rlimit_at >= 1000) {	/* prlimit from outside */
		fds_refresh();
		set->rlimit_at = w->loop.now;
	}
	for (i = 0; i < ACCEPT_BATCH; i++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		struct limit_hold hold;
		enum limit_why why;
		int fd = accept4(l->fd, (struct sockaddr *)&ss, &len,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd == -1) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			/* a pending error of the new connection itself
			 * (accept(2)): that one is gone, take the next */
			if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO ||
			    errno == ENETDOWN || errno == ENOPROTOOPT || errno == EHOSTDOWN ||
			    errno == ENONET || errno == EHOSTUNREACH || errno == EOPNOTSUPP ||
			    errno == ENETUNREACH || errno == ETIMEDOUT)
				continue;
			if (errno == EMFILE || errno == ENFILE) {
				fds_refresh();	/* lowered from outside? */
				if (shed_one(l))
					continue;
				return;
			}
			/* ENOBUFS, ENOMEM, ...: the connection stays queued
			 * and a level-triggered listener would wake at once;
			 * pause, try again in a moment, say so once a second */
			accept_pause(l);
			return;
		}
		/* over a connection limit: reset at once (the reserve holds
		 * this fd meanwhile) */
		if ((why = limits_take(l->lc, &ss, &hold)) != LIMIT_OK) {
			drop(fd);
			limit_note(l, why);
			continue;
		}
		/* client and backend socket; the reserve holds this fd */
		if (!fds_take(2)) {
			fds_refresh();			/* raised from outside? */
			kpipe_drain(&w->kpipes);	/* cached pipes first */
			if (!fds_take(2)) {
				limits_give(&hold);
				drop(fd);
				shed_note(l);
				continue;
			}
		}
		session_start(w, l->lc, l->name, fd, &ss, len, &hold);
	}
}

int sock_bind(const struct sockaddr_storage *addr, socklen_t len, int type, const char **what)
{
	int one = 1, fd, e;

	*what = "socket";
	if ((fd = socket(addr->ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	if (type == SOCK_STREAM)	/* past a TIME_WAIT of an earlier process */
		(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	*what = "SO_REUSEPORT";
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) == -1)
		goto fail;
	if (addr->ss_family == AF_INET6)
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	*what = "bind";
	if (bind(fd, (const struct sockaddr *)addr, len) == -1)
		goto fail;
	return fd;
fail:
	e = errno;
	close(fd);
	errno = e;
	return -1;
}

int listener_bind(const struct sockaddr_storage *addr, socklen_t len, const char **what)
{
	int one = 1, fd, e;

	if ((fd = sock_bind(addr, len, SOCK_STREAM, what)) == -1)
		return -1;
	/* accepted sockets inherit these: no call per connection (urgent
	 * bytes stay inline, relayed like any other: see pipe.h) */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	(void)setsockopt(fd, SOL_SOCKET, SO_OOBINLINE, &one, sizeof(one));
	*what = "listen";
	if (listen(fd, 4096) == -1) {
		e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* Serve fd (from listener_bind(), or inherited: excl if other workers
 * watch it too) in set, as a new listener of block lc; its address goes to
 * *bound (may be NULL). NULL (logged, fd closed) if it cannot be. */
static struct listener *adopt(struct listeners *set, const struct listener_conf *lc, int fd,
    struct sockaddr_storage *bound, int excl)
{
	struct sockaddr_storage ss;
	socklen_t blen = sizeof(ss);
	struct listener *l = calloc(1, sizeof(*l));

	if (l == NULL) {
		log_warnx("listen: out of memory");
		close(fd);
		return NULL;
	}
	l->ev.fn = on_accept;
	l->lc = lc;
	l->set = set;
	l->fd = -1;
	l->excl = excl;
	if (bound == NULL)
		bound = &ss;
	if (getsockname(fd, (struct sockaddr *)bound, &blen) == -1) {
		log_warn("listen: getsockname");
		goto fail;
	}
	sockaddr_str(bound, l->name, sizeof(l->name));
	/* as the set's other listeners are watched now (see watch()) */
	if (loop_add(&set->w->loop, fd, EPOLLIN | (set->et ? EPOLLET : 0) |
	    (excl ? EPOLLEXCLUSIVE : 0), &l->ev) == -1) {
		log_warn("listen %s: epoll", l->name);
		goto fail;
	}
	l->fd = fd;
	return l;
fail:
	close(fd);
	free(l);
	return NULL;
}

/* client-keepalive, client-user-timeout: on the listening sockets of an
 * address (l and its next ones), which the sockets they accept inherit (one
 * call per listener and reload instead of four per connection); set, or
 * cleared, again at every reload. */
static void client_opts(struct listener *l, const struct conf *c)
{
	const char *what;

	for (; l != NULL; l = l->next)
		if (l->fd != -1 && tcpopt_apply(l->fd, &c->keepalive[0], c->user_timeout_ms[0],
		    &what) == -1)
			log_warn("listen %s: %s", l->name, what);
}

/* Close l and the other sockets of its address. */
static void listener_close(struct listener *l)
{
	for (; l != NULL; l = l->next) {
		if (l->fd == -1)
			continue;
		loop_del(&l->set->w->loop, l->fd);
		close(l->fd);
		l->fd = -1;
	}
}

static void listener_free(struct listener *l)
{
	struct listener *next;

	for (; l != NULL; l = next) {
		next = l->next;
		free(l);
	}
}

/* Inherited sockets for lc's j-th address (inherit.h): served as the n-th
 * address of set, the first one's address in *bound. 1 if there were
 * some, 0 if none (bind it), -1 if they cannot be served (logged). */
static int adopt_inherited(struct listeners *set, const struct listener_conf *lc, size_t j,
    size_t n, struct sockaddr_storage *bound, int first)
{
	int fds[INHERIT_MAX], shared;
	const char *from = "";
	struct listener **tail = &set->v[n];
	size_t k, nfd = inherit_fds(&lc->addr[j], set->w->index, fds, INHERIT_MAX, &shared,
	    &from);

	for (k = 0; k < nfd; k++) {
		if ((*tail = adopt(set, lc, fds[k], k == 0 ? bound : NULL, shared)) == NULL) {
			while (++k < nfd)
				close(fds[k]);
			return -1;
		}
		tail = &(*tail)->next;
	}
	if (nfd > 0 && first)
		log_info("listening on %s (%s, %zu socket%s%s)", set->v[n]->name, from, nfd,
		    nfd == 1 ? "" : "s", shared ? ", shared by the workers" : "");
	return nfd > 0;
}

static size_t naddrs(const struct conf *c)
{
	size_t i, n = 0;

	for (i = 0; i < c->nlisteners; i++)
		n += c->listeners[i].naddr;
	return n;
}

int listeners_open(struct listeners *set, struct worker *w, const struct conf *c,
    struct sockaddr_storage *bound, int first)
{
	size_t i, j, n = 0;

	memset(set, 0, sizeof(*set));
	set->w = w;
	set->spare_fd = -1;
	loop_timer_init(&set->retry, on_retry);
	lognote_init(&set->limit_log, &w->loop, 1000, limit_summary, set);
	lognote_init(&set->accept_log, &w->loop, 1000, no_summary, set);
	spare_open(set);
	if ((set->v = calloc(naddrs(c) + 1, sizeof(*set->v))) == NULL) {
		log_warnx("out of memory");
		return -1;
	}
	for (i = 0; i < c->nlisteners; i++) {
		const struct listener_conf *lc = &c->listeners[i];

		for (j = 0; j < lc->naddr; j++, n++) {
			const struct sockaddr_storage *a = first ? &lc->addr[j] : &bound[n];
			const char *what;
			int fd, rc = adopt_inherited(set, lc, j, n, &bound[n], first);

			set->n = n + 1;
			if (rc == -1)
				return -1;
			if (rc == 1) {
				client_opts(set->v[n], c);
				continue;
			}
			if ((fd = listener_bind(a, lc->addrlen[j], &what)) == -1) {
				log_warn("listen %s: %s", lc->addrname[j], what);
				return -1;
			}
			if ((set->v[n] = adopt(set, lc, fd, &bound[n], 0)) == NULL)
				return -1;
			client_opts(set->v[n], c);
			if (first)
				log_info("listening on %s", set->v[n]->name);
		}
	}
	return 0;
}

/* l serves no address any more: closed, kept for the sessions naming it. */
static void retire(struct listeners *set, struct listener *l)
{
	struct listener **r;

	if (set->w->index == 0)
		log_info("no longer listening on %s", l->name);
	listener_close(l);	/* an inherited one: systemd keeps its own */
	if ((r = realloc(set->retired, (set->nretired + 1) * sizeof(*r))) == NULL)
		fatalx("worker %d: out of memory", set->w->index);
	set->retired = r;
	set->retired[set->nretired++] = l;
}

void listeners_take(struct listeners *set, const struct conf *c, const int *src, const int *fd)
{
	struct listener **v, *l;
	size_t i, j, n = 0, nnew = naddrs(c);

	if (src == NULL) {	/* the same addresses: only the blocks change */
		for (i = 0; i < c->nlisteners; i++)
			for (j = 0; j < c->listeners[i].naddr && n < set->n; j++, n++) {
				client_opts(set->v[n], c);
				for (l = set->v[n]; l != NULL; l = l->next)
					l->lc = &c->listeners[i];
			}
		return;
	}
	if ((v = calloc(nnew + 1, sizeof(*v))) == NULL)
		fatalx("worker %d: out of memory", set->w->index);
	for (i = 0; i < c->nlisteners; i++)
		for (j = 0; j < c->listeners[i].naddr; j++, n++) {
			if (src[n] >= 0) {
				v[n] = set->v[src[n]];
				set->v[src[n]] = NULL;
				for (l = v[n]; l != NULL; l = l->next)
					l->lc = &c->listeners[i];
				continue;
			}
			if ((v[n] = adopt(set, &c->listeners[i], fd[n], NULL, 0)) == NULL)
				fatalx("worker %d: cannot serve a new listen address",
				    set->w->index);
			if (set->w->index == 0)
				log_info("listening on %s", v[n]->name);
		}
	for (n = 0; n < nnew; n++)
		client_opts(v[n], c);
	for (i = 0; i < set->n; i++)
		if (set->v[i] != NULL)
			retire(set, set->v[i]);
	free(set->v);
	set->v = v;
	set->n = nnew;
}

void listeners_stop(struct listeners *set)
{
	size_t i;

	for (i = 0; i < set->n; i++)
		if (set->v[i] != NULL)
			listener_close(set->v[i]);
	loop_timer_stop(&set->w->loop, &set->retry);
	lognote_stop(&set->limit_log);
	lognote_stop(&set->accept_log);
}

void listeners_free(struct listeners *set)
{
	size_t i;

	if (set->w == NULL)
		return;
	listeners_stop(set);
	for (i = 0; i < set->n; i++)
		listener_free(set->v[i]);
	free(set->v);
	for (i = 0; i < set->nretired; i++)
		listener_free(set->retired[i]);
	free(set->retired);
	if (set->spare_fd != -1)
		close(set->spare_fd);
	memset(set, 0, sizeof(*set));
	set->spare_fd = -1;
}

size_t listeners_fds(const struct listeners *set, int *out, size_t max)
{
	const struct listener *l;
	size_t i, n = 0;

	for (i = 0; i < set->n; i++)
		for (l = set->v[i]; l != NULL && n < max; l = l->next)
			if (l->fd != -1)
				out[n++] = l->fd;
	return n;
}
