/* The PROXY protocol reader and writer (src/proxy_proto.c): v1 TCP4, TCP6,
 * UNKNOWN; v2 PROXY and LOCAL with TLVs; every prefix of a good header is
 * PP_NEED_MORE; broken and too long ones are PP_ERR. Each input ends right
 * before a PROT_NONE page, so an over-read faults. Written headers read
 * back; trusted networks match. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "proxy_proto.h"
#include "test.h"

static uint8_t *guard_map, *guard_end;
static size_t guard_len;

/* Copy p[0..len) to end right before the PROT_NONE page. */
static const uint8_t *at_guard(const void *p, size_t len)
{
	if (len > (size_t)(guard_end - guard_map))
		abort();
	memcpy(guard_end - len, p, len);
	return guard_end - len;
}

static int parse(const void *p, size_t len, struct pp_info *pi)
{
	return pp_parse(at_guard(p, len), len, pi);
}

static const char *addr_str(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN];

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const void *)ss;

		inet_ntop(AF_INET, &a->sin_addr, ip, sizeof(ip));
		snprintf(buf, len, "%s:%u", ip, ntohs(a->sin_port));
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const void *)ss;

		inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof(ip));
		snprintf(buf, len, "[%s]:%u", ip, ntohs(a->sin6_port));
	} else
		snprintf(buf, len, "-");
	return buf;
}

/* Every strict prefix of h[0..len) must be PP_NEED_MORE. */
static void prefixes(const char *what, const uint8_t *h, size_t len)
{
	struct pp_info pi;
	size_t i, bad = 0;

	for (i = 0; i < len; i++)
		if (parse(h, i, &pi) != PP_NEED_MORE)
			bad++;
	CHECK_INT(bad, 0, "%s: every prefix (0..%zu bytes) needs more", what, len - 1);
}

static void good(const char *what, const void *h, size_t len, size_t want, int has_addr,
    const char *src, const char *dst)
{
	struct pp_info pi;
	char b[80];
	uint8_t *buf = malloc(len + 5);

	CHECK_INT(parse(h, len, &pi), want, "%s: header length", what);
	CHECK_INT(pi.has_addr, has_addr, "%s: has_addr", what);
	if (has_addr) {
		CHECK_STR(addr_str(&pi.src, b, sizeof(b)), src, "%s: source", what);
		CHECK_STR(addr_str(&pi.dst, b, sizeof(b)), dst, "%s: destination", what);
	}
	prefixes(what, h, want);
	/* client bytes after the header are not the header's business */
	memcpy(buf, h, len);
	memcpy(buf + len, "\x16\x03\x01\x00\x05", 5);
	CHECK_INT(parse(buf, len + 5, &pi), want, "%s: followed by a ClientHello", what);
	free(buf);
}

static void bad(const char *what, const void *h, size_t len)
{
	struct pp_info pi;
	int r = parse(h, len, &pi);

	CHECK(r == PP_ERR && pi.reason != NULL, "%s: error (%s)", what,
	    r == PP_ERR ? pi.reason : "none");
}

#define S(lit)	lit, sizeof(lit) - 1

static const uint8_t v2_tcp4_tlv[] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
	0x21,			/* v2, PROXY */
	0x11,			/* TCP over IPv4 */
	0x00, 12 + 3 + 4 + 3 + 0,
	203, 0, 113, 7,		/* source */
	198, 51, 100, 1,	/* destination */
	0x9c, 0x40,		/* 40000 */
	0x01, 0xbb,		/* 443 */
	0x02, 0x00, 0x04, 'a', '.', 'b', 'c',	/* authority "a.bc" */
	0x04, 0x00, 0x00,	/* NOOP, empty */
};

static const uint8_t v2_tcp6[] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
	0x21, 0x21, 0x00, 36,
	0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
	0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2,
	0x30, 0x39, 0x00, 0x50,
};

static const uint8_t v2_local[] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
	0x20,			/* v2, LOCAL (a health check) */
	0x00, 0x00, 0x00,	/* UNSPEC, no address */
};

static const uint8_t v2_local_tcp4[] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
	0x20, 0x11, 0x00, 12,	/* LOCAL with addresses: they are ignored */
	1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 0, 2,
};

static const uint8_t v2_unix[] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
	0x21, 0x31, 0x00, 4, 'x', 'y', 'z', 'w',	/* AF_UNIX: skipped */
};

