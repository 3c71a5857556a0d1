#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "accesslog.h"
#include "fds.h"
#include "limits.h"
#include "listener.h"
#include "log.h"
#include "session.h"

#define ACCEPT_BATCH 64
#define SPARE_RETRY_MS 100	/* without a spare fd, look again this often */

static void spare_open(struct worker *w)
{
	if (w->spare_fd == -1)
		w->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

/* Reset a connection we will not serve. */
static void drop(int fd)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	(void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
}

/* A connection dropped for lack of fds: counted, logged once per interval. */
static void shed_note(struct listener *l)
{
	l->shed++;
	listener_note_emfile(l->w, l->name);
}

static void refused_text(char *buf, size_t len);

static unsigned long long shed_total;	/* all workers: the count in the log */

/* Said at most once a second per worker (w->emfile_log); what comes in
 * between is summed up by listener_flush_logs() when the second is over. */
void listener_note_emfile(struct worker *w, const char *name)
{
	unsigned long long all = __atomic_add_fetch(&shed_total, 1, __ATOMIC_RELAXED);

	if (ratelog_take(&w->emfile_log, w->now, name))
		log_warnx("%s: out of file descriptors: dropping new connections "
		    "(%llu so far)", name, all);
}

/* Say what the rate limits kept quiet, once their interval is over. */
void listener_flush_logs(struct worker *w)
{
	unsigned long long n;
	const char *name;
	char counts[160];

	if ((n = ratelog_due(&w->emfile_log, w->now, &name)) != 0)
		log_warnx("%s: out of file descriptors: %llu more dropped by worker %d in the "
		    "last second (%llu so far)", name, n, w->index,
		    __atomic_load_n(&shed_total, __ATOMIC_RELAXED));
	if ((n = ratelog_due(&w->limit_log, w->now, &name)) != 0) {
		refused_text(counts, sizeof(counts));
		log_warnx("%s: connection limit reached: %llu more reset by worker %d in the "
		    "last second (%s)", name, n, w->index, counts);
	}
}

tick_t listener_logs_next(const struct worker *w)
{
	return tick_first(ratelog_next(&w->emfile_log), ratelog_next(&w->limit_log));
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

/* A connection over a limit was reset: counted by reason for the whole
 * process, said at most once a second per worker (w->limit_log, like the fd
 * exhaustion lines); what comes in between is summed up by
 * listener_flush_logs() when the second is over. */
static void limit_note(struct listener *l, enum limit_why why)
{
	struct worker *w = l->w;
	char counts[160];

	l->refused++;
	limits_count_refusal(why);
	if (!ratelog_take(&w->limit_log, w->now, l->name))
		return;
	refused_text(counts, sizeof(counts));
	log_warnx("%s: connection limit reached (%s %u): resetting new connections "
	    "(%s)", l->name, limits_name(why), limit_value(w, l->lc, why), counts);
}

/* Watch the worker's listeners level-triggered (the normal way) or, while
 * it has no spare fd and so cannot drop what it cannot accept,
 * edge-triggered: a pending connection then costs one wakeup when it
 * arrives instead of making epoll_wait return at once for ever. */
static void watch(struct worker *w, uint32_t extra)
{
	size_t i;

	/* Only on a change: EPOLL_CTL_MOD puts a ready listener straight
	 * back on the ready list, so re-arming on every failed accept would
	 * wake the worker at once, for ever. */
	if (w->listen_et == (extra == EPOLLET))
		return;
	w->listen_et = extra == EPOLLET;
	for (i = 0; i < w->nls; i++)
		if (w->ls[i]->fd != -1)
			(void)loop_mod(&w->loop, w->ls[i]->fd, EPOLLIN | extra, &w->ls[i]->ev);
}

/* accept4 failed with EMFILE (which it does even when the queue is empty):
 * take one pending connection with the spare fd and reset it, so the queue
 * drains and level-triggered epoll does not spin. 1: one was dropped, go
 * on; 0: none pending, or no spare fd to do it with (then stop). The spare
 * can be lost when another worker takes the slot it freed. */
static int shed_one(struct listener *l)
{
	struct worker *w = l->w;
	int fd;

	if (w->spare_fd == -1) {
		spare_open(w);
		if (w->spare_fd == -1) {
			watch(w, EPOLLET);
			w->spare_retry = tick_add(w->now, SPARE_RETRY_MS);
			if (ratelog_take(&w->accept_log, w->now, l->name))
				log_warnx("%s: out of file descriptors, none spare: "
				    "new connections wait (%llu so far)", l->name,
				    __atomic_load_n(&shed_total, __ATOMIC_RELAXED));
			return 0;
		}
		watch(w, 0);
	}
	close(w->spare_fd);
	w->spare_fd = -1;
	fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd != -1) {
		drop(fd);
		shed_note(l);
	}
	spare_open(w);
	if (w->spare_fd == -1) {	/* another worker holds the slot for a moment */
		sched_yield();
		spare_open(w);
	}
	return fd != -1;
}

/* accept4 failed for want of kernel memory (or oddly): stop listening
 * level-triggered until spare_retry, then take what queued up. */
static void accept_pause(struct listener *l)
{
	struct worker *w = l->w;
	int e = errno;

	if (ratelog_take(&w->accept_log, w->now, l->name)) {
		errno = e;
		log_warn("%s: accept: pausing new connections for %d ms", l->name,
		    SPARE_RETRY_MS);
	}
	watch(w, EPOLLET);
	if (w->spare_retry == TICK_NONE)
		w->spare_retry = tick_add(w->now, SPARE_RETRY_MS);
}

static void on_accept(struct ev *ev, uint32_t events)
{
	struct listener *l = (struct listener *)ev;
	struct worker *w = l->w;
	int i;

	(void)events;
	if (l->fd == -1)	/* closed earlier in this batch (the drain) */
		return;
	if (w->spare_fd == -1) {		/* lost while out of fds: take it back */
		spare_open(w);
		if (w->spare_fd != -1) {
			w->spare_retry = TICK_NONE;
			watch(w, 0);
		}
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
			pipepool_drain(&w->pipes);	/* cached pipes first */
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

int listener_bind(const struct sockaddr_storage *addr, socklen_t len, const char **what)
{
	int one = 1, fd, e;

	*what = "socket";
	fd = socket(addr->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -1;
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* accepted sockets inherit these: no call per connection (urgent
	 * bytes stay inline, relayed like any other: see set_backend_opts()) */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	(void)setsockopt(fd, SOL_SOCKET, SO_OOBINLINE, &one, sizeof(one));
	*what = "SO_REUSEPORT";
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) == -1)
		goto fail;
	if (addr->ss_family == AF_INET6)
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	*what = "bind";
	if (bind(fd, (const struct sockaddr *)addr, len) == -1)
		goto fail;
	*what = "listen";
	if (listen(fd, 4096) == -1)
		goto fail;
	return fd;
fail:
	e = errno;
	close(fd);
	errno = e;
	return -1;
}

int listener_adopt(struct listener *l, struct worker *w, const struct listener_conf *lc,
    int fd, struct sockaddr_storage *bound)
{
	struct sockaddr_storage ss;
	socklen_t blen = sizeof(ss);

	spare_open(w);
	memset(l, 0, sizeof(*l));
	l->ev.fn = on_accept;
	l->lc = lc;
	l->w = w;
	l->fd = -1;
	if (bound == NULL)
		bound = &ss;
	if (getsockname(fd, (struct sockaddr *)bound, &blen) == -1) {
		log_warn("listen: getsockname");
		goto fail;
	}
	sockaddr_str(bound, l->name, sizeof(l->name));
	/* as the worker's other listeners are watched now (see watch()) */
	if (loop_add(&w->loop, fd, EPOLLIN | (w->listen_et ? EPOLLET : 0), &l->ev) == -1) {
		log_warn("listen %s: epoll", l->name);
		goto fail;
	}
	l->fd = fd;
	return 0;
fail:
	close(fd);
	return -1;
}

int listener_open(struct listener *l, struct worker *w, const struct listener_conf *lc,
    const struct sockaddr_storage *addr, socklen_t len, const char *written,
    struct sockaddr_storage *bound)
{
	const char *what;
	int fd = listener_bind(addr, len, &what);

	if (fd == -1) {
		memset(l, 0, sizeof(*l));
		l->fd = -1;
		log_warn("listen %s: %s", written, what);
		return -1;
	}
	return listener_adopt(l, w, lc, fd, bound);
}

/* The worker's spare_retry time came: with the spare back, watch the
 * listeners level-triggered again, so what queued up meanwhile is taken. */
void listener_spare_retry(struct worker *w)
{
	spare_open(w);
	if (w->spare_fd == -1) {
		w->spare_retry = tick_add(w->now, SPARE_RETRY_MS);
		return;
	}
	w->spare_retry = TICK_NONE;
	watch(w, 0);
}

void listener_close(struct listener *l)
{
	if (l->fd == -1)
		return;
	loop_del(&l->w->loop, l->fd);
	close(l->fd);
	l->fd = -1;
}
