/*
 * QUIC Initial reader: the RFC 9001 A.2 and RFC 9369 A.2 client Initials
 * (typed in from the RFCs), then hellos from tests/vectors/clienthello split
 * by the test's own builder (quic_build.h) into CRYPTO frames over several
 * Initials and datagrams: every split point, every order, duplicates,
 * overlaps, every truncation, a guard page; the early verdicts; the DCID of
 * later datagrams; datagrams captured from real clients (tests/vectors/quic:
 * ngtcp2's, and Chromium's two-Initial post-quantum hello read at every
 * prefix, in every order, then rebuilt and split every way);
 * and that nothing opens a file once quic_crypto_init() has run.
 */
#include <errno.h>
#include <seccomp.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"
#include "quic_initial.h"
#include "quic_build.h"

static const char rfc9001_a2[] =
	"c000000001088394c8f03e5157080000449e7b9aec34d1b1c98dd7689fb8ec11"
	"d242b123dc9bd8bab936b47d92ec356c0bab7df5976d27cd449f63300099f399"
	"1c260ec4c60d17b31f8429157bb35a1282a643a8d2262cad67500cadb8e7378c"
	"8eb7539ec4d4905fed1bee1fc8aafba17c750e2c7ace01e6005f80fcb7df6212"
	"30c83711b39343fa028cea7f7fb5ff89eac2308249a02252155e2347b63d58c5"
	"457afd84d05dfffdb20392844ae812154682e9cf012f9021a6f0be17ddd0c208"
	"4dce25ff9b06cde535d0f920a2db1bf362c23e596d11a4f5a6cf3948838a3aec"
	"4e15daf8500a6ef69ec4e3feb6b1d98e610ac8b7ec3faf6ad760b7bad1db4ba3"
	"485e8a94dc250ae3fdb41ed15fb6a8e5eba0fc3dd60bc8e30c5c4287e53805db"
	"059ae0648db2f64264ed5e39be2e20d82df566da8dd5998ccabdae053060ae6c"
	"7b4378e846d29f37ed7b4ea9ec5d82e7961b7f25a9323851f681d582363aa5f8"
	"9937f5a67258bf63ad6f1a0b1d96dbd4faddfcefc5266ba6611722395c906556"
	"be52afe3f565636ad1b17d508b73d8743eeb524be22b3dcbc2c7468d54119c74"
	"68449a13d8e3b95811a198f3491de3e7fe942b330407abf82a4ed7c1b311663a"
	"c69890f4157015853d91e923037c227a33cdd5ec281ca3f79c44546b9d90ca00"
	"f064c99e3dd97911d39fe9c5d0b23a229a234cb36186c4819e8b9c5927726632"
	"291d6a418211cc2962e20fe47feb3edf330f2c603a9d48c0fcb5699dbfe58964"
	"25c5bac4aee82e57a85aaf4e2513e4f05796b07ba2ee47d80506f8d2c25e50fd"
	"14de71e6c418559302f939b0e1abd576f279c4b2e0feb85c1f28ff18f58891ff"
	"ef132eef2fa09346aee33c28eb130ff28f5b766953334113211996d20011a198"
	"e3fc433f9f2541010ae17c1bf202580f6047472fb36857fe843b19f5984009dd"
	"c324044e847a4f4a0ab34f719595de37252d6235365e9b84392b061085349d73"
	"203a4a13e96f5432ec0fd4a1ee65accdd5e3904df54c1da510b0ff20dcc0c77f"
	"cb2c0e0eb605cb0504db87632cf3d8b4dae6e705769d1de354270123cb11450e"
	"fc60ac47683d7b8d0f811365565fd98c4c8eb936bcab8d069fc33bd801b03ade"
	"a2e1fbc5aa463d08ca19896d2bf59a071b851e6c239052172f296bfb5e724047"
	"90a2181014f3b94a4e97d117b438130368cc39dbb2d198065ae3986547926cd2"
	"162f40a29f0c3c8745c0f50fba3852e566d44575c29d39a03f0cda721984b6f4"
	"40591f355e12d439ff150aab7613499dbd49adabc8676eef023b15b65bfc5ca0"
	"6948109f23f350db82123535eb8a7433bdabcb909271a6ecbcb58b936a88cd4e"
	"8f2e6ff5800175f113253d8fa9ca8885c2f552e657dc603f252e1a8e308f76f0"
	"be79e2fb8f5d5fbbe2e30ecadd220723c8c0aea8078cdfcb3868263ff8f09400"
	"54da48781893a7e49ad5aff4af300cd804a6b6279ab3ff3afb64491c85194aab"
	"760d58a606654f9f4400e8b38591356fbf6425aca26dc85244259ff2b19c41b9"
	"f96f3ca9ec1dde434da7d2d392b905ddf3d1f9af93d1af5950bd493f5aa731b4"
	"056df31bd267b6b90a079831aaf579be0a39013137aac6d404f518cfd4684064"
	"7e78bfe706ca4cf5e9c5453e9f7cfd2b8b4c8d169a44e55c88d4a9a7f9474241"
	"e221af44860018ab0856972e194cd934";

