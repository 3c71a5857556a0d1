/*
 * resolve.c: c-ares on a worker's loop (watches) or on poll() in the main
 * thread (resolve_now()); see resolve.h.
 */
#include <ares.h>
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "addr.h"
#include "conf.h"
#include "log.h"
#include "loop.h"
#include "resolve.h"
#include "tick.h"

#define RESOLVE_SOCKS	16	/* c-ares sockets at once: a UDP and a TCP one per server */
#define HOST_MAX	256

/* One of c-ares' sockets, as the loop sees it. */
struct rsock {
	struct ev		 ev;
	struct resolver		*r;
	int			 fd;		/* -1: free slot */
	uint32_t		 events;
};

struct resolver {
	ares_channel		 ch;
	int			 ch_ok;
	struct loop		*loop;		/* NULL: resolve_now() only */
	struct loop_timer	 timer;		/* c-ares' next timeout */
	struct rsock		 socks[RESOLVE_SOCKS];
	int			 full_said;	/* "too many sockets" logged */
	struct resolve_watch	*watches;	/* doubly linked */
	struct resolve_watch	**followed;	/* resolve_follow()'s */
	size_t			 nfollowed;
	tick_t			 deadline;	/* resolve_now()'s */
};

/* A query under way: its watch, or NULL once that let go. */
struct query {
	struct resolve_watch	*w;
};

struct resolve_watch {
	struct resolver		*r;
	struct resolve_watch	*next, *prev;
	char			 host[HOST_MAX];
	uint16_t		 port;
	enum addr_prefer	 prefer;
	uint32_t		 interval_ms;
	resolve_cb		 cb;
	void			*arg;
	struct loop_timer	 timer;		/* the next question */
	struct query		*q;		/* under way, or NULL */
	struct sockaddr_storage	 last[ADDRSET_MAX];	/* the last good answer */
	size_t			 nlast;
	int			 failing;	/* "keeping" said, "again" not yet */
};

int resolve_init(void)
{
	int rc = ares_library_init(ARES_LIB_INIT_ALL);

	if (rc != ARES_SUCCESS) {
		log_warnx("c-ares: %s", ares_strerror(rc));
		return -1;
	}
	return 0;
}

static struct rsock *sock_find(struct resolver *r, int fd)
{
	size_t i;

	for (i = 0; i < RESOLVE_SOCKS; i++)
		if (r->socks[i].fd == fd)
			return &r->socks[i];
	return NULL;
}

/* The timer follows c-ares' earliest timeout (none: stopped). */
static void rearm(struct resolver *r)
{
	struct timeval tv, *tp;
	uint64_t ms;

	if (r->loop == NULL)
		return;
	if ((tp = ares_timeout(r->ch, NULL, &tv)) == NULL) {
		loop_timer_stop(r->loop, &r->timer);
		return;
	}
	ms = (uint64_t)tp->tv_sec * 1000 + (uint64_t)tp->tv_usec / 1000;
	(void)loop_timer_in(r->loop, &r->timer, ms == 0 ? 1 : ms > UINT32_MAX ? UINT32_MAX :
	    (uint32_t)ms);
}

static void on_sock(struct ev *ev, uint32_t events)
{
	struct rsock *s = container_of(ev, struct rsock, ev);
	struct resolver *r = s->r;
	int fd = s->fd;

	ares_process_fd(r->ch, events & (EPOLLIN | EPOLLERR | EPOLLHUP) ? fd : ARES_SOCKET_BAD,
	    events & (EPOLLOUT | EPOLLERR) ? fd : ARES_SOCKET_BAD);
	rearm(r);
}

static void on_timer(struct loop_timer *lt)
{
	struct resolver *r = container_of(lt, struct resolver, timer);

	ares_process_fd(r->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	rearm(r);
}

/* c-ares opened, changed or is closing (neither readable nor writable) fd. */
static void on_sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
	struct resolver *r = data;
	struct rsock *s = sock_find(r, fd);
	uint32_t events = (readable ? EPOLLIN : 0) | (writable ? EPOLLOUT : 0);

	if (events == 0) {
		if (s != NULL) {
			if (r->loop != NULL)
				(void)loop_del(r->loop, fd);
			s->fd = -1;
		}
		return;
	}
	if (s == NULL) {
		if ((s = sock_find(r, -1)) == NULL) {
			if (!r->full_said++)
				log_warnx("resolver: more than %d sockets at once; "
				    "the rest time out", RESOLVE_SOCKS);
			return;
		}
		s->fd = fd;
		s->events = events;
		if (r->loop != NULL && loop_add(r->loop, fd, events, &s->ev) == -1) {
			log_warn("resolver: epoll_ctl");
			s->fd = -1;
		}
		return;
	}
	if (s->events != events && r->loop != NULL && loop_mod(r->loop, fd, events, &s->ev) == -1)
		log_warn("resolver: epoll_ctl");
	s->events = events;
}

