/* The access log: one logfmt line per connection, written when it ends
 * (docs/logging.md lists the keys and the term codes). */
#ifndef HP_ACCESSLOG_H
#define HP_ACCESSLOG_H

#include <stdint.h>
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

/* What a QUIC flow's line says (quic.c fills it). */
struct flow_log {
	uint64_t			 id;
	const char			*lname;		/* the socket's bound address */
	const struct sockaddr_storage	*peer;
	char				 sni[256];
	char				 alpn[128];
	const char			*backend;	/* NULL: none */
	uint64_t			 dgrams[2];	/* client->server, server->client */
	uint64_t			 bytes[2];
	uint64_t			 dropped;	/* datagrams not passed on */
	tick_t				 start, last;	/* first datagram, last either way */
	int				 reason;	/* enum close_reason */
};

/** Write the line of a QUIC flow, ending at now, to f (proto=quic). */
void accesslog_write_flow(FILE *f, const struct flow_log *l, tick_t now);

/** Write the line of s, ending at now, to f. */
void accesslog_write(FILE *f, const struct session *s, tick_t now);

#endif
