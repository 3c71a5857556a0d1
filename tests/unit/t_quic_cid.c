/*
 * The connection-ID index (quic_cid.h): a server's Source CID read from its
 * long headers (every truncation, Version Negotiation, bad lengths); CIDs
 * learnt and found, per length, by a client's short or long header; at most
 * QUIC_CIDS_PER_FLOW per owner, the oldest replaced; a CID another owner
 * holds left to it; nothing left once every owner forgot; many owners in
 * few chains.
 */
#include <stdint.h>
#include <string.h>

#include "test.h"
#include "quic_cid.h"

/* A server's Initial: long header, v1, DCID (the client's) 8 bytes, SCID
 * 18 bytes, then the rest (token length, length, protected bytes). */
static const uint8_t server_initial[] = {
	0xc1,					/* long, fixed, Initial */
	0x00, 0x00, 0x00, 0x01,			/* version 1 */
	0x08,					/* DCID length */
	0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18,
	0x12,					/* SCID length: 18 */
	0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8,
	0xa9, 0xaa, 0xab, 0xac, 0xad, 0xae, 0xaf, 0xb0, 0xb1,
	0x00,					/* token length */
	0x41, 0x00,				/* length */
	0xde, 0xad, 0xbe, 0xef,
};

static void test_server_scid(void)
{
	uint8_t d[sizeof(server_initial)];
	const uint8_t *scid;
	size_t n, len, cut = 6 + 8 + 1 + 18;
	int ok = 1;

	CHECK(quic_server_scid(server_initial, sizeof(server_initial), &scid, &n) == 1 &&
	    n == 18 && scid == server_initial + 15, "the SCID of a server's Initial");
	for (len = 0; len < cut; len++)
		if (quic_server_scid(server_initial, len, &scid, &n) != 0)
			ok = 0;
	CHECK(ok, "every prefix short of the SCID's end: none");
	CHECK(quic_server_scid(server_initial, cut, &scid, &n) == 1 && n == 18,
	    "the header up to the SCID's end: enough");

	memcpy(d, server_initial, sizeof(d));
	memset(d + 1, 0, 4);
	CHECK(quic_server_scid(d, sizeof(d), &scid, &n) == 0,
	    "Version Negotiation (version 0): its SCID is the client's, not read");
	memcpy(d, server_initial, sizeof(d));
	d[0] = 0x40;
	CHECK(quic_server_scid(d, sizeof(d), &scid, &n) == 0, "a short header: none");
	memcpy(d, server_initial, sizeof(d));
	d[14] = 0;
	CHECK(quic_server_scid(d, sizeof(d), &scid, &n) == 0, "a zero-length SCID: none");
	d[14] = 21;
	CHECK(quic_server_scid(d, sizeof(d), &scid, &n) == 0, "an SCID over 20 bytes: none");
	memcpy(d, server_initial, sizeof(d));
	d[5] = 21;
	CHECK(quic_server_scid(d, sizeof(d), &scid, &n) == 0, "a DCID over 20 bytes: none");
}

/* A client's short-header datagram to cid (len bytes), then payload. */
static size_t short_dgram(uint8_t *out, const uint8_t *cid, size_t len)
{
	out[0] = 0x41;
	memcpy(out + 1, cid, len);
	memset(out + 1 + len, 0x5a, 40);
	return 1 + len + 40;
}

static void cid_of(uint8_t *cid, unsigned i, size_t len)
{
	size_t k;

	for (k = 0; k < len; k++)
		cid[k] = (uint8_t)(i * 31 + k * 7 + 1);
}