struct resolver *resolver_new(struct loop *l, const char *servers)
{
	struct ares_options o;
	struct resolver *r;
	size_t i;
	int rc;

	if ((r = calloc(1, sizeof(*r))) == NULL) {
		log_warnx("resolver: out of memory");
		return NULL;
	}
	r->loop = l;
	loop_timer_init(&r->timer, on_timer);
	for (i = 0; i < RESOLVE_SOCKS; i++) {
		r->socks[i].fd = -1;
		r->socks[i].r = r;
		r->socks[i].ev.fn = on_sock;
	}
	memset(&o, 0, sizeof(o));
	o.timeout = RESOLVE_TRY_MS;
	o.tries = RESOLVE_TRIES;
	o.sock_state_cb = on_sock_state;
	o.sock_state_cb_data = r;
	rc = ares_init_options(&r->ch, &o, ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES |
	    ARES_OPT_SOCK_STATE_CB);
	if (rc != ARES_SUCCESS) {
		log_warnx("resolver: %s", ares_strerror(rc));
		free(r);
		return NULL;
	}
	r->ch_ok = 1;
	if (servers != NULL && (rc = ares_set_servers_ports_csv(r->ch, servers)) != ARES_SUCCESS) {
		log_warnx("resolvers %s: %s", servers, ares_strerror(rc));
		resolver_free(r);
		return NULL;
	}
	return r;
}

void resolver_free(struct resolver *r)
{
	if (r == NULL)
		return;
	(void)resolve_follow(r, NULL);
	while (r->watches != NULL)
		resolve_unwatch(r->watches);
	if (r->ch_ok)
		ares_destroy(r->ch);	/* answers under way: their queries freed */
	if (r->loop != NULL)
		loop_timer_stop(r->loop, &r->timer);
	free(r);
}

/* Every address of res, port set, into out[0..max): the count; *ttl the
 * smallest TTL (0: none known). */
static size_t addrs_of(const struct ares_addrinfo *res, uint16_t port,
    struct sockaddr_storage *out, size_t max, long *ttl)
{
	const struct ares_addrinfo_node *nd;
	size_t n = 0;

	*ttl = 0;
	for (nd = res != NULL ? res->nodes : NULL; nd != NULL && n < max; nd = nd->ai_next) {
		if ((nd->ai_family != AF_INET && nd->ai_family != AF_INET6) ||
		    nd->ai_addrlen > sizeof(out[0]))
			continue;
		memset(&out[n], 0, sizeof(out[n]));
		memcpy(&out[n], nd->ai_addr, nd->ai_addrlen);
		addr_set_port(&out[n], port);
		if (nd->ai_ttl > 0 && (*ttl == 0 || nd->ai_ttl < *ttl))
			*ttl = nd->ai_ttl;
		n++;
	}
	return n;
}

/* "a, b, c" of addrs into buf. */
static const char *addrs_text(const struct sockaddr_storage *a, size_t n, char *buf, size_t len)
{
	char one[ADDR_STRLEN];
	size_t i, at = 0;

	buf[0] = '\0';
	for (i = 0; i < n && at < len; i++)
		at += (size_t)snprintf(buf + at, len - at, "%s%s", i ? " " : "",
		    addr_ip_str(&a[i], one, sizeof(one)));
	return buf;
}

