/* Backend pools: parsing a route's servers and balance=, flags, and picking a
 * server (round-robin order, leastconn, cool-down skip and expiry on a fake
 * clock, every server cooling down, the budget split's server count). */
#include <string.h>

#include "backend.h"
#include "conf.h"
#include "pool.h"
#include "route.h"
#include "test.h"

static struct conf *load(const char *text, FILE *errs)
{
	struct conf *c = conf_new();
	FILE *f = fmemopen((void *)text, strlen(text), "r");
	int n;

	c->no_resolve = 1;
	n = conf_load_stream(c, f, "t.conf", errs) + conf_finish(c, errs);
	fclose(f);
	if (n != 0) {
		conf_free(c);
		return NULL;
	}
	return c;
}

/* The first error message of text, into buf. */
static const char *first_error(const char *text, char *buf, size_t len)
{
	FILE *errs = fmemopen(buf, len, "w");
	struct conf *c;

	memset(buf, 0, len);
	c = load(text, errs);
	fclose(errs);
	conf_free(c);
	if (strchr(buf, '\n') != NULL)
		*strchr(buf, '\n') = '\0';
	return buf;
}

static void test_parse(void)
{
	struct conf *c;
	struct route *r;
	char e[512];

	c = load("listen 127.0.0.1:0\n"
	    "route a.test 127.0.0.1:9001,127.0.0.1:9002,[::1]:9003 balance=leastconn alpn=h2 proxy=v2\n"
	    "route b.test 127.0.0.1:9002\n"
	    "backend-fails 5\nbackend-cooldown 30s\n", stderr);
	CHECK(c != NULL, "a pool route loads");
	if (c == NULL)
		return;
	r = &c->listeners[0].routes[0];
	CHECK_INT(r->pool->n, 3, "three servers");
	CHECK_INT(r->pool->balance, BAL_LEASTCONN, "balance=leastconn");
	CHECK_STR(r->pool->srv[2]->name, "[::1]:9003", "third server");
	CHECK(r->be == r->pool->srv[0], "be is the first server");
	CHECK(r->alpn != NULL && strcmp(r->alpn, "h2") == 0 && r->proxy == 2, "other options kept");
	r = &c->listeners[0].routes[1];
	CHECK_INT(r->pool->n, 1, "one server: a pool of one");
	CHECK_INT(r->pool->balance, BAL_RR, "rr is the default");
	CHECK(r->pool->srv[0] == c->listeners[0].routes[0].pool->srv[1],
	    "a server named twice is one struct backend (shared state)");
	CHECK_INT(c->backend_fails, 5, "backend-fails");
	CHECK_INT(c->backend_cooldown_ms, 30000, "backend-cooldown");
	conf_free(c);

	c = load("listen 127.0.0.1:0\nroute a.test 127.0.0.1:1\n", stderr);
	CHECK(c != NULL && c->backend_fails == 3 && c->backend_cooldown_ms == 10000,
	    "defaults: 3 fails, 10s cool-down");
	conf_free(c);

	CHECK_STR(first_error("listen 127.0.0.1:0\nroute a.test 127.0.0.1:1 balance=random\n", e, sizeof(e)),
	    "t.conf:2: route: bad balance \"random\" (want balance=rr, balance=leastconn or balance=source)", "bad balance");
	CHECK_STR(first_error("listen 127.0.0.1:0\nroute a.test 127.0.0.1:1 balance=rr balance=rr\n", e, sizeof(e)),
	    "t.conf:2: route: balance= given twice", "balance twice");
	CHECK_STR(first_error("listen 127.0.0.1:0\nroute a.test 127.0.0.1:1,127.0.0.1:1\n", e, sizeof(e)),
	    "t.conf:2: route: server \"127.0.0.1:1\" given twice", "server twice");
	CHECK_STR(first_error("listen 127.0.0.1:0\nroute a.test 127.0.0.1:1,\n", e, sizeof(e)),
	    "t.conf:2: route: bad backend \"\" (want HOST:PORT, HOST a name, a.b.c.d or [IPv6])",
	    "empty server");
	CHECK_STR(first_error("listen 127.0.0.1:0\nroute a.test 127.0.0.1:1,127.0.0.1:2,127.0.0.1:3,"
	    "127.0.0.1:4,127.0.0.1:5,127.0.0.1:6,127.0.0.1:7,127.0.0.1:8,127.0.0.1:9,127.0.0.1:10,"
	    "127.0.0.1:11,127.0.0.1:12,127.0.0.1:13,127.0.0.1:14,127.0.0.1:15,127.0.0.1:16,"
	    "127.0.0.1:17,127.0.0.1:18,127.0.0.1:19,127.0.0.1:20,127.0.0.1:21,127.0.0.1:22,"
	    "127.0.0.1:23,127.0.0.1:24,127.0.0.1:25,127.0.0.1:26,127.0.0.1:27,127.0.0.1:28,"
	    "127.0.0.1:29,127.0.0.1:30,127.0.0.1:31,127.0.0.1:32,127.0.0.1:33\n", e, sizeof(e)),
	    "t.conf:2: route: more than 32 servers in one route", "33 servers");
	CHECK_STR(first_error("listen 127.0.0.1:0\nbackend-fails 0\n", e, sizeof(e)),
	    "t.conf:2: backend-fails: 0 is out of range (1..1000)", "backend-fails 0");

	/* the command-line form: servers stay together until the first option */
	c = conf_new();
	c->no_resolve = 1;
	CHECK_INT(conf_apply_flag(c, "listen", "127.0.0.1:0", stderr), 0, "--listen");
	CHECK_INT(conf_apply_flag(c, "route", "a.test=127.0.0.1:1,127.0.0.1:2,balance=leastconn,alpn=h2",
	    stderr), 0, "--route with a pool");
	CHECK_INT(conf_finish(c, stderr), 0, "finish");
	r = &c->listeners[0].routes[0];
	CHECK(r->pool->n == 2 && r->pool->balance == BAL_LEASTCONN && r->alpn != NULL &&
	    strcmp(r->alpn, "h2") == 0, "--route pool parsed");
	conf_free(c);
}