static void test_parse(void)
{
	uint8_t b[200];

	good("v1 TCP4", S("PROXY TCP4 203.0.113.7 198.51.100.1 40000 443\r\n"), 47, 1,
	    "203.0.113.7:40000", "198.51.100.1:443");
	good("v1 TCP6", S("PROXY TCP6 2001:db8::1 2001:db8::2 12345 80\r\n"), 45, 1,
	    "[2001:db8::1]:12345", "[2001:db8::2]:80");
	good("v1 UNKNOWN", S("PROXY UNKNOWN\r\n"), 15, 0, NULL, NULL);
	good("v1 UNKNOWN with addresses", S("PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n"), 35, 0, NULL, NULL);
	good("v1 port 0 and 65535", S("PROXY TCP4 1.2.3.4 5.6.7.8 0 65535\r\n"), 36, 1,
	    "1.2.3.4:0", "5.6.7.8:65535");
	good("v2 TCP4 with TLVs", v2_tcp4_tlv, sizeof(v2_tcp4_tlv), sizeof(v2_tcp4_tlv), 1,
	    "203.0.113.7:40000", "198.51.100.1:443");
	good("v2 TCP6", v2_tcp6, sizeof(v2_tcp6), sizeof(v2_tcp6), 1,
	    "[2001:db8::1]:12345", "[2001:db8::2]:80");
	good("v2 LOCAL", v2_local, sizeof(v2_local), sizeof(v2_local), 0, NULL, NULL);
	good("v2 LOCAL with addresses", v2_local_tcp4, sizeof(v2_local_tcp4),
	    sizeof(v2_local_tcp4), 0, NULL, NULL);
	good("v2 AF_UNIX", v2_unix, sizeof(v2_unix), sizeof(v2_unix), 0, NULL, NULL);

	bad("a ClientHello", S("\x16\x03\x01\x02\x00\x01"));
	bad("lower case", S("proxy TCP4"));
	bad("v1 UDP4", S("PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n"));
	bad("v1 LF only", S("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n"));
	bad("v1 bad address", S("PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n"));
	bad("v1 IPv6 in TCP4", S("PROXY TCP4 ::1 5.6.7.8 1 2\r\n"));
	bad("v1 port too big", S("PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n"));
	bad("v1 leading zero", S("PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n"));
	bad("v1 missing port", S("PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n"));
	bad("v1 trailing blank", S("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n"));
	bad("v1 double blank", S("PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n"));
	bad("v1 extra field", S("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n"));
	memset(b, 'x', sizeof(b));
	memcpy(b, "PROXY UNKNOWN ", 14);
	bad("v1 no CRLF in 107 bytes", b, 107);
	bad("v1 no CRLF in 200 bytes", b, sizeof(b));
	memcpy(b + 105, "\r\n", 2);
	CHECK_INT(parse(b, 107, &(struct pp_info){ 0 }), 107, "v1 of exactly 107 bytes");

	memcpy(b, v2_tcp4_tlv, sizeof(v2_tcp4_tlv));
	b[12] = 0x11;
	bad("v2 version 1", b, sizeof(v2_tcp4_tlv));
	b[12] = 0x22;
	bad("v2 command 2", b, sizeof(v2_tcp4_tlv));
	memcpy(b, v2_tcp4_tlv, sizeof(v2_tcp4_tlv));
	b[15] = 8;		/* shorter than a TCP4 address block */
	bad("v2 short address block", b, 16 + 8);
	memcpy(b, v2_tcp4_tlv, sizeof(v2_tcp4_tlv));
	b[15] -= 1;		/* the last TLV runs past the header */
	bad("v2 TLV overrun", b, sizeof(v2_tcp4_tlv) - 1);
	memcpy(b, v2_tcp4_tlv, 16);
	b[14] = 0x10;		/* 16 + 4096 > PP_V2_MAX */
	b[15] = 0x00;
	bad("v2 too long", b, 16);
	b[14] = 0x0f;
	b[15] = 0xf0;		/* 16 + 4080 = PP_V2_MAX: fine, needs more */
	CHECK_INT(parse(b, 16, &(struct pp_info){ 0 }), PP_NEED_MORE, "v2 of 4096 bytes: waits");
}

