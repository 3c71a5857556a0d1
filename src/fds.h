/*
 * The process's file-descriptor budget, shared by all workers.
 *
 * RLIMIT_NOFILE is a hard wall: past it accept(), socket() and pipe2() fail,
 * and a worker that races another for the last free slot can be left unable
 * even to refuse connections. So sessions and splice pipes take their fds
 * from a budget first: `limit - FDS_RESERVE`, where the reserve keeps room
 * for the accept that refuses a connection over budget, the spare fds and
 * the odd log reopen. Counting is one relaxed atomic add per take or give,
 * never on the per-byte path.
 */
#ifndef HP_FDS_H
#define HP_FDS_H

#include "lognote.h"

#define FDS_RESERVE 16

/** Count the fds open now (listeners, epoll, spares, logs) as used and read
 *  the limit. Before this is called every take succeeds (unit tests). */
void fds_init(void);

/** Re-read RLIMIT_NOFILE (it can be changed from outside with prlimit). */
void fds_refresh(void);

/** Take n fds from the budget: 1, or 0 if that would pass it. */
int fds_take(int n);

/** Give n fds back. */
void fds_give(int n);

/** A connection dropped, or a backend socket not made, for lack of fds at
 *  `where` (a listener's name): counted for the whole process and said
 *  through ln, the calling worker's note made with fds_note_init(). */
void fds_shed(struct lognote *ln, const char *where);
/** Sheds so far, process-wide. */
unsigned long long fds_shed_total(void);
/** Make ln the note of worker `index`'s sheds (once a second). */
void fds_note_init(struct lognote *ln, struct loop *l, int index);

#endif