static void watch_answer(void *arg, int status, int timeouts, struct ares_addrinfo *res)
{
	struct query *q = arg;
	struct resolve_watch *w = q->w;
	struct sockaddr_storage all[ADDRSET_MAX * 2], use[ADDRSET_MAX];
	char text[ADDRSET_MAX * (INET6_ADDRSTRLEN + 1) + 1];
	size_t n = 0, m = 0;
	long ttl = 0;

	(void)timeouts;
	free(q);
	if (w == NULL) {	/* let go of meanwhile */
		if (res != NULL)
			ares_freeaddrinfo(res);
		return;
	}
	w->q = NULL;
	if (status == ARES_SUCCESS)
		n = addrs_of(res, w->port, all, ADDRSET_MAX * 2, &ttl);
	if (res != NULL)
		ares_freeaddrinfo(res);
	m = addrset_prefer(all, n, w->prefer, use);
	if (m == 0) {
		if (!w->failing)
			log_warnx("keeping %zu address%s of %s: %s", w->nlast,
			    w->nlast == 1 ? "" : "es", w->host,
			    status == ARES_SUCCESS ? "no address in the answer" :
			    ares_strerror(status));
		w->failing = 1;
		(void)loop_timer_in(w->r->loop, &w->timer, addrset_next_ms(w->interval_ms, 0));
		return;
	}
	if (w->failing)
		log_info("%s resolves again: %zu address%s", w->host, m, m == 1 ? "" : "es");
	w->failing = 0;
	if (!addrset_same(use, m, w->last, w->nlast)) {
		memcpy(w->last, use, m * sizeof(use[0]));
		w->nlast = m;
		log_info("%s now has %zu address%s: %s", w->host, m, m == 1 ? "" : "es",
		    addrs_text(use, m, text, sizeof(text)));
		w->cb(w->arg, use, m);
	}
	(void)loop_timer_in(w->r->loop, &w->timer, addrset_next_ms(w->interval_ms, ttl));
}

static const struct ares_addrinfo_hints hints_any = {
	.ai_flags = ARES_AI_NOSORT,	/* sorting would connect() a UDP socket per address */
	.ai_family = AF_UNSPEC,		/* A and AAAA */
	.ai_socktype = SOCK_STREAM,
	.ai_protocol = 0,
};

static void on_watch_timer(struct loop_timer *lt)
{
	struct resolve_watch *w = container_of(lt, struct resolve_watch, timer);
	struct query *q;

	if (w->q != NULL)	/* one question at a time */
		return;
	if ((q = calloc(1, sizeof(*q))) == NULL) {
		(void)loop_timer_in(w->r->loop, &w->timer, w->interval_ms);
		return;
	}
	q->w = w;
	w->q = q;
	ares_getaddrinfo(w->r->ch, w->host, NULL, &hints_any, watch_answer, q);
	rearm(w->r);
}

struct resolve_watch *resolve_watch(struct resolver *r, const char *host, uint16_t port,
    enum addr_prefer prefer, uint32_t interval_ms, resolve_cb cb, void *arg)
{
	struct resolve_watch *w;

	if (r->loop == NULL || strlen(host) >= HOST_MAX || (w = calloc(1, sizeof(*w))) == NULL)
		return NULL;
	w->r = r;
	strcpy(w->host, host);
	w->port = port;
	w->prefer = prefer;
	w->interval_ms = interval_ms;
	w->cb = cb;
	w->arg = arg;
	loop_timer_init(&w->timer, on_watch_timer);
	if (loop_timer_set(r->loop, &w->timer, r->loop->now) == -1) {
		free(w);
		return NULL;
	}
	w->next = r->watches;
	if (r->watches != NULL)
		r->watches->prev = w;
	r->watches = w;
	return w;
}

void resolve_unwatch(struct resolve_watch *w)
{
	if (w == NULL)
		return;
	if (w->q != NULL)
		w->q->w = NULL;	/* its answer is dropped */
	loop_timer_stop(w->r->loop, &w->timer);
	if (w->prev != NULL)
		w->prev->next = w->next;
	else
		w->r->watches = w->next;
	if (w->next != NULL)
		w->next->prev = w->prev;
	free(w);
}

/* A followed backend's new addresses: published for every worker. */
static void publish(void *arg, const struct sockaddr_storage *addrs, size_t n)
{
	struct backend *be = arg;

	addrset_publish(be->dns, addrs, n);
}

