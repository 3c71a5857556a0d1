/* The access log: one logfmt line per connection, written when it ends
 * (docs/logging.md lists the keys and the term codes). */
#ifndef HP_ACCESSLOG_H
#define HP_ACCESSLOG_H

#include <stdio.h>
#include <sys/socket.h>

#include "addr.h"	/* sockaddr_str(), for the log lines of its users */
#include "tick.h"

struct session;

/** Write the line of s, ending at now, to f. */
void accesslog_write(FILE *f, const struct session *s, tick_t now);

#endif
