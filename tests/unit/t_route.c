/* t_route: SNI -> route lookup, built by hand (no config file). */
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "conf.h"
#include "route.h"
#include "test.h"

#define FD_SCAN	256

static struct backend be[8];

static struct route routes[] = {
	/* 0 */ { .name = "a.example.test", .alpn = NULL, .be = &be[0], .file = "t", .line = 1 },
	/* 1 */ { .name = "b.example.test", .alpn = NULL, .be = &be[1], .file = "t", .line = 2 },
	/* 2 */ { .name = "*.example.org", .alpn = NULL, .be = &be[2], .file = "t", .line = 3 },
	/* 3 */ { .name = "*.deep.example.org", .alpn = NULL, .be = &be[3], .file = "t", .line = 4 },
	/* 4 */ { .name = "exact.example.org", .alpn = NULL, .be = &be[4], .file = "t", .line = 5 },
	/* 5 */ { .name = "acme.example.test", .alpn = "acme-tls/1", .be = &be[5], .file = "t", .line = 6 },
	/* 6 */ { .name = "acme.example.test", .alpn = NULL, .be = &be[6], .file = "t", .line = 7 },
	/* 7 */ { .name = "acme.example.test", .alpn = "h2", .be = &be[7], .file = "t", .line = 8 },
	/* 8 */ { .name = "only-alpn.example.test", .alpn = "acme-tls/1", .be = &be[5], .file = "t", .line = 9 },
	/* 9 */ { .name = "*.example.test", .alpn = NULL, .be = &be[1], .file = "t", .line = 10 },
	/* 10 */ { .name = "*.alpn.example.org", .alpn = "acme-tls/1", .be = &be[5], .file = "t", .line = 11 },
	/* 11 */ { .name = "_srv.example.net", .alpn = NULL, .be = &be[0], .file = "t", .line = 12 },
};
#define NROUTES	(sizeof(routes) / sizeof(routes[0]))

static struct route_table *t;

static const struct route *
get(const char *sni, const char *alpn, size_t alpn_len)
{
	return route_lookup(t, (const uint8_t *)sni, strlen(sni), (const uint8_t *)alpn, alpn_len);
}

/* Index of the route sni goes to, -1 for none. */
static int
idx(const char *sni, const char *alpn, size_t alpn_len)
{
	const struct route *r = get(sni, alpn, alpn_len);

	return r == NULL ? -1 : (int)(r - routes);
}