int resolve_follow(struct resolver *r, struct conf *c)
{
	struct resolve_watch *w, **ws;
	char host[HOST_MAX];
	const char *colon;
	size_t i, n = 0;
	int rc = 0;

	for (i = 0; i < r->nfollowed; i++)
		resolve_unwatch(r->followed[i]);
	free(r->followed);
	r->followed = NULL;
	r->nfollowed = 0;
	if (c == NULL || c->nbackends == 0)
		return 0;
	if ((ws = calloc(c->nbackends, sizeof(*ws))) == NULL)
		return -1;
	for (i = 0; i < c->nbackends; i++) {
		struct backend *be = c->backends[i];

		/* a name is HOST:PORT, HOST no IPv6 literal (conf.c checked) */
		if (be->dns == NULL || (colon = strrchr(be->name, ':')) == NULL ||
		    (size_t)(colon - be->name) >= sizeof(host))
			continue;
		memcpy(host, be->name, (size_t)(colon - be->name));
		host[colon - be->name] = '\0';
		w = resolve_watch(r, host, (uint16_t)addr_port(&be->addr), c->resolve_prefer,
		    c->resolve_interval_ms, publish, be);
		if (w == NULL) {
			rc = -1;
			continue;
		}
		w->nlast = addrset_copy(be->dns, w->last, ADDRSET_MAX);
		ws[n++] = w;
	}
	r->followed = ws;
	r->nfollowed = n;
	return rc;
}

void resolve_deadline(struct resolver *r, uint32_t ms)
{
	r->deadline = tick_add(tick_now(), ms);
}

/* resolve_now()'s answer. */
struct sync_answer {
	int			 done, status;
	struct sockaddr_storage	*out;
	size_t			 max, n;
};

static void sync_answer(void *arg, int status, int timeouts, struct ares_addrinfo *res)
{
	struct sync_answer *a = arg;
	long ttl;

	(void)timeouts;
	a->done = 1;
	a->status = status;
	if (status == ARES_SUCCESS)
		a->n = addrs_of(res, 0, a->out, a->max, &ttl);
	if (res != NULL)
		ares_freeaddrinfo(res);
}

int resolve_now(struct resolver *r, const char *host, struct sockaddr_storage *out,
    size_t max, size_t *n, const char **why)
{
	struct sync_answer a = { 0, 0, out, max, 0 };
	struct pollfd pfd[RESOLVE_SOCKS];
	struct timeval tv, *tp;
	tick_t now;
	size_t i, np;
	int ms, ready, late = 0;

	if (r->loop != NULL) {
		*why = "not on a loop's resolver";
		return -1;
	}
	if (r->deadline == TICK_NONE)
		resolve_deadline(r, RESOLVE_RELOAD_MS);
	ares_getaddrinfo(r->ch, host, NULL, &hints_any, sync_answer, &a);
	while (!a.done) {
		now = tick_now();
		if (tick_is_expired(r->deadline, now)) {
			late = 1;
			ares_cancel(r->ch);	/* the answer comes now: ARES_ECANCELLED */
			break;
		}
		ms = tick_remain(r->deadline, now);
		if ((tp = ares_timeout(r->ch, NULL, &tv)) != NULL &&
		    (uint64_t)tp->tv_sec * 1000 + (uint64_t)tp->tv_usec / 1000 < (uint64_t)ms)
			ms = (int)(tp->tv_sec * 1000 + tp->tv_usec / 1000);
		for (i = 0, np = 0; i < RESOLVE_SOCKS; i++)
			if (r->socks[i].fd != -1)
				pfd[np++] = (struct pollfd){ r->socks[i].fd,
				    (short)((r->socks[i].events & EPOLLIN ? POLLIN : 0) |
				    (r->socks[i].events & EPOLLOUT ? POLLOUT : 0)), 0 };
		if ((ready = poll(pfd, (nfds_t)np, ms)) == -1 && errno != EINTR) {
			log_warn("resolver: poll");
			ares_cancel(r->ch);
			break;
		}
		for (i = 0; ready > 0 && i < np; i++)
			if (pfd[i].revents != 0)
				ares_process_fd(r->ch,
				    pfd[i].revents & (POLLIN | POLLERR | POLLHUP) ? pfd[i].fd :
				    ARES_SOCKET_BAD,
				    pfd[i].revents & (POLLOUT | POLLERR) ? pfd[i].fd : ARES_SOCKET_BAD);
		if (ready <= 0)
			ares_process_fd(r->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	}
	*n = a.n;
	if (a.status == ARES_SUCCESS && a.n > 0)
		return 0;
	*why = late ? "no answer in time" : a.status == ARES_SUCCESS ?
	    "no address in the answer" : ares_strerror(a.status);
	return -1;
}