static const char rfc9369_a2[] =
	"d76b3343cf088394c8f03e5157080000449ea0c95e82ffe67b6abcdb4298b485"
	"dd04de806071bf03dceebfa162e75d6c96058bdbfb127cdfcbf903388e99ad04"
	"9f9a3dd4425ae4d0992cfff18ecf0fdb5a842d09747052f17ac2053d21f57c5d"
	"250f2c4f0e0202b70785b7946e992e58a59ac52dea6774d4f03b55545243cf1a"
	"12834e3f249a78d395e0d18f4d766004f1a2674802a747eaa901c3f10cda5500"
	"cb9122faa9f1df66c392079a1b40f0de1c6054196a11cbea40afb6ef5253cd68"
	"18f6625efce3b6def6ba7e4b37a40f7732e093daa7d52190935b8da58976ff33"
	"12ae50b187c1433c0f028edcc4c2838b6a9bfc226ca4b4530e7a4ccee1bfa2a3"
	"d396ae5a3fb512384b2fdd851f784a65e03f2c4fbe11a53c7777c023462239dd"
	"6f7521a3f6c7d5dd3ec9b3f233773d4b46d23cc375eb198c63301c21801f6520"
	"bcfb7966fc49b393f0061d974a2706df8c4a9449f11d7f3d2dcbb90c6b877045"
	"636e7c0c0fe4eb0f697545460c806910d2c355f1d253bc9d2452aaa549e27a1f"
	"ac7cf4ed77f322e8fa894b6a83810a34b361901751a6f5eb65a0326e07de7c12"
	"16ccce2d0193f958bb3850a833f7ae432b65bc5a53975c155aa4bcb4f7b2c4e5"
	"4df16efaf6ddea94e2c50b4cd1dfe06017e0e9d02900cffe1935e0491d77ffb4"
	"fdf85290fdd893d577b1131a610ef6a5c32b2ee0293617a37cbb08b847741c3b"
	"8017c25ca9052ca1079d8b78aebd47876d330a30f6a8c6d61dd1ab5589329de7"
	"14d19d61370f8149748c72f132f0fc99f34d766c6938597040d8f9e2bb522ff9"
	"9c63a344d6a2ae8aa8e51b7b90a4a806105fcbca31506c446151adfeceb51b91"
	"abfe43960977c87471cf9ad4074d30e10d6a7f03c63bd5d4317f68ff325ba3bd"
	"80bf4dc8b52a0ba031758022eb025cdd770b44d6d6cf0670f4e990b22347a7db"
	"848265e3e5eb72dfe8299ad7481a408322cac55786e52f633b2fb6b614eaed18"
	"d703dd84045a274ae8bfa73379661388d6991fe39b0d93debb41700b41f90a15"
	"c4d526250235ddcd6776fc77bc97e7a417ebcb31600d01e57f32162a8560cacc"
	"7e27a096d37a1a86952ec71bd89a3e9a30a2a26162984d7740f81193e8238e61"
	"f6b5b984d4d3dfa033c1bb7e4f0037febf406d91c0dccf32acf423cfa1e70710"
	"10d3f270121b493ce85054ef58bada42310138fe081adb04e2bd901f2f13458b"
	"3d6758158197107c14ebb193230cd1157380aa79cae1374a7c1e5bbcb80ee23e"
	"06ebfde206bfb0fcbc0edc4ebec309661bdd908d532eb0c6adc38b7ca7331dce"
	"8dfce39ab71e7c32d318d136b6100671a1ae6a6600e3899f31f0eed19e3417d1"
	"34b90c9058f8632c798d4490da4987307cba922d61c39805d072b589bd52fdf1"
	"e86215c2d54e6670e07383a27bbffb5addf47d66aa85a0c6f9f32e59d85a44dd"
	"5d3b22dc2be80919b490437ae4f36a0ae55edf1d0b5cb4e9a3ecabee93dfc6e3"
	"8d209d0fa6536d27a5d6fbb17641cde27525d61093f1b28072d111b2b4ae5f89"
	"d5974ee12e5cf7d5da4d6a31123041f33e61407e76cffcdcfd7e19ba58cf4b53"
	"6f4c4938ae79324dc402894b44faf8afbab35282ab659d13c93f70412e85cb19"
	"9a37ddec600545473cfb5a05e08d0b209973b2172b4d21fb69745a262ccde96b"
	"a18b2faa745b6fe189cf772a9f84cbfc";

static const char a2_crypto_frame[] =
	"060040f1010000ed0303ebf8fa56f12939b9584a3896472ec40bb863cfd3e868"
	"04fe3a47f06a2b69484c00000413011302010000c000000010000e00000b6578"
	"616d706c652e636f6dff01000100000a00080006001d00170018001000070005"
	"04616c706e000500050100000000003300260024001d00209370b2c9caa47fba"
	"baf4559fedba753de171fa71f50f1ce15d43e994ec74d748002b000302030400"
	"0d0010000e0403050306030203080408050806002d00020101001c0002400100"
	"3900320408ffffffffffffffff05048000ffff07048000ffff08011001048000"
	"75300901100f088394c8f03e51570806048000ffff";

static const uint8_t a2_dcid[8] = { 0x83, 0x94, 0xc8, 0xf0, 0x3e, 0x51, 0x57, 0x08 };

static size_t unhex(const char *s, uint8_t *out)
{
	size_t n = 0;

	for (; s[0] && s[1]; s += 2)
		out[n++] = (uint8_t)strtoul((char[]){ s[0], s[1], 0 }, NULL, 16);
	return n;
}

static int hexeq(const uint8_t *got, const char *hex)
{
	uint8_t want[64];
	size_t n = unhex(hex, want);

	return memcmp(got, want, n) == 0;
}

static int sni_is(const struct hello_info *h, const char *name)
{
	return h->sni != NULL && h->sni_len == strlen(name) && memcmp(h->sni, name, h->sni_len) == 0;
}

