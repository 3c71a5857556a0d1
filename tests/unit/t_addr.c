/* t_addr: addresses to and from text (src/addr.c): numeric ADDR:PORT and
 * what is wrong with a bad one, HOST:PORT with and without the resolver,
 * networks, an IP address of a given family out of a longer text, the text
 * of an address, its port, and when two are the same. */
#include <netinet/in.h>
#include <sys/un.h>

#include "addr.h"
#include "test.h"

/* addr_parse(s) then its text again ("" if refused): a round trip. */
static const char *parsed(const char *s, char *buf, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl = 0;

	if (addr_parse(s, &ss, &sl) != ADDR_OK)
		return "";
	if (sl != (ss.ss_family == AF_INET ? sizeof(struct sockaddr_in) :
	    sizeof(struct sockaddr_in6)))
		return "(bad length)";
	return sockaddr_str(&ss, buf, len);
}

static void test_parse(void)
{
	static const struct { const char *s; int want; } bad[] = {
		{ "127.0.0.1", ADDR_ESHAPE }, { ":80", ADDR_ESHAPE }, { "::1:80", ADDR_ESHAPE },
		{ "[::1]80", ADDR_ESHAPE }, { "[::1:80", ADDR_ESHAPE }, { "a]:80", ADDR_ESHAPE },
		{ "127.0.0.1:99999", ADDR_EPORT }, { "127.0.0.1:", ADDR_EPORT },
		{ "127.0.0.1:+80", ADDR_EPORT }, { "127.0.0.1:000080", ADDR_EPORT },
		{ "[::1]:8x", ADDR_EPORT }, { "256.0.0.1:80", ADDR_ENUMERIC },
		{ "localhost:80", ADDR_ENUMERIC }, { "[fe80::zz]:80", ADDR_ENUMERIC },
		{ "[1.2.3.4]:80", ADDR_ENUMERIC }, { "[]:80", ADDR_ENUMERIC },
		{ "1.2.3:80", ADDR_ENUMERIC },
	};
	struct sockaddr_storage ss;
	char buf[ADDR_STRLEN], longer[ADDR_TEXT_MAX + 8];
	socklen_t sl;
	size_t i;

	CHECK_STR(parsed("127.0.0.1:0", buf, sizeof(buf)), "127.0.0.1:0", "IPv4, port 0");
	CHECK_STR(parsed("192.0.2.1:65535", buf, sizeof(buf)), "192.0.2.1:65535", "port 65535");
	CHECK_STR(parsed("[::1]:443", buf, sizeof(buf)), "[::1]:443", "IPv6");
	CHECK_STR(parsed("[2001:DB8::0001]:08443", buf, sizeof(buf)), "[2001:db8::1]:8443",
	    "IPv6 in capitals, leading zeros: the text is canonical");
	CHECK_STR(parsed("[::ffff:192.0.2.1]:1", buf, sizeof(buf)), "[::ffff:192.0.2.1]:1",
	    "IPv4-mapped IPv6 stays IPv6");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		sl = 12345;
		CHECK_INT(addr_parse(bad[i].s, &ss, &sl), bad[i].want, "\"%s\" refused as %d",
		    bad[i].s, bad[i].want);
		CHECK_INT(sl, 12345, "\"%s\": no length", bad[i].s);
	}
	memset(longer, '1', sizeof(longer) - 1);
	longer[sizeof(longer) - 1] = '\0';
	CHECK_INT(addr_parse(longer, &ss, &sl), ADDR_ESHAPE, "longer than ADDR_TEXT_MAX");
}

