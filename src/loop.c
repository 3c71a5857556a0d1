#include <errno.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "loop.h"

#define LOOP_BATCH 256

int loop_init(struct loop *l)
{
	l->timers = (struct timer_heap){ 0 };
	l->tasks.next = l->tasks.prev = &l->tasks;
	l->closing = NULL;
	l->now = tick_now();
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	return l->epfd == -1 ? -1 : 0;
}

static void run_closing(struct loop *l)
{
	struct loop_closing *c;

	while ((c = l->closing) != NULL) {
		l->closing = c->next;
		c->fn(c);
	}
}

void loop_close(struct loop *l)
{
	run_closing(l);
	if (l->epfd != -1)
		close(l->epfd);
	l->epfd = -1;
	timer_heap_free(&l->timers);
	l->tasks.next = l->tasks.prev = &l->tasks;
}

static int ctl(struct loop *l, int op, int fd, uint32_t events, struct ev *ev)
{
	struct epoll_event e = { .events = events, .data.ptr = ev };

	return epoll_ctl(l->epfd, op, fd, &e);
}

int loop_add(struct loop *l, int fd, uint32_t events, struct ev *ev)
{
	return ctl(l, EPOLL_CTL_ADD, fd, events, ev);
}

int loop_mod(struct loop *l, int fd, uint32_t events, struct ev *ev)
{
	return ctl(l, EPOLL_CTL_MOD, fd, events, ev);
}

int loop_del(struct loop *l, int fd)
{
	return ctl(l, EPOLL_CTL_DEL, fd, 0, NULL);
}

void loop_timer_init(struct loop_timer *lt, void (*fn)(struct loop_timer *lt))
{
	timer_init(&lt->t);
	lt->fn = fn;
}

int loop_timer_set(struct loop *l, struct loop_timer *lt, tick_t when)
{
	return timer_set(&l->timers, &lt->t, when);
}

int loop_timer_in(struct loop *l, struct loop_timer *lt, uint32_t ms)
{
	return timer_set(&l->timers, &lt->t, tick_add(l->now, ms));
}

void loop_timer_stop(struct loop *l, struct loop_timer *lt)
{
	timer_cancel(&l->timers, &lt->t);
}

void loop_task_init(struct loop_task *t, void (*fn)(struct loop_task *t))
{
	t->next = t->prev = NULL;
	t->queued = 0;
	t->fn = fn;
}

void loop_task_queue(struct loop *l, struct loop_task *t)
{
	if (t->queued)
		return;
	t->queued = 1;
	t->prev = l->tasks.prev;
	t->next = &l->tasks;
	l->tasks.prev->next = t;
	l->tasks.prev = t;
}

void loop_task_cancel(struct loop_task *t)
{
	if (!t->queued)
		return;
	t->prev->next = t->next;
	t->next->prev = t->prev;
	t->next = t->prev = NULL;
	t->queued = 0;
}

void loop_close_later(struct loop *l, struct loop_closing *c,
    void (*fn)(struct loop_closing *c))
{
	c->fn = fn;
	c->next = l->closing;
	l->closing = c;
}

/* Step 3: the tasks queued so far; those queued meanwhile wait a turn. */
static void run_tasks(struct loop *l)
{
	struct loop_task mark, *t;

	if (l->tasks.next == &l->tasks)
		return;
	loop_task_init(&mark, NULL);
	loop_task_queue(l, &mark);
	while ((t = l->tasks.next) != &mark) {
		loop_task_cancel(t);
		t->fn(t);
	}
	loop_task_cancel(&mark);
}

void loop_run_pending(struct loop *l)
{
	struct timer *t;

	while ((t = timer_pop_expired(&l->timers, l->now)) != NULL) {
		struct loop_timer *lt = container_of(t, struct loop_timer, t);

		lt->fn(lt);
	}
	run_tasks(l);
	run_closing(l);
}

int loop_run_once(struct loop *l)
{
	struct epoll_event evs[LOOP_BATCH];
	int i, n, timeout;

	timeout = l->tasks.next != &l->tasks ? 0 : tick_remain(timer_next(&l->timers), l->now);
	n = epoll_wait(l->epfd, evs, LOOP_BATCH, timeout);
	l->now = tick_now();	/* before any handler stamps a deadline with it */
	if (n == -1) {
		if (errno != EINTR)
			return -1;
		n = 0;
	}
	for (i = 0; i < n; i++) {
		struct ev *ev = evs[i].data.ptr;

		ev->fn(ev, evs[i].events);
	}
	loop_run_pending(l);
	return n;
}
