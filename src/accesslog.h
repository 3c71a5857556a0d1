/* The access log: one logfmt line per connection, written when it ends
 * (docs/logging.md lists the keys and the term codes). */
#ifndef HP_ACCESSLOG_H
#define HP_ACCESSLOG_H

#include <stdio.h>
#include <sys/socket.h>

#include "addr.h"	/* sockaddr_str(), for the log lines of its users */
#include "tick.h"

struct session;

/* Lines are buffered (ACCESS_BUF bytes, main.c's setvbuf()) and reach the
 * file when the buffer fills or ACCESS_FLUSH_MS after a worker wrote one
 * (its flush timer), and at exit: one write() per many lines under load,
 * a line at most this late when idle. */
#define ACCESS_FLUSH_MS	100
#define ACCESS_BUF	(32 * 1024)

/** Write the line of s, ending at now, to f. */
void accesslog_write(FILE *f, const struct session *s, tick_t now);

#endif
