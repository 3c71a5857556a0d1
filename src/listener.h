/* Listening sockets: bind, accept in batches, the connection limits (an
 * accepted connection over one is reset at once) and the EMFILE answer (a
 * spare fd closed to accept-and-drop, libuv uv__emfile_trick), both logged
 * once per interval rather than per attempt. */
#ifndef HP_LISTENER_H
#define HP_LISTENER_H

#include <stdint.h>

#include "conf.h"
#include "loop.h"
#include "tick.h"

struct worker;

struct listener {
	struct ev			 ev;
	int				 fd;
	const struct listener_conf	*lc;
	struct worker			*w;
	char				 name[64];	/* bound address, port resolved */
	uint64_t			 shed;		/* dropped for lack of fds */
	uint64_t			 refused;	/* reset over a connection limit */
};

/**
 * Bind and listen on addr (SO_REUSEPORT, so every worker binds the same
 * address); `written` names it in messages. The address actually bound (the
 * port the kernel chose for port 0) goes to *bound. 0 or -1 (logged).
 */
int listener_open(struct listener *l, struct worker *w, const struct listener_conf *lc,
    const struct sockaddr_storage *addr, socklen_t len, const char *written,
    struct sockaddr_storage *bound);
/**
 * The socket of listener_open() without a worker: bound and listening, or
 * -1 with errno set and *what naming the call that failed. A reload binds
 * new addresses so in the main thread, before any worker sees them.
 */
int listener_bind(const struct sockaddr_storage *addr, socklen_t len, const char **what);
/** Serve fd (from listener_bind()) in worker w; its address goes to *bound
 *  (may be NULL). 0, or -1 (logged, fd closed). */
int listener_adopt(struct listener *l, struct worker *w, const struct listener_conf *lc,
    int fd, struct sockaddr_storage *bound);
/** Stop accepting and close the socket. */
void listener_close(struct listener *l);

/** Called when w->spare_retry passes: take the spare fd back if possible. */
void listener_spare_retry(struct worker *w);

/** A connection dropped for lack of fds (listener `name`): counted for the
 *  whole process, logged at most once per second per worker. */
void listener_note_emfile(struct worker *w, const char *name);

/** Log what the rate limits (fd exhaustion, connection limits) kept quiet,
 *  once their interval is over: call at listener_logs_next(). */
void listener_flush_logs(struct worker *w);
tick_t listener_logs_next(const struct worker *w);

#endif
