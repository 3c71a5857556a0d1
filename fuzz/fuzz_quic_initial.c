/*
 * libFuzzer target for the QUIC Initial reader. The first input byte picks
 * what the rest is:
 *  - even: datagrams, each behind a 2-byte big-endian length (a short last
 *    one takes what is left), fed in order to one reader: the header walk,
 *    the version and size rules, trial decryption;
 *  - odd: Initial payloads (frames), each behind a 2-byte length, which the
 *    test builder (tests/unit/quic_build.h) encrypts into 1200-byte client
 *    Initials under one DCID: the frame walk and CRYPTO reassembly behind
 *    the AEAD, which random bytes never pass.
 * Checks, aborting on any failure: a final verdict never changes; NEED_MORE
 * has no reason, MALFORMED / NOT_INITIAL / VERSION have one; FOUND and
 * NO_SNI point SNI and ALPN into q.crypto[0..need) with contig >= need;
 * contig, need and initials stay in their bounds.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "quic_initial.h"
#include "../tests/unit/quic_build.h"

static struct quic_hello q;
static uint8_t pkt[20000];
static int ready;

static void check(int cond)
{
	if (!cond)
		abort();
}

static int inside(const uint8_t *p, size_t len)
{
	return p >= q.crypto && len <= q.need && p <= q.crypto + q.need - len;
}

static void check_state(enum quic_verdict v, const struct hello_info *h)
{
	check(q.verdict == v && q.contig <= QUIC_HELLO_MAX && q.need <= 4 + q.max_hello);
	check(q.initials <= QUIC_INITIALS_MAX + 1);
	if (v == QUIC_NEED_MORE) {
		check(q.reason == NULL);
		return;
	}
	if (v != QUIC_FOUND && v != QUIC_NO_SNI) {
		check(h->reason != NULL && h->sni == NULL);
		return;
	}
	check(q.need >= 4 && q.contig >= q.need && h->reason == NULL);
	check((v == QUIC_FOUND) == (h->sni != NULL));
	if (h->sni != NULL)
		check(inside(h->sni, h->sni_len));
	if (h->alpn != NULL)
		check(inside(h->alpn, h->alpn_len));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t dcid[8] = { 0x83, 0x94, 0xc8, 0xf0, 0x3e, 0x51, 0x57, 0x08 };
	enum quic_verdict v, last = QUIC_NEED_MORE;
	struct hello_info h;
	size_t off = 1, n, len;
	int build;
	uint32_t pn = 0;

	if (!ready) {
		check(quic_crypto_init() == 0);
		ready = 1;
	}
	if (size < 1)
		return 0;
	build = data[0] & 1;
	quic_hello_init(&q, 0);
	while (off < size) {
		if (size - off >= 2) {
			n = (size_t)data[off] << 8 | data[off + 1];
			off += 2;
		} else {
			n = size - off;
		}
		if (n > size - off)
			n = size - off;
		if (build) {
			if (n > 16000)
				n = 16000;
			len = qb_initial(pkt, QB_V1, dcid, sizeof(dcid), NULL, 0, pn++, data + off, n, 1200);
			check(len > 0);
			v = quic_hello_feed(&q, pkt, len, &h);
		} else {
			v = quic_hello_feed(&q, data + off, n, &h);
		}
		check(last == QUIC_NEED_MORE || v == last);
		check_state(v, &h);
		last = v;
		off += n;
	}
	return 0;
}
