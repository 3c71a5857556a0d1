/*
 * A worker's event loop: it owns time and teardown (after libuv's
 * uv_run). One turn, loop_run_once(), does in this order:
 *
 *   1. wait for I/O (epoll), no longer than the earliest timer, not at all
 *      while a task is queued; then read the clock once (l->now) and run the
 *      callback of every fd that is ready;
 *   2. run every timer due at l->now;
 *   3. run every task queued before this step began (deferred work: a
 *      session that gave way with bytes left, a reload taken between two
 *      batches); what a task queues runs next turn;
 *   4. run every close-later callback: the one place objects that an event
 *      of this turn might still name are freed (sessions, control
 *      connections alike).
 *
 * No proxy policy here: sessions, listeners and control connections are
 * handles that embed a struct ev, a struct loop_timer, a struct loop_task
 * or a struct loop_closing and recover themselves with container_of().
 * One thread per loop; nothing here takes a lock.
 */
#ifndef HP_LOOP_H
#define HP_LOOP_H

#include <stddef.h>
#include <stdint.h>

#include "tick.h"
#include "timer.h"

#define container_of(p, type, member) \
	((type *)(void *)((char *)(p) - offsetof(type, member)))

/* A registered fd's handler; it receives the epoll event bits. */
struct ev {
	void	(*fn)(struct ev *ev, uint32_t events);
};

/* A deadline with a callback; unarmed until loop_timer_set(). */
struct loop_timer {
	struct timer	  t;
	void		(*fn)(struct loop_timer *lt);
};

/* Deferred work, run once in step 3 of a turn per loop_task_queue(). */
struct loop_task {
	struct loop_task *next, *prev;
	int		  queued;
	void		(*fn)(struct loop_task *t);
};

/* An object to free in step 4, once no event of the turn can name it. */
struct loop_closing {
	struct loop_closing *next;
	void		(*fn)(struct loop_closing *c);
};

struct loop {
	int			 epfd;
	tick_t			 now;		/* read once per turn, after the wait */
	struct timer_heap	 timers;
	struct loop_task	 tasks;		/* list head (a ring) */
	struct loop_closing	*closing;
};

/** An empty loop; l->now is the time now. 0, or -1 (errno set). */
int loop_init(struct loop *l);
/** Run what is left to close, then free the loop (safe after a failed
 *  loop_init()). Timers and tasks still armed are simply forgotten. */
void loop_close(struct loop *l);

/** Register / change / remove fd; 0 or -1 (errno set). */
int loop_add(struct loop *l, int fd, uint32_t events, struct ev *ev);
int loop_mod(struct loop *l, int fd, uint32_t events, struct ev *ev);
int loop_del(struct loop *l, int fd);

/** An unarmed timer that will call fn. */
void loop_timer_init(struct loop_timer *lt, void (*fn)(struct loop_timer *lt));
/** Arm or move lt to deadline when; TICK_NONE stops it. 0, or -1 if out of
 *  memory (lt is then unarmed). */
int loop_timer_set(struct loop *l, struct loop_timer *lt, tick_t when);
/** Arm lt ms from now (0: stop it). 0 or -1 as loop_timer_set(). */
int loop_timer_in(struct loop *l, struct loop_timer *lt, uint32_t ms);
void loop_timer_stop(struct loop *l, struct loop_timer *lt);
/** When lt is due, TICK_NONE if unarmed. */
static inline tick_t loop_timer_when(const struct loop_timer *lt)
{
	return timer_armed(&lt->t) ? lt->t.when : TICK_NONE;
}

/** A task not queued, that will call fn. */
void loop_task_init(struct loop_task *t, void (*fn)(struct loop_task *t));
/** Queue t for step 3 (this turn's, or the next one's if step 3 is under
 *  way); queued already: nothing. The loop will not sleep meanwhile. */
void loop_task_queue(struct loop *l, struct loop_task *t);
/** Take t off the queue (not queued: nothing). */
void loop_task_cancel(struct loop_task *t);

/** Call fn(c) in step 4 of this turn (from step 4 itself: at once after
 *  the callbacks already queued). */
void loop_close_later(struct loop *l, struct loop_closing *c,
    void (*fn)(struct loop_closing *c));

/** One turn, as above. The number of fds that were ready, or -1 if
 *  epoll_wait failed (EINTR counts as 0). */
int loop_run_once(struct loop *l);

/** Steps 2-4 of a turn at l->now without waiting (tests). */
void loop_run_pending(struct loop *l);

#endif
