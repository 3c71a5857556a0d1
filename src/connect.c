#include <errno.h>
#include <stdint.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "addrset.h"
#include "connect.h"
#include "fds.h"
#include "hello.h"
#include "log.h"
#include "pool.h"
#include "session_int.h"
#include "tcpopt.h"

/* A backend socket: no Nagle delay, the hello and small records go out at
 * once (client sockets inherit it from the listener); server-keepalive and
 * server-user-timeout if set (no call when they are off). */
static void set_backend_opts(int fd, const struct conf *c)
{
	const char *what;
	int one = 1;

	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (tcpopt_wanted(&c->keepalive[1], c->user_timeout_ms[1]))
		(void)tcpopt_apply(fd, &c->keepalive[1], c->user_timeout_ms[1], &what);
}

/* The summary of the source binds kept quiet (connect_note_init()). */
static void source_summary(struct lognote *ln, unsigned long long n, const char *what)
{
	log_warnx("bind to a source address: %llu more failed on worker %d in the last "
	    "second (the last: %s)", n, (int)(intptr_t)ln->arg, what);
}

void connect_note_init(struct lognote *ln, struct loop *l, int index)
{
	lognote_init(ln, l, 1000, source_summary, (void *)(intptr_t)index);
}

/* Bind fd, for be, to the next source address of family (that of the
 * address about to be connected), if the route's source= (else the global
 * source) has one; 0, or -1 (logged, at most once a second). */
static int bind_source(struct session *s, int fd, const struct backend *be, int family)
{
	struct source_set *set = s->rt != NULL && s->rt->source != NULL ?
	    s->rt->source : &s->conf->source;
	const struct sockaddr *sa;
	char addr[ADDR_STRLEN];
	socklen_t len;
	int one = 1, err;

	if ((sa = source_next(set, family, &len)) == NULL)
		return 0;
	/* Without it (a kernel before 4.2) bind() picks the port: still works. */
	(void)setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
	if (bind(fd, sa, len) == 0)
		return 0;
	err = errno;
	addr_ip_str((const struct sockaddr_storage *)sa, addr, sizeof(addr));
	if (lognote_take(&s->w->source_log, addr)) {
		errno = err;
		log_warn("conn %llu: bind to source %s for backend %s",
		    (unsigned long long)s->id, addr, be->name);
	}
	errno = err;
	return -1;
}

/* This attempt's deadline: its share of the connect budget left, among the
 * servers left to try, this one included (dl_attempt()); one that refuses
 * leaves its share to the rest. */
static tick_t attempt_deadline(const struct session *s)
{
	uint32_t n = s->pool ? pool_left(s->pool, s->tried, s->w->loop.now) + 1 : 1;

	if (s->addr_n > s->addr_tries)	/* a name's addresses left, each an attempt */
		n += s->addr_n - s->addr_tries;

	return dl_attempt(s->connect_end, s->w->loop.now, n);
}

/*
 * The address to connect to for be: its one address, or for a name the
 * next of its set (round robin over them from where this session's walk
 * began; addrset.h), counted in s->addr_tries.
 */
static void backend_addr(struct session *s, struct backend *be, struct sockaddr_storage *ss,
    socklen_t *len)
{
	if (s->be != be) {	/* a new server: a new walk over its addresses */
		s->addr_tries = s->addr_n = 0;
		if (be->dns != NULL)
			s->addr_start = addrset_first(be->dns, s->w->loop.now);
	}
	if (be->dns == NULL || addrset_read(be->dns, s->addr_start + s->addr_tries, ss, len,
	    &s->addr_n) == -1) {
		*ss = be->addr;
		*len = be->addrlen;
		s->addr_n = 1;
	}
	s->addr_tries++;
}

void connect_backend(struct session *s, struct backend *be)
{
	struct worker *w = s->w;
	struct sockaddr_storage ss;
	socklen_t sslen;
	int fd;

	backend_addr(s, be, &ss, &sslen);
	s->be = be;
	s->attempts++;
	if (s->connect_start == TICK_NONE) {	/* the first attempt starts the budget */
		s->connect_start = w->loop.now;
		s->connect_end = tick_add(w->loop.now, s->conf->connect_timeout_ms);
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		if (errno == EMFILE || errno == ENFILE) {	/* said once a second */
			fds_shed(&w->fd_log, s->lname);
			session_close(s, CR_RESOURCE);
			return;
		}
		log_warn("conn %llu: socket for backend %s",
		    (unsigned long long)s->id, be->name);
		session_close(s, errno == ENOMEM || errno == ENOBUFS ?
		    CR_RESOURCE : CR_CONNECT_ERROR);
		return;
	}
	s->s.fd = fd;
	set_backend_opts(fd, s->conf);
	side_inline(&s->s);	/* now, not lazily: see pipe.h */
	if (loop_add(&w->loop, fd, SIDE_EVENTS, &s->s_ev) == -1) {
		session_close(s, CR_RESOURCE);
		return;
	}
	s->phase = PH_CONNECT;
	s->phase_expire = attempt_deadline(s);
	if (s->pool != NULL) {
		pool_hold(be);
		s->held = 1;
	}
	if (bind_source(s, fd, be, ss.ss_family) == -1) {
		connect_failed(s, CR_CONNECT_ERROR);
		return;
	}
	if (connect(fd, (const struct sockaddr *)&ss, sslen) == -1 &&
	    errno != EINPROGRESS) {
		connect_failed(s, errno == ECONNREFUSED ? CR_CONNECT_REFUSED : CR_CONNECT_ERROR);
		return;
	}
	/* Even an immediate success is taken up through the first EPOLLOUT. */
	session_update_timer(s);
}

