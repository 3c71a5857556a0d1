#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "accesslog.h"
#include "addrset.h"
#include "admintab.h"
#include "conf.h"
#include "fds.h"
#include "listener.h"
#include "log.h"
#include "lognote.h"
#include "loop.h"
#include "mix.h"
#include "pool.h"
#include "proxy_proto.h"
#include "quic.h"
#include "quic_cid.h"
#include "quic_initial.h"
#include "reason.h"
#include "route.h"
#include "session.h"
#include "worker.h"

enum flow_state { F_PENDING, F_REFUSED, F_RELAY };
_Static_assert((int)F_PENDING == QS_PENDING && (int)F_REFUSED == QS_REFUSED &&
    (int)F_RELAY == QS_RELAY, "a flow's state is its metrics state (stats.h)");

struct quic_sock {
	struct ev		 ev;
	int			 fd;
	struct quic		*q;
	char			 wname[CONF_ADDRNAME_MAX];	/* as written (conf) */
	size_t			 li, ai;	/* its block and address index at start */
	char			 name[64];	/* as bound, port resolved */
};

struct flow {
	struct flow		*hnext;		/* hash chain */
	struct flow		*next, *prev;	/* live list */
	struct loop_closing	 closing;
	struct loop_timer	 timer;
	struct quic		*q;
	struct quic_sock	*ls;		/* the client's socket */
	struct ev		 ev;		/* the backend socket's */
	int			 fd;		/* -1: none (pending, refused) */
	enum flow_state		 state;
	int			 closed;
	struct sockaddr_storage	 peer;
	socklen_t		 peerlen;
	uint64_t		 hash;
	struct conf		*conf;		/* a reference: its routes, timeouts */
	struct backend		*be;
	const char		*route;		/* its route's name (conf's); NULL: none */
	int			 held;		/* be counted in flight */
	uint8_t			 pp[PP_DGRAM_V6];	/* proxy=v2: before each datagram */
	uint8_t			 pplen;		/* 0: no header */
	struct quic_hello	*hello;		/* PENDING only */
	uint8_t			*queue;		/* PENDING: datagrams, back to back */
	size_t			 qbytes;
	uint16_t		 qlen[QUIC_QUEUE_DGRAMS];
	unsigned		 qn;
	enum close_reason	 reason;	/* REFUSED: why */
	struct flow_log		 log;
	struct cid_set		 cids;		/* the server's CIDs seen (RELAY) */
	struct sockaddr_storage	 cand;		/* a new client address, not yet moved to */
	socklen_t		 candlen;	/* 0: none */
	unsigned		 cand_n;	/* its datagrams in a row */
};

struct quic {
	struct worker		*w;
	struct quic_sock	*socks;
	size_t			 nsocks;
	struct flow		**bucket;
	size_t			 nbucket;	/* a power of two */
	struct cid_index	 cids;		/* server CID -> relaying flow */
	size_t			 nflows, npending;
	struct flow		 live;		/* list head (a ring) */
	int			 draining;
	uint64_t		 full;		/* new clients dropped at a bound */
	struct lognote		 full_log;
	struct mmsghdr		 msg[QUIC_BATCH];
	struct iovec		 iov[QUIC_BATCH];
	struct mmsghdr		 out[QUIC_BATCH];	/* a flow's batch toward its client */
	struct iovec		 oiov[QUIC_BATCH];
	struct sockaddr_storage	 from[QUIC_BATCH];
	uint8_t			 buf[QUIC_BATCH][QUIC_DGRAM_MAX];
};

/* The first worker's bound addresses (port 0 resolved), the others bind
 * them: written by worker_init() in the main thread, before any thread. */
static struct sockaddr_storage bound[QUIC_ADDRS_MAX];
static socklen_t boundlen[QUIC_ADDRS_MAX];
static uint64_t hash_key;

size_t quic_naddrs(const struct conf *c)
{
	size_t i, n = 0;

	for (i = 0; i < c->nlisteners; i++)
		n += c->listeners[i].nqaddr;
	return n;
}

size_t quic_nflows(const struct worker *w)
{
	return w->quic != NULL ? w->quic->nflows : 0;
}

