/* The access log: one logfmt line per connection, written when it ends
 * (docs/logging.md lists the keys and the term codes). */
#ifndef HP_ACCESSLOG_H
#define HP_ACCESSLOG_H

#include <stdio.h>
#include <sys/socket.h>

#include "tick.h"

struct session;

void accesslog_write(FILE *f, const struct session *s, tick_t now);

/** "1.2.3.4:80" or "[::1]:80" into out. */
const char *sockaddr_str(const struct sockaddr_storage *ss, char *out, size_t outlen);

#endif
