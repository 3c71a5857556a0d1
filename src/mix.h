/*
 * splitmix64's finaliser: every input bit moves every output bit. For hash
 * tables and rendezvous hashing (limits.c, pool.c) and, stepped by the
 * golden ratio, a small non-cryptographic generator (check.c). Not for
 * anything an attacker must not predict.
 */
#ifndef HP_MIX_H
#define HP_MIX_H

#include <stdint.h>

static inline uint64_t mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return x;
}

/** The next of splitmix64's outputs from state *s. */
static inline uint64_t mix64_next(uint64_t *s)
{
	return mix64(*s += 0x9e3779b97f4a7c15ULL);
}

#endif
