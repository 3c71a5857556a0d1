/*
 * CONNECT, a room of the session (session_int.h): a non-blocking connect to
 * the backend the hello chose. A route's pool is walked once (pool.h): a
 * server that refuses or times out counts a failure and the next one is
 * tried on a new socket, with the same sniffed bytes still waiting in
 * hbuf. Each attempt gets its share of the connect-timeout budget
 * (dl_attempt(), deadline.h), which the first attempt starts. Once
 * connected, s is in RELAY with the sniffed bytes seeding c2s.
 */
#ifndef HP_CONNECT_H
#define HP_CONNECT_H

#include "session.h"

/** Connect to rt's pool: the route is s's from now on, the walk starts
 *  where pool_first() says (for balance=source, from s's client address:
 *  the PROXY header's where one was read). With no server to pick (each
 *  one down by checks, draining or disabled) the session ends with
 *  no-server: the client is reset. */
void connect_route(struct session *s, const struct route *rt);

/** Connect to be outside any pool: the backend of a listener's on-no-sni,
 *  on-no-route, on-not-tls or on-malformed action (a route's servers go
 *  through connect_route()). */
void connect_backend(struct session *s, struct backend *be);

/** CONNECT's step: a reset client ends s; a connect that completed moves
 *  s to RELAY, one that failed goes to connect_failed(). */
void connect_check(struct session *s);

/** The attempt failed (r: CR_CONNECT_REFUSED, _ERROR or _TIMEOUT): in a
 *  pool, the next server while the budget lasts; otherwise s ends with r. */
void connect_failed(struct session *s, enum close_reason r);

/** The rate-limited line of a failed source bind on worker index's loop l
 *  (struct worker's source_log). */
void connect_note_init(struct lognote *ln, struct loop *l, int index);

#endif
