/*
 * A worker's listening sockets: bind, accept in batches, the connection
 * limits (an accepted connection over one is reset at once) and the answers
 * to running out: out of fds, a spare fd closed to accept-and-drop (libuv
 * uv__emfile_trick); no spare either, or no kernel memory, a pause during
 * which the sockets are watched edge-triggered (relayd's accept pause). The
 * set owns that state, its timer and its rate-limited log lines; a reload
 * hands it a new configuration's addresses (listeners_take()).
 */
#ifndef HP_LISTENER_H
#define HP_LISTENER_H

#include <stdint.h>

#include "conf.h"
#include "lognote.h"
#include "loop.h"
#include "tick.h"

struct worker;
struct listeners;

struct listener {
	struct ev			 ev;
	int				 fd;
	const struct listener_conf	*lc;
	struct listeners		*set;
	struct listener			*next;		/* more sockets for this address */
	int				 excl;		/* shared with other workers:
							   EPOLLEXCLUSIVE */
	char				 name[64];	/* bound address, port resolved */
	uint64_t			 shed;		/* dropped for lack of fds */
	uint64_t			 refused;	/* reset over a connection limit */
};

struct listeners {
	struct worker		 *w;
	struct listener		**v;		/* serving, one per address (NULL:
						   moved away), each the head of
						   its address's sockets (->next:
						   inherited, inherit.h) */
	size_t			  n;
	struct listener		**retired;	/* removed by a reload: sessions */
	size_t			  nretired;	/* may still name them; freed at the end */
	int			  spare_fd;	/* kept for the EMFILE answer */
	int			  et;		/* watched edge-triggered (paused) */
	struct loop_timer	  retry;	/* the pause ends: look again */
	tick_t			  rlimit_at;	/* RLIMIT_NOFILE last read */
	struct lognote		  limit_log;	/* over a connection limit */
	struct lognote		  accept_log;	/* no spare fd, other accept errors */
};

/**
 * Bind and listen on every address of c for worker w (SO_REUSEPORT, so every
 * worker binds the same addresses); an address with inherited sockets
 * (inherit_fds(): systemd's, an old halfpipe's) is served from them and
 * not bound. first: bind c's addresses as written
 * and store the addresses got (ports chosen for port 0 resolved) in bound[]
 * (one per address, in c's order); otherwise bind bound[]. Logs "listening
 * on ..." if first. 0, or -1 (logged; listeners_free() cleans up).
 */
int listeners_open(struct listeners *set, struct worker *w, const struct conf *c,
    struct sockaddr_storage *bound, int first);

/**
 * A reload, between two batches: serve c's addresses from now on. src NULL:
 * the same addresses in the same order (only the blocks change). Otherwise
 * src[k] is the index in set->v of the socket kept for c's k-th address
 * (its accept queue stays), or -1 and fd[k] is the socket the main thread
 * bound for it (listener_bind()); both arrays are the caller's. Sockets no
 * address names close ("no longer listening on ..." from worker 0).
 */
void listeners_take(struct listeners *set, const struct conf *c, const int *src, const int *fd);

/** The drain: stop accepting, close every socket. */
void listeners_stop(struct listeners *set);

/** The open listening sockets of set (every address's, not dups): up to
 *  max into out[], how many. The hand-over sends them (admin.c). */
size_t listeners_fds(const struct listeners *set, int *out, size_t max);

/** Close and free everything (safe after a failed listeners_open()). */
void listeners_free(struct listeners *set);

/**
 * The socket of a listener without a worker: bound and listening, or -1
 * with errno set and *what naming the call that failed. A reload binds new
 * addresses so in the main thread, before any worker sees them.
 */
int listener_bind(const struct sockaddr_storage *addr, socklen_t len, const char **what);

/**
 * A socket of type (SOCK_STREAM, SOCK_DGRAM) bound to addr: non-blocking,
 * close-on-exec, SO_REUSEPORT (every worker binds its own), IPv6 ones
 * IPV6_V6ONLY, a stream one SO_REUSEADDR; -1 with errno set and *what
 * naming the call that failed. listener_bind() and the QUIC sockets use it.
 */
int sock_bind(const struct sockaddr_storage *addr, socklen_t len, int type, const char **what);

#endif