static void test_pick(void)
{
	struct backend be[3];
	struct backend *srv[3] = { &be[0], &be[1], &be[2] };
	struct pool p = { .srv = srv, .n = 3, .balance = BAL_RR, .weight = { 1, 1, 1 } };
	uint32_t start, counts[3] = { 0, 0, 0 };
	tick_t now = 1000;
	int i;

	memset(be, 0, sizeof(be));
	CHECK_INT(pool_build(&p), 0, "pool_build");
	/* round robin: each session starts one further on */
	for (i = 0; i < 9; i++) {
		start = pool_first(&p, NULL);
		counts[pool_pick(&p, start, 0, now)]++;
		CHECK_INT(pool_pick(&p, start, 0, now), i % 3, "rr order %d", i);
	}
	CHECK(counts[0] == 3 && counts[1] == 3 && counts[2] == 3, "rr spreads evenly");
	/* a retry goes on from where the session started, skipping tried ones */
	CHECK_INT(pool_pick(&p, 1, 1u << 1, now), 2, "retry: the next one");
	CHECK_INT(pool_pick(&p, 2, (1u << 2) | 1u, now), 1, "retry wraps around");
	CHECK_INT(pool_pick(&p, 0, 7, now), -1, "all tried: none");
	CHECK_INT(pool_left(&p, 1u << 1, now), 2, "two left");

	/* cool-down: 3 failures in a row, 10 s */
	pool_failed(&be[0], now, 3, 10000);
	pool_failed(&be[0], now, 3, 10000);
	CHECK(!backend_cooling(&be[0], now), "two failures: still in");
	pool_failed(&be[0], now, 3, 10000);
	CHECK(backend_cooling(&be[0], now), "third failure: cooling down");
	CHECK_INT(pool_pick(&p, 0, 0, now), 1, "a cooling server is passed over");
	CHECK_INT(pool_pick(&p, 0, 0, now + 9999), 1, "until the cool-down ends");
	CHECK_INT(pool_left(&p, 0, now), 2, "a cooling server is not counted for the split");
	CHECK_INT(pool_pick(&p, 0, 0, now + 10000), 0, "then tried again");
	pool_failed(&be[0], now + 10000, 3, 10000);
	CHECK(backend_cooling(&be[0], now + 10001), "one more failure after it: cooling again");
	pool_connected(&be[0]);
	CHECK(!backend_cooling(&be[0], now) && be[0].fails == 0, "a success ends the run");
	/* every untried server cooling: tried anyway */
	for (i = 0; i < 3; i++)
		pool_failed(&be[i], now, 1, 10000);
	CHECK_INT(pool_pick(&p, 1, 0, now), 1, "all cooling: tried anyway, in order");
	CHECK_INT(pool_left(&p, 0, now), 3, "all cooling: all counted");
	pool_failed(&be[2], now, 1, 10000);
	pool_connected(&be[0]);
	CHECK_INT(pool_pick(&p, 1, 1u, now), 1, "only cooling ones untried: tried anyway");
	for (i = 0; i < 3; i++)
		pool_connected(&be[i]);

	/* leastconn: fewest in flight, ties in order from start */
	p.balance = BAL_LEASTCONN;
	pool_hold(&be[0]);
	pool_hold(&be[0]);
	pool_hold(&be[1]);
	CHECK_INT(pool_pick(&p, 0, 0, now), 2, "leastconn: the idle one");
	pool_hold(&be[2]);
	CHECK_INT(pool_pick(&p, 0, 0, now), 1, "leastconn: tie goes to the first from start");
	CHECK_INT(pool_pick(&p, 2, 0, now), 2, "leastconn: tie from another start");
	CHECK_INT(pool_pick(&p, 0, (1u << 1) | (1u << 2), now), 0, "leastconn: only untried");
	pool_failed(&be[1], now, 1, 10000);
	CHECK_INT(pool_pick(&p, 0, 0, now), 2, "leastconn: cooling passed over");
	pool_drop(&be[0]);
	pool_drop(&be[0]);
	CHECK_INT(be[0].inflight, 0, "drops undo holds");
	CHECK_INT(pool_pick(&p, 0, 0, now), 0, "leastconn: freed server first");
	free(p.seq);
}