size_t quic_rows(const struct worker *w, struct admin_row *rows, size_t max)
{
	const struct flow *f;
	size_t n = 0;

	if (w->quic == NULL)
		return 0;
	for (f = w->quic->live.next; f != &w->quic->live && n < max; f = f->next, n++) {
		struct admin_row *r = &rows[n];

		memset(r, 0, sizeof(*r));
		r->id = f->log.id;
		r->proto = "quic";
		sockaddr_str(&f->peer, r->client, sizeof(r->client));
		snprintf(r->sni, sizeof(r->sni), "%s", f->log.sni);
		if (f->be != NULL)
			snprintf(r->backend, sizeof(r->backend), "%s", f->be->name);
		r->phase = stats_qstate_name((enum qstate)f->state);
		r->age_ms = w->loop.now - f->log.start;
		r->idle_ms = w->loop.now - f->log.last;
		r->c2s = f->log.bytes[0];
		r->s2c = f->log.bytes[1];
		r->dgrams[0] = f->log.dgrams[0];
		r->dgrams[1] = f->log.dgrams[1];
	}
	return n;
}

/* The client's address and port, keyed (no flooding of one chain). */
static uint64_t peer_hash(const struct sockaddr_storage *ss)
{
	uint64_t h = hash_key;
	const uint8_t *p;
	size_t n, i;

	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;

		p = a->sin6_addr.s6_addr;
		n = 16;
		h = mix64(h ^ a->sin6_port);
	} else {
		const struct sockaddr_in *a = (const struct sockaddr_in *)ss;

		p = (const uint8_t *)&a->sin_addr;
		n = 4;
		h = mix64(h ^ a->sin_port);
	}
	for (i = 0; i < n; i += 4)
		h = mix64(h ^ ((uint64_t)p[i] << 24 | (uint64_t)p[i + 1] << 16 |
		    (uint64_t)p[i + 2] << 8 | p[i + 3]));
	return h;
}

static struct flow **chain(struct quic *q, uint64_t h)
{
	return &q->bucket[h & (q->nbucket - 1)];
}

static struct flow *flow_find(struct quic *q, const struct sockaddr_storage *ss, uint64_t h)
{
	struct flow *f;

	for (f = *chain(q, h); f != NULL; f = f->hnext)
		if (f->hash == h && addr_same(&f->peer, ss))
			return f;
	return NULL;
}

static void flow_unhash(struct flow *f)
{
	struct flow **pp;

	for (pp = chain(f->q, f->hash); *pp != NULL; pp = &(*pp)->hnext)
		if (*pp == f) {
			*pp = f->hnext;
			return;
		}
}

static void flow_free(struct loop_closing *c)
{
	struct flow *f = container_of(c, struct flow, closing);

	conf_unref(f->conf);
	free(f);
}

/* The worker's QUIC counters (stats.h). */
#define QSTATS(q) (&(q)->w->stats.quic)

static void drop_pending(struct flow *f)
{
	if (f->hello == NULL)
		return;
	stat_add(&QSTATS(f->q)->hello[f->hello->verdict], 1);
	free(f->hello);
	free(f->queue);
	f->hello = NULL;
	f->queue = NULL;
	f->qn = 0;
	f->qbytes = 0;
	f->q->npending--;
}

/* The one way out: fd closed, entry freed after the turn, one log line. */
static void flow_close(struct flow *f, enum close_reason r)
{
	struct quic *q = f->q;
	struct worker *w = q->w;

	if (f->closed)
		return;
	f->closed = 1;
	loop_timer_stop(&w->loop, &f->timer);
	if (f->fd != -1) {	/* its only reference: close() takes it out of epoll */
		close(f->fd);
		f->fd = -1;
		fds_give(1);
	}
	if (f->held)
		pool_drop(f->be);
	drop_pending(f);
	cid_forget(&q->cids, &f->cids);
	flow_unhash(f);
	f->prev->next = f->next;
	f->next->prev = f->prev;
	q->nflows--;
	stats_qstate(&w->stats, (enum qstate)f->state, QS_NONE);
	stat_add(&QSTATS(q)->closed[r], 1);
	f->log.reason = r;
	f->log.backend = f->be != NULL ? f->be->name : NULL;
	if (w->access != NULL) {
		accesslog_write_flow(w->access, &f->log, w->loop.now,
		    (enum access_format)w->conf->access_log_format);
		if (!timer_armed(&w->flush.t))
			(void)loop_timer_in(&w->loop, &w->flush, ACCESS_FLUSH_MS);
	}
	loop_close_later(&w->loop, &f->closing, flow_free);
}

