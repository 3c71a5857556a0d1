/*
 * Connection limits, shared by all workers: `max-conns` (the process),
 * `listener-max-conns` (one listener block, over its addresses and every
 * worker) and `max-conns-per-source` (one client address: IPv4 /32, IPv6
 * /64). A connection over any of them is refused at accept: reset at once
 * (SO_LINGER {1, 0}), counted by reason, logged at most once per second per
 * worker.
 *
 * Counting is relaxed atomics, like the fd budget (fds.c): one add per
 * limit that is set at accept, one subtract when the session ends, never on
 * the per-byte path. Sources are counted in a fixed table of LIMITS_SLOTS
 * counters indexed by a keyed hash of the address (seeded at start), so
 * sources that share a slot share a count: a collision only refuses
 * earlier, never admits more.
 */
#ifndef HP_LIMITS_H
#define HP_LIMITS_H

#include <stdint.h>
#include <sys/socket.h>

#include "conf.h"

#define LIMITS_SLOTS	65536u		/* per-source counters (256 KiB) */
#define LIMITS_NO_SLOT	UINT32_MAX

/* Why a connection was refused. */
enum limit_why { LIMIT_OK, LIMIT_GLOBAL, LIMIT_LISTENER, LIMIT_SOURCE, LIMIT_COUNT };

/** What a taken connection holds, to give back with limits_give(). */
struct limit_hold {
	unsigned long	*listener;	/* its block's count; NULL: nothing held */
	uint32_t	 slot;		/* per-source slot; LIMITS_NO_SLOT: none */
};

/** Read the limits of c (max-conns and max-conns-per-source are copied:
 *  they take effect on restart), bind its listener blocks' counts
 *  (limits_bind()) and, if max-conns-per-source is set, allocate the source
 *  table and seed its hash. Call again to start over. 0, or -1 (no
 *  memory). */
int limits_init(struct conf *c);

/** Point each listener block of c (a reload's new conf, before any worker
 *  sees it) at its count: the one of the block with the same addresses in
 *  an earlier conf, so live connections stay counted, or a new one at 0.
 *  Main thread only. 0, or -1 (no memory). */
int limits_bind(struct conf *c);

/** Seed the source hash (tests: a fixed seed). */
void limits_seed(uint64_t k0, uint64_t k1);

/** Free the source table. */
void limits_free(void);

/** Count a new connection on listener lc from peer, if every limit allows:
 *  LIMIT_OK with *h filled, else the first limit it would pass (nothing is
 *  then counted). Before limits_init() every take succeeds. */
enum limit_why limits_take(const struct listener_conf *lc, const struct sockaddr_storage *peer,
    struct limit_hold *h);

/** Give back what limits_take() counted. */
void limits_give(const struct limit_hold *h);

/** The per-source slot of an address (LIMITS_NO_SLOT: not IPv4/IPv6). */
uint32_t limits_slot(const struct sockaddr_storage *peer);

/** Connections counted now: the process, listener block lc, and the slot
 *  of peer (tests, logs). */
unsigned long limits_live(void);
unsigned long limits_live_listener(const struct listener_conf *lc);
unsigned long limits_live_source(const struct sockaddr_storage *peer);

/** Refusals so far, process-wide, for one reason or (LIMIT_OK) all. */
unsigned long long limits_refused(enum limit_why why);
/** Count one refusal; returns the new process-wide total. */
unsigned long long limits_count_refusal(enum limit_why why);

/** The directive a refusal reason stands for ("max-conns", ...). */
const char *limits_name(enum limit_why why);

#endif