/* A region whose last usable byte sits right before a PROT_NONE page. */
static uint8_t *guard_map, *guard_end;
static size_t guard_len;

static int guard_init(size_t cap)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE), body = (cap + page - 1) / page * page;

	guard_len = body + page;
	guard_map = mmap(NULL, guard_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (guard_map == MAP_FAILED)
		return -1;
	guard_end = guard_map + body;
	return mprotect(guard_end, page, PROT_NONE);
}

/* Copy src[0..n) so that its last byte is the last byte before the guard. */
static const uint8_t *guard_place(const uint8_t *src, size_t n)
{
	memcpy(guard_end - n, src, n);
	return guard_end - n;
}

static struct quic_hello q;	/* 32 KiB: not on the stack */

static void test_keys(void)
{
	uint8_t key[16], iv[12], hp[16];

	CHECK_INT(quic_initial_keys(QB_V1, a2_dcid, 8, key, iv, hp), 0, "v1 keys derived");
	CHECK(hexeq(key, "1f369613dd76d5467730efcbe3b1a22d") && hexeq(iv, "fa044b2f42a3fd3b46fb255c") &&
	    hexeq(hp, "9f50449e04a0e810283a1e9933adedd2"), "RFC 9001 A.1: client key, iv, hp");
	CHECK_INT(quic_initial_keys(QB_V2, a2_dcid, 8, key, iv, hp), 0, "v2 keys derived");
	CHECK(hexeq(key, "8b1a0bc121284290a29e0971b5cd045d") && hexeq(iv, "91f73e2351d8fa91660e909f") &&
	    hexeq(hp, "45b95e15235d6f45a6b19cbcb0294ba9"), "RFC 9369 A.1: client key, iv, hp");
	CHECK_INT(quic_initial_keys(0xff00001d, a2_dcid, 8, key, iv, hp), -1, "draft-29: no keys");
}

/* The RFC's packet: found, example.com, the CRYPTO bytes; the builder
 * reproduces it from its plaintext. */
static void test_rfc(const char *what, const char *hex, uint32_t version)
{
	uint8_t pkt[1200], frame[245], built[1300];
	struct hello_info h;
	size_t n = unhex(hex, pkt), fl = unhex(a2_crypto_frame, frame), bl;

	CHECK_INT(n, 1200, "%s: 1200 bytes typed in", what);
	quic_hello_init(&q, 0);
	CHECK_INT(quic_hello_feed(&q, guard_place(pkt, n), n, &h), QUIC_FOUND, "%s: found", what);
	CHECK(sni_is(&h, "example.com"), "%s: SNI example.com", what);
	CHECK(q.need == 245 - 4 && memcmp(q.crypto, frame + 4, q.need) == 0,
	    "%s: the CRYPTO bytes are the RFC's ClientHello (241 bytes)", what);
	CHECK(h.alpn != NULL && h.alpn_len == 5 && memcmp(h.alpn, "\x04" "alpn", 5) == 0,
	    "%s: ALPN \"alpn\"", what);
	CHECK(q.version == version && q.dcid_len == 8 && memcmp(q.dcid, a2_dcid, 8) == 0 &&
	    q.scid_len == 0 && q.initials == 1 && q.datagrams == 1, "%s: version, DCID, counts", what);
	CHECK_INT(quic_hello_feed(&q, pkt, n, &h), QUIC_FOUND, "%s: sticky", what);
	CHECK(sni_is(&h, "example.com") && q.datagrams == 1, "%s: sticky info, nothing read", what);

	bl = qb_initial(built, version, a2_dcid, 8, NULL, 0, 2, frame, fl, 1200);
	CHECK(bl == 1200 && memcmp(built, pkt, 1200) == 0, "%s: the builder makes the RFC's bytes", what);

	/* Every prefix: incomplete or malformed; none crashes (guard page). */
	{
		size_t k, bad = 0;
		enum quic_verdict v;

		for (k = 1; k < n; k++) {
			quic_hello_init(&q, 0);
			v = quic_hello_feed(&q, guard_place(pkt, k), k, &h);
			if (v != QUIC_NEED_MORE && v != QUIC_MALFORMED)
				bad++;
		}
		CHECK(bad == 0, "%s: each of %zu prefixes incomplete or malformed", what, n - 1);
	}

	/* A flipped ciphertext byte: skipped (the tag), then the real one. */
	pkt[600] ^= 1;
	quic_hello_init(&q, 0);
	CHECK_INT(quic_hello_feed(&q, pkt, n, &h), QUIC_NEED_MORE, "%s: bad tag: skipped", what);
	CHECK(q.initials == 1 && q.dcid_len == 0, "%s: bad tag: counted, no keys kept", what);
	pkt[600] ^= 1;
	CHECK_INT(quic_hello_feed(&q, pkt, n, &h), QUIC_FOUND, "%s: then the good packet: found", what);
}

/* A hello message from the TCP vectors (one record: its 5-byte header off). */
static uint8_t *load_msg(const char *file, size_t *len)
{
	char path[512];
	uint8_t *raw;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "tests/vectors/clienthello/real/%s", file);
	if ((f = fopen(path, "rb")) == NULL)
		return NULL;
	raw = malloc(65536);
	n = raw ? fread(raw, 1, 65536, f) : 0;
	fclose(f);
	if (raw == NULL || n < 9 || 5 + ((size_t)raw[6] << 16 | (size_t)raw[7] << 8 | raw[8]) + 4 != n) {
		free(raw);
		return NULL;
	}
	memmove(raw, raw + 5, n - 5);
	*len = n - 5;
	return raw;
}