/* nginx's smooth weighted round robin: weights 5,1,1 give a a b a c a a. */
static void test_swrr(void)
{
	struct backend be[3];
	struct backend *srv[3] = { &be[0], &be[1], &be[2] };
	struct pool p = { .srv = srv, .n = 3, .balance = BAL_RR, .weight = { 5, 1, 1 } };
	static const int want[7] = { 0, 0, 1, 0, 2, 0, 0 };
	uint32_t k;
	int ok = 1;

	memset(be, 0, sizeof(be));
	strcpy(be[0].name, "a:1");
	strcpy(be[1].name, "b:1");
	strcpy(be[2].name, "c:1");
	CHECK_INT(pool_build(&p), 0, "pool_build 5,1,1");
	CHECK_INT(p.nseq, 7, "cycle of 7");
	for (k = 0; k < 14; k++)
		if (pool_pick(&p, pool_first(&p, NULL), 0, 1000) != want[k % 7])
			ok = 0;
	CHECK(ok, "5,1,1: a a b a c a a, twice");
	p.backup = 1u << 2;
	CHECK_INT(pool_build(&p), 0, "c a backup");
	CHECK_INT(p.nseq, 6, "backups are not in the cycle");
	pool_failed(&be[0], 1000, 1, 10000);
	CHECK_INT(pool_pick(&p, 0, 0, 1000), 1, "a primary is left: no backup");
	pool_failed(&be[1], 1000, 1, 10000);
	CHECK_INT(pool_pick(&p, 0, 0, 1000), 2, "every primary cooling: the backup");
	pool_connected(&be[1]);
	CHECK_INT(pool_pick(&p, 0, 0, 1000), 1, "a primary back: it again");
	free(p.seq);
}