/* The flow's one deadline: hello-timeout from its first datagram while it
 * is pending or refused, idle-timeout from its last one while it relays. */
static tick_t flow_due(const struct flow *f)
{
	if (f->state == F_RELAY)
		return tick_add(f->log.last, f->conf->quic_idle_timeout_ms);
	return tick_add(f->log.start, f->conf->quic_hello_timeout_ms);
}

static void on_flow_timer(struct loop_timer *lt)
{
	struct flow *f = container_of(lt, struct flow, timer);
	tick_t due = flow_due(f);

	/* moved on since (a datagram only stamps the time): again, later */
	if (!tick_is_expired(due, f->q->w->loop.now) &&
	    loop_timer_set(&f->q->w->loop, &f->timer, due) == 0)
		return;
	flow_close(f, f->state == F_RELAY ? CR_QUIC_IDLE_TIMEOUT :
	    f->state == F_REFUSED ? f->reason : CR_QUIC_HELLO_TIMEOUT);
}

/* Migration (quic_cid.h): the Source CID of the server's long-header
 * packets, which the client's later packets are sent to, recorded. */
static void flow_learn_cid(struct flow *f, const uint8_t *p, size_t len)
{
	const uint8_t *scid;
	size_t n;

	if (quic_server_scid(p, len, &scid, &n))
		(void)cid_learn(&f->q->cids, &f->cids, f, scid, n);
}

/* The server's socket reported error e (ICMP port unreachable and the
 * like: the server is not there): a failure of the server, the flow ends. */
static void backend_gone(struct flow *f, int e)
{
	pool_failed(f->be, f->q->w->loop.now, f->conf->backend_fails,
	    f->conf->backend_cooldown_ms);
	flow_close(f, e == ECONNREFUSED ? CR_CONNECT_REFUSED : CR_CONNECT_ERROR);
}

/* The k datagrams of q->out toward f's client, in as few sendmmsg() calls
 * as the socket allows: one it will not take now is dropped (UDP: the peers
 * retransmit), counted, and the rest still go. */
static void to_client(struct flow *f, unsigned k)
{
	struct quic *q = f->q;
	unsigned done = 0, i;
	int r;

	while (done < k) {
		r = sendmmsg(f->ls->fd, q->out + done, k - done, MSG_DONTWAIT);
		if (r <= 0) {		/* the datagram at done failed */
			f->log.dropped++;
			stat_add(&QSTATS(q)->dropped[QD_SEND_FAILED], 1);
			done++;
			continue;
		}
		for (i = done; i < done + (unsigned)r; i++) {
			f->log.dgrams[1]++;
			f->log.bytes[1] += q->oiov[i].iov_len;
			stat_add(&QSTATS(q)->dgrams[1], 1);
			stat_add(&QSTATS(q)->bytes[1], q->oiov[i].iov_len);
		}
		done += (unsigned)r;
	}
}

/* Backend -> client: each batch the server sends goes out of the client's
 * socket to the client, with sendmmsg(). */
static void on_backend(struct ev *ev, uint32_t events)
{
	struct flow *f = container_of(ev, struct flow, ev);
	struct quic *q = f->q;
	unsigned k;
	int n, i, round;

	(void)events;
	for (round = 0; round < 4 && !f->closed; round++) {
		for (i = 0; i < QUIC_BATCH; i++) {
			q->iov[i].iov_base = q->buf[i];
			q->iov[i].iov_len = QUIC_DGRAM_MAX;
			memset(&q->msg[i].msg_hdr, 0, sizeof(q->msg[i].msg_hdr));
			q->msg[i].msg_hdr.msg_iov = &q->iov[i];
			q->msg[i].msg_hdr.msg_iovlen = 1;
		}
		n = recvmmsg(f->fd, q->msg, QUIC_BATCH, MSG_DONTWAIT, NULL);
		if (n == -1) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
				return;
			backend_gone(f, errno);
			return;
		}
		for (i = 0, k = 0; i < n; i++) {
			if (q->msg[i].msg_hdr.msg_flags & MSG_TRUNC) {
				f->log.dropped++;
				stat_add(&QSTATS(q)->dropped[QD_TOO_LARGE], 1);
				continue;
			}
			flow_learn_cid(f, q->buf[i], q->msg[i].msg_len);
			q->oiov[k].iov_base = q->buf[i];
			q->oiov[k].iov_len = q->msg[i].msg_len;
			memset(&q->out[k].msg_hdr, 0, sizeof(q->out[k].msg_hdr));
			q->out[k].msg_hdr.msg_name = &f->peer;
			q->out[k].msg_hdr.msg_namelen = f->peerlen;
			q->out[k].msg_hdr.msg_iov = &q->oiov[k];
			q->out[k].msg_hdr.msg_iovlen = 1;
			k++;
		}
		to_client(f, k);
		f->log.last = q->w->loop.now;
		if (n < QUIC_BATCH)
			return;
	}
}

