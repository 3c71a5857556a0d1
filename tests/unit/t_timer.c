/* Deadline heap: order, ties, moves, cancels, against a fake clock. */
#include <stdlib.h>

#include "test.h"
#include "timer.h"

#define N 1000

int main(void)
{
	struct timer_heap h = { 0 };
	static struct timer t[N];
	struct timer *e;
	tick_t last;
	int i, popped, order_ok;

	for (i = 0; i < N; i++) {
		timer_init(&t[i]);
		timer_set(&h, &t[i], 1 + (tick_t)((i * 7919) % N));
	}
	CHECK_INT(h.n, N, "all armed");
	CHECK_INT(timer_next(&h), 1, "earliest is 1");
	CHECK(timer_pop_expired(&h, TICK_NONE) == NULL, "TICK_NONE clock pops nothing");

	/* move every even timer far out, cancel every third */
	for (i = 0; i < N; i += 2)
		timer_set(&h, &t[i], 100000 + i);
	for (i = 0; i < N; i += 3)
		timer_cancel(&h, &t[i]);
	CHECK(!timer_armed(&t[3]) && timer_armed(&t[1]), "cancel unarms");

	last = 0;
	popped = 0;
	order_ok = 1;
	while ((e = timer_pop_expired(&h, 50000)) != NULL) {
		if (e->when < last)
			order_ok = 0;
		last = e->when;
		if ((e - t) % 2 == 0 || (e - t) % 3 == 0)
			order_ok = 0;
		popped++;
	}
	CHECK(order_ok, "pops in deadline order, only live odd timers before 50000");
	for (i = 0, order_ok = 0; i < N; i++)
		order_ok += i % 2 && i % 3;
	CHECK_INT(popped, order_ok, "every odd, non-cancelled timer popped");
	CHECK(timer_next(&h) >= 100000, "the moved ones remain");

	/* after a burst the array shrinks back, what is left still in order */
	timer_heap_free(&h);
	for (i = 0; i < N; i++) {
		timer_init(&t[i]);
		timer_set(&h, &t[i], 1 + (tick_t)((i * 7919) % N));
	}
	CHECK(h.cap >= N, "grown to %zu slots for %d timers", h.cap, N);
	for (i = 10; i < N; i++)
		timer_cancel(&h, &t[i]);
	CHECK_INT(h.n, 10, "ten left");
	CHECK(h.cap <= 64, "the array is back to %zu slots (at most 64)", h.cap);
	last = 0;
	order_ok = 1;
	for (i = 0; (e = timer_pop_expired(&h, N + 1)) != NULL; i++) {
		if (e->when < last || e - t >= 10)
			order_ok = 0;
		last = e->when;
	}
	CHECK(order_ok && i == 10, "the ten pop in order after the shrink (%d popped)", i);

	/* ties: arming order */
	timer_heap_free(&h);
	for (i = 0; i < 10; i++) {
		timer_init(&t[i]);
		timer_set(&h, &t[i], 5);
	}
	order_ok = 1;
	for (i = 0; i < 10; i++)
		if (timer_pop_expired(&h, 5) != &t[i])
			order_ok = 0;
	CHECK(order_ok, "equal deadlines pop in arming order");
	CHECK(timer_pop_expired(&h, 5) == NULL, "empty heap pops nothing");

	CHECK_INT(tick_add(10, 0), TICK_NONE, "tick_add 0 ms is no deadline");
	CHECK_INT(tick_first(TICK_NONE, 7), 7, "tick_first ignores TICK_NONE");
	CHECK_INT(tick_first(9, 7), 7, "tick_first picks the earlier");
	CHECK_INT(tick_remain(TICK_NONE, 5), -1, "no deadline waits forever");
	CHECK_INT(tick_remain(3, 5), 0, "past deadline is due now");
	timer_heap_free(&h);
	return test_done();
}
