#include <errno.h>
#include <netinet/in.h>
#include <linux/sockios.h>
#include <linux/tcp.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "accesslog.h"
#include "connect.h"
#include "fds.h"
#include "hello.h"
#include "log.h"
#include "pool.h"
#include "proxy_proto.h"
#include "session_int.h"


static uint64_t next_id;	/* shared by the workers */

uint64_t session_next_id(void)
{
	return __atomic_add_fetch(&next_id, 1, __ATOMIC_RELAXED);
}

static void ready_push(struct session *s);

/* ---- small socket helpers ---------------------------------------------- */

/* TCP states as TCP_INFO reports them (the kernel's tcp_states.h). */
enum {
	TCP_ESTABLISHED = 1, TCP_SYN_SENT, TCP_SYN_RECV, TCP_FIN_WAIT1,
	TCP_FIN_WAIT2, TCP_TIME_WAIT, TCP_CLOSE, TCP_CLOSE_WAIT, TCP_LAST_ACK,
	TCP_LISTEN, TCP_CLOSING
};

/* The socket's TCP state, or -1 (*ti is then all zero). */
static int tcp_state(int fd, struct tcp_info *ti)
{
	socklen_t len = sizeof(*ti);

	if (fd == -1 || getsockopt(fd, IPPROTO_TCP, TCP_INFO, ti, &len) == -1) {
		memset(ti, 0, sizeof(*ti));
		return -1;
	}
	return ti->tcpi_state;
}

/*
 * After EPOLLERR: did the peer reset? Asked only then (a reset is rare), and
 * needed where no read or write would tell: a direction that already saw
 * the FIN reads no more, and with nothing queued toward the peer nothing is
 * written. 1 if the socket holds an error (SO_ERROR: ECONNRESET, or EPIPE
 * in CLOSE_WAIT), which is then gone from it.
 */
static int so_error(int fd)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (fd == -1 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
		return 0;
	return err != 0;
}

int side_reset(struct side *sd)
{
	if (!sd->err)
		return 0;
	sd->err = 0;
	return so_error(sd->fd);
}

/* Which peer reset, as side_reset() tells it: CR_CLIENT_RST, CR_SERVER_RST
 * or CR_NONE. */
static enum close_reason peer_reset(struct session *s)
{
	if (side_reset(&s->c))
		return CR_CLIENT_RST;
	if (side_reset(&s->s))
		return CR_SERVER_RST;
	return CR_NONE;
}

static const char *tcp_state_name(int st)
{
	static const char *const names[] = {
		[TCP_ESTABLISHED] = "ESTABLISHED", [TCP_SYN_SENT] = "SYN_SENT",
		[TCP_SYN_RECV] = "SYN_RECV", [TCP_FIN_WAIT1] = "FIN_WAIT1",
		[TCP_FIN_WAIT2] = "FIN_WAIT2", [TCP_TIME_WAIT] = "TIME_WAIT",
		[TCP_CLOSE] = "CLOSED", [TCP_CLOSE_WAIT] = "CLOSE_WAIT",
		[TCP_LAST_ACK] = "LAST_ACK", [TCP_LISTEN] = "LISTEN",
		[TCP_CLOSING] = "CLOSING",
	};

	if (st < 0 || (size_t)st >= sizeof(names) / sizeof(names[0]) || !names[st])
		return "-";
	return names[st];
}

