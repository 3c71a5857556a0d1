#include <stdlib.h>

#include "timer.h"

#define TIMER_HEAP_MIN 64	/* slots the array starts with and keeps */

static int before(const struct timer *a, const struct timer *b)
{
	if (a->when != b->when)
		return a->when < b->when;
	return a->seq < b->seq;
}

static void place(struct timer_heap *h, size_t i, struct timer *t)
{
	h->v[i] = t;
	t->idx = i;
}

static void sift_up(struct timer_heap *h, size_t i)
{
	struct timer *t = h->v[i];

	while (i > 0) {
		size_t parent = (i - 1) / 2;

		if (!before(t, h->v[parent]))
			break;
		place(h, i, h->v[parent]);
		i = parent;
	}
	place(h, i, t);
}

static void sift_down(struct timer_heap *h, size_t i)
{
	struct timer *t = h->v[i];

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= h->n)
			break;
		if (c + 1 < h->n && before(h->v[c + 1], h->v[c]))
			c++;
		if (!before(h->v[c], t))
			break;
		place(h, i, h->v[c]);
		i = c;
	}
	place(h, i, t);
}

/* After a burst the array goes back down (halved while a quarter or less
 * is used, never below TIMER_HEAP_MIN), so that it does not pin memory in
 * the middle of the allocator's heap; a failed realloc keeps it as it is. */
static void shrink(struct timer_heap *h)
{
	struct timer **v;

	if (h->cap <= TIMER_HEAP_MIN || h->n > h->cap / 4)
		return;
	if ((v = realloc(h->v, h->cap / 2 * sizeof(*v))) != NULL) {
		h->v = v;
		h->cap /= 2;
	}
}

void timer_cancel(struct timer_heap *h, struct timer *t)
{
	size_t i = t->idx;
	struct timer *last;

	if (i == TIMER_IDLE)
		return;
	t->idx = TIMER_IDLE;
	t->when = TICK_NONE;
	last = h->v[--h->n];
	if (i != h->n) {
		place(h, i, last);
		if (i > 0 && before(last, h->v[(i - 1) / 2]))
			sift_up(h, i);
		else
			sift_down(h, i);
	}
	shrink(h);
}

int timer_set(struct timer_heap *h, struct timer *t, tick_t when)
{
	if (when == TICK_NONE) {
		timer_cancel(h, t);
		return 0;
	}
	if (t->idx != TIMER_IDLE && t->when == when)
		return 0;
	timer_cancel(h, t);
	if (h->n == h->cap) {
		size_t cap = h->cap ? h->cap * 2 : TIMER_HEAP_MIN;
		struct timer **v = realloc(h->v, cap * sizeof(*v));

		if (v == NULL)
			return -1;
		h->v = v;
		h->cap = cap;
	}
	t->when = when;
	t->seq = h->seq++;
	place(h, h->n++, t);
	sift_up(h, t->idx);
	return 0;
}

tick_t timer_next(const struct timer_heap *h)
{
	return h->n ? h->v[0]->when : TICK_NONE;
}

struct timer *timer_pop_expired(struct timer_heap *h, tick_t now)
{
	struct timer *t;

	if (h->n == 0 || !tick_is_expired(h->v[0]->when, now))
		return NULL;
	t = h->v[0];
	timer_cancel(h, t);
	return t;
}

void timer_heap_free(struct timer_heap *h)
{
	free(h->v);
	h->v = NULL;
	h->n = h->cap = 0;
}