static void test_resolve(void)
{
	static const struct { const char *s; int want; } bad[] = {
		{ "127.0.0.1", ADDR_ESHAPE }, { ":80", ADDR_ESHAPE }, { "[]:80", ADDR_ESHAPE },
		{ "[::1]:0", ADDR_EPORT }, { "x.example:65536", ADDR_EPORT },
		{ "bad!host:80", ADDR_EHOST }, { "a_b c:1", ADDR_EHOST },
		{ "1.2.3:80", ADDR_ENUMERIC }, { "1.2.3.4.5:80", ADDR_ENUMERIC },
		{ "[fe80::zz]:1", ADDR_ENUMERIC }, { "localhost:80", ADDR_EOFF },
		{ "x-1.example.test:443", ADDR_EOFF },
	};
	struct sockaddr_storage ss;
	char buf[ADDR_STRLEN];
	const char *why = NULL;
	socklen_t sl = 0;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_INT(addr_resolve(bad[i].s, 1, &ss, &sl, &why), bad[i].want,
		    "no_resolve: \"%s\" is %d", bad[i].s, bad[i].want);
	CHECK(why == NULL, "no_resolve: the resolver was not asked");
	CHECK_INT(addr_resolve("192.0.2.7:9", 1, &ss, &sl, &why), ADDR_OK, "numeric IPv4");
	CHECK_STR(sockaddr_str(&ss, buf, sizeof(buf)), "192.0.2.7:9", "numeric IPv4 text");
	CHECK_INT(sl, sizeof(struct sockaddr_in), "numeric IPv4 length");
	CHECK_INT(addr_resolve("[::1]:9", 1, &ss, &sl, &why), ADDR_OK, "numeric IPv6");
	CHECK_STR(sockaddr_str(&ss, buf, sizeof(buf)), "[::1]:9", "numeric IPv6 text");
	CHECK_INT(sl, sizeof(struct sockaddr_in6), "numeric IPv6 length");

	CHECK_INT(addr_resolve("localhost:9005", 0, &ss, &sl, &why), ADDR_OK, "localhost resolves");
	CHECK(ss.ss_family == AF_INET || ss.ss_family == AF_INET6, "localhost: IPv4 or IPv6");
	CHECK_INT(addr_port(&ss), 9005, "localhost: the port");
	why = NULL;
	CHECK_INT(addr_resolve("nosuch.invalid:443", 0, &ss, &sl, &why), ADDR_ERESOLVE,
	    "a name that does not resolve");
	CHECK(why != NULL && *why != '\0', "the resolver says why (%s)", why ? why : "(null)");
}

static void test_ip(void)
{
	struct sockaddr_storage ss;
	char buf[ADDR_STRLEN];
	socklen_t sl = 0;

	CHECK_INT(addr_ip_parse(AF_INET, "10.1.2.3 rest", 8, &ss, &sl), 0, "IPv4 out of a longer text");
	CHECK_STR(addr_ip_str(&ss, buf, sizeof(buf)), "10.1.2.3", "its text");
	CHECK_INT(addr_port(&ss), 0, "port 0");
	CHECK_INT(sl, sizeof(struct sockaddr_in), "its length");
	CHECK_INT(addr_ip_parse(AF_INET6, "10.1.2.3", 8, &ss, NULL), -1, "IPv4 is not AF_INET6");
	CHECK_INT(addr_ip_parse(AF_INET, "::1", 3, &ss, NULL), -1, "IPv6 is not AF_INET");
	CHECK_INT(addr_ip_parse(AF_UNSPEC, "::1", 3, &ss, NULL), 0, "AF_UNSPEC takes IPv6");
	CHECK_INT(ss.ss_family, AF_INET6, "... as AF_INET6");
	CHECK_INT(addr_ip_parse(AF_UNSPEC, "", 0, &ss, NULL), -1, "empty");
	CHECK_INT(addr_ip_parse(AF_UNSPEC, "1.2.3.4 ", 8, &ss, NULL), -1, "a trailing blank");
	CHECK_INT(addr_ip_parse(AF_UNSPEC,
	    "0000:0000:0000:0000:0000:ffff:255.255.255.255:", 46, &ss, NULL), -1,
	    "longer than any address");
	CHECK(addr_name_char('a') && addr_name_char('Z') && addr_name_char('7') &&
	    addr_name_char('-') && addr_name_char('_') && addr_name_char('.'),
	    "name characters");
	CHECK(!addr_name_char('!') && !addr_name_char(':') && !addr_name_char(' ') &&
	    !addr_name_char(0x80), "no name characters");
}