void close_fd(int fd, int abort)
{
	if (fd == -1)
		return;
	if (abort) {
		struct linger lg = { .l_onoff = 1, .l_linger = 0 };

		(void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	}
	close(fd);
}

/* ---- metrics ----------------------------------------------------------- */

static enum mphase mphase_of(const struct session *s)
{
	int c, v;

	switch (s->phase) {
	case PH_HELLO:
		return MP_HELLO;
	case PH_CONNECT:
		return MP_CONNECT;
	case PH_RELAY:
		c = (s->c2s.flags & HF_EOF) != 0;
		v = (s->s2c.flags & HF_EOF) != 0;
		return c && v ? MP_CLOSING : c ? MP_HALF_C2S : v ? MP_HALF_S2C : MP_OPEN;
	case PH_LINGER:
	case PH_REJECT:
		return MP_CLOSING;
	case PH_CLOSED:
		break;
	}
	return MP_NONE;
}

/* After anything that may have changed the phase: keep the gauges right. */
static void phase_note(struct session *s)
{
	enum mphase m = mphase_of(s);

	if (m != s->mphase) {
		stats_phase(&s->w->stats, s->mphase, m);
		s->mphase = m;
	}
}

void session_census(struct worker *w)
{
	const struct session *s;
	struct tcp_info ti;
	uint64_t n[TS_COUNT] = { 0 }, oldest[TS_COUNT] = { 0 };
	int i, st, k;

	for (s = w->live; s != NULL; s = s->next) {
		/* FIN_WAIT_2 and CLOSE_WAIT need a FIN one way: skip the rest */
		if (s->phase != PH_LINGER && s->phase != PH_REJECT &&
		    (s->phase != PH_RELAY || !((s->c2s.flags | s->s2c.flags) & HF_EOF)))
			continue;
		for (i = 0; i < 2; i++) {
			st = tcp_state(i ? s->s.fd : s->c.fd, &ti);
			k = st == TCP_FIN_WAIT2 ? TS_FIN_WAIT2 : st == TCP_CLOSE_WAIT ?
			    TS_CLOSE_WAIT : -1;
			if (k == -1)
				continue;
			n[k]++;
			tick_t since = s->first_close ? s->first_close_at : s->start;
			if (w->loop.now - since + 1 > oldest[k])
				oldest[k] = w->loop.now - since + 1;
		}
	}
	for (k = 0; k < TS_COUNT; k++) {
		stat_set(&w->stats.tcp[k], n[k]);
		stat_set(&w->stats.tcp_oldest_ms[k], oldest[k] ? oldest[k] - 1 : 0);
	}
}

/* ---- the admin socket's table ----------------------------------------- */

void session_row(const struct session *s, tick_t now, struct admin_row *r)
{
	struct tcp_info ti;
	enum mphase m = mphase_of(s);

	memset(r, 0, sizeof(*r));
	r->id = s->id;
	sockaddr_str(&s->peer, r->client, sizeof(r->client));
	snprintf(r->sni, sizeof(r->sni), "%s", s->sni);
	if (s->be != NULL)
		snprintf(r->backend, sizeof(r->backend), "%s", s->be->name);
	r->phase = m == MP_NONE ? "closed" : stats_phase_name(m);
	r->age_ms = now - s->start;
	r->idle_ms = now - (s->last_active > s->start ? s->last_active : s->start);
	r->c2s = s->c2s.bytes;
	r->s2c = s->s2c.bytes;
	r->client_tcp = tcp_state_name(tcp_state(s->c.fd, &ti));
	r->server_tcp = tcp_state_name(tcp_state(s->s.fd, &ti));
}

/* ---- teardown ---------------------------------------------------------- */

static void session_free(struct loop_closing *c)
{
	struct session *s = container_of(c, struct session, closing);

	conf_unref(s->conf);
	free(s);
}

/* An access-log line of s (event: see accesslog_write()), reaching the file
 * within ACCESS_FLUSH_MS. */
static void access_line(struct session *s, const char *event)
{
	struct worker *w = s->w;

	if (w->access == NULL)
		return;
	accesslog_write(w->access, s, w->loop.now,
	    (enum access_format)s->conf->access_log_format, event);
	if (!timer_armed(&w->flush.t))
		(void)loop_timer_in(&w->loop, &w->flush, ACCESS_FLUSH_MS);
}

void session_log_connect(struct session *s)
{
	uint32_t ms = s->conf->access_log_interval_ms;

	if (ms == 0 || s->w->access == NULL)
		return;
	access_line(s, "connect");
	s->log_at = tick_add(s->w->loop.now, ms);
	session_update_timer(s);
}

static void end(struct session *s, enum close_reason r, int abort)
{
	struct worker *w = s->w;
	struct tcp_info ti;

	if (s->phase == PH_CLOSED)
		return;
	s->reason = r;
	if (s->tcp_state[0][0] == '\0') {	/* linger_check() may have read them */
		snprintf(s->tcp_state[0], sizeof(s->tcp_state[0]), "%s",
		    tcp_state_name(tcp_state(s->c.fd, &ti)));
		snprintf(s->tcp_state[1], sizeof(s->tcp_state[1]), "%s",
		    tcp_state_name(tcp_state(s->s.fd, &ti)));
	}
	close_fd(s->c.fd, abort);
	close_fd(s->s.fd, abort);
	fds_give(2);	/* taken by the listener */
	limits_give(&s->hold);
	if (s->held) {
		pool_drop(s->be);
		s->held = 0;
	}
	s->c.fd = s->s.fd = -1;
	s->phase = PH_CLOSED;
	loop_timer_stop(&w->loop, &s->timer);
	loop_task_cancel(&s->ready);
	half_release(&s->c2s, &w->bufs, &w->kpipes);
	half_release(&s->s2c, &w->bufs, &w->kpipes);
	free(s->hbuf);
	s->hbuf = NULL;

	if (s->first_close && !s->second_close_at &&
	    (s->c2s.flags & HF_EOF) && (s->s2c.flags & HF_EOF))
		s->second_close_at = w->loop.now;
	access_line(s, NULL);
	stat_add(&w->stats.closed[r], 1);
	stats_observe(&w->stats, H_DURATION, w->loop.now - s->start);
	/* Per-route and per-backend bytes: counted against the configuration
	 * the worker now serves; a connection that outlived a reload is not
	 * attributed (its indexes are the old configuration's). */
	if (s->be != NULL && s->conf == w->conf && s->be->index < w->stats.nbackend_slots) {
		stat_add(&w->stats.backend_bytes[s->be->index * 2], s->c2s.bytes);
		stat_add(&w->stats.backend_bytes[s->be->index * 2 + 1], s->s2c.bytes);
	}
	if (s->rt != NULL && s->conf == w->conf && s->rt->mindex < w->stats.nroute_slots) {
		stat_add(&w->stats.route_bytes[s->rt->mindex * 2], s->c2s.bytes);
		stat_add(&w->stats.route_bytes[s->rt->mindex * 2 + 1], s->s2c.bytes);
	}
	phase_note(s);

	/* unlink from the live list; freed once no event of this turn can
	 * name it */
	if (s->prev)
		s->prev->next = s->next;
	else
		w->live = s->next;
	if (s->next)
		s->next->prev = s->prev;
	s->prev = s->next = NULL;
	w->nlive--;
	loop_close_later(&w->loop, &s->closing, session_free);
}

static int reason_aborts(enum close_reason r)
{
	return r != CR_CLIENT_FIN && r != CR_SERVER_FIN;
}

void session_close(struct session *s, enum close_reason r)
{
	end(s, r, reason_aborts(r));
}

/* ---- deadlines --------------------------------------------------------- */

/* The relay's timeout now: half-closed once either direction saw its FIN. */
static uint32_t relay_timeout(const struct session *s)
{
	const struct conf *c = s->conf;

	return dl_relay_timeout((s->c2s.flags & HF_EOF) || (s->s2c.flags & HF_EOF),
	    c->idle_timeout_ms, c->half_closed_timeout_ms);
}

/* The policy's answer (deadline.h); in RELAY, the checkpoint halfway reads
 * the acknowledgement counters (acked_progress()). */
static tick_t deadline(const struct session *s)
{
	struct dl_in in = {
		.phase = s->phase, .phase_expire = s->phase_expire, .poll_at = s->poll_at,
		.last_active = s->last_active, .acked_at = s->acked_at,
		.relay_ms = relay_timeout(s), .log_at = s->log_at,
		.life_expire = s->life_expire,
	};

	return dl_next(&in);
}

/*
 * Re-armed lazily: a deadline that moved later leaves the timer where it is
 * (on_deadline() finds it early and re-arms then), so a busy connection costs
 * no heap operation per event; only an earlier deadline moves it now.
 */
void session_update_timer(struct session *s)
{
	tick_t d = deadline(s);

	if (d != TICK_NONE && s->timer.t.idx != TIMER_IDLE && s->timer.t.when <= d)
		return;
	if (loop_timer_set(&s->w->loop, &s->timer, d) == -1)
		session_close(s, CR_RESOURCE);
}

/*
 * A peer still taking bytes the kernel holds for it is slow, not gone: if a
 * socket has bytes outstanding (SIOCOUTQ) and the peer acknowledged more of
 * them since we last looked (tcpi_bytes_acked), that counts as activity.
 * Silence with nothing outstanding is real silence.
 */
static int acked_progress(struct session *s)
{
	struct tcp_info ti;
	int i, progress = 0;
	int fds[2] = { s->c.fd, s->s.fd };

	for (i = 0; i < 2; i++) {
		int outq = 0;

		if (tcp_state(fds[i], &ti) == -1)
			continue;
		if (ti.tcpi_bytes_acked != s->acked[i] &&
		    ioctl(fds[i], SIOCOUTQ, &outq) == 0 && outq > 0)
			progress = 1;
		s->acked[i] = ti.tcpi_bytes_acked;
	}
	return progress;
}

/* ---- relay ------------------------------------------------------------- */

static void note_eof(struct session *s, const struct half *p, char who)
{
	if (!(p->flags & HF_EOF))
		return;
	if (!s->first_close) {
		s->first_close = who;
		s->first_close_at = p->eof_at;
	} else if (s->first_close != who && !s->second_close_at) {
		s->second_close_at = p->eof_at;
	}
}

static void linger_check(struct session *s);

static void relay(struct session *s)
{
	struct worker *w = s->w;
	enum pump_result r;
	enum close_reason why;
	int moved = 0, err = 0, yield = 0;

	r = half_pump(&s->c2s, &w->bufs, &w->kpipes, w->loop.now, &moved, &err);
	if (r == PUMP_YIELD) {
		yield = 1;
	} else if (r != PUMP_OK) {
		session_close(s, r == PUMP_FROM_ERR ? CR_CLIENT_RST :
		    r == PUMP_TO_ERR ? CR_SERVER_RST : CR_RESOURCE);
		return;
	}
	r = half_pump(&s->s2c, &w->bufs, &w->kpipes, w->loop.now, &moved, &err);
	if (r == PUMP_YIELD) {
		yield = 1;
	} else if (r != PUMP_OK) {
		session_close(s, r == PUMP_FROM_ERR ? CR_SERVER_RST :
		    r == PUMP_TO_ERR ? CR_CLIENT_RST : CR_RESOURCE);
		return;
	}
	/* A reset that no read or write noticed (that side's FIN came first,
	 * nothing is queued toward it) is still a reset, passed on at once. */
	if ((why = peer_reset(s)) != CR_NONE) {
		session_close(s, why);
		return;
	}
	if (yield)
		ready_push(s);
	if (!moved)
		return;
	s->last_active = w->loop.now;
	note_eof(s, &s->c2s, 'c');
	note_eof(s, &s->s2c, 's');
	if (half_done(&s->c2s) && half_done(&s->s2c)) {
		s->phase = PH_LINGER;
		s->pending = s->first_close == 's' ? CR_SERVER_FIN : CR_CLIENT_FIN;
		s->phase_expire = tick_add(w->loop.now, s->conf->half_closed_timeout_ms);
		s->linger_step = 0;
		linger_check(s);
		return;
	}
	session_update_timer(s);
}

/* LINGER came after a rejection (only the client socket), not a relay. */
static int linger_rejected(const struct session *s)
{
	return s->pending != CR_CLIENT_FIN && s->pending != CR_SERVER_FIN;
}

/* LINGER ends without the peers' acknowledgement: by a reset or a timeout. */
static void linger_abort(struct session *s, enum close_reason r)
{
	if (linger_rejected(s))
		end(s, s->pending, 1);	/* the rejection stays the reason */
	else
		session_close(s, r);
}

/*
 * Both FINs are forwarded (or, after a rejection, ours and the client's).
 * Close once the peers have acknowledged ours (no socket of ours in
 * FIN_WAIT1, CLOSING or LAST_ACK), so nothing is left behind as an orphan;
 * look again with a growing pause, and reset whatever is still
 * unacknowledged when half-closed-timeout passes without progress. A peer
 * that resets meanwhile has not ended cleanly: that is the reason logged.
 */
static void linger_check(struct session *s)
{
	struct worker *w = s->w;
	struct tcp_info ti;
	int fds[2] = { s->c.fd, s->s.fd };
	int i, st[2], waiting = 0;
	enum close_reason why;

	if ((why = peer_reset(s)) != CR_NONE) {
		linger_abort(s, why);
		return;
	}
	for (i = 0; i < 2; i++) {
		st[i] = tcp_state(fds[i], &ti);
		if (st[i] == TCP_FIN_WAIT1 || st[i] == TCP_CLOSING || st[i] == TCP_LAST_ACK)
			waiting = 1;
		if (s->linger_step == 0)	/* baseline for phase_expire */
			s->acked[i] = ti.tcpi_bytes_acked;
	}
	/* About to call it clean: a socket found CLOSED had our FIN
	 * acknowledged (LAST_ACK done) or was reset since the batch, its
	 * EPOLLERR not yet taken; SO_ERROR tells (one call per clean close). */
	for (i = 0; i < 2 && !waiting; i++)
		if (st[i] == TCP_CLOSE && so_error(fds[i])) {
			linger_abort(s, i ? CR_SERVER_RST : CR_CLIENT_RST);
			return;
		}
	if (!waiting) {
		for (i = 0; i < 2; i++)		/* for the log: just read */
			snprintf(s->tcp_state[i], sizeof(s->tcp_state[i]), "%s",
			    tcp_state_name(st[i]));
		end(s, s->pending, 0);
		return;
	}
	s->poll_at = dl_linger_poll(w->loop.now, &s->linger_step);
	session_update_timer(s);
}

/* REJECT: read and drop what the client still sends, until its FIN; then
 * wait, as LINGER, for it to acknowledge ours. */
static void reject_read(struct session *s)
{
	uint8_t sink[4096];
	size_t got = 0;

	while (s->c.can_read) {
		ssize_t n;

		if (got >= PUMP_BUDGET) {	/* the others' turn */
			ready_push(s);
			return;
		}
		n = recv(s->c.fd, sink, sizeof(sink), MSG_DONTWAIT);
		if (n == -1) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				side_drained(&s->c);
			else if (errno != EINTR) {
				end(s, s->pending, 1);
				return;
			}
		} else if (n == 0) {
			s->phase = PH_LINGER;	/* phase_expire: REJECT's */
			s->linger_step = 0;
			linger_check(s);
			return;
		} else {
			got += (size_t)n;
		}
	}
}

