#include "lognote.h"

static void on_due(struct loop_timer *lt)
{
	struct lognote *ln = container_of(lt, struct lognote, t);
	const char *what = NULL;
	unsigned long long n = ratelog_due(&ln->r, ln->loop->now, &what);

	if (n != 0)
		ln->summary(ln, n, what);
}

void lognote_init(struct lognote *ln, struct loop *l, uint32_t interval_ms,
    void (*summary)(struct lognote *ln, unsigned long long n, const char *what), void *arg)
{
	ratelog_init(&ln->r, interval_ms);
	loop_timer_init(&ln->t, on_due);
	ln->loop = l;
	ln->arg = arg;
	ln->summary = summary;
}

int lognote_take(struct lognote *ln, const char *what)
{
	if (ratelog_take(&ln->r, ln->loop->now, what))
		return 1;
	/* out of memory: the summary is lost, never the count of what follows */
	(void)loop_timer_set(ln->loop, &ln->t, ratelog_next(&ln->r));
	return 0;
}

void lognote_stop(struct lognote *ln)
{
	loop_timer_stop(ln->loop, &ln->t);
	ratelog_init(&ln->r, ln->r.interval_ms);
}