static const uint8_t dcid[12] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 };
static const uint8_t scid[4] = { 0xaa, 0xbb, 0xcc, 0xdd };

/* One datagram: an Initial with one CRYPTO frame msg[off..off+len). */
static size_t one(uint8_t *out, uint32_t pn, const uint8_t *msg, size_t off, size_t len)
{
	uint8_t frame[20000];
	size_t fl = qb_crypto(frame, off, msg + off, len);

	return qb_initial(out, QB_V1, dcid, sizeof(dcid), scid, sizeof(scid), pn, frame, fl, 1200);
}

static uint8_t dg[4][20000];
static size_t dl[4];

static const int perms[24][4] = {
	{0,1,2,3},{0,1,3,2},{0,2,1,3},{0,2,3,1},{0,3,1,2},{0,3,2,1},
	{1,0,2,3},{1,0,3,2},{1,2,0,3},{1,2,3,0},{1,3,0,2},{1,3,2,0},
	{2,0,1,3},{2,0,3,1},{2,1,0,3},{2,1,3,0},{2,3,0,1},{2,3,1,0},
	{3,0,1,2},{3,0,2,1},{3,1,0,2},{3,1,2,0},{3,2,0,1},{3,2,1,0},
};

/* Feed dg[order[0..n)] to a fresh reader; its verdict, SNI checked. */
static int feed_order(const int *order, int n, const char *sni)
{
	struct hello_info h;
	enum quic_verdict v = QUIC_NEED_MORE;
	int i;

	quic_hello_init(&q, 0);
	for (i = 0; i < n; i++)
		v = quic_hello_feed(&q, dg[order[i]], dl[order[i]], &h);
	return v == QUIC_FOUND && sni_is(&h, sni);
}

/* The hello message msg[0..n) (file names it) rebuilt into Initials split
 * every way; msg is changed and restored. */
static void test_split_msg(const char *file, uint8_t *msg, size_t n, const char *sni)
{
	struct hello_info h;
	enum quic_verdict v;
	size_t k, bad = 0, cut[5];
	int i, order[8], ok = 1;

	/* One Initial cannot hold it: 1200-byte datagrams carry < 1162 bytes. */
	CHECK(n > 1200, "%s: %zu bytes, more than one 1200-byte Initial holds", file, n);

	/* Every split point over two datagrams, both orders. */
	for (k = 1; k < n; k++) {
		dl[0] = one(dg[0], 0, msg, 0, k);
		dl[1] = one(dg[1], 1, msg, k, n - k);
		order[0] = 0, order[1] = 1;
		if (!feed_order(order, 2, sni))
			bad++;
		order[0] = 1, order[1] = 0;
		if (!feed_order(order, 2, sni))
			bad++;
	}
	CHECK(bad == 0, "%s: every split of %zu over two datagrams, both orders: found %s", file, n - 1, sni);

	/* Four pieces, every order; each fed twice (duplicates). */
	for (i = 0; i <= 4; i++)
		cut[i] = n * (size_t)i / 4;
	for (i = 0; i < 4; i++)
		dl[i] = one(dg[i], (uint32_t)i, msg, cut[i], cut[i + 1] - cut[i]);
	for (k = 0; k < 24; k++) {
		for (i = 0; i < 4; i++)
			order[i] = order[i + 4] = perms[k][i];
		ok &= feed_order(order, 4, sni);
		ok &= feed_order(order, 8, sni);
	}
	CHECK(ok, "%s: 4 datagrams in all 24 orders, alone and each twice: found", file);

	/* Overlapping pieces that agree; then the first byte changed. */
	dl[0] = one(dg[0], 0, msg, 0, n / 2 + 100);
	dl[1] = one(dg[1], 1, msg, n / 2 - 100, n - (n / 2 - 100));
	order[0] = 1, order[1] = 0;
	CHECK(feed_order(order, 2, sni), "%s: overlap of 200 bytes that agrees: found", file);
	msg[n / 2] ^= 0x20;
	dl[1] = one(dg[1], 1, msg, n / 2 - 100, n - (n / 2 - 100));
	msg[n / 2] ^= 0x20;
	quic_hello_init(&q, 0);
	quic_hello_feed(&q, dg[0], dl[0], &h);
	CHECK_INT(quic_hello_feed(&q, dg[1], dl[1], &h), QUIC_MALFORMED, "%s: disagreeing overlap: malformed", file);
	CHECK_STR(h.reason, "overlapping CRYPTO data disagrees", "%s: disagreeing overlap: reason", file);

	/* Both Initials coalesced in one datagram. */
	dl[0] = one(dg[0], 0, msg, 0, 1000);
	dl[1] = one(dg[1], 1, msg, 1000, n - 1000);
	memcpy(dg[2], dg[1], dl[1]);
	memcpy(dg[2] + dl[1], dg[0], dl[0]);
	dl[2] = dl[0] + dl[1];
	order[0] = 2;
	CHECK(feed_order(order, 1, sni), "%s: two Initials coalesced in one datagram (reversed): found", file);

	/* Every truncation of the second datagram: incomplete or malformed. */
	bad = 0;
	for (k = 1; k < dl[1]; k++) {
		quic_hello_init(&q, 0);
		quic_hello_feed(&q, dg[0], dl[0], &h);
		v = quic_hello_feed(&q, guard_place(dg[1], k), k, &h);
		if (v != QUIC_NEED_MORE && v != QUIC_MALFORMED)
			bad++;
	}
	CHECK(bad == 0, "%s: each of %zu truncations of the second datagram: incomplete or malformed",
	    file, dl[1] - 1);

	/* The cap: 1000 bytes of body refuses it from the handshake header. */
	quic_hello_init(&q, 1000);
	CHECK_INT(quic_hello_feed(&q, dg[0], dl[0], &h), QUIC_MALFORMED, "%s: max_hello 1000: malformed", file);
	CHECK_STR(h.reason, "ClientHello longer than the cap", "%s: cap reason", file);
}

