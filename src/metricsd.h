/*
 * The metrics endpoint (`metrics ADDR:PORT`, docs/metrics.md): HTTP/1.0
 * over a control connection (ctl.h: one request, its header block at most
 * 4 KiB, one answer, all within 5 s, at most 8 scrapes at once, more are
 * reset) in the first worker's loop. The pages are rows of metricsd.c's
 * table: GET /metrics gets the exposition of every worker's statistics,
 * GET /ready 200 "ready" while halfpipe accepts and 503 "draining" from the
 * first SIGTERM/SIGINT on (workers_ready()); another path 404, another
 * method 405.
 */
#ifndef HP_METRICSD_H
#define HP_METRICSD_H

struct worker;

/** Worker 0, before the sandbox: bind and listen on the configured address
 *  (or serve its inherited socket, inherit_metrics()),
 *  log "serving metrics on ADDR:PORT", serve from w's loop. 0 or -1. */
int metricsd_open(struct worker *w);

/** The metrics listening socket, or -1 (none): the hand-over sends it. */
int metricsd_fd(const struct worker *w);

/** Close the listener and every scrape in progress (NULL-safe). */
void metricsd_close(struct worker *w);

#endif
