/*
 * libFuzzer target for the ClientHello reader. The input is the raw byte
 * stream a client sends. Checks, aborting on any failure:
 *  - hello_classify() on the whole input;
 *  - the same bytes fed in two pieces, the second call on a copy whose first
 *    piece is poisoned (the reader must not look at a byte twice), give the
 *    same verdict, SNI and ALPN;
 *  - fed one byte at a time, likewise, and the verdict never changes once
 *    final;
 *  - the prefix before the split is incomplete or already the final verdict;
 *    a found / no-sni verdict is not given one byte before the hello ends;
 *  - SNI and ALPN point inside the input or the scratch buffer, and the ALPN
 *    list walks to its end.
 * The split point comes from the first and last bytes: the first alone is
 * nearly always 0x16 in an interesting input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tls_hello.h"

#define SCRATCH_CAP (4 + HELLO_MAX_DEFAULT)

static uint8_t scratch1[SCRATCH_CAP], scratch2[SCRATCH_CAP];

static void check(int cond)
{
	if (!cond)
		abort();
}

static int inside(const uint8_t *p, size_t len, const uint8_t *lo, size_t n)
{
	return p >= lo && len <= n && p <= lo + n - len;
}

static void check_info(enum hello_verdict v, const struct hello_info *h,
    const uint8_t *raw, size_t n, const uint8_t *scratch)
{
	const uint8_t *name;
	size_t pos = 0, len;

	if (v != HELLO_FOUND && v != HELLO_NO_SNI) {
		check(h->sni == NULL && h->alpn == NULL);
		check((h->reason != NULL) == (v == HELLO_MALFORMED || v == HELLO_NOT_TLS));
		return;
	}
	check(h->reason == NULL);
	check((v == HELLO_FOUND) == (h->sni != NULL));
	if (h->sni != NULL) {
		check(inside(h->sni, h->sni_len, raw, n) || inside(h->sni, h->sni_len, scratch, SCRATCH_CAP));
		check(h->sni_len >= 1 && h->sni_len <= 255);
	}
	if (h->alpn != NULL) {
		check(inside(h->alpn, h->alpn_len, raw, n) ||
		    inside(h->alpn, h->alpn_len, scratch, SCRATCH_CAP));
		while (hello_alpn_next(h, &pos, &name, &len))
			check(len > 0 && inside(name, len, h->alpn, h->alpn_len));
		check(pos == h->alpn_len);
	}
}

static int same(enum hello_verdict v1, const struct hello_info *a,
    enum hello_verdict v2, const struct hello_info *b)
{
	if (v1 != v2 || a->sni_len != b->sni_len || a->alpn_len != b->alpn_len || a->ech != b->ech)
		return 0;
	if ((a->sni == NULL) != (b->sni == NULL) || (a->alpn == NULL) != (b->alpn == NULL))
		return 0;
	if (a->sni != NULL && memcmp(a->sni, b->sni, a->sni_len) != 0)
		return 0;
	if (a->alpn != NULL && memcmp(a->alpn, b->alpn, a->alpn_len) != 0)
		return 0;
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hello_info whole, h;
	struct hello_rd rd;
	enum hello_verdict wv, v, pv;
	uint8_t *copy;
	size_t k, i;

	wv = hello_classify(data, size, 0, scratch1, sizeof(scratch1), &whole);
	check(wv != HELLO_COMPLETE);
	check_info(wv, &whole, data, size, scratch1);

	k = size == 0 ? 0 : ((size_t)data[0] * 257 + data[size - 1]) % (size + 1);

	/* Two pieces; the second call sees poison where the first piece was. */
	if ((copy = malloc(size ? size : 1)) == NULL)
		return 0;
	memcpy(copy, data, size);
	memset(copy, 0xee, k);
	hello_rd_init(&rd, 0);
	pv = hello_rd_feed(&rd, data, k);
	v = hello_rd_feed(&rd, copy, size);
	check(pv == HELLO_NEED_MORE || v == pv);
	v = hello_rd_parse(&rd, data, scratch2, sizeof(scratch2), &h);
	check_info(v, &h, data, size, scratch2);
	check(same(wv, &whole, v, &h));

	/*
	 * The prefix alone: incomplete or already final; for a complete hello,
	 * incomplete until its last record ends (also one byte before that),
	 * then the same answer.
	 */
	v = hello_classify(data, k, 0, scratch2, sizeof(scratch2), &h);
	if (wv == HELLO_FOUND || wv == HELLO_NO_SNI) {
		check(rd.end >= 6 && rd.end <= size);
		check(k < rd.end ? v == HELLO_NEED_MORE : same(wv, &whole, v, &h));
		v = hello_classify(data, rd.end - 1, 0, scratch2, sizeof(scratch2), &h);
		check(v == HELLO_NEED_MORE);
	} else {
		check(v == HELLO_NEED_MORE || v == wv);
	}

	/* One byte at a time, each call seeing only the newest byte real. */
	memset(copy, 0xee, size);
	hello_rd_init(&rd, 0);
	pv = hello_rd_feed(&rd, copy, 0);
	for (i = 0; i < size; i++) {
		copy[i] = data[i];
		v = hello_rd_feed(&rd, copy, i + 1);
		copy[i] = 0xee;
		check(pv == HELLO_NEED_MORE || v == pv);
		pv = v;
	}
	v = hello_rd_parse(&rd, data, scratch2, sizeof(scratch2), &h);
	check(same(wv, &whole, v, &h));

	free(copy);
	copy = NULL;
	return 0;
}