/* Client -> backend on the connected socket, after the flow's PROXY
 * header if it has one (the two in one datagram); a datagram the socket
 * will not take now is dropped (UDP: the peers retransmit), counted. An
 * ICMP error the socket holds (ECONNREFUSED) is the server gone, as on a
 * read: the flow ends. */
static void to_backend(struct flow *f, const uint8_t *p, size_t len)
{
	struct iovec iov[2] = { { f->pp, f->pplen }, { (void *)p, len } };
	struct msghdr mh = { .msg_iov = f->pplen ? iov : iov + 1, .msg_iovlen = f->pplen ? 2 : 1 };

	if (sendmsg(f->fd, &mh, MSG_DONTWAIT) == -1) {
		if (errno == ECONNREFUSED)
			backend_gone(f, errno);
		else {
			f->log.dropped++;
			stat_add(&QSTATS(f->q)->dropped[QD_SEND_FAILED], 1);
		}
		return;
	}
	f->log.dgrams[0]++;
	f->log.bytes[0] += f->pplen + len;
	stat_add(&QSTATS(f->q)->dgrams[0], 1);
	stat_add(&QSTATS(f->q)->bytes[0], f->pplen + len);
}

/* The flow's client is now at its candidate address: re-keyed there (its
 * backend socket, counters and deadline unchanged), replies sent there. */
static void flow_move(struct flow *f)
{
	struct flow **head;

	flow_unhash(f);
	f->peer = f->cand;
	f->peerlen = f->candlen;
	f->hash = peer_hash(&f->peer);
	head = chain(f->q, f->hash);
	f->hnext = *head;
	*head = f;
	f->candlen = 0;
	f->log.migrated++;
}

/* A datagram from an address no flow has, sent to a CID a relaying flow's
 * server gave (NAT rebinding): passed to that server, and the flow moved
 * once QUIC_MOVE_DGRAMS came from this address in a row (none from the
 * flow's address between them). 1 if it was one, else 0 (a new client). */
static int flow_moved(struct quic *q, struct quic_sock *s, const struct sockaddr_storage *from,
    socklen_t fromlen, const uint8_t *p, size_t len)
{
	struct flow *f = cid_match(&q->cids, p, len);

	if (f == NULL || f->ls != s || f->state != F_RELAY)
		return 0;
	if (f->candlen == 0 || !addr_same(&f->cand, from)) {
		f->cand = *from;
		f->candlen = fromlen;
		f->cand_n = 0;
	}
	f->log.last = q->w->loop.now;
	to_backend(f, p, len);		/* may end the flow (the server gone) */
	if (!f->closed && ++f->cand_n >= QUIC_MOVE_DGRAMS)
		flow_move(f);
	return 1;
}

/* The queued datagrams, first and in order; the queue freed. */
static void send_queue(struct flow *f)
{
	size_t off = 0;
	unsigned i;

	for (i = 0; i < f->qn && !f->closed; off += f->qlen[i], i++)
		to_backend(f, f->queue + off, f->qlen[i]);
	drop_pending(f);
}

/* proxy=v2: the header every datagram toward the server starts with, the
 * client's address as the source and the listen-quic socket's (as bound:
 * 0.0.0.0 or :: for a wildcard) as the destination. */