static void roundtrip(int version, const char *src, unsigned sp, const char *dst, unsigned dp,
    const char *auth, const char *want_src)
{
	struct sockaddr_storage s, d;
	struct pp_info pi;
	uint8_t out[PP_WRITE_MAX];
	char b[80];
	size_t n;
	int fam = strchr(src, ':') ? AF_INET6 : AF_INET;

	memset(&s, 0, sizeof(s));
	memset(&d, 0, sizeof(d));
	s.ss_family = d.ss_family = (sa_family_t)fam;
	if (fam == AF_INET) {
		inet_pton(AF_INET, src, &((struct sockaddr_in *)&s)->sin_addr);
		inet_pton(AF_INET, dst, &((struct sockaddr_in *)&d)->sin_addr);
		((struct sockaddr_in *)&s)->sin_port = htons((uint16_t)sp);
		((struct sockaddr_in *)&d)->sin_port = htons((uint16_t)dp);
	} else {
		inet_pton(AF_INET6, src, &((struct sockaddr_in6 *)&s)->sin6_addr);
		inet_pton(AF_INET6, dst, &((struct sockaddr_in6 *)&d)->sin6_addr);
		((struct sockaddr_in6 *)&s)->sin6_port = htons((uint16_t)sp);
		((struct sockaddr_in6 *)&d)->sin6_port = htons((uint16_t)dp);
	}
	n = pp_write(version, &s, &d, auth, strlen(auth), out, sizeof(out));
	CHECK(n > 0, "v%d %s: written (%zu bytes)", version, src, n);
	CHECK_INT(parse(out, n, &pi), n, "v%d %s: reads back whole", version, src);
	CHECK_INT(pi.version, version, "v%d %s: version", version, src);
	CHECK_STR(addr_str(&pi.src, b, sizeof(b)), want_src, "v%d: source reads back", version);
	CHECK_INT(pp_write(version, &s, &d, auth, strlen(auth), out, n - 1), 0,
	    "v%d %s: one byte short of room: 0", version, src);
}

static void test_write(void)
{
	uint8_t out[PP_WRITE_MAX];
	struct sockaddr_storage s;
	struct pp_info pi;
	size_t n;

	roundtrip(1, "198.18.1.1", 40000, "198.18.1.2", 443, "", "198.18.1.1:40000");
	roundtrip(2, "198.18.1.1", 40000, "198.18.1.2", 443, "a.example.test", "198.18.1.1:40000");
	roundtrip(1, "2001:db8::1", 1, "2001:db8::2", 2, "", "[2001:db8::1]:1");
	roundtrip(2, "2001:db8::1", 1, "2001:db8::2", 2, "x", "[2001:db8::1]:1");

	n = pp_write(1, NULL, NULL, NULL, 0, out, sizeof(out));
	CHECK(n == 15 && memcmp(out, "PROXY UNKNOWN\r\n", 15) == 0, "v1 without addresses: UNKNOWN");
	n = pp_write(2, NULL, NULL, "a.b", 3, out, sizeof(out));
	CHECK(n == 16 + 6 && out[12] == 0x20 && out[13] == 0x00 && out[16] == 0x02,
	    "v2 without addresses: LOCAL, UNSPEC, the authority TLV");
	CHECK_INT(parse(out, n, &pi), n, "v2 LOCAL reads back");
	memset(&s, 0, sizeof(s));
	s.ss_family = AF_UNIX;
	n = pp_write(1, &s, &s, NULL, 0, out, sizeof(out));
	CHECK_INT(n, 15, "v1 AF_UNIX: UNKNOWN");
}

/* A QUIC flow's header: v2 PROXY, UDP4/UDP6, no TLV, byte for byte; the
 * reader takes it (a family it keeps unknown: no address). */
