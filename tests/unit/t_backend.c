/* t_backend: a server's state machine (rise/fall, flapping, drain/disable,
 * the combination with passive cooling) on a fake clock, the pick it feeds,
 * the reload carry; and the TLS probe's ClientHello, parsed by the
 * project's own reader. */
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "conf.h"
#include "metrics.h"
#include "pool.h"
#include "probe_hello.h"
#include "tls_hello.h"
#include "test.h"

static void test_rise_fall(void)
{
	struct backend be;
	tick_t now = 1000;
	int i, flips = 0;

	memset(&be, 0, sizeof(be));
	strcpy(be.name, "10.0.0.1:443");
	CHECK_INT(backend_state(&be, now), BE_UP, "a new server is up");
	/* fall 3: two failures leave it up, the third takes it down */
	CHECK_INT(backend_check_result(&be, 0, "connect refused", 1, now, 2, 3), 0, "1 fail");
	CHECK_INT(backend_check_result(&be, 0, "connect refused", 1, now, 2, 3), 0, "2 fails");
	CHECK_INT(backend_state(&be, now), BE_UP, "still up after 2 of 3");
	CHECK_INT(backend_check_result(&be, 0, "timeout", 1000, now, 2, 3), 1, "3rd flips");
	CHECK_INT(backend_state(&be, now), BE_DOWN, "down after 3");
	CHECK(!backend_avail(&be, now, 1), "down: never picked, not even as a last resort");
	CHECK_INT(backend_note(&be, now, "3 checks failed: %s", "timeout"), 1, "logged once");
	CHECK_INT(backend_note(&be, now, "again"), 0, "not twice");
	/* rise 2: a pass then a fail resets the run */
	CHECK_INT(backend_check_result(&be, 1, "ok", 2, now, 2, 3), 0, "1 pass");
	CHECK_INT(backend_check_result(&be, 0, "reset", 2, now, 2, 3), 0, "a fail between");
	CHECK_INT(backend_check_result(&be, 1, "ok", 2, now, 2, 3), 0, "1 pass again");
	CHECK_INT(backend_state(&be, now), BE_DOWN, "still down");
	CHECK_INT(backend_check_result(&be, 1, "ok", 2, now, 2, 3), 1, "2 passes flip");
	CHECK_INT(backend_state(&be, now), BE_UP, "up again");
	/* flapping pass/fail never reaches fall 3: it stays up, no flip */
	for (i = 0; i < 20; i++)
		flips += backend_check_result(&be, i % 2, "x", 1, now, 2, 3);
	CHECK_INT(flips, 0, "flapping below fall changes nothing");
	CHECK_INT(backend_state(&be, now), BE_UP, "flapping: up");
	CHECK(be.health.npass == 13 && be.health.nfail == 14, "checks counted by result");
	CHECK(be.health.lat[0] + be.health.lat[1] == 26 && be.health.lat[BE_LAT_BUCKETS - 1] == 1,
	    "latency buckets: 26 of 1-2 ms, one of 1 s");
}

static void test_admin_and_cooling(void)
{
	struct backend a, b;
	struct backend *srv[2] = { &a, &b };
	struct pool p = { .srv = srv, .n = 2, .balance = BAL_RR, .weight = { 1, 1 } };
	tick_t now = 5000;

	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	strcpy(a.name, "a:1");
	strcpy(b.name, "b:1");
	CHECK_INT(pool_pick(&p, 0, 0, now), 0, "both up: a first");
	backend_set_admin(&a, BA_DRAIN);
	CHECK_INT(backend_state(&a, now), BE_DRAINING, "draining");
	CHECK_INT(pool_pick(&p, 0, 0, now), 1, "draining a is passed over");
	CHECK_INT(pool_pick(&p, 0, 2, now), -1, "only draining a left: none");
	backend_set_admin(&a, BA_DISABLE);
	CHECK_INT(backend_state(&a, now), BE_DISABLED, "disabled");
	CHECK_INT(pool_left(&p, 0, now), 1, "one left to pick among");
	backend_set_admin(&a, BA_READY);
	CHECK_INT(backend_state(&a, now), BE_UP, "enabled: up");
	/* passive cooling: passed over while b is up, the last resort when not */
	pool_failed(&a, now, 1, 1000);
	CHECK_INT(backend_state(&a, now), BE_COOLING, "cooling");
	CHECK_INT(pool_pick(&p, 0, 0, now), 1, "cooling a passed over");
	CHECK_INT(pool_pick(&p, 0, 2, now), 0, "cooling a tried as the last resort");
	b.health.down = 1;
	CHECK_INT(backend_state(&b, now), BE_DOWN, "b down by checks");
	CHECK_INT(pool_pick(&p, 0, 0, now), 0, "b down: cooling a is the one left");
	CHECK_INT(backend_state(&a, now + 1000), BE_UP, "cool-down over: up");
	backend_set_admin(&b, BA_DRAIN);
	CHECK_INT(backend_state(&b, now), BE_DRAINING, "draining outranks down");
	a.health.down = 1;
	backend_set_admin(&b, BA_READY);
	CHECK_INT(pool_pick(&p, 0, 0, now + 1000), -1, "every server down: no pick");
	CHECK_INT(backend_state(&a, now), BE_DOWN, "down outranks cooling");
}

