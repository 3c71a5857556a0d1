/*
 * A rate-limited log line bound to a loop: the pure ratelog (ratelog.h)
 * plus the timer that says the summary when the interval is over, so that
 * no caller has to merge its deadline into anyone's wait. The line itself
 * and the summary's wording are the caller's (callbacks); this only
 * decides when.
 */
#ifndef HP_LOGNOTE_H
#define HP_LOGNOTE_H

#include "loop.h"
#include "ratelog.h"

struct lognote {
	struct ratelog	  r;
	struct loop_timer t;
	struct loop	 *loop;
	void		 *arg;		/* the caller's, for the summary */
	/* n more were kept quiet since the line was said; what: the last one's tag */
	void		(*summary)(struct lognote *ln, unsigned long long n, const char *what);
};

/** At most one line per interval_ms on loop l; summary says the rest. */
void lognote_init(struct lognote *ln, struct loop *l, uint32_t interval_ms,
    void (*summary)(struct lognote *ln, unsigned long long n, const char *what), void *arg);

/** One more event tagged what: 1, say it now; 0, counted (the summary
 *  comes when the interval is over). */
int lognote_take(struct lognote *ln, const char *what);

/** Forget what is kept quiet and stop the timer. */
void lognote_stop(struct lognote *ln);

#endif
