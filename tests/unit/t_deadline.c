/* Deadline policy: each phase's next deadline, the relay's timeout, a
 * connect attempt's share and LINGER's back-off, against a fake clock. */
#include "deadline.h"
#include "test.h"

#define NOW ((tick_t)1000000)
#define WRAP ((tick_t)0 - 1)	/* the last tick before tick_t wraps */

static tick_t next(enum phase ph, tick_t expire, tick_t poll, tick_t last, tick_t acked, uint32_t ms)
{
	struct dl_in in = {
		.phase = ph, .phase_expire = expire, .poll_at = poll,
		.last_active = last, .acked_at = acked, .relay_ms = ms,
	};

	return dl_next(&in);
}

static void phases(void)
{
	CHECK_INT(next(PH_HELLO, NOW + 5000, NOW + 1, NOW, NOW, 10), NOW + 5000,
	    "HELLO: its own deadline, nothing else counts");
	CHECK_INT(next(PH_CONNECT, NOW + 250, TICK_NONE, NOW, TICK_NONE, 0), NOW + 250,
	    "CONNECT: the attempt's deadline");
	CHECK_INT(next(PH_REJECT, NOW + 30000, NOW + 1, NOW, TICK_NONE, 0), NOW + 30000,
	    "REJECT: half-closed-timeout's deadline, poll_at ignored");
	CHECK_INT(next(PH_HELLO, TICK_NONE, TICK_NONE, NOW, TICK_NONE, 0), TICK_NONE,
	    "HELLO with hello-timeout 0: none");
	CHECK_INT(next(PH_CLOSED, NOW + 1, NOW + 1, NOW, TICK_NONE, 10), TICK_NONE,
	    "CLOSED: none");

	CHECK_INT(next(PH_LINGER, NOW + 30000, NOW + 20, NOW, TICK_NONE, 0), NOW + 20,
	    "LINGER: the next look comes before the timeout");
	CHECK_INT(next(PH_LINGER, NOW + 10, NOW + 20, NOW, TICK_NONE, 0), NOW + 10,
	    "LINGER: the timeout comes before the next look");
	CHECK_INT(next(PH_LINGER, TICK_NONE, NOW + 20, NOW, TICK_NONE, 0), NOW + 20,
	    "LINGER with half-closed-timeout 0: only the looks");
	CHECK_INT(next(PH_LINGER, NOW + 10, TICK_NONE, NOW, TICK_NONE, 0), NOW + 10,
	    "LINGER with no look planned: the timeout");
}

static void relay(void)
{
	CHECK_INT(next(PH_RELAY, NOW + 1, NOW + 1, NOW, TICK_NONE, 0), TICK_NONE,
	    "RELAY with timeout 0: none, whatever phase_expire says");
	CHECK_INT(next(PH_RELAY, TICK_NONE, TICK_NONE, NOW, TICK_NONE, 60000), NOW + 30000,
	    "RELAY: the checkpoint halfway comes first");
	CHECK_INT(next(PH_RELAY, TICK_NONE, TICK_NONE, NOW, NOW + 29999, 60000), NOW + 30000,
	    "RELAY: a checkpoint of an earlier window does not count");
	CHECK_INT(next(PH_RELAY, TICK_NONE, TICK_NONE, NOW, NOW + 30000, 60000), NOW + 60000,
	    "RELAY: checkpoint taken halfway, then the full timeout");
	CHECK_INT(next(PH_RELAY, TICK_NONE, TICK_NONE, NOW, NOW + 45000, 60000), NOW + 60000,
	    "RELAY: checkpoint taken late, still the full timeout");
	CHECK_INT(next(PH_RELAY, TICK_NONE, TICK_NONE, NOW + 40000, NOW + 30000, 60000),
	    NOW + 70000, "RELAY: activity after the checkpoint opens a new window");
	CHECK_INT(next(PH_RELAY, TICK_NONE, TICK_NONE, NOW, TICK_NONE, 1001), NOW + 500,
	    "RELAY: an odd timeout's half rounds down");
	CHECK_INT(next(PH_RELAY, TICK_NONE, TICK_NONE, NOW, TICK_NONE, 1), NOW + 1,
	    "RELAY: a 1 ms timeout's checkpoint is 1 ms away, not now");
	CHECK_INT(next(PH_RELAY, TICK_NONE, TICK_NONE, NOW, NOW, 1), NOW + 1,
	    "RELAY: a 1 ms timeout after its checkpoint");
	CHECK_INT(next(PH_RELAY, TICK_NONE, TICK_NONE, WRAP - 49, TICK_NONE, 100), 1,
	    "RELAY: a checkpoint landing on the wrap is 1, not TICK_NONE");

	CHECK_INT(dl_relay_timeout(0, 60000, 30000), 60000, "both open: idle-timeout");
	CHECK_INT(dl_relay_timeout(1, 60000, 30000), 30000, "a FIN seen: half-closed-timeout");
	CHECK_INT(dl_relay_timeout(1, 60000, 0), 0, "half-closed-timeout 0 is none...");
	CHECK_INT(next(PH_RELAY, TICK_NONE, TICK_NONE, NOW, TICK_NONE,
	    dl_relay_timeout(1, 60000, 0)), TICK_NONE, "...and so is the deadline");
}

