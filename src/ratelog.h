/*
 * A log line that must not flood the log: said at most once per interval;
 * what comes in between is counted and summed up in one line when the
 * interval is over (the caller's loop runs ratelog_due() at
 * ratelog_next()). Pure: the caller passes the time and does the logging,
 * so a test drives it with a fake clock.
 */
#ifndef HP_RATELOG_H
#define HP_RATELOG_H

#include <stdint.h>

#include "tick.h"

struct ratelog {
	uint32_t		 interval_ms;
	tick_t			 said;		/* last said; TICK_NONE: never */
	tick_t			 flush;		/* the summary is due; TICK_NONE: none */
	unsigned long long	 unsaid;	/* kept quiet since `said` */
	const char		*what;		/* the caller's tag of the last one */
};

/** An empty limiter saying at most one line per interval_ms. */
static inline void ratelog_init(struct ratelog *r, uint32_t interval_ms)
{
	r->interval_ms = interval_ms;
	r->said = r->flush = TICK_NONE;
	r->unsaid = 0;
	r->what = NULL;
}

/**
 * One more event at now, tagged what (a listener's name, say). 1: say it
 * now (the interval starts again); 0: counted quietly, the summary is due
 * at ratelog_next().
 */
static inline int ratelog_take(struct ratelog *r, tick_t now, const char *what)
{
	if (r->said == TICK_NONE || now - r->said >= r->interval_ms) {
		r->said = now;
		r->unsaid = 0;
		r->flush = TICK_NONE;
		return 1;
	}
	r->unsaid++;
	r->what = what;
	r->flush = tick_add(r->said, r->interval_ms);
	return 0;
}

/** When the summary is due (TICK_NONE: nothing kept quiet). */
static inline tick_t ratelog_next(const struct ratelog *r)
{
	return r->flush;
}

/**
 * At or after ratelog_next(): the count kept quiet (0: nothing to say, or
 * not due yet), *what the last one's tag; the interval starts again.
 */
static inline unsigned long long ratelog_due(struct ratelog *r, tick_t now, const char **what)
{
	unsigned long long n = r->unsaid;

	if (r->flush == TICK_NONE || !tick_is_expired(r->flush, now))
		return 0;
	r->flush = TICK_NONE;
	r->unsaid = 0;
	*what = r->what;
	if (n)
		r->said = now;
	return n;
}

#endif
