/* The loop's order within a turn (loop.h): timers due, then tasks, then
 * close-later; what a task queues waits a turn. Driven with a fake clock
 * through loop_run_pending(). */
#include "loop.h"
#include "test.h"

static char order[64];
static size_t norder;

static void note(char c)
{
	if (norder + 1 < sizeof(order))
		order[norder++] = c;
	order[norder] = '\0';
}

struct obj {
	struct loop		*l;
	struct loop_timer	 t;
	struct loop_task	 task;
	struct loop_closing	 closing;
	char			 tag;
	int			 requeue;	/* the task queues itself this often */
	struct obj		*victim;	/* the task closes it */
	int			*freed;
};

static void on_timer(struct loop_timer *lt)
{
	note(container_of(lt, struct obj, t)->tag);
}

static void on_free(struct loop_closing *c)
{
	struct obj *o = container_of(c, struct obj, closing);

	note('x');
	(*o->freed)++;
}

static void on_task(struct loop_task *t)
{
	struct obj *o = container_of(t, struct obj, task);

	note(o->tag);
	if (o->requeue-- > 0)
		loop_task_queue(o->l, &o->task);
	if (o->victim != NULL) {	/* ends another, still queued */
		loop_task_cancel(&o->victim->task);
		loop_close_later(o->l, &o->victim->closing, on_free);
		o->victim = NULL;
	}
}

int main(void)
{
	struct loop l;
	struct obj a = { .tag = 'a' }, b = { .tag = 'b' }, c = { .tag = 'c' };
	struct obj t1 = { .tag = 'T' }, t2 = { .tag = 'U' };
	int freed = 0;

	CHECK(loop_init(&l) == 0, "loop_init");
	l.now = 1000;
	a.l = b.l = c.l = &l;
	a.freed = b.freed = c.freed = &freed;
	loop_timer_init(&t1.t, on_timer);
	loop_timer_init(&t2.t, on_timer);
	loop_task_init(&a.task, on_task);
	loop_task_init(&b.task, on_task);
	loop_task_init(&c.task, on_task);

	/* timers in deadline order, only those due */
	loop_timer_set(&l, &t2.t, 1010);
	loop_timer_set(&l, &t1.t, 1005);
	loop_run_pending(&l);
	CHECK_STR(order, "", "nothing due at 1000");
	CHECK_INT(loop_timer_when(&t1.t), 1005, "armed at 1005");
	l.now = 1010;
	loop_run_pending(&l);
	CHECK_STR(order, "TU", "both due at 1010, earliest first");
	CHECK_INT(loop_timer_when(&t1.t), TICK_NONE, "a fired timer is unarmed");
	CHECK(loop_timer_in(&l, &t1.t, 0) == 0 && loop_timer_when(&t1.t) == TICK_NONE,
	    "in 0 ms: stopped");

	/* timers before tasks before close-later, one turn */
	norder = 0;
	order[0] = '\0';
	loop_timer_set(&l, &t1.t, 1010);
	loop_task_queue(&l, &a.task);
	loop_task_queue(&l, &a.task);	/* twice: once */
	loop_task_queue(&l, &b.task);
	loop_close_later(&l, &c.closing, on_free);
	loop_run_pending(&l);
	CHECK_STR(order, "Tabx", "timer, tasks in queue order, then the close");
	CHECK_INT(freed, 1, "closed once");

	/* a task that queues itself runs again next turn, not in this one */
	norder = 0;
	order[0] = '\0';
	a.requeue = 2;
	loop_task_queue(&l, &a.task);
	loop_run_pending(&l);
	CHECK_STR(order, "a", "requeued: not twice in a turn");
	CHECK(a.task.queued, "still queued for the next turn");
	loop_run_pending(&l);
	loop_run_pending(&l);
	loop_run_pending(&l);
	CHECK_STR(order, "aaa", "once a turn while it requeues");
	CHECK(!a.task.queued, "then done");

	/* an object ended by a task while queued is taken off, then freed */
	norder = 0;
	order[0] = '\0';
	freed = 0;
	a.victim = &b;
	loop_task_queue(&l, &a.task);
	loop_task_queue(&l, &b.task);
	loop_task_queue(&l, &c.task);
	loop_run_pending(&l);
	CHECK_STR(order, "acx", "b cancelled by a: not run, freed after the tasks");
	CHECK_INT(freed, 1, "freed once");

	/* cancel of what is not queued: nothing */
	loop_task_cancel(&b.task);
	loop_timer_stop(&l, &t2.t);
	CHECK(!b.task.queued && loop_timer_when(&t2.t) == TICK_NONE, "idempotent stops");

	/* loop_close runs what is left to close */
	freed = 0;
	loop_close_later(&l, &c.closing, on_free);
	loop_close(&l);
	CHECK_INT(freed, 1, "loop_close closes the rest");
	return test_done();
}