static void attempts(void)
{
	tick_t now = NOW, end = tick_add(NOW, 1000), d;
	uint32_t left;

	CHECK_INT(dl_attempt(TICK_NONE, NOW, 3), TICK_NONE, "connect-timeout 0: none");
	CHECK_INT(dl_attempt(end, NOW, 1), end, "one server: the whole budget");
	CHECK_INT(dl_attempt(end, NOW, 0), end, "none counted: the whole budget");
	CHECK_INT(dl_attempt(end, end, 3), end, "budget used up: its end");
	CHECK_INT(dl_attempt(end, end + 5, 3), end, "budget past: its end");
	CHECK_INT(dl_attempt(end, NOW, 4), NOW + 250, "four servers: a quarter each");
	CHECK_INT(dl_attempt(NOW + 3, NOW, 4), NOW + 1, "a share under 1 ms is 1 ms");
	CHECK_INT(dl_attempt(NOW + 4000000000u, NOW, 2), NOW + 0x7fffffff / 2,
	    "a budget past tick_remain()'s cap is shared as the cap");

	/* three servers dropping SYNs, each attempt timing out at its share */
	for (left = 3; left > 0; left--) {
		d = dl_attempt(end, now, left);
		if (left == 3)
			CHECK_INT(d, NOW + 333, "first of three: a third of 1000 ms");
		else if (left == 2)
			CHECK_INT(d, NOW + 666, "second: half of the 667 ms left");
		else
			CHECK_INT(d, end, "last: what is left, to the budget's end");
		now = d;
	}
	/* one that refuses at once leaves its share to the rest */
	CHECK_INT(dl_attempt(end, NOW + 10, 2), NOW + 505, "a refusal after 10 ms: half of 990");
}

static void linger(void)
{
	static const uint32_t want[] = { 20, 40, 80, 160, 200, 200, 200 };
	unsigned step = 0, i;
	int ok = 1;

	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		if (dl_linger_poll(NOW, &step) != NOW + want[i])
			ok = 0;
	CHECK(ok, "LINGER looks: 20, 40, 80, 160, then capped at %d ms", LINGER_POLL_MAX_MS);
	CHECK_INT(step, 4, "the step stops at 4");
	step = 0;
	CHECK_INT(dl_linger_poll(WRAP - 19, &step), 1, "a look landing on the wrap is 1, not TICK_NONE");
	CHECK_INT(step, 1, "and counts");
}

/* access-log-interval: the next progress line rides on the same timer, in
 * RELAY and LINGER only. */