/* balance=source: 1000 client hashes over 4 servers; one cooling moves
 * exactly its clients; weights 3,1 take about 3/4 and 1/4. */
static void test_hrw(void)
{
	struct backend be[4];
	struct backend *srv[4] = { &be[0], &be[1], &be[2], &be[3] };
	struct pool p = { .srv = srv, .n = 4, .balance = BAL_SOURCE, .weight = { 1, 1, 1, 1 } };
	int before[1000], moved_other = 0, moved_own = 0, count[4] = { 0, 0, 0, 0 };
	uint32_t c;

	memset(be, 0, sizeof(be));
	for (c = 0; c < 4; c++)
		snprintf(be[c].name, sizeof(be[c].name), "10.0.0.%u:443", c + 1);
	CHECK_INT(pool_build(&p), 0, "pool_build source");
	for (c = 0; c < 1000; c++) {
		before[c] = pool_pick(&p, pool_first(&p, NULL) + c * 2654435761u, 0, 1000);
		count[before[c]]++;
	}
	CHECK(count[0] > 150 && count[1] > 150 && count[2] > 150 && count[3] > 150,
	    "equal weights spread: %d %d %d %d", count[0], count[1], count[2], count[3]);
	pool_failed(&be[2], 1000, 1, 10000);
	for (c = 0; c < 1000; c++) {
		int now_on = pool_pick(&p, c * 2654435761u, 0, 1000);
		if (before[c] == 2)
			moved_own += now_on != 2;
		else
			moved_other += now_on != before[c];
	}
	CHECK_INT(moved_own, count[2], "every client of the cooling server moves");
	CHECK_INT(moved_other, 0, "no other client moves");
	CHECK(pool_pick(&p, 7, 1u << 1, 1000) != 1, "a failed connect: the next best");
	pool_connected(&be[2]);
	p.n = 2;
	p.weight[0] = 3;
	CHECK_INT(pool_build(&p), 0, "pool_build 3,1");
	count[0] = count[1] = 0;
	for (c = 0; c < 4000; c++)
		count[pool_pick(&p, c * 2654435761u, 0, 1000)]++;
	CHECK(count[0] > 2850 && count[0] < 3150, "weights 3,1: %d of 4000 on the first", count[0]);
	free(p.seq);
}

/* source ADDR[,ADDR...]: round robin per family, errors. */
static void test_source(void)
{
	struct source_set set;
	const char *why = NULL;
	char bad[64];
	socklen_t len;
	const struct sockaddr_in *a, *b, *c2;

	CHECK_INT(source_parse("127.0.0.2,[::1],127.0.0.3", &set, &why, bad, sizeof(bad)), 0,
	    "three sources");
	CHECK(set.n4 == 2 && set.n6 == 1, "two IPv4, one IPv6");
	a = (const struct sockaddr_in *)source_next(&set, AF_INET, &len);
	b = (const struct sockaddr_in *)source_next(&set, AF_INET, &len);
	c2 = (const struct sockaddr_in *)source_next(&set, AF_INET, &len);
	CHECK(a != b && a == c2 && len == sizeof(*a), "round robin over the IPv4 ones");
	CHECK(source_next(&set, AF_INET6, &len) != NULL && len == sizeof(struct sockaddr_in6),
	    "the IPv6 one for an IPv6 backend");
	CHECK_INT(source_parse("off", &set, &why, bad, sizeof(bad)), 0, "off");
	CHECK(source_next(&set, AF_INET, &len) == NULL, "off: unbound");
	CHECK(source_parse("127.0.0.1:80", &set, &why, bad, sizeof(bad)) == -1 &&
	    strcmp(bad, "127.0.0.1:80") == 0, "a port is refused");
}

int main(void)
{
	test_parse();
	test_pick();
	test_swrr();
	test_hrw();
	test_source();
	return test_done();
}
