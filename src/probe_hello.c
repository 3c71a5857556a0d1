/*
 * probe_hello.c: the TLS probe's ClientHello (see probe_hello.h).
 */
#include <string.h>

#include "probe_hello.h"

/* A cursor writing towards end; a write past it only sets the overflow. */
struct wr {
	uint8_t	*p, *end;
	int	 over;
};

static void put(struct wr *w, const void *src, size_t n)
{
	if (w->over || (size_t)(w->end - w->p) < n) {
		w->over = 1;
		return;
	}
	memcpy(w->p, src, n);
	w->p += n;
}

static void put8(struct wr *w, unsigned v)
{
	uint8_t b = (uint8_t)v;

	put(w, &b, 1);
}

static void put16(struct wr *w, unsigned v)
{
	uint8_t b[2] = { (uint8_t)(v >> 8), (uint8_t)v };

	put(w, b, 2);
}

/* Open a length field of n bytes (1..3): where it is, to be closed later. */
static uint8_t *open_len(struct wr *w, size_t n)
{
	uint8_t *at = w->p;
	static const uint8_t zero[3];

	put(w, zero, n);
	return at;
}

/* Fill in the length field of n bytes at at: the bytes written since. */
static void close_len(struct wr *w, uint8_t *at, size_t n)
{
	size_t len, i;

	if (w->over)
		return;
	len = (size_t)(w->p - at) - n;
	for (i = 0; i < n; i++)
		at[i] = (uint8_t)(len >> (8 * (n - 1 - i)));
}

static const uint16_t suites[] = {
	0x1301, 0x1302, 0x1303,		/* TLS 1.3 */
	0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8,	/* TLS 1.2 ECDHE */
};
static const uint16_t groups[] = { 0x001d, 0x0017, 0x0018 };	/* x25519, P-256, P-384 */
static const uint16_t sigalgs[] = {
	0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601, 0x0807,
};

size_t probe_hello(uint8_t *out, size_t cap, const char *sni, const uint8_t *rnd)
{
	struct wr w = { out, out + cap, 0 };
	uint8_t *rec, *hs, *exts, *e, *l;
	size_t i, n = strlen(sni);

	if (n == 0 || n > 253)
		return 0;
	put8(&w, 22);			/* handshake */
	put16(&w, 0x0301);
	rec = open_len(&w, 2);
	put8(&w, 1);			/* client_hello */
	hs = open_len(&w, 3);
	put16(&w, 0x0303);
	put(&w, rnd, 32);		/* random */
	put8(&w, 32);			/* legacy_session_id */
	put(&w, rnd + 32, 32);
	put16(&w, sizeof(suites));
	for (i = 0; i < sizeof(suites) / sizeof(suites[0]); i++)
		put16(&w, suites[i]);
	put8(&w, 1);			/* compression: null */
	put8(&w, 0);
	exts = open_len(&w, 2);

	put16(&w, 0x0000);		/* server_name */
	e = open_len(&w, 2);
	l = open_len(&w, 2);
	put8(&w, 0);			/* host_name */
	put16(&w, (unsigned)n);
	put(&w, sni, n);
	close_len(&w, l, 2);
	close_len(&w, e, 2);

	put16(&w, 0x000a);		/* supported_groups */
	put16(&w, 2 + sizeof(groups));
	put16(&w, sizeof(groups));
	for (i = 0; i < sizeof(groups) / sizeof(groups[0]); i++)
		put16(&w, groups[i]);

	put16(&w, 0x000b);		/* ec_point_formats: uncompressed */
	put16(&w, 2);
	put8(&w, 1);
	put8(&w, 0);

	put16(&w, 0x000d);		/* signature_algorithms */
	put16(&w, 2 + sizeof(sigalgs));
	put16(&w, sizeof(sigalgs));
	for (i = 0; i < sizeof(sigalgs) / sizeof(sigalgs[0]); i++)
		put16(&w, sigalgs[i]);

	put16(&w, 0x002b);		/* supported_versions: 1.3, 1.2 */
	put16(&w, 5);
	put8(&w, 4);
	put16(&w, 0x0304);
	put16(&w, 0x0303);

	put16(&w, 0x0033);		/* key_share: x25519 */
	put16(&w, 2 + 4 + 32);
	put16(&w, 4 + 32);
	put16(&w, 0x001d);
	put16(&w, 32);
	put(&w, rnd + 64, 32);

	close_len(&w, exts, 2);
	close_len(&w, hs, 3);
	close_len(&w, rec, 2);
	return w.over ? 0 : (size_t)(w.p - out);
}