static void test_split(const char *file, const char *sni)
{
	size_t n;
	uint8_t *msg = load_msg(file, &n);

	if (msg == NULL) {
		CHECK(0, "%s: read", file);
		return;
	}
	test_split_msg(file, msg, n, sni);
	free(msg);
}

static void test_verdicts(void)
{
	uint8_t d[1400], frame[64];
	struct hello_info h;
	size_t n, fl, i;
	const uint8_t *c;
	size_t cl;
	uint8_t hello4[4] = { 1, 0, 0, 40 };

	memset(d, 0, sizeof(d));
	d[0] = 0x80;				/* Version Negotiation */
	quic_hello_init(&q, 0);
	CHECK_INT(quic_hello_feed(&q, d, 1200, &h), QUIC_NOT_INITIAL, "version 0: not-initial");
	CHECK_STR(h.reason, "Version Negotiation packet", "version 0: reason");
	d[0] = 0x40;				/* short header */
	quic_hello_init(&q, 0);
	CHECK_INT(quic_hello_feed(&q, d, 1200, &h), QUIC_NOT_INITIAL, "short header: not-initial");
	quic_hello_init(&q, 0);
	CHECK_INT(quic_hello_feed(&q, d, 0, &h), QUIC_NOT_INITIAL, "empty datagram: not-initial");
	d[0] = 0xc0, d[1] = 0xff, d[2] = 0x00, d[3] = 0x00, d[4] = 0x1d;
	quic_hello_init(&q, 0);
	CHECK_INT(quic_hello_feed(&q, d, 1200, &h), QUIC_VERSION, "draft-29: version");
	CHECK(q.version == 0xff00001d, "draft-29: the version kept");
	CHECK_INT(quic_hello_feed(&q, d, 5, &h), QUIC_VERSION, "version: sticky");

	/* A Handshake packet alone (v1 type 2) is no Initial. */
	n = qb_initial(d, QB_V1, dcid, 8, NULL, 0, 0, hello4, 4, 1200);
	d[0] = (uint8_t)((d[0] & ~0x30) | 0x20);
	quic_hello_init(&q, 0);
	CHECK_INT(quic_hello_feed(&q, d, n, &h), QUIC_NOT_INITIAL, "Handshake packet first: not-initial");

	/* Under 1200 bytes: ignored, counted. */
	fl = qb_crypto(frame, 0, hello4, 4);
	n = qb_initial(d, QB_V1, dcid, 8, NULL, 0, 0, frame, fl, 0);
	quic_hello_init(&q, 0);
	CHECK_INT(quic_hello_feed(&q, d, n, &h), QUIC_NEED_MORE, "%zu-byte datagram: Initial ignored", n);
	CHECK(q.initials == 1 && q.need == 0, "small datagram: counted, not read");
	n = qb_initial(d, QB_V1, dcid, 8, NULL, 0, 0, frame, fl, 1200);
	CHECK_INT(quic_hello_feed(&q, d, n, &h), QUIC_NEED_MORE, "1200 bytes: read, hello incomplete");
	CHECK(q.need == 44 && q.contig == 4, "need 44, 4 bytes in");

	/* More Initials than QUIC_INITIALS_MAX before the hello is whole. */
	for (i = 3; i <= QUIC_INITIALS_MAX; i++)
		quic_hello_feed(&q, d, n, &h);
	CHECK_INT(q.verdict, QUIC_NEED_MORE, "32 Initials: still incomplete");
	CHECK_INT(quic_hello_feed(&q, d, n, &h), QUIC_MALFORMED, "the 33rd Initial: malformed");

	/* A DCID of 7 bytes. */
	n = qb_initial(d, QB_V1, dcid, 7, NULL, 0, 0, frame, fl, 1200);
	quic_hello_init(&q, 0);
	CHECK_INT(quic_hello_feed(&q, d, n, &h), QUIC_MALFORMED, "7-byte DCID: malformed");
	CHECK_STR(h.reason, "first Initial's DCID shorter than 8 bytes", "7-byte DCID: reason");

	/* A STREAM frame in an Initial; a frame-less payload is padding only. */
	frame[0] = 0x08;
	n = qb_initial(d, QB_V1, dcid, 8, NULL, 0, 0, frame, 1, 1200);
	quic_hello_init(&q, 0);
	CHECK_INT(quic_hello_feed(&q, d, n, &h), QUIC_MALFORMED, "STREAM frame: malformed");
	CHECK_STR(h.reason, "frame type not allowed in an Initial", "STREAM frame: reason");

	/* PING, ACK with a range and ECN counts, CONNECTION_CLOSE: walked. */
	{
		static const uint8_t frames[] = {
			0x01, 0x03, 0x05, 0x00, 0x01, 0x02, 0x01, 0x01, 0x07, 0x08, 0x09,
			0x1c, 0x00, 0x00, 0x02, 'o', 'k',
			0x06, 0x00, 0x04, 0x01, 0x00, 0x00, 0x28,
		};
		n = qb_initial(d, QB_V1, dcid, 8, NULL, 0, 0, frames, sizeof(frames), 1200);
		quic_hello_init(&q, 0);
		CHECK_INT(quic_hello_feed(&q, d, n, &h), QUIC_NEED_MORE, "PING, ACK_ECN, CONNECTION_CLOSE: walked");
		CHECK(q.need == 44, "... and the CRYPTO frame after them read");
	}
	/* CRYPTO data past the hello once its length is known; past the cap. */
	{
		static const uint8_t zero8[8];
		uint8_t fr[2][32];
		size_t f0 = qb_crypto(fr[0], 0, hello4, 4), f1 = qb_crypto(fr[1], 40, zero8, 8);

		n = qb_initial(d, QB_V1, dcid, 8, NULL, 0, 0, fr[0], f0, 1200);
		quic_hello_init(&q, 0);
		CHECK_INT(quic_hello_feed(&q, d, n, NULL), QUIC_NEED_MORE, "hello header in (info NULL)");
		n = qb_initial(d, QB_V1, dcid, 8, NULL, 0, 1, fr[1], f1, 1200);
		CHECK_INT(quic_hello_feed(&q, d, n, &h), QUIC_MALFORMED, "CRYPTO bytes 40..48 of a 44-byte hello: malformed");
		CHECK_STR(h.reason, "CRYPTO data past the ClientHello", "past the hello: reason");
		f1 = qb_crypto(fr[1], QUIC_HELLO_MAX - 4, hello4, 4);
		n = qb_initial(d, QB_V1, dcid, 8, NULL, 0, 0, fr[1], f1, 1200);
		quic_hello_init(&q, 0);
		CHECK_INT(quic_hello_feed(&q, d, n, &h), QUIC_NEED_MORE, "CRYPTO ending at the cap: kept");
		f1 = qb_crypto(fr[1], QUIC_HELLO_MAX - 3, hello4, 4);
		n = qb_initial(d, QB_V1, dcid, 8, NULL, 0, 1, fr[1], f1, 1200);
		CHECK_INT(quic_hello_feed(&q, d, n, &h), QUIC_MALFORMED, "CRYPTO one byte past the cap: malformed");
		CHECK_STR(h.reason, "CRYPTO data past the ClientHello's cap", "past the cap: reason");
	}

	/* A token (as after a Retry): part of the header the AEAD covers. */
	{
		static const uint8_t tok[40] = { 0x5a, 1, 2, 3, 4, 5, 6, 7, 8, 9 };	/* d[20..60) */
		uint8_t fr[32];
		size_t f0 = qb_crypto(fr, 0, hello4, 4);

		n = qb_initial_tok(d, QB_V2, dcid, 8, scid, 4, tok, sizeof(tok), 0, fr, f0, 1200);
		quic_hello_init(&q, 0);
		CHECK(quic_hello_feed(&q, d, n, &h) == QUIC_NEED_MORE && q.need == 44 && q.dcid_len == 8,
		    "v2 Initial with a 40-byte token: read");
		d[30] ^= 1;			/* a token byte */
		quic_hello_init(&q, 0);
		CHECK(quic_hello_feed(&q, d, n, &h) == QUIC_NEED_MORE && q.need == 0 && q.initials == 1,
		    "a token byte changed: the tag fails, skipped");
		qb_initial_tok(d, QB_V1, dcid, 8, scid, 4, tok, 10, 0, fr, f0, 0);
		d[19] = 0x3f;			/* token length 10 -> 63, 10 bytes follow */
		quic_hello_init(&q, 0);
		CHECK_INT(quic_hello_feed(&q, d, 30, &h), QUIC_MALFORMED, "token past the datagram: malformed");
		CHECK_STR(h.reason, "Initial token truncated", "token past the datagram: reason");
	}

	/* Length 19: too short for the 16-byte sample at packet number + 4. */
	memset(d, 0, sizeof(d));
	d[0] = 0xc3, d[4] = 1, d[5] = 8;
	memcpy(d + 6, dcid, 8);
	d[16] = 19;			/* d[14] SCID length 0, d[15] token length 0 */
	quic_hello_init(&q, 0);
	CHECK_INT(quic_hello_feed(&q, d, 1200, &h), QUIC_MALFORMED, "Length 19: malformed");
	CHECK_STR(h.reason, "Initial too short for its header-protection sample", "Length 19: reason");

	/* A 21-byte DCID. */
	memset(d, 0, sizeof(d));
	d[0] = 0xc0, d[4] = 1, d[5] = 21;
	quic_hello_init(&q, 0);
	CHECK_INT(quic_hello_feed(&q, d, 1200, &h), QUIC_MALFORMED, "21-byte DCID: malformed");
	CHECK_STR(h.reason, "connection ID longer than 20 bytes", "21-byte DCID: reason");

	/* A ServerHello type. */
	hello4[0] = 2;
	fl = qb_crypto(frame, 0, hello4, 4);
	n = qb_initial(d, QB_V1, dcid, 8, NULL, 0, 0, frame, fl, 1200);
	quic_hello_init(&q, 0);
	CHECK_INT(quic_hello_feed(&q, d, n, &h), QUIC_MALFORMED, "handshake type 2: malformed");

	/* quic_dgram_dcid */
	CHECK(quic_dgram_dcid(d, n, 0, &c, &cl) == 1 && cl == 8 && c == d + 6 && memcmp(c, dcid, 8) == 0,
	    "dgram_dcid: long header's DCID");
	CHECK_INT(quic_dgram_dcid(d, 13, 0, &c, &cl), 0, "dgram_dcid: long header truncated in its DCID");
	d[0] = 0x41;
	CHECK(quic_dgram_dcid(d, 9, 8, &c, &cl) == 1 && cl == 8 && c == d + 1, "dgram_dcid: short, 8 bytes");
	CHECK_INT(quic_dgram_dcid(d, 8, 8, &c, &cl), 0, "dgram_dcid: short, too short");
	CHECK_INT(quic_dgram_dcid(d, 9, 0, &c, &cl), 0, "dgram_dcid: short, zero-length CID");
	CHECK_INT(quic_dgram_dcid(d, 0, 8, &c, &cl), 0, "dgram_dcid: empty");

	CHECK_STR(quic_verdict_name(QUIC_FOUND), "found", "name: found");
	CHECK_STR(quic_verdict_name(QUIC_NO_SNI), "no-sni", "name: no-sni");
	CHECK_STR(quic_verdict_name(QUIC_NEED_MORE), "incomplete", "name: incomplete");
	CHECK_STR(quic_verdict_name(QUIC_NOT_INITIAL), "not-initial", "name: not-initial");
	CHECK_STR(quic_verdict_name(QUIC_VERSION), "version", "name: version");
	CHECK_STR(quic_verdict_name(QUIC_MALFORMED), "malformed", "name: malformed");
}

