/*
 * addrset.c: a name's addresses under a seqlock; the family preference and
 * the re-resolution schedule (see addrset.h).
 */
#include <netinet/in.h>
#include <string.h>

#include "addrset.h"

#define READ_TRIES	64

static void pack(const struct sockaddr_storage *ss, struct addrset_slot *o)
{
	const struct sockaddr_in *v4 = (const struct sockaddr_in *)ss;
	const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)ss;
	uint8_t ip[16] = { 0 };
	uint64_t port, scope = 0;

	if (ss->ss_family == AF_INET) {
		memcpy(ip, &v4->sin_addr, 4);
		port = v4->sin_port;
	} else {
		memcpy(ip, &v6->sin6_addr, 16);
		port = v6->sin6_port;
		scope = v6->sin6_scope_id;
	}
	o->w[0] = (uint64_t)ss->ss_family | port << 16 | scope << 32;
	memcpy(&o->w[1], ip, 8);
	memcpy(&o->w[2], ip + 8, 8);
}

static socklen_t unpack(const uint64_t w[3], struct sockaddr_storage *ss)
{
	struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
	uint8_t ip[16];

	memcpy(ip, &w[1], 8);
	memcpy(ip + 8, &w[2], 8);
	memset(ss, 0, sizeof(*ss));
	if ((w[0] & 0xffff) == AF_INET) {
		v4->sin_family = AF_INET;
		v4->sin_port = (in_port_t)(w[0] >> 16);
		memcpy(&v4->sin_addr, ip, 4);
		return sizeof(*v4);
	}
	v6->sin6_family = AF_INET6;
	v6->sin6_port = (in_port_t)(w[0] >> 16);
	v6->sin6_scope_id = (uint32_t)(w[0] >> 32);
	memcpy(&v6->sin6_addr, ip, 16);
	return sizeof(*v6);
}

void addrset_publish(struct addrset *s, const struct sockaddr_storage *addrs, size_t n)
{
	uint32_t seq = __atomic_load_n(&s->seq, __ATOMIC_RELAXED);
	struct addrset_slot slot;
	size_t i, k, m = 0;

	__atomic_store_n(&s->seq, seq + 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	for (i = 0; i < n && m < ADDRSET_MAX; i++) {
		if (addrs[i].ss_family != AF_INET && addrs[i].ss_family != AF_INET6)
			continue;
		pack(&addrs[i], &slot);
		for (k = 0; k < 3; k++)
			__atomic_store_n(&s->a[m].w[k], slot.w[k], __ATOMIC_RELAXED);
		m++;
	}
	__atomic_store_n(&s->n, (uint32_t)m, __ATOMIC_RELAXED);
	for (i = 0; i < ADDRSET_MAX; i++) {	/* new addresses start afresh */
		__atomic_store_n(&s->fails[i], 0, __ATOMIC_RELAXED);
		__atomic_store_n(&s->down_until[i], 0, __ATOMIC_RELAXED);
	}
	__atomic_store_n(&s->seq, seq + 2, __ATOMIC_RELEASE);
}

/* One consistent read: n, and the words of addresses first..first+count
 * (indexes mod n) into w[]; 0, or -1 if s kept changing. */
static int read_words(const struct addrset *s, uint32_t first, size_t count,
    uint64_t (*w)[3], uint32_t *n)
{
	uint32_t s1, s2, i, k;
	size_t j;
	int tries;

	for (tries = 0; tries < READ_TRIES; tries++) {
		s1 = __atomic_load_n(&s->seq, __ATOMIC_ACQUIRE);
		if (s1 & 1)
			continue;
		*n = __atomic_load_n(&s->n, __ATOMIC_RELAXED);
		if (*n > ADDRSET_MAX)
			*n = ADDRSET_MAX;
		for (j = 0; j < count && *n > 0; j++) {
			i = (uint32_t)((first + j) % *n);
			for (k = 0; k < 3; k++)
				w[j][k] = __atomic_load_n(&s->a[i].w[k], __ATOMIC_RELAXED);
		}
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		s2 = __atomic_load_n(&s->seq, __ATOMIC_RELAXED);
		if (s1 == s2)
			return 0;
	}
	return -1;
}

int addrset_read(const struct addrset *s, uint32_t k, struct sockaddr_storage *out,
    socklen_t *len, uint32_t *n)
{
	uint64_t w[1][3];

	if (read_words(s, k, 1, w, n) == -1 || *n == 0)
		return -1;
	*len = unpack(w[0], out);
	return 0;
}

size_t addrset_copy(const struct addrset *s, struct sockaddr_storage *out, size_t max)
{
	uint64_t w[ADDRSET_MAX][3];
	uint32_t n, i;

	if (read_words(s, 0, ADDRSET_MAX, w, &n) == -1)
		return 0;
	for (i = 0; i < n && i < max; i++)
		(void)unpack(w[i], &out[i]);
	return i;
}

static int cooling(const struct addrset *s, uint32_t i, uint64_t now)
{
	uint64_t until = __atomic_load_n(&s->down_until[i], __ATOMIC_RELAXED);

	return until != 0 && until > now;
}

uint32_t addrset_first(struct addrset *s, uint64_t now)
{
	uint32_t pos = __atomic_fetch_add(&s->cursor, 1, __ATOMIC_RELAXED);
	uint32_t n = __atomic_load_n(&s->n, __ATOMIC_RELAXED), j;

	for (j = 0; j < n; j++)
		if (!cooling(s, (pos + j) % n, now))
			return pos + j;
	return pos;
}

void addrset_failed(struct addrset *s, uint32_t k, uint64_t now, uint32_t fails_max,
    uint32_t cooldown_ms)
{
	uint32_t n = __atomic_load_n(&s->n, __ATOMIC_RELAXED), i;

	if (n == 0)
		return;
	i = k % n;
	if (__atomic_add_fetch(&s->fails[i], 1, __ATOMIC_RELAXED) >= fails_max)
		__atomic_store_n(&s->down_until[i], now + cooldown_ms, __ATOMIC_RELAXED);
}

void addrset_connected(struct addrset *s, uint32_t k)
{
	uint32_t n = __atomic_load_n(&s->n, __ATOMIC_RELAXED), i;

	if (n == 0)
		return;
	i = k % n;
	/* Read first: a healthy address's cache line is not written each time. */
	if (__atomic_load_n(&s->fails[i], __ATOMIC_RELAXED) != 0)
		__atomic_store_n(&s->fails[i], 0, __ATOMIC_RELAXED);
	if (__atomic_load_n(&s->down_until[i], __ATOMIC_RELAXED) != 0)
		__atomic_store_n(&s->down_until[i], 0, __ATOMIC_RELAXED);
}

static int same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	struct addrset_slot x, y;

	if (a->ss_family != b->ss_family)
		return 0;
	pack(a, &x);
	pack(b, &y);
	return memcmp(&x, &y, sizeof(x)) == 0;
}

