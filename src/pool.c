/*
 * pool.c: picking a route's server; the per-server counters (see pool.h).
 */
#include "conf.h"
#include "pool.h"

uint32_t pool_first(struct pool *p)
{
	if (p->n <= 1)
		return 0;
	return __atomic_fetch_add(&p->cursor, 1, __ATOMIC_RELAXED) % p->n;
}

int pool_cooling(const struct backend *be, tick_t now)
{
	tick_t until = __atomic_load_n(&be->down_until, __ATOMIC_RELAXED);

	return until != TICK_NONE && !tick_is_expired(until, now);
}

/* The pick among untried servers that backend_avail(); cooling ones only if
 * allow_cooling. */
static int pick(const struct pool *p, uint32_t start, uint32_t tried, tick_t now,
    int allow_cooling)
{
	uint32_t k, i, load, best_load = 0;
	int best = -1;

	for (k = 0; k < p->n; k++) {
		i = (start + k) % p->n;
		if (tried & (1u << i))
			continue;
		if (!backend_avail(p->srv[i], now, allow_cooling))
			continue;
		if (p->balance == BAL_RR)
			return (int)i;
		load = __atomic_load_n(&p->srv[i]->inflight, __ATOMIC_RELAXED);
		if (best == -1 || load < best_load) {
			best = (int)i;
			best_load = load;
		}
	}
	return best;
}

int pool_pick(const struct pool *p, uint32_t start, uint32_t tried, tick_t now)
{
	int i;

	if ((i = pick(p, start, tried, now, 0)) != -1)
		return i;
	return pick(p, start, tried, now, 1);
}

uint32_t pool_left(const struct pool *p, uint32_t tried, tick_t now)
{
	uint32_t i, untried = 0, ready = 0;

	for (i = 0; i < p->n; i++) {
		if (tried & (1u << i))
			continue;
		untried += backend_avail(p->srv[i], now, 1);
		ready += backend_avail(p->srv[i], now, 0);
	}
	return ready > 0 ? ready : untried;
}

void pool_hold(struct backend *be)
{
	__atomic_add_fetch(&be->inflight, 1, __ATOMIC_RELAXED);
}

void pool_drop(struct backend *be)
{
	__atomic_sub_fetch(&be->inflight, 1, __ATOMIC_RELAXED);
}

void pool_failed(struct backend *be, tick_t now, uint32_t fails_max, uint32_t cooldown_ms)
{
	uint32_t n = __atomic_add_fetch(&be->fails, 1, __ATOMIC_RELAXED);

	if (n >= fails_max)
		__atomic_store_n(&be->down_until, tick_add(now, cooldown_ms), __ATOMIC_RELAXED);
}

void pool_connected(struct backend *be)
{
	/* Read first: a healthy server's cache line is not written each time. */
	if (__atomic_load_n(&be->fails, __ATOMIC_RELAXED) != 0)
		__atomic_store_n(&be->fails, 0, __ATOMIC_RELAXED);
	if (__atomic_load_n(&be->down_until, __ATOMIC_RELAXED) != TICK_NONE)
		__atomic_store_n(&be->down_until, TICK_NONE, __ATOMIC_RELAXED);
}