static void proxy_header(struct flow *f)
{
	struct sockaddr_storage local;
	socklen_t len = sizeof(local);

	if (getsockname(f->ls->fd, (struct sockaddr *)&local, &len) == -1)
		memset(&local, 0, sizeof(local));	/* AF_UNSPEC: a LOCAL header */
	f->pplen = (uint8_t)pp_write_dgram(&f->peer, &local, f->pp, sizeof(f->pp));
}

/* The address to send be's datagrams to: its one address, or its name's
 * first in the round robin (addrset.h). */
static void be_addr(struct backend *be, tick_t now, struct sockaddr_storage *ss, socklen_t *len)
{
	uint32_t n;

	if (be->dns == NULL || addrset_read(be->dns, addrset_first(be->dns, now), ss, len,
	    &n) == -1) {
		*ss = be->addr;
		*len = be->addrlen;
	}
}

/* The verdict is in and names be: a socket connect()ed to it, the queued
 * datagrams first and in order, then RELAY; proxy 2 (a route's proxy=v2):
 * each datagram after a PROXY header. */
static void flow_connect(struct flow *f, struct backend *be, int proxy)
{
	struct worker *w = f->q->w;
	struct sockaddr_storage ss;
	socklen_t len;
	int fd;

	f->be = be;
	be_addr(be, w->loop.now, &ss, &len);
	if (!fds_take(1)) {
		fds_shed(&w->fd_log, f->ls->name);
		flow_close(f, CR_RESOURCE);
		return;
	}
	fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1 || connect(fd, (struct sockaddr *)&ss, len) == -1 ||
	    loop_add(&w->loop, fd, EPOLLIN, &f->ev) == -1) {
		log_warn("quic flow %llu: backend socket for %s",
		    (unsigned long long)f->log.id, be->name);
		if (fd != -1)
			close(fd);
		fds_give(1);
		flow_close(f, CR_CONNECT_ERROR);
		return;
	}
	f->fd = fd;
	f->ev.fn = on_backend;
	pool_hold(be);
	f->held = 1;
	stats_qstate(&w->stats, QS_PENDING, QS_RELAY);
	f->state = F_RELAY;
	f->log.last = w->loop.now;
	(void)loop_timer_set(&w->loop, &f->timer, flow_due(f));	/* idle from now */
	if (proxy == 2)
		proxy_header(f);
	send_queue(f);
}

/* No answer: the flow stays, without a socket, until hello-timeout, so the
 * client's next datagrams are dropped cheaply; then its log line. */
static void flow_refuse(struct flow *f, enum close_reason r)
{
	stats_qstate(&f->q->w->stats, QS_PENDING, QS_REFUSED);
	f->state = F_REFUSED;
	f->reason = r;
	f->log.dropped += f->qn;
	stat_add(&QSTATS(f->q)->dropped[QD_REFUSED], f->qn);
	drop_pending(f);
}

/* The ALPN names as one log token, "h3,h3-29". */
static void fmt_alpn(struct flow *f, const struct hello_info *h)
{
	size_t pos = 0, o = 0, len, i;
	const uint8_t *name;

	f->log.alpn[0] = '\0';
	while (hello_alpn_next(h, &pos, &name, &len)) {
		if (o + len + 2 >= sizeof(f->log.alpn))
			break;
		if (o)
			f->log.alpn[o++] = ',';
		for (i = 0; i < len; i++)
			f->log.alpn[o++] = name[i] > 0x20 && name[i] < 0x7f &&
			    name[i] != ',' && name[i] != '"' ? (char)name[i] : '?';
		f->log.alpn[o] = '\0';
	}
}

/* The listener block of the client's socket in the flow's configuration:
 * the one it was bound for if that still names its address there, else
 * the first naming the address as written (a reload may move blocks), or
 * NULL. */
static const struct listener_conf *block_of(const struct flow *f)
{
	const struct conf *c = f->conf;
	size_t i, j;

	if (f->ls->li < c->nlisteners && f->ls->ai < c->listeners[f->ls->li].nqaddr &&
	    strcmp(c->listeners[f->ls->li].qaddrname[f->ls->ai], f->ls->wname) == 0)
		return &c->listeners[f->ls->li];
	for (i = 0; i < f->conf->nlisteners; i++)
		for (j = 0; j < f->conf->listeners[i].nqaddr; j++)
			if (strcmp(f->conf->listeners[i].qaddrname[j], f->ls->wname) == 0)
				return &f->conf->listeners[i];
	return NULL;
}

