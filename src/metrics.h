/*
 * The metrics endpoint's pure half: the Prometheus text exposition of every
 * worker's statistics (docs/metrics.md), and the check of an HTTP request.
 * No I/O: the serving half is metricsd.c.
 */
#ifndef HP_METRICS_H
#define HP_METRICS_H

#include <stddef.h>

#include "conf.h"
#include "stats.h"

/* A growing text buffer; oom is set (and text dropped) once malloc fails. */
struct mbuf {
	char	*p;
	size_t	 len, cap;
	int	 oom;
};

/** Append printf-style text to b. */
void mbuf_printf(struct mbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/** Append n bytes from p to b. */
void mbuf_append(struct mbuf *b, const void *p, size_t n);
/** Append s as a label value: backslash, double quote and newline escaped. */
void mbuf_label(struct mbuf *b, const char *s);
/** Free b's text. */
void mbuf_free(struct mbuf *b);

/**
 * The exposition (text format 0.0.4) of the statistics of ws[0..n), whose
 * route and backend arrays are laid out for c, appended to out. 0, or -1 when
 * out of memory.
 */
int metrics_render(struct mbuf *out, const struct conf *c, struct wstats *const *ws, size_t n);

#define METRICS_NEED_MORE 0

/**
 * The answer to the request in buf[0..len): METRICS_NEED_MORE until the
 * header block is complete, then an HTTP status: 200 for GET /metrics (a
 * query string is ignored), 404 for another path, 405 for another method, 400
 * for a malformed request line, 431 when max bytes hold no complete header.
 */
int metrics_request(const char *buf, size_t len, size_t max);

/** The HTTP framing under metrics_request(): the same statuses, except that
 *  any GET is 200 with *path, *plen its path (the query string cut). */
int metrics_http_get(const char *buf, size_t len, size_t max, const char **path, size_t *plen);

#endif