void session_step(struct session *s)
{
	switch (s->phase) {
	case PH_HELLO:
		hello_read(s);
		break;
	case PH_CONNECT:
		connect_check(s);
		break;
	case PH_RELAY:
		relay(s);
		break;
	case PH_LINGER:
		linger_check(s);
		break;
	case PH_REJECT:
		reject_read(s);
		break;
	case PH_CLOSED:
		break;
	}
	phase_note(s);
}

static void on_event(struct session *s, struct side *side, uint32_t e)
{
	if (s->phase == PH_CLOSED)
		return;
	/* EPOLLPRI alone: a socket without SO_OOBINLINE (yet) at its mark
	 * counts the urgent byte as no data, so EPOLLIN may not come */
	if (e & (EPOLLIN | EPOLLPRI | EPOLLRDHUP | EPOLLERR | EPOLLHUP))
		side->can_read = 1;
	if (e & (EPOLLRDHUP | EPOLLERR | EPOLLHUP))
		side->hup = 1;
	if (e & EPOLLERR)
		side->err = 1;
	if (e & EPOLLPRI) {
		side->urg = 1;
		side_inline(side);	/* before a read reaches the mark */
	}
	if (e & (EPOLLOUT | EPOLLERR | EPOLLHUP))
		side->can_write = 1;
	session_step(s);
}