static void test_write_dgram(void)
{
	static const uint8_t want4[PP_DGRAM_V4] = {
		0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
		0x21,			/* v2, PROXY */
		0x12,			/* AF_INET, DGRAM */
		0x00, 0x0c,		/* 12 bytes follow */
		198, 18, 1, 1,		/* source: the client */
		198, 18, 1, 2,		/* destination: halfpipe's listen-quic address */
		0x9c, 0x40,		/* 40000 */
		0x01, 0xbb,		/* 443 */
	};
	struct sockaddr_storage s, d;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&s, *d6 = (struct sockaddr_in6 *)&d;
	uint8_t out[PP_DGRAM_V6];
	struct pp_info pi;
	size_t n;

	memset(&s, 0, sizeof(s));
	memset(&d, 0, sizeof(d));
	s.ss_family = d.ss_family = AF_INET;
	inet_pton(AF_INET, "198.18.1.1", &((struct sockaddr_in *)&s)->sin_addr);
	inet_pton(AF_INET, "198.18.1.2", &((struct sockaddr_in *)&d)->sin_addr);
	((struct sockaddr_in *)&s)->sin_port = htons(40000);
	((struct sockaddr_in *)&d)->sin_port = htons(443);
	n = pp_write_dgram(&s, &d, out, sizeof(out));
	CHECK(n == PP_DGRAM_V4 && memcmp(out, want4, n) == 0, "dgram IPv4: 28 bytes, UDP4");
	CHECK_INT(parse(out, n, &pi), n, "dgram IPv4 reads back whole");
	CHECK(pi.version == 2 && !pi.local && !pi.has_addr, "dgram IPv4 read: v2, addresses kept unknown");
	CHECK_INT(pp_write_dgram(&s, &d, out, PP_DGRAM_V4 - 1), 0, "dgram IPv4: a byte short: 0");
	memset(&s, 0, sizeof(s));
	memset(&d, 0, sizeof(d));
	s.ss_family = d.ss_family = AF_INET6;
	inet_pton(AF_INET6, "2001:db8::1", &s6->sin6_addr);
	inet_pton(AF_INET6, "2001:db8::2", &d6->sin6_addr);
	s6->sin6_port = htons(1);
	d6->sin6_port = htons(2);
	n = pp_write_dgram(&s, &d, out, sizeof(out));
	CHECK(n == PP_DGRAM_V6 && out[12] == 0x21 && out[13] == 0x22 && out[15] == 36 &&
	    memcmp(out + 16, &s6->sin6_addr, 16) == 0 && memcmp(out + 32, &d6->sin6_addr, 16) == 0 &&
	    out[49] == 1 && out[51] == 2, "dgram IPv6: 52 bytes, UDP6, addresses then ports");
	d.ss_family = AF_INET;
	n = pp_write_dgram(&s, &d, out, sizeof(out));
	CHECK(n == 16 && out[12] == 0x20 && out[13] == 0x00 && out[15] == 0,
	    "dgram of two families: LOCAL, no address");
}

static int match(const char *net, const char *ip)
{
	struct addr_net n;
	struct sockaddr_storage ss;

	if (addr_net_parse(net, &n) == -1)
		return -1;
	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, ip, &((struct sockaddr_in *)&ss)->sin_addr) == 1)
		ss.ss_family = AF_INET;
	else if (inet_pton(AF_INET6, ip, &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1)
		ss.ss_family = AF_INET6;
	return pp_net_match(&n, 1, &ss);
}

static void test_nets(void)
{
	CHECK_INT(match("198.18.1.0/24", "198.18.1.77"), 1, "inside a /24");
	CHECK_INT(match("198.18.1.0/24", "198.18.2.1"), 0, "outside a /24");
	CHECK_INT(match("198.18.1.77/24", "198.18.1.1"), 1, "host bits of the network ignored");
	CHECK_INT(match("198.18.1.128/25", "198.18.1.1"), 0, "outside a /25");
	CHECK_INT(match("198.18.1.1", "198.18.1.1"), 1, "one host");
	CHECK_INT(match("198.18.1.1", "198.18.1.2"), 0, "another host");
	CHECK_INT(match("0.0.0.0/0", "1.2.3.4"), 1, "/0: everything IPv4");
	CHECK_INT(match("0.0.0.0/0", "2001:db8::1"), 0, "/0 IPv4 is not IPv6");
	CHECK_INT(match("2001:db8::/32", "2001:db8:ffff::1"), 1, "inside an IPv6 /32");
	CHECK_INT(match("2001:db8::/33", "2001:db8:ffff::1"), 0, "outside an IPv6 /33");
	CHECK_INT(match("198.18.1.0/24", "::ffff:198.18.1.9"), 1, "IPv4-mapped IPv6 is IPv4");
	CHECK_INT(match("198.18.1.0/33", "1.1.1.1"), -1, "/33 on IPv4 refused");
	CHECK_INT(match("::/129", "::1"), -1, "/129 refused");
	CHECK_INT(match("1.2.3.4/", "1.1.1.1"), -1, "empty prefix refused");
	CHECK_INT(match("1.2.3.4/08", "1.1.1.1"), -1, "leading zero refused");
	CHECK_INT(match("1.2.3/8", "1.1.1.1"), -1, "short address refused");
	CHECK_INT(match("example.com/8", "1.1.1.1"), -1, "a name refused");
}

int main(void)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);

	guard_len = 2 * page;
	guard_map = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (guard_map == MAP_FAILED || mprotect(guard_map + page, page, PROT_NONE) == -1)
		return 1;
	guard_end = guard_map + page;
	test_parse();
	test_write();
	test_write_dgram();
	test_nets();
	munmap(guard_map, guard_len);
	return test_done();
}