/* Route a complete hello: the block's routes, then its default. */
static void flow_route(struct flow *f, enum quic_verdict v, const struct hello_info *info)
{
	const struct listener_conf *lc = block_of(f);
	const struct route *rt = NULL;
	const struct action *act;
	enum close_reason why;
	int i;

	if (lc == NULL) {
		flow_refuse(f, CR_NO_ROUTE);
		return;
	}
	fmt_alpn(f, info);
	if (v == QUIC_FOUND) {
		memcpy(f->log.sni, info->sni, info->sni_len);	/* <= 255, printable */
		f->log.sni[info->sni_len] = '\0';
		rt = route_lookup(lc->table, info->sni, info->sni_len, info->alpn,
		    info->alpn_len);
		act = &lc->on_no_route;
		why = CR_NO_ROUTE;
	} else {
		act = &lc->on_no_sni;
		why = CR_NO_SNI;
	}
	if (rt == NULL) {
		if (act->be == NULL)
			flow_refuse(f, why);
		else
			flow_connect(f, act->be, 0);
		return;
	}
	i = pool_pick(rt->pool, pool_first(rt->pool, &f->peer), 0, f->q->w->loop.now);
	if (i == -1) {
		f->be = rt->be;
		flow_refuse(f, CR_NO_SERVER);
		return;
	}
	f->route = rt->name;
	flow_connect(f, rt->pool->srv[i], rt->proxy);
}

/* A pending flow's datagram: queued (within the bounds) and read. */
static void flow_pending(struct flow *f, const uint8_t *p, size_t len)
{
	struct hello_info info;
	enum quic_verdict v;
	uint8_t *nq;

	if (f->qn < QUIC_QUEUE_DGRAMS && f->qbytes + len <= QUIC_QUEUE_BYTES &&
	    (nq = realloc(f->queue, f->qbytes + len)) != NULL) {
		f->queue = nq;
		memcpy(f->queue + f->qbytes, p, len);
		f->qbytes += len;
		f->qlen[f->qn++] = (uint16_t)len;
	} else {
		f->log.dropped++;
		stat_add(&QSTATS(f->q)->dropped[QD_QUEUE_FULL], 1);
	}
	memset(&info, 0, sizeof(info));
	v = quic_hello_feed(f->hello, p, len, &info);
	switch (v) {
	case QUIC_NEED_MORE:
		if (f->qn == QUIC_QUEUE_DGRAMS || f->qbytes + QUIC_DGRAM_MAX > QUIC_QUEUE_BYTES)
			flow_refuse(f, CR_MALFORMED);	/* will not fit: give up */
		return;
	case QUIC_FOUND:
	case QUIC_NO_SNI:
		flow_route(f, v, &info);
		return;
	case QUIC_NOT_INITIAL:
		flow_refuse(f, CR_QUIC_NOT_INITIAL);
		return;
	case QUIC_VERSION:
		flow_refuse(f, CR_QUIC_VERSION);
		return;
	default:
		flow_refuse(f, CR_MALFORMED);
		return;
	}
}

static void full_summary(struct lognote *ln, unsigned long long n, const char *name)
{
	struct quic *q = ln->arg;

	log_warnx("%s: quic flow table full: %llu more new clients dropped by worker %d in "
	    "the last second (%llu so far)", name, n, q->w->index,
	    (unsigned long long)q->full);
}

