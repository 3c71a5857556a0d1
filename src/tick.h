/* Monotonic millisecond ticks. TICK_NONE (0) means "no deadline"; tick_add()
 * never yields it. All deadline arithmetic lives here (after HAProxy ticks.h). */
#ifndef HP_TICK_H
#define HP_TICK_H

#include <stdint.h>
#include <time.h>

typedef uint64_t tick_t;
#define TICK_NONE ((tick_t)0)

/** Current monotonic time in ms, never TICK_NONE. */
static inline tick_t tick_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (tick_t)ts.tv_sec * 1000 + (tick_t)ts.tv_nsec / 1000000 + 1;
}

/** now + ms; ms == 0 means "no deadline" and gives TICK_NONE. */
static inline tick_t tick_add(tick_t now, uint32_t ms)
{
	tick_t t;

	if (ms == 0)
		return TICK_NONE;
	t = now + ms;
	return t == TICK_NONE ? 1 : t;
}

/** The earlier of two deadlines, ignoring TICK_NONE. */
static inline tick_t tick_first(tick_t a, tick_t b)
{
	if (a == TICK_NONE)
		return b;
	if (b == TICK_NONE)
		return a;
	return a < b ? a : b;
}

/** True if deadline t is set and not later than now. */
static inline int tick_is_expired(tick_t t, tick_t now)
{
	return t != TICK_NONE && t <= now;
}

/** ms from now until t (0 if past); -1 for TICK_NONE (epoll "forever"). */
static inline int tick_remain(tick_t t, tick_t now)
{
	if (t == TICK_NONE)
		return -1;
	if (t <= now)
		return 0;
	return t - now > 0x7fffffff ? 0x7fffffff : (int)(t - now);
}

#endif