static void on_client(struct ev *ev, uint32_t e)
{
	struct session *s = container_of(ev, struct session, c_ev);

	on_event(s, &s->c, e);
}

static void on_server(struct ev *ev, uint32_t e)
{
	struct session *s = container_of(ev, struct session, s_ev);

	on_event(s, &s->s, e);
}

/* ---- timers ------------------------------------------------------------ */

static void on_deadline(struct loop_timer *lt)
{
	struct session *s = container_of(lt, struct session, timer);
	struct worker *w = s->w;
	tick_t d = deadline(s);

	if (tick_is_expired(s->log_at, w->loop.now) &&
	    (s->phase == PH_RELAY || s->phase == PH_LINGER)) {
		access_line(s, "progress");	/* access-log-interval */
		s->log_at = tick_add(w->loop.now, s->conf->access_log_interval_ms);
		d = deadline(s);
	}
	if (!tick_is_expired(d, w->loop.now)) {	/* moved since armed (lazy) */
		session_update_timer(s);
		return;
	}
	if ((s->phase == PH_HELLO || s->phase == PH_CONNECT || s->phase == PH_RELAY) &&
	    tick_is_expired(s->life_expire, w->loop.now)) {
		session_close(s, CR_MAX_LIFETIME);	/* both sides reset */
		return;
	}
	switch (s->phase) {
	case PH_HELLO:
		session_close(s, CR_HELLO_TIMEOUT);
		break;
	case PH_CONNECT:
		connect_failed(s, CR_CONNECT_TIMEOUT);	/* this attempt's share is up */
		break;
	case PH_RELAY:
		if (relay_timeout(s) == 0) {	/* idle-timeout off: no relay bound */
			session_update_timer(s);
			break;
		}
		if (!tick_is_expired(tick_add(s->last_active, relay_timeout(s)), w->loop.now)) {
			acked_progress(s);	/* the checkpoint: a baseline */
			s->acked_at = w->loop.now;
			session_update_timer(s);
			break;
		}
		if (s->acked_at != TICK_NONE && acked_progress(s)) {
			s->last_active = w->loop.now;
			session_update_timer(s);
			break;
		}
		session_close(s, (s->c2s.flags & HF_EOF) || (s->s2c.flags & HF_EOF) ?
		    CR_HALF_CLOSED_TIMEOUT : CR_IDLE_TIMEOUT);
		break;
	case PH_LINGER:
		if (tick_is_expired(s->phase_expire, w->loop.now)) {
			if (acked_progress(s)) {
				s->phase_expire = tick_add(w->loop.now,
				    s->conf->half_closed_timeout_ms);
			} else {
				linger_abort(s, CR_HALF_CLOSED_TIMEOUT);
				break;
			}
		}
		linger_check(s);
		break;
	case PH_REJECT:
		end(s, s->pending, 1);
		break;
	case PH_CLOSED:
		break;
	}
	phase_note(s);
}

