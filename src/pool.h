/*
 * Backend pools: a route's servers and how one is picked. Pure: the caller
 * passes the clock, nothing here does I/O.
 *
 * The state of a server (struct backend: connects in flight, failures in a
 * row, cool-down end) is shared by every worker and every route naming it,
 * kept with relaxed atomics: each field is a hint for the next pick, no
 * two need to agree, so no lock and no ordering is wanted. What a route
 * says about a server (its weight, whether it is a backup) is the pool
 * entry's, not the server's: one server may have another weight elsewhere.
 *
 * A session walks the pool once: pool_first() fixes where it starts (round
 * robin advances a cursor; balance=source takes the client's address),
 * pool_pick() gives the next server it has not tried. Among the untried
 * servers it prefers, in this order: available primaries, available
 * backups, then (better a connect that may fail than a certain refusal)
 * those cooling down, primaries first. Available is pool_avail(): the one
 * place that says whether a server takes new connections, backend_avail()
 * without its last resort (backend.h). A server down by checks, draining
 * or disabled is never picked. So a backup gets a connection only when no
 * primary is available for it: each one is unavailable or was tried by
 * this connection already.
 *
 * Round robin with weights is nginx's smooth weighted round robin,
 * precomputed: pool_build() writes the primaries' order for one cycle (sum
 * of the weights over their gcd, at most POOL_MAX * POOL_WEIGHT_MAX
 * entries), and the shared cursor indexes it, so a pick stays one relaxed
 * atomic add and no lock. Equal weights give the plain order 0, 1, 2, ...
 * balance=source is weighted rendezvous (HRW) hashing: each server scores
 * weight / -log2(hash(client, server)) and the best scoring one in the
 * preferred class wins, so a client stays on its server and when a server
 * becomes unavailable only its clients move (each to its next best); a
 * failed connect goes to the next best too. Every pick is one pass over
 * the servers: O(n), n <= POOL_MAX.
 */
#ifndef HP_POOL_H
#define HP_POOL_H

#include <stdint.h>
#include <sys/socket.h>

#include "tick.h"

#define POOL_MAX	32	/* servers per route: one bit each in a tried mask */
#define POOL_WEIGHT_MAX	256	/* weight=1..POOL_WEIGHT_MAX */

enum balance { BAL_RR, BAL_LEASTCONN, BAL_SOURCE };

struct backend;

struct pool {
	struct backend		**srv;		/* 1..POOL_MAX, not owned (conf's backends) */
	uint32_t		  n;
	enum balance		  balance;
	uint32_t		  cursor;	/* round-robin position in seq, relaxed atomic */
	uint32_t		  backup;	/* bit i: srv[i] is a backup */
	uint16_t		  weight[POOL_MAX];	/* srv[i]'s, 1..POOL_WEIGHT_MAX */
	/* pool_build()'s: */
	uint64_t		  key[POOL_MAX];	/* srv[i]'s name hashed (HRW) */
	uint8_t			 *seq;		/* the primaries' smooth WRR cycle, owned */
	uint32_t		  nseq;
};

/** After srv, n, balance, backup and weight are set: hash the servers'
 *  names and precompute the primaries' round-robin cycle. 0, or -1 out of
 *  memory or with no primary (every server a backup). */
int pool_build(struct pool *p);

/** Free p, its srv array and what pool_build() made (NULL is fine). */
void pool_free(struct pool *p);

/** A client address's hash for balance=source: the IP only (an
 *  IPv4-mapped IPv6 address counts as the IPv4 one), no port. */
uint32_t pool_client_hash(const struct sockaddr_storage *client);

/** Where a session's walk over p starts: round robin and leastconn advance
 *  the cursor (a server index comes back); balance=source gives the
 *  client's hash (client may be NULL: hash 0). */
uint32_t pool_first(struct pool *p, const struct sockaddr_storage *client);

/**
 * The index of the server to try next, or -1 when every one is in tried
 * (bit i: srv[i] was tried); start is what pool_first() gave. Among the
 * untried servers of the preferred class (see above): round robin, the
 * first from start on; leastconn, the fewest connections in flight per
 * unit of weight, ties going to the first from start on; source, the best
 * rendezvous score for the client. -1 also when only servers down by
 * checks, draining or disabled are left.
 */
int pool_pick(const struct pool *p, uint32_t start, uint32_t tried, tick_t now);

/** How many untried servers pool_pick() would choose among: those
 *  available at now, or if none, those backend_avail() admits as a last
 *  resort (cooling down). */
uint32_t pool_left(const struct pool *p, uint32_t tried, tick_t now);

/** Does be take new connections at now: up, not cooling down
 *  (backend_avail(be, now, 0))? The pick's test of a server's state. */
int pool_avail(const struct backend *be, tick_t now);

/** A connect to be is being made: count it in flight. */
void pool_hold(struct backend *be);
/** A connection to be held by pool_hold() is over. */
void pool_drop(struct backend *be);
/** A connect to be failed: one more in a row; at fails_max or more the server
 *  cools down until now + cooldown_ms. */
void pool_failed(struct backend *be, tick_t now, uint32_t fails_max, uint32_t cooldown_ms);
/** A connect to be succeeded: the run of failures is over. */
void pool_connected(struct backend *be);

#endif
