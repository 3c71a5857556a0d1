/* t_addrset: a backend name's address set (publish, read round robin, the
 * seqlock under a writer thread racing a reader), the family preference,
 * the same-set test, the re-resolution schedule (interval, TTL, floor), and
 * conf.c's side: names resolved by conf_finish() through c->resolve, the
 * resolve-* and resolvers directives. */
#include <arpa/inet.h>
#include <pthread.h>
#include <string.h>

#include "addrset.h"
#include "conf.h"
#include "test.h"

static struct sockaddr_storage ip(const char *s, unsigned port)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;

	memset(&ss, 0, sizeof(ss));
	if (strchr(s, ':') != NULL) {
		v6->sin6_family = AF_INET6;
		inet_pton(AF_INET6, s, &v6->sin6_addr);
		v6->sin6_port = htons((uint16_t)port);
	} else {
		v4->sin_family = AF_INET;
		inet_pton(AF_INET, s, &v4->sin_addr);
		v4->sin_port = htons((uint16_t)port);
	}
	return ss;
}

static const char *txt(const struct sockaddr_storage *ss, char *buf)
{
	return sockaddr_str(ss, buf, ADDR_STRLEN);
}

static void test_publish_read(void)
{
	struct sockaddr_storage in[3] = { ip("192.0.2.1", 443), ip("2001:db8::1", 443),
	    ip("192.0.2.2", 443) }, out[4];
	struct addrset *s = calloc(1, sizeof(*s));
	char b[ADDR_STRLEN];
	socklen_t len;
	uint32_t n = 99;
	size_t got;

	CHECK(addrset_read(s, 0, &out[0], &len, &n) == -1 && n == 0, "an empty set reads nothing");
	addrset_publish(s, in, 3);
	CHECK(addrset_read(s, 1, &out[0], &len, &n) == 0 && n == 3, "address 1 of 3");
	CHECK_STR(txt(&out[0], b), "[2001:db8::1]:443", "IPv6 with its port");
	CHECK_INT(len, sizeof(struct sockaddr_in6), "its length");
	CHECK(addrset_read(s, 5, &out[0], &len, &n) == 0, "k wraps");
	CHECK_STR(txt(&out[0], b), "192.0.2.2:443", "5 %% 3 is 2");
	CHECK_INT(len, sizeof(struct sockaddr_in), "IPv4 length");
	got = addrset_copy(s, out, 4);
	CHECK_INT(got, 3, "copy: all three");
	CHECK(got == 3 && addrset_same(out, 3, in, 3), "copy: the same addresses");
	CHECK_INT(addrset_first(s, 1000), 0, "cursor starts at 0");
	CHECK_INT(addrset_first(s, 1000), 1, "and advances");
	addrset_publish(s, in, 1);
	CHECK(addrset_read(s, 7, &out[0], &len, &n) == 0 && n == 1, "a smaller set replaces it");
	CHECK_STR(txt(&out[0], b), "192.0.2.1:443", "its one address");
	free(s);
}

static void test_prefer(void)
{
	struct sockaddr_storage in[5] = { ip("192.0.2.1", 1), ip("2001:db8::1", 1),
	    ip("192.0.2.2", 1), ip("192.0.2.1", 1), ip("2001:db8::2", 1) }, out[ADDRSET_MAX];
	struct sockaddr_storage many[ADDRSET_MAX + 4];
	char b[ADDR_STRLEN], name[32];
	size_t n, i;

	n = addrset_prefer(in, 5, PREFER_ANY, out);
	CHECK_INT(n, 4, "any: both families, the duplicate dropped");
	CHECK(n == 4 && out[0].ss_family == AF_INET6 && out[1].ss_family == AF_INET6 &&
	    out[2].ss_family == AF_INET, "any: IPv6 first");
	CHECK_STR(txt(&out[1], b), "[2001:db8::2]:1", "order within a family kept");
	n = addrset_prefer(in, 5, PREFER_IPV4, out);
	CHECK(n == 2 && out[0].ss_family == AF_INET && out[1].ss_family == AF_INET,
	    "ipv4: the A addresses only");
	n = addrset_prefer(in, 5, PREFER_IPV6, out);
	CHECK(n == 2 && out[0].ss_family == AF_INET6, "ipv6: the AAAA addresses only");
	n = addrset_prefer(in + 1, 1, PREFER_IPV4, out);
	CHECK(n == 1 && out[0].ss_family == AF_INET6, "ipv4 with no A: the AAAA one");
	n = addrset_prefer(in, 1, PREFER_IPV6, out);
	CHECK(n == 1 && out[0].ss_family == AF_INET, "ipv6 with no AAAA: the A one");
	CHECK_INT(addrset_prefer(in, 0, PREFER_ANY, out), 0, "nothing in, nothing out");
	for (i = 0; i < ADDRSET_MAX + 4; i++) {
		snprintf(name, sizeof(name), "10.0.0.%zu", i + 1);
		many[i] = ip(name, 1);
	}
	CHECK_INT(addrset_prefer(many, ADDRSET_MAX + 4, PREFER_ANY, out), ADDRSET_MAX,
	    "at most ADDRSET_MAX kept");
}

