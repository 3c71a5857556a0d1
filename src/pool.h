/*
 * Backend pools: a route's servers and how one is picked. Pure: the caller
 * passes the clock, nothing here does I/O.
 *
 * The state of a server (struct backend: connects in flight, failures in a
 * row, cool-down end) is shared by every worker and every route naming it,
 * kept with relaxed atomics: each field is a hint for the next pick, no
 * two need to agree, so no lock and no ordering is wanted.
 *
 * A session walks the pool once: pool_first() fixes where it starts (round
 * robin advances a cursor), pool_pick() gives the next server it has not
 * tried. Only servers backend_avail() admits are picked (never one down by
 * checks, draining or disabled: backend.h). Servers cooling down are passed
 * over while any other untried one is left; if every untried server is
 * cooling down, they are tried anyway (better a connect that may fail than
 * a certain refusal).
 */
#ifndef HP_POOL_H
#define HP_POOL_H

#include <stdint.h>

#include "tick.h"

#define POOL_MAX	32	/* servers per route: one bit each in a tried mask */

enum balance { BAL_RR, BAL_LEASTCONN };

struct backend;

struct pool {
	struct backend		**srv;		/* 1..POOL_MAX, not owned (conf's backends) */
	uint32_t		  n;
	enum balance		  balance;
	uint32_t		  cursor;	/* round-robin position, relaxed atomic */
};

/** Where a session's walk over p starts; round robin advances the cursor. */
uint32_t pool_first(struct pool *p);

/**
 * The index of the server to try next, or -1 when every one is in tried
 * (bit i: srv[i] was tried). Round robin: the first untried server from
 * start on; leastconn: the untried one with the fewest connections in
 * flight, ties going to the first from start on. Either way one cooling
 * down at now is passed over unless all untried ones are, and one down,
 * draining or disabled is never chosen: -1 if only such are left.
 */
int pool_pick(const struct pool *p, uint32_t start, uint32_t tried, tick_t now);

/** How many untried servers pool_pick() would choose among: those
 *  backend_avail() at now, or if none, those it admits as a last resort. */
uint32_t pool_left(const struct pool *p, uint32_t tried, tick_t now);

/** A connect to be is being made: count it in flight. */
void pool_hold(struct backend *be);
/** A connection to be held by pool_hold() is over. */
void pool_drop(struct backend *be);
/** A connect to be failed: one more in a row; at fails_max or more the server
 *  cools down until now + cooldown_ms. */
void pool_failed(struct backend *be, tick_t now, uint32_t fails_max, uint32_t cooldown_ms);
/** A connect to be succeeded: the run of failures is over. */
void pool_connected(struct backend *be);
/** Is be cooling down at now? */
int pool_cooling(const struct backend *be, tick_t now);

#endif