static int has(const struct sockaddr_storage *v, size_t n, const struct sockaddr_storage *a)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (same_addr(&v[i], a))
			return 1;
	return 0;
}

size_t addrset_prefer(const struct sockaddr_storage *in, size_t n, enum addr_prefer prefer,
    struct sockaddr_storage *out)
{
	int fam[2] = { AF_INET6, AF_INET };
	size_t i, m = 0, pass, npass = 2;

	if (prefer == PREFER_IPV4) {
		fam[0] = AF_INET;
		fam[1] = AF_INET6;
	}
	for (pass = 0; pass < npass; pass++) {
		/* ipv4/ipv6: the second family only when the first gave none */
		if (pass == 1 && prefer != PREFER_ANY && m > 0)
			break;
		for (i = 0; i < n && m < ADDRSET_MAX; i++)
			if (in[i].ss_family == fam[pass] && !has(out, m, &in[i]))
				out[m++] = in[i];
	}
	return m;
}

int addrset_same(const struct sockaddr_storage *a, size_t na, const struct sockaddr_storage *b,
    size_t nb)
{
	size_t i;

	if (na != nb)
		return 0;
	for (i = 0; i < na; i++)
		if (!has(b, nb, &a[i]) || !has(a, na, &b[i]))
			return 0;
	return 1;
}

uint32_t addrset_next_ms(uint32_t interval_ms, long ttl_s)
{
	uint32_t ms = interval_ms;

	if (ttl_s > 0 && (uint64_t)ttl_s * 1000 < ms)
		ms = (uint32_t)ttl_s * 1000;
	return ms < ADDRSET_FLOOR_MS ? ADDRSET_FLOOR_MS : ms;
}

const char *addrset_prefer_name(enum addr_prefer prefer)
{
	return prefer == PREFER_IPV4 ? "ipv4" : prefer == PREFER_IPV6 ? "ipv6" : "any";
}
