/*
 * Deadline store: a binary min-heap on (deadline, seq) (libuv timer.c). Pure:
 * the caller passes the clock, so tests use a fake one. The loop keeps one
 * heap; each of its timers (struct loop_timer, loop.h: a session's earliest
 * deadline, a control connection's, the drain...) embeds one struct timer.
 * Arming, moving and cancelling cost O(log n), finding the next deadline
 * O(1). Nothing ever scans.
 */
#ifndef HP_TIMER_H
#define HP_TIMER_H

#include <stddef.h>
#include <stdint.h>

#include "tick.h"

#define TIMER_IDLE ((size_t)-1)

struct timer {
	tick_t		when;
	uint64_t	seq;	/* ties broken by arming order */
	size_t		idx;	/* position in the heap, TIMER_IDLE if not armed */
};

struct timer_heap {
	struct timer	**v;
	size_t		  n, cap;
	uint64_t	  seq;
};

/** An unarmed timer. */
static inline void timer_init(struct timer *t)
{
	t->when = TICK_NONE;
	t->idx = TIMER_IDLE;
}

static inline int timer_armed(const struct timer *t)
{
	return t->idx != TIMER_IDLE;
}

/** Arm or move t to deadline when (TICK_NONE cancels). 0, or -1 if out of
 *  memory (t is then left unarmed). */
int timer_set(struct timer_heap *h, struct timer *t, tick_t when);
void timer_cancel(struct timer_heap *h, struct timer *t);
/** The earliest deadline, TICK_NONE if none. */
tick_t timer_next(const struct timer_heap *h);
/** Unarm and return the earliest timer if it is due at now, else NULL. */
struct timer *timer_pop_expired(struct timer_heap *h, tick_t now);
void timer_heap_free(struct timer_heap *h);

#endif