static uint8_t *read_vec(const char *file, size_t *len)
{
	char path[512];
	uint8_t *d;
	FILE *f;

	snprintf(path, sizeof(path), "tests/vectors/quic/%s", file);
	if ((f = fopen(path, "rb")) == NULL)
		return NULL;
	d = malloc(65536);
	*len = d ? fread(d, 1, 65536, f) : 0;
	fclose(f);
	return d;
}

/* What Debian 12's ngtcp2 example client sent (tests/vectors/quic/README.md). */
static void test_captures(void)
{
	size_t n1, n2, n3;
	uint8_t *first = read_vec("ngtcp2-gtlsclient-v1-first.bin", &n1);
	uint8_t *resent = read_vec("ngtcp2-gtlsclient-v1-resent.bin", &n2);
	uint8_t *v2 = read_vec("ngtcp2-gtlsclient-v2draft-first.bin", &n3);
	struct hello_info h;

	if (first == NULL || resent == NULL || v2 == NULL) {
		CHECK(0, "read tests/vectors/quic");
		goto out;
	}
	quic_hello_init(&q, 0);
	CHECK_INT(quic_hello_feed(&q, guard_place(first, n1), n1, &h), QUIC_FOUND, "ngtcp2 v1 Initial: found");
	CHECK(sni_is(&h, "localhost") && q.need == 369 && q.version == 1 && q.dcid_len == 18,
	    "ngtcp2 v1 Initial: localhost, a 369-byte hello, an 18-byte DCID");
	quic_hello_init(&q, 0);
	CHECK_INT(quic_hello_feed(&q, resent, n2, &h), QUIC_FOUND, "ngtcp2 v1 resend alone: found");
	CHECK(sni_is(&h, "localhost"), "ngtcp2 v1 resend: localhost");
	quic_hello_init(&q, 0);
	CHECK_INT(quic_hello_feed(&q, v2, n3, &h), QUIC_NOT_INITIAL, "ngtcp2 0.12 '-v 0x6b3343cf': not-initial");
out:
	free(first);
	free(resent);
	free(v2);
}

