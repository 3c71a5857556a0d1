#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "limits.h"
#include "mix.h"

/*
 * A listener block's count lives in a struct of its own, found again by the
 * block's addresses (as written) when a reload brings a new conf: a block
 * that stays keeps counting its live connections, one that moves in the
 * file is still itself, a new one starts at 0. Sessions hold a pointer to
 * theirs, so a count is never freed while the process runs (one small
 * struct per block ever configured).
 */
struct lcount {
	struct lcount	*next;
	unsigned long	 n;
	char		 key[];
};

static int on;				/* 0: no limits (unit tests) */
static uint32_t max_conns, max_per_source;	/* set at start: restart to change */
static unsigned long live;		/* connections counted, process-wide */
static struct lcount *counts;		/* every listener block's, main thread only */
static uint32_t *live_source;		/* LIMITS_SLOTS counters, or NULL */
static uint64_t seed[2];
static unsigned long long refused[LIMIT_COUNT];	/* [LIMIT_OK]: all */

void limits_seed(uint64_t k0, uint64_t k1)
{
	seed[0] = k0;
	seed[1] = k1;
}

void limits_free(void)
{
	struct lcount *lc;

	while ((lc = counts) != NULL) {
		counts = lc->next;
		free(lc);
	}
	free(live_source);
	live_source = NULL;
	on = 0;
}

/* The block's addresses as written, comma-separated: its identity. */
static void block_key(const struct listener_conf *lc, char *out, size_t len)
{
	size_t i, o = 0;

	out[0] = '\0';
	for (i = 0; i < lc->naddr && o < len; i++)
		o += (size_t)snprintf(out + o, len - o, "%s%s", i ? "," : "", lc->addrname[i]);
}

int limits_bind(struct conf *c)
{
	char key[sizeof(c->listeners[0].addrname)];
	struct lcount *lc;
	size_t i;

	for (i = 0; i < c->nlisteners; i++) {
		block_key(&c->listeners[i], key, sizeof(key));
		for (lc = counts; lc != NULL && strcmp(lc->key, key) != 0; lc = lc->next)
			;
		if (lc == NULL) {
			if ((lc = calloc(1, sizeof(*lc) + strlen(key) + 1)) == NULL)
				return -1;
			memcpy(lc->key, key, strlen(key) + 1);
			lc->next = counts;
			counts = lc;
		}
		c->listeners[i].live = &lc->n;
	}
	return 0;
}

int limits_init(struct conf *c)
{
	struct timespec ts;
	uint64_t k[2];

	limits_free();
	live = 0;
	memset(refused, 0, sizeof(refused));
	max_conns = c->max_conns;
	max_per_source = c->max_conns_per_source;
	if (limits_bind(c) == -1) {
		limits_free();
		return -1;
	}
	if (c->max_conns_per_source != 0) {
		if ((live_source = calloc(LIMITS_SLOTS, sizeof(*live_source))) == NULL) {
			limits_free();
			return -1;
		}
		/* Unpredictable slots: a client cannot pick addresses that
		 * share another's. Called before the sandbox is installed. */
		if (getrandom(k, sizeof(k), GRND_NONBLOCK) != (ssize_t)sizeof(k)) {
			clock_gettime(CLOCK_REALTIME, &ts);
			k[0] = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32);
			k[1] = (uint64_t)getpid() * 0x9e3779b97f4a7c15ull;
		}
		limits_seed(k[0], k[1]);
	}
	on = 1;
	return 0;
}

uint32_t limits_slot(const struct sockaddr_storage *peer)
{
	const struct sockaddr_in *in4 = (const struct sockaddr_in *)peer;
	const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)peer;
	uint64_t a, b = 0;

	if (peer->ss_family == AF_INET) {
		a = 4ull << 32 | ntohl(in4->sin_addr.s_addr);
	} else if (peer->ss_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
		memcpy(&b, in6->sin6_addr.s6_addr + 12, 4);	/* same as IPv4 */
		a = 4ull << 32 | ntohl((uint32_t)b);
		b = 0;
	} else if (peer->ss_family == AF_INET6) {
		memcpy(&b, in6->sin6_addr.s6_addr, 8);		/* the /64 */
		a = 6ull << 32;
	} else
		return LIMITS_NO_SLOT;
	return (uint32_t)(mix64(mix64(a ^ seed[0]) ^ b ^ seed[1]) % LIMITS_SLOTS);
}

