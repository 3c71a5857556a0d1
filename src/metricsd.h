/*
 * The metrics endpoint's serving half: a tiny non-blocking HTTP/1.0 responder
 * in the first worker's event loop (`metrics ADDR:PORT`, docs/metrics.md).
 * GET /metrics gets the exposition of every worker's statistics; another path
 * 404. One request per connection, its header block at most 4 KiB, answered
 * once whole; then our FIN, and the close once the client's FIN comes, all
 * within 5 s (else a reset). At most 8 scrapes at once; more are reset.
 */
#ifndef HP_METRICSD_H
#define HP_METRICSD_H

#include "stats.h"
#include "tick.h"

struct worker;
struct metricsd;

/** Called from the main thread for every worker before any starts: the
 *  scraper reads the statistics of all registered workers. */
void metricsd_register(struct wstats *st);

/** Worker 0, before the sandbox: bind and listen on the configured address,
 *  log "serving metrics on ADDR:PORT", serve from w's loop. 0 or -1. */
int metricsd_open(struct worker *w);

/** Close the listener and every scrape in progress (NULL-safe). */
void metricsd_close(struct worker *w);

/** The earliest deadline of a scrape in progress (TICK_NONE: none). */
tick_t metricsd_next(const struct worker *w);

/** Reset the scrapes whose deadline passed at w->now. */
void metricsd_expire(struct worker *w);

#endif