static void test_same_and_schedule(void)
{
	struct sockaddr_storage a[2] = { ip("192.0.2.1", 1), ip("192.0.2.2", 1) };
	struct sockaddr_storage b[2] = { ip("192.0.2.2", 1), ip("192.0.2.1", 1) };
	struct sockaddr_storage c[2] = { ip("192.0.2.2", 1), ip("192.0.2.1", 2) };

	CHECK(addrset_same(a, 2, b, 2), "same addresses in another order: the same");
	CHECK(!addrset_same(a, 2, c, 2), "another port: not the same");
	CHECK(!addrset_same(a, 2, b, 1), "fewer: not the same");
	CHECK(!addrset_same(a, 2, a + 1, 1), "one of them: not the same");
	CHECK_INT(addrset_next_ms(10000, 0), 10000, "no TTL: the interval");
	CHECK_INT(addrset_next_ms(10000, 3), 3000, "a shorter TTL wins");
	CHECK_INT(addrset_next_ms(10000, 300), 10000, "a longer TTL does not");
	CHECK_INT(addrset_next_ms(10000, -1), 10000, "a negative TTL is none");
	CHECK_INT(addrset_next_ms(500, 0), ADDRSET_FLOOR_MS, "never under the floor");
	CHECK_INT(addrset_next_ms(60000, 100000000L), 60000, "a huge TTL: the interval");
}

/* The seqlock under a race: a writer thread flips between a set of 2 and
 * one of 5 addresses; every address a reader gets is one of the set it was
 * read with (port = set size, last octet = index + 1). */
#define RACE_WRITES	20000
#define RACE_READS	200000

struct race {
	struct addrset	*s;
	int		 stop;
};

static void *race_writer(void *arg)
{
	struct race *r = arg;
	struct sockaddr_storage two[2] = { ip("10.0.0.1", 2), ip("10.0.0.2", 2) };
	struct sockaddr_storage five[5] = { ip("10.0.0.1", 5), ip("10.0.0.2", 5),
	    ip("10.0.0.3", 5), ip("10.0.0.4", 5), ip("10.0.0.5", 5) };
	int i;

	for (i = 0; i < RACE_WRITES && !__atomic_load_n(&r->stop, __ATOMIC_RELAXED); i++) {
		if (i % 2)
			addrset_publish(r->s, two, 2);
		else
			addrset_publish(r->s, five, 5);
	}
	return NULL;
}

