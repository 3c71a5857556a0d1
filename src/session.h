/*
 * A session: one client connection, from accept to the access-log line.
 *
 *   HELLO      reading the ClientHello (hello-timeout, one deadline)
 *   CONNECT    non-blocking connect to the routed backend (connect-timeout)
 *   RELAY      two pipes, c2s and s2c; idle-timeout while both are open,
 *              half-closed-timeout once one has seen its FIN
 *   LINGER     both FINs forwarded; waiting for the peers to acknowledge
 *              ours (TCP_INFO), bounded by half-closed-timeout; a reset
 *              meanwhile is logged as one
 *   REJECT     alert sent and FIN forwarded to a rejected client; waiting
 *              for its FIN, bounded by half-closed-timeout (then LINGER,
 *              under the same deadline, for its acknowledgement of ours)
 *
 * HELLO, CONNECT and RELAY also end at max-lifetime (the route's, else the
 * listener's), on the same timer: both sockets reset.
 *
 * Every way out goes through session_close(s, reason): it closes both
 * sockets (abortively where the reason says the stream was cut), writes the
 * access-log line once, and hands the session to the loop's close-later
 * list, freed at the end of the turn (relayd relay_close, Redis
 * freeClientAsync).
 */
#ifndef HP_SESSION_H
#define HP_SESSION_H

#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include <time.h>

#include "admintab.h"
#include "buf.h"
#include "conf.h"
#include "deadline.h"
#include "limits.h"
#include "loop.h"
#include "half.h"
#include "reason.h"
#include "tick.h"
#include "timer.h"
#include "tls_hello.h"
#include "worker.h"

struct session {
	struct session		*next, *prev;	/* worker's live list */
	struct loop_task	 ready;		/* gave way with work left */
	struct loop_closing	 closing;	/* freed after the turn it ended in */
	struct worker		*w;
	struct conf		*conf;		/* a reference: its routes, timeouts */
	uint64_t		 id;
	enum phase		 phase;
	enum mphase		 mphase;	/* as counted in w->stats.phase */
	enum close_reason	 reason;
	const struct listener_conf *lc;
	const char		*lname;		/* the bound address, for the log */
	struct limit_hold	 hold;		/* counted against the limits */

	struct side		 c, s;		/* client and server sockets */
	struct ev		 c_ev, s_ev;
	struct half		 c2s, s2c;

	/* hello */
	struct hello_rd		 rd;
	uint8_t			*hbuf;
	size_t			 hlen, hcap;
	unsigned		 hello_reads;
	size_t			 hello_bytes;	/* raw bytes of the hello's records */
	size_t			 proxy_bytes;	/* a PROXY header read first (accept-proxy) */
	int			 proxy_send;	/* PROXY version to send the backend, 0: none */
	struct sockaddr_storage	 dst;		/* the header's destination (has_dst) */
	int			 has_dst;

	/* deadlines: one heap timer at the earliest (HAProxy stream.c) */
	struct loop_timer	 timer;
	tick_t			 phase_expire;	/* hello / connect deadline */
	tick_t			 life_expire;	/* max-lifetime's end; TICK_NONE: none */
	tick_t			 last_active;	/* last byte either way */
	uint64_t		 acked[2];	/* tcpi_bytes_acked seen (client, server) */
	tick_t			 acked_at;	/* when acked[] was read (RELAY) */
	unsigned		 linger_step;
	tick_t			 poll_at;	/* LINGER: next TCP_INFO look */
	enum close_reason	 pending;	/* REJECT: the reason to log */
	tick_t			 log_at;	/* the next progress line (access-log-interval) */

	/* facts for the access log */
	struct sockaddr_storage	 peer;
	socklen_t		 peerlen;
	struct timespec		 start_rt;
	tick_t			 start, connect_start, connect_done;
	tick_t			 first_close_at, second_close_at;
	char			 first_close;	/* 'c', 's' or 0 */
	struct backend		*be;		/* connected to, or the last one tried */
	struct pool		*pool;		/* the route's servers; NULL: one backend */
	uint32_t		 pool_start;	/* where the walk over it began */
	uint32_t		 tried;		/* bit i: pool->srv[i] was tried */
	unsigned		 attempts;	/* backend connects made */
	int			 held;		/* be counted in flight (pool_hold) */
	uint32_t		 addr_start;	/* be a name: where the walk over its */
	uint32_t		 addr_tries;	/* addresses began, how many were tried, */
	uint32_t		 addr_n;	/* of how many (connect.c) */
	tick_t			 connect_end;	/* the whole connect's deadline */
	const struct route	*rt;		/* the route that chose be, or NULL */
	char			 sni[256];
	char			 alpn[128];
	char			 tcp_state[2][12];	/* at close time */
};


/** Take over an accepted client socket (non-blocking), with the 2 fds taken
 *  from the budget and what limits_take() counted (*hold), both given back
 *  when the session ends. On failure the socket is closed, both are given
 *  back and -1 returned. */
int session_start(struct worker *w, const struct listener_conf *lc, const char *lname, int fd,
    const struct sockaddr_storage *peer, socklen_t peerlen, const struct limit_hold *hold);

/** The next connection id, shared by sessions and QUIC flows (atomic). */
uint64_t session_next_id(void);

/** End a session: see above. Safe to call once per session. */
void session_close(struct session *s, enum close_reason r);

/** Metrics: count this worker's sockets in FIN_WAIT_2 and CLOSE_WAIT
 *  (TCP_INFO) and the age of the oldest, into w->stats. */
void session_census(struct worker *w);

/** The admin table's row for s, a live session of the calling worker. */
void session_row(const struct session *s, tick_t now, struct admin_row *r);

/** The drain's deadline: every live session ends now (drain-timeout). */
void session_drain_deadline(struct worker *w);

#endif