/*
 * Chromium 156's Initials (tests/vectors/quic/README.md): its first flight,
 * two datagrams that each carry part of a 1986-byte post-quantum hello, the
 * CRYPTO data cut into many frames out of order among PINGs and PADDING;
 * then its retransmission, the same bytes cut another way under the same
 * DCID. Each *-0 holds the hello's offsets 0..72 and 1067..1986, each *-1
 * 72..1067: any *-0 with any *-1 completes it.
 */
static const char *const chromium_files[4] = {
	"chromium-156-first-0.bin", "chromium-156-first-1.bin",
	"chromium-156-resent-0.bin", "chromium-156-resent-1.bin",
};

static int chromium_hello(const struct hello_info *h)
{
	return sni_is(h, "a.example.test") && h->alpn_len == 3 && memcmp(h->alpn, "\x02" "h3", 3) == 0 &&
	    h->ech && q.need == 1986 && q.version == 1 && q.dcid_len == 8;
}

/* Datagram i cut to k bytes, fed after the datagrams before[0..nb): its
 * one Initial then runs past the datagram, a malformed packet, whatever came
 * before it (the header walk comes before the 1200-byte rule). */
static int chromium_prefix(int i, size_t k, const int *before, int nb)
{
	struct hello_info h;
	int b;

	quic_hello_init(&q, 0);
	for (b = 0; b < nb; b++)
		quic_hello_feed(&q, dg[before[b]], dl[before[b]], &h);
	if (quic_hello_feed(&q, guard_place(dg[i], k), k, &h) != QUIC_MALFORMED)
		return 0;
	return strcmp(h.reason, "long header truncated") == 0 ||
	    strcmp(h.reason, "Initial token truncated") == 0 ||
	    strcmp(h.reason, "packet Length runs past the datagram") == 0;
}