static void test_race(void)
{
	struct race r = { calloc(1, sizeof(struct addrset)), 0 };
	struct sockaddr_storage one = ip("10.0.0.1", 2), out;
	struct sockaddr_in *v4 = (struct sockaddr_in *)&out;
	pthread_t t;
	socklen_t len;
	uint32_t n, k;
	unsigned port, octet;
	long bad = 0, misses = 0, i;

	addrset_publish(r.s, &one, 1);
	CHECK(pthread_create(&t, NULL, race_writer, &r) == 0, "writer thread");
	for (i = 0; i < RACE_READS; i++) {
		k = (uint32_t)i;
		if (addrset_read(r.s, k, &out, &len, &n) == -1) {
			misses++;
			continue;
		}
		port = ntohs(v4->sin_port);
		octet = ntohl(v4->sin_addr.s_addr) & 0xff;
		if (!((port == n && n != 1 && octet == k % n + 1) ||
		    (n == 1 && port == 2 && octet == 1)))
			bad++;
	}
	__atomic_store_n(&r.stop, 1, __ATOMIC_RELAXED);
	pthread_join(t, NULL);
	CHECK_INT(bad, 0, "every read under a racing writer is consistent");
	/* how often a read gives up depends on how the scheduler interleaves
	 * the two threads (a loaded machine: a quarter of them); that some
	 * succeed mid-race, and every one once the writer is done, does not */
	CHECK(misses < RACE_READS, "some reads succeed under a racing writer (%ld of %d gave up)",
	    misses, RACE_READS);
	CHECK(addrset_read(r.s, 0, &out, &len, &n) == 0, "a read after the writer stopped succeeds");
	free(r.s);
}

/* A fake c->resolve: "two.test" has an A and an AAAA address, "v6.test" an
 * AAAA only, anything else fails. */
static int fake_resolve(void *arg, const struct conf *c, const char *host,
    struct sockaddr_storage *out, size_t max, size_t *n, const char **why)
{
	(void)c;
	(*(int *)arg)++;
	if (strcmp(host, "two.test") == 0 && max >= 2) {
		out[0] = ip("192.0.2.7", 0);
		out[1] = ip("2001:db8::7", 0);
		*n = 2;
		return 0;
	}
	if (strcmp(host, "v6.test") == 0 && max >= 1) {
		out[0] = ip("2001:db8::6", 0);
		*n = 1;
		return 0;
	}
	*why = "Domain name not found";
	return -1;
}

static struct conf *load(const char *text, int *asked, char *errbuf, size_t errlen)
{
	struct conf *c = conf_new();
	FILE *in = fmemopen((void *)text, strlen(text), "r");
	FILE *errs = fmemopen(errbuf, errlen, "w");
	int n;

	memset(errbuf, 0, errlen);
	c->resolve = fake_resolve;
	c->resolve_arg = asked;
	n = conf_load_stream(c, in, "t.conf", errs);
	if (n == 0)
		n = conf_finish(c, errs);
	fclose(in);
	fclose(errs);
	if (n != 0) {
		conf_free(c);
		return NULL;
	}
	return c;
}

static void test_conf(void)
{
	struct sockaddr_storage out[4];
	struct backend *be;
	struct conf *c;
	char e[512], b[ADDR_STRLEN];
	int asked = 0;

	c = load("listen 127.0.0.1:0\nroute a.test two.test:8443\nroute b.test 127.0.0.1:9\n"
	    "resolve-interval 3s\nresolvers 198.18.53.1 [::1]:5353 127.0.0.1:0\n",
	    &asked, e, sizeof(e));
	CHECK(c != NULL, "a name loads through c->resolve: %s", e);
	if (c == NULL)
		return;
	be = c->listeners[0].routes[0].be;
	CHECK_INT(asked, 1, "asked once, at conf_finish");
	CHECK(be->dns != NULL && addrset_copy(be->dns, out, 4) == 2, "both addresses kept");
	CHECK_STR(txt(&out[0], b), "[2001:db8::7]:8443", "IPv6 first, with the port");
	CHECK_STR(txt(&be->addr, b), "[2001:db8::7]:8443", "addr is the first");
	CHECK(c->listeners[0].routes[1].be->dns == NULL, "an IP literal has no set");
	CHECK_INT(c->resolve_interval_ms, 3000, "resolve-interval");
	CHECK_STR(c->resolvers, "198.18.53.1:53,[::1]:5353,127.0.0.1:53",
	    "resolvers: c-ares' list, port 53 by default");
	conf_free(c);

	c = load("resolve-prefer ipv4\nlisten 127.0.0.1:0\nroute a.test two.test:1\n"
	    "route b.test v6.test:2\n", &asked, e, sizeof(e));
	CHECK(c != NULL, "resolve-prefer ipv4 loads: %s", e);
	if (c != NULL) {
		be = c->listeners[0].routes[0].be;
		CHECK(addrset_copy(be->dns, out, 4) == 1 && out[0].ss_family == AF_INET,
		    "ipv4: the A address only");
		be = c->listeners[0].routes[1].be;
		CHECK(addrset_copy(be->dns, out, 4) == 1 && out[0].ss_family == AF_INET6,
		    "ipv4 with no A: the AAAA one");
		conf_free(c);
	}

	c = load("listen 127.0.0.1:0\nroute a.test 127.0.0.1:1\ndefault nosuch.test:443\n",
	    &asked, e, sizeof(e));
	CHECK(c == NULL, "a name that does not resolve is an error");
	CHECK_STR(e, "t.conf:3: default: cannot resolve \"nosuch.test\": Domain name not found\n",
	    "said with its FILE:LINE and directive");

	c = conf_new();
	c->no_resolve = 1;
	c->resolve = fake_resolve;
	c->resolve_arg = &asked;
	CHECK(conf_apply_flag(c, "listen", "127.0.0.1:0", NULL) == 0 &&
	    conf_apply_flag(c, "route", "a.test=two.test:1", NULL) == 0 &&
	    conf_finish(c, NULL) == 0, "no_resolve with c->resolve: a name is fine (a reload "
	    "under seccomp)");
	conf_free(c);
}

