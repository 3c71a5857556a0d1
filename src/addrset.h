/*
 * The addresses of a backend given by name (pure): a small set written by
 * one thread (worker 0's resolver, resolve.c) and read by every worker's
 * connect path at once, with no lock and nothing to free.
 *
 * The set lives inside the backend (struct backend.dns) for as long as its
 * configuration does, and is rewritten in place under a sequence counter (a
 * seqlock): the writer makes the counter odd, stores the words, makes it
 * even again; a reader copies the one address it wants with relaxed atomic
 * loads and keeps the copy only if the counter was even and unchanged
 * around it. A reader never holds a pointer into the set past the call, so
 * no old array waits for a grace period; a reader that loses the race to a
 * writer (one write per resolution at most) simply reads again.
 *
 * Also here, as pure helpers of the resolver: the family preference
 * (addrset_prefer()), the comparison that tells a real change from the same
 * addresses in another order (addrset_same()), and when to ask DNS again
 * (addrset_next_ms()).
 */
#ifndef HP_ADDRSET_H
#define HP_ADDRSET_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define ADDRSET_MAX	16	/* addresses kept per name; more are dropped */
#define ADDRSET_FLOOR_MS 1000	/* never ask DNS again sooner than this */

/* resolve-prefer: which families of a name's addresses are used. */
enum addr_prefer {
	PREFER_ANY,	/* every A and AAAA address, the IPv6 ones first */
	PREFER_IPV4,	/* the A addresses; the AAAA ones only if there is no A */
	PREFER_IPV6,	/* the AAAA addresses; the A ones only if there is no AAAA */
};

/* One address as three words: family, port and IPv6 scope id; 16 bytes of IP. */
struct addrset_slot {
	uint64_t		 w[3];
};

struct addrset {
	uint32_t		 seq;		/* even: stable; odd: being written */
	uint32_t		 n;		/* addresses in a[] */
	uint32_t		 cursor;	/* round robin over them, relaxed atomic */
	struct addrset_slot	 a[ADDRSET_MAX];
	/* Per address, hints kept with relaxed atomics (addrset_failed()):
	 * connects failed in a row, and the tick it cools down until. */
	uint32_t		 fails[ADDRSET_MAX];
	uint64_t		 down_until[ADDRSET_MAX];
};

/** Replace the addresses of s with addrs[0..n) (at most ADDRSET_MAX are
 *  kept; AF_INET and AF_INET6 only). One writer at a time; readers may run
 *  meanwhile. */
void addrset_publish(struct addrset *s, const struct sockaddr_storage *addrs, size_t n);

/** Address k % n of s into *out and *len, n (the count at that moment)
 *  into *n: 0, or -1 if s is empty (or kept changing under 64 reads in a
 *  row). Any thread. */
int addrset_read(const struct addrset *s, uint32_t k, struct sockaddr_storage *out,
    socklen_t *len, uint32_t *n);

/** Every address of s into out[0..max): the count copied. Any thread. */
size_t addrset_copy(const struct addrset *s, struct sockaddr_storage *out, size_t max);

/** Where a connection's walk over the addresses of s starts: the round-robin
 *  cursor, advanced, then moved on past addresses cooling down at now
 *  (addrset_failed()) unless every one is. Any thread. */
uint32_t addrset_first(struct addrset *s, uint64_t now);

/** A connect to address k % n of s failed at now: one more in a row; at
 *  fails_max or more it cools down until now + cooldown_ms, and walks start
 *  past it. Any thread. */
void addrset_failed(struct addrset *s, uint32_t k, uint64_t now, uint32_t fails_max,
    uint32_t cooldown_ms);

/** A connect to address k % n of s succeeded: its run of failures is over. */
void addrset_connected(struct addrset *s, uint32_t k);

/** in[0..n) filtered and ordered by prefer (see enum addr_prefer; the order
 *  within a family kept), duplicates dropped, into out[0..ADDRSET_MAX): the
 *  count. out and in do not overlap. */
size_t addrset_prefer(const struct sockaddr_storage *in, size_t n, enum addr_prefer prefer,
    struct sockaddr_storage *out);

/** Whether a[0..na) and b[0..nb) hold the same addresses, in any order. */
int addrset_same(const struct sockaddr_storage *a, size_t na, const struct sockaddr_storage *b,
    size_t nb);

/** When to resolve again, ms from now: the interval, or the record's TTL
 *  (seconds; 0 or less: none known) if shorter, never under
 *  ADDRSET_FLOOR_MS. */
uint32_t addrset_next_ms(uint32_t interval_ms, long ttl_s);

/** The text of prefer: "any", "ipv4", "ipv6". */
const char *addrset_prefer_name(enum addr_prefer prefer);

#endif
