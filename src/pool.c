/*
 * pool.c: picking a route's server; the per-server counters (see pool.h).
 */
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "conf.h"
#include "mix.h"
#include "pool.h"

/* FNV-1a over p[0..n), then mixed. */
static uint64_t hash_bytes(const void *p, size_t n)
{
	const unsigned char *b = p;
	uint64_t h = 0xcbf29ce484222325ULL;
	size_t i;

	for (i = 0; i < n; i++) {
		h ^= b[i];
		h *= 0x100000001b3ULL;
	}
	return mix64(h);
}

static uint32_t gcd(uint32_t a, uint32_t b)
{
	uint32_t t;

	while (b != 0) {
		t = a % b;
		a = b;
		b = t;
	}
	return a;
}

/* The smooth weighted round robin cycle of the primaries (nginx's
 * ngx_http_upstream_get_peer: each step every server's current grows by its
 * weight, the largest, first on ties, is picked and loses the total), the
 * weights divided by their gcd first. */
int pool_build(struct pool *p)
{
	int32_t cur[POOL_MAX];
	uint32_t i, k, g = 0, total = 0;
	int best;

	for (i = 0; i < p->n; i++) {
		p->key[i] = hash_bytes(p->srv[i]->name, strlen(p->srv[i]->name));
		if (!(p->backup & (1u << i)))
			g = gcd(p->weight[i], g);
	}
	if (g == 0)
		return -1;	/* no primary */
	for (i = 0; i < p->n; i++)
		if (!(p->backup & (1u << i)))
			total += p->weight[i] / g;
	free(p->seq);
	if ((p->seq = malloc(total)) == NULL)
		return -1;
	p->nseq = total;
	memset(cur, 0, sizeof(cur));
	for (k = 0; k < total; k++) {
		best = -1;
		for (i = 0; i < p->n; i++) {
			if (p->backup & (1u << i))
				continue;
			cur[i] += (int32_t)(p->weight[i] / g);
			if (best == -1 || cur[i] > cur[best])
				best = (int)i;
		}
		cur[best] -= (int32_t)total;
		p->seq[k] = (uint8_t)best;
	}
	return 0;
}

void pool_free(struct pool *p)
{
	if (p == NULL)
		return;
	free(p->srv);
	free(p->seq);
	free(p);
}

uint32_t pool_client_hash(const struct sockaddr_storage *client)
{
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)client;
	const struct sockaddr_in *s4 = (const struct sockaddr_in *)client;
	uint64_t h;

	if (client->ss_family == AF_INET)
		h = hash_bytes(&s4->sin_addr, 4);
	else if (client->ss_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
		h = hash_bytes(&s6->sin6_addr.s6_addr[12], 4);
	else if (client->ss_family == AF_INET6)
		h = hash_bytes(&s6->sin6_addr, 16);
	else
		h = 0;
	return (uint32_t)(h ^ (h >> 32));
}

uint32_t pool_first(struct pool *p, const struct sockaddr_storage *client)
{
	uint32_t pos;

	if (p->balance == BAL_SOURCE)
		return client != NULL ? pool_client_hash(client) : 0;
	if (p->n <= 1)
		return 0;
	pos = __atomic_fetch_add(&p->cursor, 1, __ATOMIC_RELAXED);
	if (p->nseq == 0)	/* not built: the plain order */
		return pos % p->n;
	return p->seq[pos % p->nseq];
}

int pool_avail(const struct backend *be, tick_t now)
{
	return backend_avail(be, now, 0);
}

/* -log2(x / 2^64) in fixed point, 24 bits of fraction: > 0 for every x (0
 * is taken as 1). The binary logarithm by squaring the mantissa, one bit
 * of the fraction per step; no libm. */
static uint64_t neglog2(uint64_t x)
{
	uint64_t m, frac = 0;
	int e, bit;

	if (x == 0)
		x = 1;
	e = 63 - __builtin_clzll(x);
	m = (x << (63 - e)) >> 32;	/* the mantissa in [1, 2), 31 bits of fraction */
	for (bit = 23; bit >= 0; bit--) {
		m = (m * m) >> 31;
		if (m >= (1ULL << 32)) {
			m >>= 1;
			frac |= 1ULL << bit;
		}
	}
	return ((uint64_t)(64 - e) << 24) - frac;
}

/* The class of an untried server, lower preferred: 0 an available primary,
 * 1 an available backup, 2 and 3 the same cooling down (the last resort);
 * 4 never: down by checks, draining or disabled. */
static unsigned rank(const struct pool *p, uint32_t i, tick_t now)
{
	unsigned backup = (p->backup >> i) & 1u;

	if (pool_avail(p->srv[i], now))
		return backup;
	return backend_avail(p->srv[i], now, 1) ? 2u + backup : 4u;
}

int pool_pick(const struct pool *p, uint32_t start, uint32_t tried, tick_t now)
{
	uint64_t client = mix64(start), val, best_val = 0, w, best_w = 1;
	uint32_t k, i;
	unsigned r, best_rank = 4;
	int best = -1, better;

	for (k = 0; k < p->n; k++) {
		/* source: start is the client's hash, the order is the index's */
		i = p->balance == BAL_SOURCE ? k : (start + k) % p->n;
		if (tried & (1u << i))
			continue;
		if ((r = rank(p, i, now)) > best_rank || r == 4)
			continue;
		w = p->weight[i];
		switch (p->balance) {
		case BAL_LEASTCONN:	/* in flight per weight: a/wa < b/wb */
			val = __atomic_load_n(&p->srv[i]->inflight, __ATOMIC_RELAXED);
			better = r < best_rank || val * best_w < best_val * w;
			break;
		case BAL_SOURCE:	/* score w / -log2(u): w/a > wb/b */
			val = neglog2(mix64(p->key[i] ^ client));
			better = r < best_rank || w * best_val > best_w * val;
			break;
		default:		/* round robin: the first of the class */
			val = 0;
			better = r < best_rank;
			break;
		}
		if (better) {
			best = (int)i;
			best_rank = r;
			best_val = val;
			best_w = w;
		}
	}
	return best;
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