/* A failing address cools down after fails_max failures in a row and walks
 * start past it until then; a success, or a new set, ends that. */
static void test_cooling(void)
{
	struct sockaddr_storage in[3] = { ip("192.0.2.1", 1), ip("192.0.2.2", 1),
	    ip("192.0.2.3", 1) };
	struct addrset *s = calloc(1, sizeof(*s));
	uint32_t k, seen[3] = { 0, 0, 0 };
	int i;

	addrset_publish(s, in, 3);
	addrset_failed(s, 4, 1000, 2, 500);	/* address 1, once: not yet */
	CHECK_INT(addrset_first(s, 1000) % 3, 0, "one failure of 2: nothing cools");
	CHECK_INT(addrset_first(s, 1000) % 3, 1, "address 1 still starts a walk");
	addrset_failed(s, 1, 1000, 2, 500);	/* twice in a row: cools until 1500 */
	for (i = 0; i < 30; i++)
		seen[addrset_first(s, 1200) % 3]++;
	CHECK(seen[1] == 0 && seen[0] == 10 && seen[2] == 20,
	    "cooling address 1 passed over, its turn to the next: %u %u %u",
	    seen[0], seen[1], seen[2]);
	for (i = 0; i < 3; i++)
		seen[i] = 0;
	for (i = 0; i < 3; i++)
		seen[addrset_first(s, 1500) % 3]++;
	CHECK(seen[0] == 1 && seen[1] == 1 && seen[2] == 1, "at its end it starts walks again");
	addrset_failed(s, 0, 2000, 1, 500);
	addrset_failed(s, 1, 2000, 1, 500);
	addrset_failed(s, 2, 2000, 1, 500);
	k = addrset_first(s, 2100);
	CHECK_INT(addrset_first(s, 2100), k + 1, "all cooling: the plain order, better than none");
	addrset_connected(s, 1);
	for (i = 0; i < 3; i++)
		seen[i] = 0;
	for (i = 0; i < 9; i++)
		seen[addrset_first(s, 2100) % 3]++;
	CHECK(seen[1] == 9, "a success ends its cool-down: %u %u %u", seen[0], seen[1], seen[2]);
	addrset_publish(s, in, 3);
	for (i = 0; i < 3; i++)
		seen[i] = 0;
	for (i = 0; i < 9; i++)
		seen[addrset_first(s, 2100) % 3]++;
	CHECK(seen[0] == 3 && seen[1] == 3 && seen[2] == 3, "a new set starts afresh");
	free(s);
}

int main(void)
{
	test_publish_read();
	test_cooling();
	test_prefer();
	test_same_and_schedule();
	test_race();
	test_conf();
	return test_done();
}
