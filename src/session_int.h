/*
 * Internal to the session's rooms: what the phases kept in files of their
 * own (hello.c, connect.c) use of the core in session.c, which keeps the
 * lifecycle, the event dispatch, the relay, LINGER, REJECT's read loop,
 * teardown and the timers. The rest of the program uses session.h only.
 *
 * A room runs inside session_step() (or the session's deadline callback),
 * which notes the phase for the gauges when it returns: a room that changes
 * s->phase sets the new phase's fields, calls session_update_timer(), and
 * session_step() when the new phase may have work already (readiness seen
 * before it began). A room ends a session with session_close().
 */
#ifndef HP_SESSION_INT_H
#define HP_SESSION_INT_H

#include <sys/epoll.h>

#include "session.h"

/* What a session's sockets are registered for, once, edge-triggered. */
#define SIDE_EVENTS (EPOLLIN | EPOLLPRI | EPOLLOUT | EPOLLRDHUP | EPOLLET)

/** The relay starts (CONNECT done): with access-log-interval on, the
 *  event=connect line, and the first progress line planned on s's timer
 *  (which, out of memory, closes s: CR_RESOURCE). */
void session_log_connect(struct session *s);

/** Run s's current phase on what its sockets have reported. */
void session_step(struct session *s);

/** After anything that may have moved s's deadline: arm its timer there
 *  if that is earlier (a later one is re-armed lazily, when the timer
 *  fires). Out of memory closes s (CR_RESOURCE). */
void session_update_timer(struct session *s);

/** After EPOLLERR on sd: did its peer reset? Clears sd->err; SO_ERROR is
 *  asked only if it was set. */
int side_reset(struct side *sd);

/** Close fd (-1: nothing); abortively (RST, no orphan) if abort is set. */
void close_fd(int fd, int abort);

#endif