static void test_nets(void)
{
	struct addr_net n;
	static const uint8_t v6[16] = { 0x20, 0x01, 0x0d, 0xb8 };

	CHECK_INT(addr_net_parse("198.18.1.77/23", &n), 0, "IPv4 /23");
	CHECK(n.family == AF_INET && n.bits == 23 && n.addr[0] == 198 && n.addr[1] == 18 &&
	    n.addr[2] == 0 && n.addr[3] == 0, "host bits cleared");
	CHECK_INT(addr_net_parse("198.18.1.77", &n), 0, "one IPv4 host");
	CHECK(n.bits == 32 && n.addr[3] == 77, "one host: /32");
	CHECK_INT(addr_net_parse("2001:db8:ffff::1/32", &n), 0, "IPv6 /32");
	CHECK(n.family == AF_INET6 && n.bits == 32 && memcmp(n.addr, v6, 16) == 0,
	    "IPv6 host bits cleared");
	CHECK_INT(addr_net_parse("::/0", &n), 0, "IPv6 /0");
	CHECK_INT(addr_net_parse("::1/129", &n), -1, "/129");
	CHECK_INT(addr_net_parse("1.2.3.4/33", &n), -1, "/33 on IPv4");
	CHECK_INT(addr_net_parse("1.2.3.4/", &n), -1, "empty prefix");
	CHECK_INT(addr_net_parse("1.2.3.4/08", &n), -1, "leading zero");
	CHECK_INT(addr_net_parse("1.2.3.4/1x", &n), -1, "not a number");
	CHECK_INT(addr_net_parse("/8", &n), -1, "no address");
	CHECK_INT(addr_net_parse("example.com/8", &n), -1, "a name");
}

static void test_text_port_same(void)
{
	struct sockaddr_storage a, b;
	struct sockaddr_un *un = (struct sockaddr_un *)&a;
	char buf[ADDR_STRLEN], small[8];

	CHECK_INT(addr_parse("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535", &a, NULL),
	    ADDR_OK, "the longest text");
	CHECK_STR(sockaddr_str(&a, buf, sizeof(buf)),
	    "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535", "fits in ADDR_STRLEN");
	CHECK_STR(sockaddr_str(&a, small, sizeof(small)), "[ffff:f", "cut to the buffer");
	addr_set_port(&a, 8080);
	CHECK_INT(addr_port(&a), 8080, "addr_set_port, IPv6");

	CHECK_INT(addr_parse("192.0.2.1:80", &a, NULL), ADDR_OK, "a");
	CHECK_INT(addr_parse("192.0.2.1:80", &b, NULL), ADDR_OK, "b");
	CHECK(addr_same(&a, &b), "same IPv4 address and port");
	addr_set_port(&b, 81);
	CHECK(!addr_same(&a, &b), "another port");
	CHECK_INT(addr_parse("192.0.2.2:80", &b, NULL), ADDR_OK, "b again");
	CHECK(!addr_same(&a, &b), "another IPv4 address");
	CHECK_INT(addr_parse("[::ffff:192.0.2.1]:80", &b, NULL), ADDR_OK, "b IPv4-mapped");
	CHECK(!addr_same(&a, &b), "IPv4-mapped IPv6 is another family");
	CHECK_INT(addr_parse("[fe80::1]:80", &a, NULL), ADDR_OK, "a IPv6");
	CHECK_INT(addr_parse("[fe80::1]:80", &b, NULL), ADDR_OK, "b IPv6");
	CHECK(addr_same(&a, &b), "same IPv6 address and port");
	((struct sockaddr_in6 *)&b)->sin6_scope_id = 2;
	CHECK(!addr_same(&a, &b), "another IPv6 scope");

	memset(&a, 0, sizeof(a));
	un->sun_family = AF_UNIX;
	CHECK_STR(sockaddr_str(&a, buf, sizeof(buf)), "-", "AF_UNIX: -");
	CHECK_STR(addr_ip_str(&a, buf, sizeof(buf)), "-", "AF_UNIX: no IP");
	CHECK_INT(addr_port(&a), 0, "AF_UNIX: no port");
	addr_set_port(&a, 80);
	CHECK_INT(addr_port(&a), 0, "AF_UNIX: addr_set_port does nothing");
	b = a;
	CHECK(addr_same(&a, &b), "AF_UNIX: the same bytes");
}

int main(void)
{
	test_parse();
	test_resolve();
	test_ip();
	test_nets();
	test_text_port_same();
	return test_done();
}