#define ROUTE_IS(sni, want) CHECK_INT(idx((sni), NULL, 0), (want), "\"%s\" -> %d", (sni), (want))
#define ROUTE_ALPN(sni, alpn, alen, want) \
	CHECK_INT(idx((sni), (alpn), (alen)), (want), "\"%s\" with ALPN %s -> %d", (sni), #alpn, (want))

/* Wire ALPN lists: u8 length + name. */
#define A_ACME	"\x0a" "acme-tls/1"
#define A_H2	"\x02" "h2"
#define A_HTTP	"\x08" "http/1.1"

static void
test_exact(void)
{
	ROUTE_IS("a.example.test", 0);
	ROUTE_IS("b.example.test", 1);
	ROUTE_IS("exact.example.org", 4);
	ROUTE_IS("_srv.example.net", 11);
	/* case */
	ROUTE_IS("A.EXAMPLE.TEST", 0);
	ROUTE_IS("A.eXaMpLe.TeSt", 0);
	/* one trailing dot, not two */
	ROUTE_IS("a.example.test.", 0);
	ROUTE_IS("A.Example.Test.", 0);
	ROUTE_IS("a.example.test..", -1);
	/* a length that stops inside the buffer */
	CHECK(route_lookup(t, (const uint8_t *)"a.example.testXYZ", 14, NULL, 0) == &routes[0],
	    "length, not NUL, ends the SNI");
}

static void
test_wildcard(void)
{
	ROUTE_IS("x.example.org", 2);
	ROUTE_IS("x.y.example.org", 2);
	ROUTE_IS("a.b.c.d.e.example.org", 2);
	ROUTE_IS("X.Example.Org.", 2);
	ROUTE_IS("example.org", -1);			/* never the bare suffix */
	ROUTE_IS(".example.org", -1);			/* empty label */
	ROUTE_IS("xexample.org", -1);			/* not a label boundary */
	/* a longer suffix before a shorter one */
	ROUTE_IS("x.deep.example.org", 3);
	ROUTE_IS("x.y.deep.example.org", 3);
	ROUTE_IS("deep.example.org", 2);		/* *.deep does not match deep itself */
	/* exact before wildcard */
	ROUTE_IS("exact.example.org", 4);
	ROUTE_IS("x.exact.example.org", 2);
	/* *.example.test under exact names of the same zone */
	ROUTE_IS("zzz.example.test", 9);
	ROUTE_IS("a.example.test", 0);
}

static void
test_no_match(void)
{
	ROUTE_IS("example.test", -1);
	ROUTE_IS("a.example.tes", -1);
	ROUTE_IS("a.example.testx", -1);
	ROUTE_IS("nothing.invalid", -1);
	ROUTE_IS("", -1);
	ROUTE_IS(".", -1);
	ROUTE_IS("..", -1);
	/* IP literals never match, not even through a wildcard */
	ROUTE_IS("127.0.0.1", -1);
	ROUTE_IS("1.2.3.4.", -1);
	ROUTE_IS("::1", -1);
	ROUTE_IS("[::1]", -1);
	/* odd bytes */
	ROUTE_IS("a example.test", -1);
	ROUTE_IS("x!.example.org", -1);
	ROUTE_IS("\xc3\xa9.example.org", -1);
	ROUTE_IS("*.example.org", -1);			/* a client cannot send the pattern */
	CHECK_INT(route_lookup(t, (const uint8_t *)"x\0.example.org", 14, NULL, 0) == NULL, 1,
	    "a NUL inside the SNI matches nothing");
	CHECK(route_lookup(t, NULL, 0, NULL, 0) == NULL, "NULL, 0 SNI");
	{
		char big[400];

		memset(big, 'a', sizeof(big));
		memcpy(big + sizeof(big) - 12, ".example.org", 12);
		CHECK(route_lookup(t, (const uint8_t *)big, sizeof(big), NULL, 0) == NULL,
		    "an SNI over 253 characters matches nothing");
		memcpy(big + 253 - 12, ".example.org", 12);
		CHECK(route_lookup(t, (const uint8_t *)big + 0, 253, NULL, 0) == &routes[2],
		    "a 253-character SNI matches");
		big[253] = '.';
		CHECK(route_lookup(t, (const uint8_t *)big, 254, NULL, 0) == &routes[2],
		    "253 characters plus the trailing dot match");
	}
}

static void
test_alpn(void)
{
	/* acme-tls/1 goes elsewhere; no or other ALPN falls back */
	ROUTE_ALPN("acme.example.test", A_ACME, 11, 5);
	ROUTE_ALPN("acme.example.test", A_H2 A_ACME, 14, 5);
	ROUTE_ALPN("acme.example.test", A_HTTP A_ACME A_H2, 23, 5);
	ROUTE_ALPN("acme.example.test", NULL, 0, 6);
	ROUTE_ALPN("acme.example.test", A_HTTP, 9, 6);
	ROUTE_ALPN("ACME.example.test.", A_ACME, 11, 5);
	/* two ALPN routes: the first written whose protocol is offered */
	ROUTE_ALPN("acme.example.test", A_H2, 3, 7);
	ROUTE_ALPN("acme.example.test", A_ACME A_H2, 14, 5);
	/* exact compare: case and prefixes */
	ROUTE_ALPN("acme.example.test", "\x0a" "ACME-TLS/1", 11, 6);
	ROUTE_ALPN("acme.example.test", "\x04" "acme", 5, 6);
	ROUTE_ALPN("acme.example.test", "\x0b" "acme-tls/12", 12, 6);
	/* malformed lists: an entry that overruns, or is empty, stops the scan */
	ROUTE_ALPN("acme.example.test", "\x0b" "acme-tls/1", 11, 6);
	ROUTE_ALPN("acme.example.test", "\x00" A_ACME, 12, 6);
	ROUTE_ALPN("acme.example.test", A_ACME, 10, 6);
	/* only an ALPN route for the name: no ALPN means no match for it, and
	 * the search goes on to the wildcards (*.example.test) */
	ROUTE_ALPN("only-alpn.example.test", A_ACME, 11, 8);
	ROUTE_ALPN("only-alpn.example.test", NULL, 0, 9);
	/* an ALPN wildcard falls back to the shorter wildcard */
	ROUTE_ALPN("x.alpn.example.org", A_ACME, 11, 10);
	ROUTE_ALPN("x.alpn.example.org", A_H2, 3, 2);
	/* ALPN does not beat an exact name */
	ROUTE_ALPN("a.example.test", A_ACME, 11, 0);
}

static void
test_empty(void)
{
	struct route_table *e = route_table_new(NULL, 0);

	CHECK(e != NULL, "empty table");
	CHECK(route_lookup(e, (const uint8_t *)"a.example.test", 14, NULL, 0) == NULL,
	    "empty table: no match");
	CHECK(route_lookup(e, (const uint8_t *)"a.example.test", 14,
	    (const uint8_t *)A_ACME, 11) == NULL, "empty table: no match with ALPN");
	route_table_free(e);
	route_table_free(NULL);
	CHECK(route_lookup(NULL, (const uint8_t *)"a.example.test", 14, NULL, 0) == NULL,
	    "NULL table: no match");
}

static void
test_one_wildcard_only(void)
{
	struct route r[] = { { .name = "*.example.org", .alpn = NULL, .be = &be[0], .file = "t", .line = 1 } };
	struct route_table *w = route_table_new(r, 1);

	CHECK(w != NULL, "wildcard-only table");
	CHECK(route_lookup(w, (const uint8_t *)"a.example.org", 13, NULL, 0) == &r[0],
	    "wildcard-only table: match");
	CHECK(route_lookup(w, (const uint8_t *)"example.org", 11, NULL, 0) == NULL,
	    "wildcard-only table: not the bare suffix");
	route_table_free(w);
}

int
main(void)
{
	char open_before[FD_SCAN];
	int fd, leaked = 0;

	for (fd = 0; fd < FD_SCAN; fd++)
		open_before[fd] = fcntl(fd, F_GETFD) != -1;
	t = route_table_new(routes, NROUTES);
	CHECK(t != NULL, "route_table_new");
	test_exact();
	test_wildcard();
	test_no_match();
	test_alpn();
	test_empty();
	test_one_wildcard_only();
	route_table_free(t);
	for (fd = 0; fd < FD_SCAN; fd++)
		if (!open_before[fd] && fcntl(fd, F_GETFD) != -1)
			leaked++;
	CHECK_INT(leaked, 0, "no fd left open");
	return test_done();
}