static void progress_line(void)
{
	struct dl_in in = {
		.phase = PH_RELAY, .last_active = NOW, .relay_ms = 60000, .log_at = NOW + 500,
	};

	CHECK_INT(dl_next(&in), NOW + 500, "RELAY: the progress line before the checkpoint");
	in.log_at = NOW + 40000;
	CHECK_INT(dl_next(&in), NOW + 30000, "RELAY: the checkpoint before the progress line");
	in.log_at = TICK_NONE;
	CHECK_INT(dl_next(&in), NOW + 30000, "RELAY, interval off: as before");
	in.relay_ms = 0;
	in.log_at = NOW + 500;
	CHECK_INT(dl_next(&in), NOW + 500, "RELAY with no timeout: the progress line still");
	in = (struct dl_in){ .phase = PH_LINGER, .phase_expire = NOW + 30000,
	    .poll_at = NOW + 200, .log_at = NOW + 100 };
	CHECK_INT(dl_next(&in), NOW + 100, "LINGER: the progress line first");
	in.phase = PH_HELLO;
	in.phase_expire = NOW + 5000;
	CHECK_INT(dl_next(&in), NOW + 5000, "HELLO: no progress line");
	in.phase = PH_CLOSED;
	CHECK_INT(dl_next(&in), TICK_NONE, "CLOSED: nothing");
}

/* max-lifetime: the earlier of the phase's deadline and the lifetime's end,
 * in HELLO, CONNECT and RELAY; LINGER and REJECT keep their own bound. */
static tick_t life(enum phase ph, tick_t expire, tick_t last, uint32_t ms, tick_t end)
{
	struct dl_in in = {
		.phase = ph, .phase_expire = expire, .poll_at = TICK_NONE,
		.last_active = last, .acked_at = TICK_NONE, .relay_ms = ms,
		.life_expire = end,
	};

	return dl_next(&in);
}

static void lifetime(void)
{
	CHECK_INT(life(PH_HELLO, NOW + 5000, NOW, 0, NOW + 100), NOW + 100,
	    "HELLO: a lifetime ending before hello-timeout wins");
	CHECK_INT(life(PH_HELLO, NOW + 5000, NOW, 0, NOW + 9000), NOW + 5000,
	    "HELLO: hello-timeout before the lifetime's end");
	CHECK_INT(life(PH_CONNECT, NOW + 250, NOW, 0, NOW + 200), NOW + 200,
	    "CONNECT: the lifetime before the attempt's deadline");
	CHECK_INT(life(PH_RELAY, TICK_NONE, NOW, 10000, NOW + 3000), NOW + 3000,
	    "RELAY: the lifetime before the idle checkpoint");
	CHECK_INT(life(PH_RELAY, TICK_NONE, NOW, 10000, NOW + 9000), NOW + 5000,
	    "RELAY: the idle checkpoint before the lifetime");
	CHECK_INT(life(PH_RELAY, TICK_NONE, NOW, 0, NOW + 9000), NOW + 9000,
	    "RELAY with idle-timeout off: the lifetime is the only deadline");
	CHECK_INT(life(PH_RELAY, TICK_NONE, NOW, 0, TICK_NONE), TICK_NONE,
	    "RELAY, idle-timeout off, no lifetime: none");
	CHECK_INT(life(PH_LINGER, NOW + 30000, NOW, 0, NOW + 5), NOW + 30000,
	    "LINGER: ending already, the lifetime ignored");
	CHECK_INT(life(PH_REJECT, NOW + 30000, NOW, 0, NOW + 5), NOW + 30000,
	    "REJECT: the lifetime ignored");
	CHECK_INT(life(PH_CLOSED, NOW + 1, NOW, 0, NOW + 5), TICK_NONE, "CLOSED: none");
}

int main(void)
{
	phases();
	progress_line();
	lifetime();
	relay();
	attempts();
	linger();
	return test_done();
}