/* Connect to pool server i. */
static void connect_pool(struct session *s, int i)
{
	s->tried |= 1u << i;
	connect_backend(s, s->pool->srv[i]);
}

void connect_route(struct session *s, const struct route *rt)
{
	int i;

	s->proxy_send = rt->proxy;
	s->rt = rt;
	s->pool = rt->pool;
	s->pool_start = pool_first(rt->pool, &s->peer);
	if ((i = pool_pick(rt->pool, s->pool_start, 0, s->w->loop.now)) == -1) {
		session_close(s, CR_NO_SERVER);	/* all down, draining or disabled */
		return;
	}
	connect_pool(s, i);
}

/* A new socket for the next attempt: the failed one closed. */
static void attempt_reset(struct session *s)
{
	close_fd(s->s.fd, 1);	/* leaves the epoll set with it */
	s->s.fd = -1;
	s->s.can_read = s->s.can_write = s->s.hup = s->s.err = s->s.urg = 0;
	s->s.oobinline = 0;
}

/*
 * A connect failed (r says how). A server given by name tries its other
 * addresses first, while the budget lasts; then, in a pool, the server's
 * failure is counted and the next server is tried on a new socket: the
 * sniffed bytes are still in hbuf, so it gets the same hello. Otherwise the
 * session ends with r, the failed socket still open for the log's TCP state.
 */
void connect_failed(struct session *s, enum close_reason r)
{
	struct worker *w = s->w;
	int i;

	if (s->be->dns != NULL)		/* this address: passed over for a while */
		addrset_failed(s->be->dns, s->addr_start + s->addr_tries - 1, w->loop.now,
		    s->conf->backend_fails, s->conf->backend_cooldown_ms);
	if (s->addr_tries < s->addr_n && !tick_is_expired(s->connect_end, w->loop.now)) {
		if (s->held)
			pool_drop(s->be);
		s->held = 0;
		attempt_reset(s);
		connect_backend(s, s->be);
		return;
	}
	if (s->pool == NULL) {
		session_close(s, r);
		return;
	}
	pool_failed(s->be, w->loop.now, s->conf->backend_fails, s->conf->backend_cooldown_ms);
	backend_note(s->be, w->loop.now, "%u connects failed in a row: %s",
	    __atomic_load_n(&s->be->fails, __ATOMIC_RELAXED), reason_code(r));
	pool_drop(s->be);
	s->held = 0;
	if (tick_is_expired(s->connect_end, w->loop.now) ||
	    (i = pool_pick(s->pool, s->pool_start, s->tried, w->loop.now)) == -1) {
		session_close(s, r);
		return;
	}
	attempt_reset(s);
	connect_pool(s, i);
}

void connect_check(struct session *s)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (side_reset(&s->c)) {	/* the client left: no use connecting */
		session_close(s, CR_CLIENT_RST);
		return;
	}
	if (!s->s.can_write && !s->s.can_read)
		return;
	/* A clean EPOLLOUT means connected; only an error report needs SO_ERROR. */
	if (s->s.hup && getsockopt(s->s.fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
		err = errno;
	if (err != 0) {
		errno = err;
		connect_failed(s, err == ECONNREFUSED ? CR_CONNECT_REFUSED : CR_CONNECT_ERROR);
		return;
	}
	if (!s->s.can_write)
		return;
	if (s->be->dns != NULL)
		addrset_connected(s->be->dns, s->addr_start + s->addr_tries - 1);
	if (s->pool != NULL) {
		pool_connected(s->be);
		backend_note(s->be, s->w->loop.now, "a connect succeeded");
	}
	s->connect_done = s->w->loop.now;
	stats_observe(&s->w->stats, H_CONNECT, s->connect_done - s->connect_start);
	s->phase = PH_RELAY;
	s->phase_expire = TICK_NONE;
	s->last_active = s->w->loop.now;
	if (s->proxy_send && hello_proxy_prepend(s) == -1) {
		log_warn("conn %llu: PROXY protocol header", (unsigned long long)s->id);
		session_close(s, CR_RESOURCE);
		return;
	}
	/* the sniffed bytes (hello and whatever followed) seed c2s */
	s->c2s.buf = buf_adopt(&s->w->bufs, s->hbuf, s->hcap, s->hlen);
	s->hbuf = NULL;
	if (s->c2s.buf == NULL) {
		session_close(s, CR_RESOURCE);
		return;
	}
	session_log_connect(s);		/* may close s (out of memory): step is a no-op then */
	session_step(s);
}