static void test_carry(void)
{
	struct conf *o = conf_new(), *n = conf_new();
	FILE *errs = fopen("/dev/null", "w");
	struct mbuf out = { 0 };

	CHECK(o != NULL && n != NULL && errs != NULL, "confs");
	CHECK_INT(conf_apply_flag(o, "listen", "127.0.0.1:0", errs), 0, "old listen");
	CHECK_INT(conf_apply_flag(o, "route", "a.example=127.0.0.1:1,127.0.0.1:2,check=tls", errs),
	    0, "old route");
	CHECK_INT(conf_apply_flag(n, "listen", "127.0.0.1:0", errs), 0, "new listen");
	CHECK_INT(conf_apply_flag(n, "route", "a.example=127.0.0.1:2,127.0.0.1:3,check=tcp", errs),
	    0, "new route");
	CHECK_INT(o->backends[0]->health.check, BC_TLS, "check=tls");
	CHECK_STR(o->backends[0]->health.sni, "a.example", "the route's name is the SNI");
	backend_set_admin(o->backends[1], BA_DRAIN);
	o->backends[1]->health.down = 1;
	backend_carry(n, o);
	CHECK_STR(n->backends[0]->name, "127.0.0.1:2", "new backend 0");
	CHECK_INT(backend_state(n->backends[0], 1), BE_DRAINING, "127.0.0.1:2 still draining");
	CHECK_INT(n->backends[0]->health.down, 1, "and down");
	CHECK_INT(n->backends[0]->health.check, BC_TCP, "its check is the new conf's");
	CHECK_INT(backend_state(n->backends[1], 1), BE_UP, "a new server starts up");
	backend_table(&out, n, 1);
	CHECK(out.p != NULL && strncmp(out.p, "server\tstate\t", 13) == 0, "table header");
	CHECK(out.p != NULL && strstr(out.p, "\n127.0.0.1:2\tdraining\t0\t0\ttcp\t-\t-\t-\t127.0.0.1\n"),
	    "table row: %s", out.p ? out.p : "");
	mbuf_free(&out);
	backend_metrics(&out, n, 1);
	CHECK(out.p != NULL &&
	    strstr(out.p, "halfpipe_server_state{server=\"127.0.0.1:2\",state=\"draining\"} 1\n") &&
	    strstr(out.p, "halfpipe_server_up{server=\"127.0.0.1:3\"} 1\n") &&
	    strstr(out.p, "halfpipe_server_check_seconds_bucket{server=\"127.0.0.1:3\",le=\"0.001\"} 0\n"),
	    "gauges");
	mbuf_free(&out);
	fclose(errs);
	conf_unref(o);
	conf_unref(n);
}

static void test_probe_hello(void)
{
	uint8_t rnd[PROBE_RANDOM], out[PROBE_HELLO_MAX], scratch[4 + HELLO_MAX_DEFAULT];
	char name[254];
	struct hello_info hi;
	size_t len, i;

	for (i = 0; i < sizeof(rnd); i++)
		rnd[i] = (uint8_t)(i * 7 + 1);
	len = probe_hello(out, sizeof(out), "a.example.test", rnd);
	CHECK(len > 5 && out[0] == 22 && out[1] == 3, "a handshake record");
	CHECK_INT((size_t)(out[3] << 8 | out[4]), len - 5, "record length");
	CHECK_INT(hello_classify(out, len, 0, scratch, sizeof(scratch), &hi), HELLO_FOUND,
	    "our own reader takes it");
	CHECK(hi.sni_len == 14 && memcmp(hi.sni, "a.example.test", 14) == 0, "its SNI");
	CHECK(memmem(out, len, rnd + 64, 32) != NULL, "the key share's random bytes");
	for (i = 1; i < len; i++)
		CHECK_INT(hello_classify(out, i, 0, scratch, sizeof(scratch), &hi),
		    HELLO_NEED_MORE, "prefix %zu: need more", i);
	memset(name, 'a', 253);
	name[253] = '\0';
	for (i = 63; i < 253; i += 64)
		name[i] = '.';
	len = probe_hello(out, sizeof(out), name, rnd);
	CHECK(len > 0 && hello_classify(out, len, 0, scratch, sizeof(scratch), &hi) ==
	    HELLO_FOUND && hi.sni_len == 253, "a 253-byte name");
	CHECK_INT(probe_hello(out, 100, "a.example.test", rnd), 0, "too small a buffer");
	CHECK_INT(probe_hello(out, sizeof(out), "", rnd), 0, "no name");
}

int main(void)
{
	test_rise_fall();
	test_admin_and_cooling();
	test_carry();
	test_probe_hello();
	return test_done();
}
