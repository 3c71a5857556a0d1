/*
 * The admin socket's serving half (`admin-socket PATH`, docs/admin.md): a
 * unix stream socket, mode 0600, in the first worker's event loop. One
 * request line per connection ("conns" or "kill ID"), one answer, then our
 * FIN and the close once the client's FIN comes, all within 5 s (else a
 * reset); at most 8 at once, more are reset.
 *
 * Only a session's own worker may look at it, so a request is put on a list
 * shared under one mutex, with a bit per worker still to answer, and every
 * worker is woken on its admin eventfd; each adds its rows (or ends the
 * connection a kill names) and clears its bit; the last wakes the first
 * worker, which sends the answer.
 */
#ifndef HP_ADMIN_H
#define HP_ADMIN_H

#include "tick.h"

struct worker;

/** From worker_init(), every worker, admin socket configured: its admin
 *  eventfd in its loop; worker 0 also unlinks a stale PATH, binds it with
 *  mode 0600 and listens (before the sandbox). 0, or -1 after logging. */
int admin_open(struct worker *w);

/** Close what admin_open() opened (safe when it did nothing). */
void admin_close(struct worker *w);

/** Worker 0: the earliest deadline of a request in progress (TICK_NONE). */
tick_t admin_next(const struct worker *w);

/** Worker 0: reset the requests whose deadline passed at w->now. */
void admin_expire(struct worker *w);

#endif