/* ---- the ready list: sessions that gave way with work left ------------- */

/* A byte budget used up: no new edge will announce what is still there, so
 * the session steps again after this turn's timers (a loop task); what gives
 * way again then waits for the next turn. */
static void ready_push(struct session *s)
{
	loop_task_queue(&s->w->loop, &s->ready);
}

static void on_ready(struct loop_task *t)
{
	struct session *s = container_of(t, struct session, ready);

	if (s->phase != PH_CLOSED)
		session_step(s);
}

void session_drain_deadline(struct worker *w)
{
	while (w->live != NULL)
		session_close(w->live, CR_DRAIN_TIMEOUT);
}

/* ---- start ------------------------------------------------------------- */

int session_start(struct worker *w, const struct listener_conf *lc, const char *lname, int fd,
    const struct sockaddr_storage *peer, socklen_t peerlen, const struct limit_hold *hold)
{
	struct session *s = calloc(1, sizeof(*s));

	if (s == NULL) {
		close_fd(fd, 1);
		fds_give(2);
		limits_give(hold);
		return -1;
	}
	s->hold = *hold;
	s->w = w;
	s->conf = conf_ref(w->conf);	/* kept to the end, across reloads */
	s->id = session_next_id();
	s->lc = lc;
	s->lname = lname;
	s->phase = PH_HELLO;
	s->mphase = MP_NONE;
	s->c.fd = fd;
	s->c.oobinline = 1;	/* inherited from the listener */
	s->s.fd = -1;
	s->c_ev.fn = on_client;
	s->s_ev.fn = on_server;
	half_init(&s->c2s, &s->c, &s->s);
	half_init(&s->s2c, &s->s, &s->c);
	memcpy(&s->peer, peer, peerlen);
	s->peerlen = peerlen;
	clock_gettime(CLOCK_REALTIME, &s->start_rt);
	s->start = w->loop.now;
	loop_timer_init(&s->timer, on_deadline);
	loop_task_init(&s->ready, on_ready);
	hello_rd_init(&s->rd, s->conf->hello_max);	/* TCP_NODELAY: from the listener */

	s->next = w->live;
	if (w->live)
		w->live->prev = s;
	w->live = s;
	if (++w->nlive > w->peak)
		w->peak = w->nlive;
	if (!timer_armed(&w->trim.t))	/* memory back after the burst */
		(void)loop_timer_in(&w->loop, &w->trim, WORKER_TRIM_MS);
	phase_note(s);

	if (lc->naccept_proxy > 0 &&
	    !pp_net_match(lc->accept_proxy, lc->naccept_proxy, peer)) {
		session_close(s, CR_PROXY_REFUSED);	/* reset, logged */
		return 0;
	}
	/* allow/deny: here, before a byte is read, unless a PROXY header will
	 * name the client (hello.c checks its source then) */
	if (lc->naccept_proxy == 0 && !acl_allows(&lc->acl, peer)) {
		session_close(s, CR_DENIED);	/* reset, logged */
		return 0;
	}
	s->life_expire = tick_add(s->start, lc->max_lifetime_ms);
	if (loop_add(&w->loop, fd, SIDE_EVENTS, &s->c_ev) == -1) {
		session_close(s, CR_RESOURCE);
		return -1;
	}
	s->phase_expire = tick_add(w->loop.now, s->conf->hello_timeout_ms);
	session_update_timer(s);
	return 0;
}