/* Add one to *n unless that passes max (0: no limit); 1 if counted. */
static int take_ul(unsigned long *n, uint32_t max)
{
	if (__atomic_add_fetch(n, 1, __ATOMIC_RELAXED) <= max || max == 0)
		return 1;
	__atomic_sub_fetch(n, 1, __ATOMIC_RELAXED);
	return 0;
}

static int take_u32(uint32_t *n, uint32_t max)
{
	if (__atomic_add_fetch(n, 1, __ATOMIC_RELAXED) <= max)
		return 1;
	__atomic_sub_fetch(n, 1, __ATOMIC_RELAXED);
	return 0;
}

enum limit_why limits_take(const struct listener_conf *lc, const struct sockaddr_storage *peer,
    struct limit_hold *h)
{
	h->listener = NULL;
	h->slot = LIMITS_NO_SLOT;
	if (!on || lc->live == NULL)
		return LIMIT_OK;
	if (!take_ul(&live, max_conns))
		return LIMIT_GLOBAL;
	if (!take_ul(lc->live, lc->max_conns)) {
		__atomic_sub_fetch(&live, 1, __ATOMIC_RELAXED);
		return LIMIT_LISTENER;
	}
	if (live_source != NULL && (h->slot = limits_slot(peer)) != LIMITS_NO_SLOT &&
	    !take_u32(&live_source[h->slot], max_per_source)) {
		h->slot = LIMITS_NO_SLOT;
		__atomic_sub_fetch(lc->live, 1, __ATOMIC_RELAXED);
		__atomic_sub_fetch(&live, 1, __ATOMIC_RELAXED);
		return LIMIT_SOURCE;
	}
	h->listener = lc->live;
	return LIMIT_OK;
}

void limits_give(const struct limit_hold *h)
{
	if (h->listener == NULL)
		return;
	__atomic_sub_fetch(&live, 1, __ATOMIC_RELAXED);
	__atomic_sub_fetch(h->listener, 1, __ATOMIC_RELAXED);
	if (h->slot != LIMITS_NO_SLOT && live_source != NULL)
		__atomic_sub_fetch(&live_source[h->slot], 1, __ATOMIC_RELAXED);
}

unsigned long limits_live(void)
{
	return __atomic_load_n(&live, __ATOMIC_RELAXED);
}

unsigned long limits_live_listener(const struct listener_conf *lc)
{
	if (!on || lc->live == NULL)
		return 0;
	return __atomic_load_n(lc->live, __ATOMIC_RELAXED);
}

unsigned long limits_live_source(const struct sockaddr_storage *peer)
{
	uint32_t slot = limits_slot(peer);

	if (live_source == NULL || slot == LIMITS_NO_SLOT)
		return 0;
	return __atomic_load_n(&live_source[slot], __ATOMIC_RELAXED);
}

unsigned long long limits_refused(enum limit_why why)
{
	return __atomic_load_n(&refused[why], __ATOMIC_RELAXED);
}

unsigned long long limits_count_refusal(enum limit_why why)
{
	__atomic_add_fetch(&refused[why], 1, __ATOMIC_RELAXED);
	return __atomic_add_fetch(&refused[LIMIT_OK], 1, __ATOMIC_RELAXED);
}

const char *limits_name(enum limit_why why)
{
	switch (why) {
	case LIMIT_GLOBAL:
		return "max-conns";
	case LIMIT_LISTENER:
		return "listener-max-conns";
	case LIMIT_SOURCE:
		return "max-conns-per-source";
	default:
		return "none";
	}
}
