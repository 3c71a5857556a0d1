/*
 * source.c: the source addresses of backend connections (see source.h).
 */
#include <stdio.h>
#include <string.h>

#include "addr.h"
#include "source.h"

int source_parse(const char *list, struct source_set *out, const char **why, char *bad,
    size_t badlen)
{
	struct sockaddr_storage ss;
	const struct sockaddr_in *s4 = (const struct sockaddr_in *)&ss;
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&ss;
	const char *p = list, *end, *a;
	size_t n, i;
	int v6;

	memset(out, 0, sizeof(*out));
	if (strcmp(list, "off") == 0)
		return 0;
	for (;;) {
		end = strchrnul(p, ',');
		a = p;
		n = (size_t)(end - p);
		if ((v6 = n >= 2 && a[0] == '[' && a[n - 1] == ']')) {	/* [IPv6] */
			a++;
			n -= 2;
		}
		snprintf(bad, badlen, "%.*s", (int)(end - p), p);
		if (addr_ip_parse(v6 ? AF_INET6 : AF_UNSPEC, a, n, &ss, NULL) == -1) {
			*why = "bad source address";
			return -1;
		}
		if (out->n4 + out->n6 == SOURCE_MAX) {
			*why = "too many source addresses (at most 16)";
			return -1;
		}
		if (ss.ss_family == AF_INET) {
			for (i = 0; i < out->n4; i++)
				if (out->v4[i].sin_addr.s_addr == s4->sin_addr.s_addr)
					goto twice;
			out->v4[out->n4++] = *s4;
		} else {
			for (i = 0; i < out->n6; i++)
				if (memcmp(&out->v6[i].sin6_addr, &s6->sin6_addr, 16) == 0)
					goto twice;
			out->v6[out->n6++] = *s6;
		}
		if (*end == '\0')
			return 0;
		p = end + 1;
	}
twice:
	*why = "source address given twice";
	return -1;
}

const struct sockaddr *source_next(struct source_set *s, int family, socklen_t *len)
{
	uint32_t k;

	if (family == AF_INET && s->n4 > 0) {
		k = s->n4 == 1 ? 0 : __atomic_fetch_add(&s->cursor4, 1, __ATOMIC_RELAXED) % s->n4;
		*len = sizeof(s->v4[0]);
		return (const struct sockaddr *)&s->v4[k];
	}
	if (family == AF_INET6 && s->n6 > 0) {
		k = s->n6 == 1 ? 0 : __atomic_fetch_add(&s->cursor6, 1, __ATOMIC_RELAXED) % s->n6;
		*len = sizeof(s->v6[0]);
		return (const struct sockaddr *)&s->v6[k];
	}
	return NULL;
}