static void test_chromium(void)
{
	struct hello_info h;
	enum quic_verdict v;
	uint8_t msg[1986], *d;
	size_t k, bad;
	int i, j, order[8], ok = 1;

	for (i = 0; i < 4; i++) {
		d = read_vec(chromium_files[i], &dl[i]);
		if (d == NULL || dl[i] != 1250) {
			CHECK(0, "read tests/vectors/quic/%s (1250 bytes)", chromium_files[i]);
			free(d);
			return;
		}
		memcpy(dg[i], d, dl[i]);
		free(d);
	}
	quic_hello_init(&q, 0);
	CHECK_INT(quic_hello_feed(&q, guard_place(dg[0], dl[0]), dl[0], &h), QUIC_NEED_MORE,
	    "chromium: first datagram: incomplete");
	CHECK_INT(quic_hello_feed(&q, guard_place(dg[1], dl[1]), dl[1], &h), QUIC_FOUND,
	    "chromium: second datagram: found");
	CHECK(chromium_hello(&h) && q.initials == 2 && q.datagrams == 2,
	    "chromium: a.example.test, ALPN h3, ECH GREASE, a 1986-byte hello over two v1 Initials");
	memcpy(msg, q.crypto, sizeof(msg));

	/* Every pair, both orders and each datagram twice: found just when a
	 * *-0 meets a *-1. */
	for (i = 0; i < 4; i++)
		for (j = 0; j < 4; j++) {
			quic_hello_init(&q, 0);
			v = quic_hello_feed(&q, dg[i], dl[i], &h);
			ok &= v == QUIC_NEED_MORE;
			v = quic_hello_feed(&q, dg[j], dl[j], &h);
			ok &= (i % 2 != j % 2) ? v == QUIC_FOUND && chromium_hello(&h) : v == QUIC_NEED_MORE;
		}
	CHECK(ok, "chromium: each datagram alone incomplete; of the 16 ordered pairs, the 8 of a *-0 and a *-1 found");

	/* All four in the 24 orders, alone and each twice. */
	for (k = 0, ok = 1; k < 24; k++) {
		for (i = 0; i < 4; i++)
			order[i] = order[i + 4] = perms[k][i];
		ok &= feed_order(order, 4, "a.example.test") && q.need == 1986;
		ok &= feed_order(order, 8, "a.example.test");
	}
	CHECK(ok, "chromium: all four datagrams in the 24 orders, alone and each twice: found");

	/* Every prefix of each datagram, first and after its other half. */
	for (i = 0, bad = 0; i < 4; i++)
		for (k = 1; k < dl[i]; k++) {
			j = i ^ 1;
			bad += !chromium_prefix(i, k, NULL, 0);
			bad += !chromium_prefix(i, k, &j, 1);
		}
	CHECK(bad == 0, "chromium: each of the 4 x 1249 prefixes, first or after its other half: "
	    "malformed, its header or Length past the datagram");

	/* Every split of the same hello, rebuilt into Initials. */
	test_split_msg("chromium-156 QUIC hello", msg, sizeof(msg), "a.example.test");
}

/*
 * In a child whose seccomp filter kills it on any open: read both RFC
 * vectors. quic_crypto_init() ran before, as halfpipe runs it before its own
 * filter; nothing after it may open a file (libcrypto's configuration,
 * provider modules).
 */
static void test_no_open(void)
{
	static const int calls[] = { SCMP_SYS(open), SCMP_SYS(openat), SCMP_SYS(openat2) };
	uint8_t pkt[1200];
	struct hello_info h;
	scmp_filter_ctx ctx;
	int status = -1, ok;
	size_t i;
	pid_t pid;

	fflush(stdout);
	if ((pid = fork()) == 0) {
		ctx = seccomp_init(SCMP_ACT_ALLOW);
		for (i = 0; ctx != NULL && i < sizeof(calls) / sizeof(calls[0]); i++)
			seccomp_rule_add(ctx, SCMP_ACT_KILL_PROCESS, calls[i], 0);
		if (ctx == NULL || seccomp_load(ctx) != 0)
			_exit(2);
		unhex(rfc9001_a2, pkt);
		quic_hello_init(&q, 0);
		ok = quic_hello_feed(&q, pkt, sizeof(pkt), &h) == QUIC_FOUND;
		unhex(rfc9369_a2, pkt);
		quic_hello_init(&q, 0);
		ok &= quic_hello_feed(&q, pkt, sizeof(pkt), &h) == QUIC_FOUND;
		pkt[700] ^= 1;			/* a failed tag too */
		quic_hello_init(&q, 0);
		ok &= quic_hello_feed(&q, pkt, sizeof(pkt), &h) == QUIC_NEED_MORE;
		_exit(ok ? 0 : 1);
	}
	if (pid > 0)
		waitpid(pid, &status, 0);
	CHECK(pid > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "after quic_crypto_init, both RFC vectors read with open/openat forbidden (status %d)", status);
}

int main(void)
{
	CHECK_INT(quic_crypto_init(), 0, "libcrypto has HKDF, AES-128-ECB, AES-128-GCM");
	CHECK_INT(quic_crypto_init(), 0, "quic_crypto_init twice");
	if (guard_init(20000) == -1) {
		CHECK(0, "guard page: %s", strerror(errno));
		return test_done();
	}
	test_keys();
	test_rfc("RFC 9001 A.2 (v1)", rfc9001_a2, QB_V1);
	test_rfc("RFC 9369 A.2 (v2)", rfc9369_a2, QB_V2);
	test_split("chromium-pq.bin", "a.example.test");
	test_split("firefox-esr-pq.bin", "a.example.test");
	test_verdicts();
	test_captures();
	test_chromium();
	test_no_open();
	munmap(guard_map, guard_len);
	return test_done();
}