/* A new client's datagram: a pending flow, or dropped at a bound. */
static void flow_new(struct quic *q, struct quic_sock *s, const struct sockaddr_storage *from,
    socklen_t fromlen, uint64_t h, const uint8_t *p, size_t len)
{
	struct worker *w = q->w;
	struct flow *f;

	if (q->draining) {
		stat_add(&QSTATS(q)->dropped[QD_DRAINING], 1);
		return;
	}
	if (q->nflows >= w->conf->quic_max_flows || q->npending >= QUIC_PENDING_MAX) {
		stat_add(&QSTATS(q)->dropped[q->nflows >= w->conf->quic_max_flows ?
		    QD_TABLE_FULL : QD_PENDING_FULL], 1);
		q->full++;
		if (lognote_take(&q->full_log, s->name))
			log_warnx("%s: quic flow table full (quic-max-flows %u, %zu pending): "
			    "dropping new clients (%llu so far)", s->name,
			    w->conf->quic_max_flows, q->npending, (unsigned long long)q->full);
		return;
	}
	if ((f = calloc(1, sizeof(*f))) == NULL ||
	    (f->hello = malloc(sizeof(*f->hello))) == NULL) {
		free(f);
		stat_add(&QSTATS(q)->dropped[QD_NO_MEMORY], 1);
		return;
	}
	f->q = q;
	f->ls = s;
	f->fd = -1;
	f->peer = *from;
	f->peerlen = fromlen;
	f->hash = h;
	f->conf = conf_ref(w->conf);
	f->log.id = session_next_id();
	f->log.lname = s->name;
	f->log.peer = &f->peer;
	f->log.start = f->log.last = w->loop.now;
	quic_hello_init(f->hello, f->conf->hello_max);
	q->npending++;
	f->hnext = *chain(q, h);
	*chain(q, h) = f;
	f->next = q->live.next;
	f->prev = &q->live;
	q->live.next->prev = f;
	q->live.next = f;
	q->nflows++;
	stats_qstate(&w->stats, QS_NONE, QS_PENDING);
	loop_timer_init(&f->timer, on_flow_timer);
	if (loop_timer_set(&w->loop, &f->timer, flow_due(f)) == -1) {
		flow_close(f, CR_RESOURCE);
		return;
	}
	flow_pending(f, p, len);
}

/* Client datagrams on a listen-quic socket, a few batches per wakeup
 * (level-triggered: what is left comes next turn). */
static void on_sock(struct ev *ev, uint32_t events)
{
	struct quic_sock *s = container_of(ev, struct quic_sock, ev);
	struct quic *q = s->q;
	struct flow *f;
	uint64_t h;
	int n, i, round;

	(void)events;
	for (round = 0; round < 4; round++) {
		for (i = 0; i < QUIC_BATCH; i++) {
			q->iov[i].iov_base = q->buf[i];
			q->iov[i].iov_len = QUIC_DGRAM_MAX;
			memset(&q->msg[i].msg_hdr, 0, sizeof(q->msg[i].msg_hdr));
			q->msg[i].msg_hdr.msg_name = &q->from[i];
			q->msg[i].msg_hdr.msg_namelen = sizeof(q->from[i]);
			q->msg[i].msg_hdr.msg_iov = &q->iov[i];
			q->msg[i].msg_hdr.msg_iovlen = 1;
		}
		n = recvmmsg(s->fd, q->msg, QUIC_BATCH, MSG_DONTWAIT, NULL);
		if (n == -1)
			return;	/* EAGAIN; an ICMP error toward a client: nothing to do */
		for (i = 0; i < n; i++) {
			const uint8_t *p = q->buf[i];
			size_t len = q->msg[i].msg_len;

			if ((q->msg[i].msg_hdr.msg_flags & MSG_TRUNC) || len == 0) {
				stat_add(&QSTATS(q)->dropped[len == 0 ? QD_EMPTY : QD_TOO_LARGE], 1);
				continue;
			}
			h = peer_hash(&q->from[i]);
			if ((f = flow_find(q, &q->from[i], h)) == NULL) {
				if (!flow_moved(q, s, &q->from[i], q->msg[i].msg_hdr.msg_namelen,
				    p, len))
					flow_new(q, s, &q->from[i], q->msg[i].msg_hdr.msg_namelen,
					    h, p, len);
				continue;
			}
			f->candlen = 0;	/* from the client's address: no move pending */
			f->log.last = q->w->loop.now;
			if (f->state == F_RELAY)
				to_backend(f, p, len);
			else if (f->state == F_PENDING)
				flow_pending(f, p, len);
			else {
				f->log.dropped++;
				stat_add(&QSTATS(q)->dropped[QD_REFUSED], 1);
			}
		}
		if (n < QUIC_BATCH)
			return;
	}
}

