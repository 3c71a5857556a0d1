/* Connection limits: max-conns, listener-max-conns, max-conns-per-source;
 * the order they are checked in, giving back, and how sources are keyed
 * (IPv4 /32, IPv6 /64, IPv4-mapped as IPv4). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "conf.h"
#include "limits.h"
#include "test.h"

static struct sockaddr_storage addr(const char *s)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, s, &in4->sin_addr) == 1)
		in4->sin_family = AF_INET;
	else if (inet_pton(AF_INET6, s, &in6->sin6_addr) == 1)
		in6->sin6_family = AF_INET6;
	return ss;
}

static struct conf *load(const char *text)
{
	struct conf *c = conf_new();
	FILE *f = fmemopen((void *)text, strlen(text), "r");

	c->no_resolve = 1;
	if (conf_load_stream(c, f, "t.conf", stderr) != 0 || conf_finish(c, stderr) != 0) {
		fclose(f);
		conf_free(c);
		return NULL;
	}
	fclose(f);
	return c;
}

int main(void)
{
	struct sockaddr_storage a = addr("192.0.2.1"), b = addr("192.0.2.2");
	struct sockaddr_storage m = addr("::ffff:192.0.2.1");
	struct sockaddr_storage v6a = addr("2001:db8:1:2::1"), v6b = addr("2001:db8:1:2:ffff::9");
	struct sockaddr_storage v6c = addr("2001:db8:1:3::1"), unix_ss;
	struct limit_hold h[8], x;
	struct conf *c;
	const struct listener_conf *l0, *l1;
	int i;

	memset(&unix_ss, 0, sizeof(unix_ss));
	unix_ss.ss_family = AF_UNIX;

	/* before limits_init(): everything passes, giving back is harmless */
	CHECK_INT(limits_take(NULL, &a, &x), LIMIT_OK, "no limits before init");
	limits_give(&x);

	/* defaults: no limit at all, no source table */
	c = load("listen 127.0.0.1:0\n");
	CHECK(c != NULL, "a conf with defaults loads");
	if (c == NULL)
		return test_done();
	CHECK_INT(c->max_conns, 0, "max-conns defaults to 0");
	CHECK_INT(c->max_conns_per_source, 0, "max-conns-per-source defaults to 0");
	CHECK_INT(c->listeners[0].max_conns, 0, "listener-max-conns defaults to 0");
	CHECK_INT(limits_init(c), 0, "init");
	for (i = 0; i < 8; i++)
		CHECK_INT(limits_take(&c->listeners[0], &a, &h[i]), LIMIT_OK, "no limit: take %d", i);
	CHECK_INT(limits_live(), 8, "8 counted");
	CHECK_INT(limits_live_source(&a), 0, "no source table without the limit");
	for (i = 0; i < 8; i++)
		limits_give(&h[i]);
	CHECK_INT(limits_live(), 0, "all given back");
	limits_free();
	conf_free(c);

	/* the global limit, over two listeners */
	c = load("max-conns 3\nlisten 127.0.0.1:0\nlisten 127.0.0.2:0\n");
	CHECK(c != NULL, "max-conns 3 loads");
	if (c == NULL)
		return test_done();
	CHECK_INT(limits_init(c), 0, "init");
	l0 = &c->listeners[0];
	l1 = &c->listeners[1];
	CHECK_INT(limits_take(l0, &a, &h[0]), LIMIT_OK, "1 of 3");
	CHECK_INT(limits_take(l1, &a, &h[1]), LIMIT_OK, "2 of 3");
	CHECK_INT(limits_take(l1, &b, &h[2]), LIMIT_OK, "3 of 3");
	CHECK_INT(limits_take(l0, &b, &x), LIMIT_GLOBAL, "4th refused by max-conns");
	CHECK_INT(limits_take(l1, &b, &x), LIMIT_GLOBAL, "on either listener");
	CHECK_INT(limits_live(), 3, "a refusal is not counted as live");
	CHECK_INT(limits_live_listener(l0), 1, "listener 0 holds 1");
	CHECK_INT(limits_live_listener(l1), 2, "listener 1 holds 2");
	limits_give(&h[1]);
	CHECK_INT(limits_live_listener(l1), 1, "given back to its listener");
	CHECK_INT(limits_take(l0, &b, &h[1]), LIMIT_OK, "room again after one ended");
	for (i = 0; i < 3; i++)
		limits_give(&h[i]);
	CHECK_INT(limits_live(), 0, "all given back");
	CHECK_INT(limits_count_refusal(LIMIT_GLOBAL), 1, "refusals counted process-wide");
	CHECK_INT(limits_count_refusal(LIMIT_SOURCE), 2, "all reasons in one total");
	CHECK_INT(limits_refused(LIMIT_GLOBAL), 1, "by reason: max-conns");
	CHECK_INT(limits_refused(LIMIT_SOURCE), 1, "by reason: max-conns-per-source");
	CHECK_STR(limits_name(LIMIT_LISTENER), "listener-max-conns", "reason names a directive");
	limits_free();
	conf_free(c);

	/* per listener: each block its own count; global checked first */
	c = load("max-conns 4\nlisten 127.0.0.1:0 127.0.0.3:0\nlistener-max-conns 2\n"
	    "listen 127.0.0.2:0\n");
	CHECK(c != NULL, "listener-max-conns loads");
	if (c == NULL)
		return test_done();
	CHECK_INT(c->listeners[0].max_conns, 2, "listener-max-conns lands in its block");
	CHECK_INT(c->listeners[1].max_conns, 0, "the next block has the default");
	CHECK_INT(limits_init(c), 0, "init");
	l0 = &c->listeners[0];
	l1 = &c->listeners[1];
	CHECK_INT(limits_take(l0, &a, &h[0]), LIMIT_OK, "listener 0: 1 of 2");
	CHECK_INT(limits_take(l0, &a, &h[1]), LIMIT_OK, "listener 0: 2 of 2");
	CHECK_INT(limits_take(l0, &b, &x), LIMIT_LISTENER, "listener 0: 3rd refused");
	CHECK_INT(limits_live(), 2, "the refusal gave back its global count");
	CHECK_INT(limits_take(l1, &a, &h[2]), LIMIT_OK, "listener 1 unaffected");
	CHECK_INT(limits_take(l1, &a, &h[3]), LIMIT_OK, "listener 1: 2nd");
	CHECK_INT(limits_take(l1, &a, &x), LIMIT_GLOBAL, "then max-conns 4 refuses first");
	for (i = 0; i < 4; i++)
		limits_give(&h[i]);
	CHECK_INT(limits_live() + limits_live_listener(l0) + limits_live_listener(l1), 0,
	    "all given back");
	limits_free();
	conf_free(c);

	/* issue 12, defect 5: a reload that adds and reorders listen blocks.
	 * The counts follow the blocks (by their addresses), a new block
	 * starts at 0, and a session of the old conf gives back to its own
	 * block's count (before: an array sized for the first conf, indexed by
	 * the new block's position: out of bounds, and a reordered block
	 * counted another's sessions). */
	c = load("listen 127.0.0.1:0\nlistener-max-conns 1\nlisten 127.0.0.2:0\n");
	CHECK(c != NULL, "two blocks load");
	if (c == NULL)
		return test_done();
	CHECK_INT(limits_init(c), 0, "init");
	CHECK_INT(limits_take(&c->listeners[0], &a, &h[0]), LIMIT_OK, "old block A: 1 of 1");
	CHECK_INT(limits_take(&c->listeners[1], &a, &h[1]), LIMIT_OK, "old block B: 1");
	{
		struct conf *c2 = load("listen 127.0.0.2:0\nlisten 127.0.0.3:0\n"
		    "listen 127.0.0.1:0\nlistener-max-conns 1\n");
		const struct listener_conf *nb, *nn, *na;

		CHECK(c2 != NULL, "the reloaded conf loads");
		if (c2 == NULL)
			return test_done();
		CHECK_INT(limits_bind(c2), 0, "bind the reloaded conf");
		nb = &c2->listeners[0];
		nn = &c2->listeners[1];
		na = &c2->listeners[2];
		CHECK_INT(limits_live_listener(na), 1, "A moved to the end: still holds 1");
		CHECK_INT(limits_live_listener(nb), 1, "B moved to the front: still holds 1");
		CHECK_INT(limits_live_listener(nn), 0, "the new block starts at 0");
		CHECK_INT(limits_take(na, &b, &x), LIMIT_LISTENER,
		    "A's limit counts its session from before the reload");
		CHECK_INT(limits_take(nn, &b, &h[2]), LIMIT_OK, "the new block counts");
		CHECK_INT(limits_take(nn, &b, &h[3]), LIMIT_OK, "and has no limit");
		CHECK_INT(limits_live_listener(nn), 2, "new block holds 2");
		limits_give(&h[0]);
		CHECK_INT(limits_live_listener(na), 0, "an old session gives back to A");
		CHECK_INT(limits_take(na, &b, &h[0]), LIMIT_OK, "room in A again");
		for (i = 0; i < 4; i++)
			limits_give(&h[i]);
		CHECK_INT(limits_live() + limits_live_listener(na) + limits_live_listener(nb) +
		    limits_live_listener(nn), 0, "all given back");
		conf_free(c2);
	}
	limits_free();
	conf_free(c);

	/* per source */
	c = load("max-conns-per-source 2\nlisten 127.0.0.1:0\nlisten 127.0.0.2:0\n");
	CHECK(c != NULL, "max-conns-per-source loads");
	if (c == NULL)
		return test_done();
	CHECK_INT(limits_init(c), 0, "init");
	limits_seed(1, 2);	/* fixed: these addresses do not collide under it */
	CHECK(limits_slot(&a) != limits_slot(&b), "two IPv4 addresses, two slots");
	CHECK_INT(limits_slot(&a), limits_slot(&m), "IPv4-mapped counts as the IPv4 address");
	CHECK_INT(limits_slot(&v6a), limits_slot(&v6b), "one IPv6 /64, one slot");
	CHECK(limits_slot(&v6a) != limits_slot(&v6c), "another /64, another slot");
	CHECK(limits_slot(&v6a) != limits_slot(&a), "IPv6 and IPv4 apart");
	CHECK_INT(limits_slot(&unix_ss), LIMITS_NO_SLOT, "no slot for other families");
	limits_seed(3, 4);
	CHECK(limits_slot(&a) != limits_slot(&b) || limits_slot(&v6a) != limits_slot(&v6c),
	    "the seed moves the slots");
	limits_seed(1, 2);
	l0 = &c->listeners[0];
	l1 = &c->listeners[1];
	CHECK_INT(limits_take(l0, &a, &h[0]), LIMIT_OK, "source a: 1 of 2");
	CHECK_INT(limits_take(l1, &m, &h[1]), LIMIT_OK, "source a (mapped, other listener): 2");
	CHECK_INT(limits_take(l0, &a, &x), LIMIT_SOURCE, "source a: 3rd refused");
	CHECK_INT(limits_live(), 2, "nothing counted for the refusal");
	CHECK_INT(limits_live_listener(l0), 1, "nor on the listener");
	CHECK_INT(limits_take(l0, &b, &h[2]), LIMIT_OK, "source b unaffected");
	CHECK_INT(limits_take(l0, &v6a, &h[3]), LIMIT_OK, "v6 /64: 1");
	CHECK_INT(limits_take(l0, &v6b, &h[4]), LIMIT_OK, "v6 /64, other host: 2");
	CHECK_INT(limits_take(l0, &v6a, &x), LIMIT_SOURCE, "v6 /64: 3rd refused");
	CHECK_INT(limits_take(l0, &v6c, &h[5]), LIMIT_OK, "another /64 unaffected");
	CHECK_INT(limits_live_source(&a), 2, "source a holds 2");
	limits_give(&h[0]);
	CHECK_INT(limits_live_source(&a), 1, "given back to its slot");
	CHECK_INT(limits_take(l0, &a, &h[0]), LIMIT_OK, "room again for source a");
	for (i = 0; i < 6; i++)
		limits_give(&h[i]);
	CHECK_INT(limits_live() + limits_live_source(&a) + limits_live_source(&v6a), 0,
	    "all given back");
	limits_free();
	conf_free(c);

	/* bounds and scope */
	c = load("listen 127.0.0.1:0\nmax-conns 10000001\n");
	CHECK(c == NULL, "max-conns above 10000000 is refused");
	conf_free(c);
	c = load("listener-max-conns 5\nlisten 127.0.0.1:0\n");
	CHECK(c == NULL, "listener-max-conns before any listen is refused");
	conf_free(c);
	return test_done();
}