static void test_learn_find(void)
{
	struct cid_index x;
	struct cid_set a, b;
	uint8_t c[QUIC_CID_MAX], c8[8], d[128];
	int owner_a, owner_b;
	size_t n;

	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	CHECK(cid_index_init(&x, 100, 42) == 0 && x.nbucket == 128, "index of 128 chains");
	cid_of(c, 1, 18);
	CHECK(cid_match(&x, d, short_dgram(d, c, 18)) == NULL, "empty: no match");
	CHECK_INT(cid_learn(&x, &a, &owner_a, c, 18), 1, "a learns an 18-byte CID");
	CHECK_INT(cid_learn(&x, &a, &owner_a, c, 18), 0, "again: known");
	CHECK_INT(cid_learn(&x, &b, &owner_b, c, 18), 0, "b cannot take a's");
	CHECK(cid_find(&x, c, 18) == &owner_a, "found: a's");
	CHECK(cid_find(&x, c, 17) == NULL, "the first 17 bytes: not a CID of the index");
	CHECK_INT(cid_learn(&x, &a, &owner_a, c, 0), -1, "a zero-length CID is refused");
	CHECK_INT(cid_learn(&x, &a, &owner_a, c, 21), -1, "a 21-byte CID is refused");

	/* a client's datagrams: the short header's DCID at each length held */
	CHECK(cid_match(&x, d, short_dgram(d, c, 18)) == &owner_a, "short header to it: a");
	d[0] = 0x01;	/* the fixed bit greased (RFC 9287) */
	CHECK(cid_match(&x, d, 1 + 18) == &owner_a, "greased first byte, nothing after: a");
	CHECK(cid_match(&x, d, 18) == NULL, "a datagram shorter than the CID: none");
	cid_of(c8, 2, 8);
	CHECK_INT(cid_learn(&x, &b, &owner_b, c8, 8), 1, "b learns an 8-byte CID");
	CHECK(cid_match(&x, d, short_dgram(d, c8, 8)) == &owner_b,
	    "a second length is tried too: b");
	CHECK(cid_match(&x, d, short_dgram(d, c, 18)) == &owner_a, "and the first: a");
	/* a long header (the client's Handshake) to b's CID */
	memcpy(d, server_initial, sizeof(server_initial));
	memcpy(d + 6, c8, 8);
	CHECK(cid_match(&x, d, sizeof(server_initial)) == &owner_b, "a long header's DCID: b");
	d[5] = 7;
	CHECK(cid_match(&x, d, sizeof(server_initial)) == NULL, "its first 7 bytes: none");

	/* the bound: a's further CIDs replace its oldest */
	for (n = 2; n <= 10; n++) {
		cid_of(c, (unsigned)(100 + n), 18);
		(void)cid_learn(&x, &a, &owner_a, c, 18);
	}
	CHECK_INT(x.n, QUIC_CIDS_PER_FLOW + 1, "a holds at most %d, b its one",
	    QUIC_CIDS_PER_FLOW);
	cid_of(c, 1, 18);
	CHECK(cid_find(&x, c, 18) == NULL, "a's first CID was replaced");
	cid_of(c, 110, 18);
	CHECK(cid_find(&x, c, 18) == &owner_a, "its last is found");
	cid_of(c, 110 - QUIC_CIDS_PER_FLOW, 18);
	CHECK(cid_find(&x, c, 18) == NULL, "the one before its last %d is gone",
	    QUIC_CIDS_PER_FLOW);

	/* forgetting: nothing of a left, b untouched; then nothing at all */
	cid_forget(&x, &a);
	CHECK_INT(x.n, 1, "a forgot: b's one left");
	CHECK_INT(x.nlen[18], 0, "no 18-byte CID counted");
	cid_of(c, 110, 18);
	CHECK(cid_find(&x, c, 18) == NULL, "a's last not found");
	CHECK(cid_match(&x, d, short_dgram(d, c8, 8)) == &owner_b, "b's still matches");
	cid_forget(&x, &b);
	CHECK(x.n == 0 && x.nlen[8] == 0, "b forgot: the index is empty");
	CHECK(cid_match(&x, d, short_dgram(d, c8, 8)) == NULL, "b's no longer matches");
	CHECK_INT(cid_learn(&x, &a, &owner_a, c8, 8), 1, "a forgotten set learns again");
	cid_forget(&x, &a);
	cid_forget(&x, &a);
	CHECK_INT(x.n, 0, "forgetting twice: still empty");
	cid_index_fini(&x);
}

/* Many owners in few chains: each finds its own, and every chain is empty
 * once they all forgot. */
static void test_many(void)
{
	enum { N = 500 };
	static struct cid_set s[N];
	struct cid_index x;
	uint8_t c[QUIC_CID_MAX];
	size_t i, j, k;
	int ok = 1, empty = 1;

	memset(s, 0, sizeof(s));
	CHECK(cid_index_init(&x, 1, 7) == 0 && x.nbucket == 16, "at least 16 chains");
	for (i = 0; i < N; i++)
		for (j = 0; j < 2; j++) {
			cid_of(c, (unsigned)(i * 2 + j), 8 + (i % 13));
			if (cid_learn(&x, &s[i], &s[i], c, 8 + (i % 13)) != 1)
				ok = 0;
		}
	CHECK(ok && x.n == 2 * N, "%d owners learn 2 CIDs each", N);
	for (i = 0; i < N; i++)
		for (j = 0; j < 2; j++) {
			cid_of(c, (unsigned)(i * 2 + j), 8 + (i % 13));
			if (cid_find(&x, c, 8 + (i % 13)) != &s[i])
				ok = 0;
		}
	CHECK(ok, "each finds its own");
	for (i = 0; i < N; i++)
		cid_forget(&x, &s[i]);
	for (k = 0; k < x.nbucket; k++)
		if (x.bucket[k] != NULL)
			empty = 0;
	for (k = 0; k <= QUIC_CID_MAX; k++)
		if (x.nlen[k] != 0)
			empty = 0;
	CHECK(empty && x.n == 0, "all forgot: every chain and length count empty");
	cid_index_fini(&x);
}

int main(void)
{
	test_server_scid();
	test_learn_find();
	test_many();
	return test_done();
}
