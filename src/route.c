/*
 * route.c: SNI -> route. Two sorted arrays of route pointers: exact names,
 * and wildcards keyed by their suffix ("*.example.org" -> "example.org").
 * A lookup normalises the SNI into a stack buffer, binary-searches the exact
 * names, then each label suffix of the SNI, longest first. Routes with the
 * same name stay in file order, so among ALPN routes the first one written
 * whose protocol the client offers wins. No allocation per lookup.
 */
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "route.h"

#define ROUTE_NAME_MAX	253

struct route_table {
	const struct route	**exact;	/* sorted by name, then file order */
	size_t			  nexact;
	const struct route	**wild;		/* sorted by suffix, then file order */
	size_t			  nwild;
	const struct route	 *slot[];	/* storage for both */
};

static int is_wild(const struct route *r)
{
	return r->name[0] == '*' && r->name[1] == '.';
}

/* The name a route is looked up by: the suffix for a wildcard. */
static const char *route_key(const struct route *r)
{
	return is_wild(r) ? r->name + 2 : r->name;
}

static int route_cmp(const void *a, const void *b)
{
	const struct route *ra = *(const struct route *const *)a;
	const struct route *rb = *(const struct route *const *)b;
	int c;

	if ((c = strcmp(route_key(ra), route_key(rb))) != 0)
		return c;
	return ra < rb ? -1 : ra > rb;	/* same array: file order */
}

struct route_table *route_table_new(struct route *routes, size_t n)
{
	struct route_table *t;
	size_t i, e = 0, w = 0;

	for (i = 0; i < n; i++)
		if (is_wild(&routes[i]))
			w++;
	t = calloc(1, sizeof(*t) + (n ? n : 1) * sizeof(t->slot[0]));
	if (t == NULL)
		return NULL;
	t->exact = t->slot;
	t->nexact = n - w;
	t->wild = t->slot + t->nexact;
	t->nwild = w;
	w = 0;
	for (i = 0; i < n; i++) {
		if (is_wild(&routes[i]))
			t->wild[w++] = &routes[i];
		else
			t->exact[e++] = &routes[i];
	}
	qsort(t->exact, t->nexact, sizeof(t->exact[0]), route_cmp);
	qsort(t->wild, t->nwild, sizeof(t->wild[0]), route_cmp);
	return t;
}

void route_table_free(struct route_table *t)
{
	free(t);
}

/* Compare NUL-terminated key with name[0..len). */
static int key_cmp(const char *key, const char *name, size_t len)
{
	size_t kl = strlen(key);
	int c;

	if ((c = memcmp(key, name, kl < len ? kl : len)) != 0)
		return c;
	return (kl > len) - (kl < len);
}

/* Does the protocol_name_list alpn[0..len) hold proto? Stops at a bad entry. */
static int alpn_offered(const uint8_t *alpn, size_t len, const char *proto)
{
	size_t i = 0, n, plen = strlen(proto);

	while (i < len) {
		n = alpn[i];
		if (n == 0 || n > len - i - 1)
			return 0;
		if (n == plen && memcmp(alpn + i + 1, proto, n) == 0)
			return 1;
		i += 1 + n;
	}
	return 0;
}

/* Among v[0..n) keyed by name[0..len): the first route whose ALPN the client
 * offers, else the one without an ALPN condition, else NULL. */
static const struct route *find(const struct route *const *v, size_t n, const char *name,
    size_t len, const uint8_t *alpn, size_t alpn_len)
{
	const struct route *any = NULL;
	size_t lo = 0, hi = n, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (key_cmp(route_key(v[mid]), name, len) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < n && key_cmp(route_key(v[lo]), name, len) == 0; lo++) {
		if (v[lo]->alpn == NULL) {
			if (any == NULL)
				any = v[lo];
		} else if (alpn_offered(alpn, alpn_len, v[lo]->alpn))
			return v[lo];
	}
	return any;
}

const struct route *route_lookup(const struct route_table *t, const uint8_t *sni,
    size_t sni_len, const uint8_t *alpn, size_t alpn_len)
{
	char name[ROUTE_NAME_MAX];
	const struct route *r;
	size_t i, last = 0;
	int ch, alldigits = 1;

	if (t == NULL)
		return NULL;
	if (sni_len > 0 && sni[sni_len - 1] == '.')
		sni_len--;
	if (sni_len == 0 || sni_len > sizeof(name))
		return NULL;
	/* Lower case; letters, digits, '-', '_', '.' only; no empty label. */
	for (i = 0; i < sni_len; i++) {
		ch = sni[i];
		if (ch >= 'A' && ch <= 'Z')
			ch += 'a' - 'A';
		if (ch == '.') {
			if (i == 0 || name[i - 1] == '.')
				return NULL;
			last = i + 1;
		} else if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
		    ch == '-' || ch == '_'))
			return NULL;
		name[i] = (char)ch;
	}
	if (name[sni_len - 1] == '.')
		return NULL;
	/* An all-digit last label: an IP literal, which SNI must not carry. */
	for (i = last; i < sni_len; i++)
		if (name[i] < '0' || name[i] > '9')
			alldigits = 0;
	if (alldigits)
		return NULL;
	if ((r = find(t->exact, t->nexact, name, sni_len, alpn, alpn_len)) != NULL)
		return r;
	for (i = 0; i < sni_len; i++) {
		if (name[i] != '.')
			continue;
		r = find(t->wild, t->nwild, name + i + 1, sni_len - i - 1, alpn, alpn_len);
		if (r != NULL)
			return r;
	}
	return NULL;
}