int quic_open(struct worker *w, const struct conf *c, int first)
{
	size_t n = quic_naddrs(c), i, j, k = 0;
	struct quic *q;

	if (n == 0)
		return 0;
	if (n > QUIC_ADDRS_MAX) {
		log_warnx("at most %d listen-quic addresses", QUIC_ADDRS_MAX);
		return -1;
	}
	if (first && getrandom(&hash_key, sizeof(hash_key), 0) != (ssize_t)sizeof(hash_key))
		hash_key = (uint64_t)tick_now() * 0x9e3779b97f4a7c15ULL;
	if ((q = calloc(1, sizeof(*q))) == NULL ||
	    (q->socks = calloc(n, sizeof(*q->socks))) == NULL) {
		free(q);
		log_warnx("out of memory");
		return -1;
	}
	w->quic = q;
	q->w = w;
	q->live.next = q->live.prev = &q->live;
	for (q->nbucket = 64; q->nbucket < c->quic_max_flows && q->nbucket < 65536;)
		q->nbucket *= 2;
	if ((q->bucket = calloc(q->nbucket, sizeof(*q->bucket))) == NULL ||
	    cid_index_init(&q->cids, q->nbucket, mix64(hash_key ^ 0x636964)) == -1) {
		log_warnx("out of memory");
		return -1;
	}
	lognote_init(&q->full_log, &w->loop, 1000, full_summary, q);
	for (i = 0; i < n; i++)
		q->socks[i].fd = -1;
	for (i = 0; i < c->nlisteners; i++) {
		const struct listener_conf *lc = &c->listeners[i];

		for (j = 0; j < lc->nqaddr; j++, k++) {
			struct quic_sock *s = &q->socks[k];
			const char *what;

			if (first) {
				bound[k] = lc->qaddr[j];
				boundlen[k] = lc->qaddrlen[j];
			}
			if ((s->fd = sock_bind(&bound[k], boundlen[k], SOCK_DGRAM, &what)) == -1) {
				log_warn("listen-quic %s: %s", lc->qaddrname[j], what);
				return -1;
			}
			q->nsocks = k + 1;
			if (first && (boundlen[k] = sizeof(bound[k]),
			    getsockname(s->fd, (struct sockaddr *)&bound[k], &boundlen[k]) == -1)) {
				log_warn("listen-quic %s: getsockname", lc->qaddrname[j]);
				return -1;
			}
			s->q = q;
			s->li = i;
			s->ai = j;
			s->ev.fn = on_sock;
			snprintf(s->wname, sizeof(s->wname), "%s", lc->qaddrname[j]);
			sockaddr_str(&bound[k], s->name, sizeof(s->name));
			if (loop_add(&w->loop, s->fd, EPOLLIN, &s->ev) == -1) {
				log_warn("epoll_ctl");
				return -1;
			}
			if (first)
				log_info("listening on %s (quic)", s->name);
		}
	}
	return 0;
}

size_t quic_kill(struct worker *w, uint64_t id, const char *route, const char *server)
{
	struct flow *f, *next;
	size_t n = 0;

	if (w->quic == NULL)
		return 0;
	for (f = w->quic->live.next; f != &w->quic->live; f = next) {
		next = f->next;		/* flow_close() unlinks f */
		if (route != NULL ? f->route != NULL && strcmp(f->route, route) == 0 :
		    server != NULL ? f->be != NULL && f->state == F_RELAY &&
		    strcmp(f->be->name, server) == 0 : f->log.id == id) {
			flow_close(f, CR_KILLED);
			n++;
		}
	}
	return n;
}

void quic_drain(struct worker *w)
{
	if (w->quic != NULL)
		w->quic->draining = 1;
}

void quic_drain_deadline(struct worker *w)
{
	struct quic *q = w->quic;

	while (q != NULL && q->live.next != &q->live)
		flow_close(q->live.next, CR_DRAIN);
}

void quic_close(struct worker *w)
{
	struct quic *q = w->quic;
	size_t i;

	if (q == NULL)
		return;
	quic_drain_deadline(w);
	for (i = 0; i < q->nsocks; i++)
		if (q->socks[i].fd != -1)
			close(q->socks[i].fd);
	lognote_stop(&q->full_log);
	cid_index_fini(&q->cids);
	free(q->socks);
	free(q->bucket);
	free(q);
	w->quic = NULL;
}
