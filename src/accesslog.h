/* The access log: one line per connection, written when it ends, in logfmt
 * or JSON (access-log-format; docs/logging.md lists the keys and the term
 * codes). */
#ifndef HP_ACCESSLOG_H
#define HP_ACCESSLOG_H

#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include "addr.h"	/* sockaddr_str(), for the log lines of its users */
#include "tick.h"

struct session;

/* Lines are buffered (ACCESS_BUF bytes, logfile.c's setvbuf()) and reach the
 * file when the buffer fills or ACCESS_FLUSH_MS after a worker wrote one
 * (its flush timer), and at exit: one write() per many lines under load,
 * a line at most this late when idle. */
#define ACCESS_FLUSH_MS	100
#define ACCESS_BUF	(32 * 1024)

/* access-log-format: the value stored in struct conf. */
enum access_format { ACCESS_LOGFMT, ACCESS_JSON };

/* The longest line either format writes: every field at its longest, each
 * byte of a string escaped as \u00XX (6 bytes). */
#define ACCESS_LINE_MAX	8192

/** Write the line of s at now to f, in format fmt: one fwrite(), so lines
 *  of several workers never interleave, after a flush if the buffer has no
 *  room left for the whole line, so that every write() ends a line. event NULL: the line of its end;
 *  else a line while it lasts (access-log-interval: "connect",
 *  "progress"): the same keys with the values so far (term none), and
 *  one more, event, last. */
void accesslog_write(FILE *f, const struct session *s, tick_t now, enum access_format fmt,
    const char *event);

/**
 * The JSON string of the len bytes at s, quotes included, into out (cap
 * bytes, '\0'-terminated), per RFC 8259: '"' and '\\' get a backslash, every
 * byte outside 0x20..0x7e (control bytes, DEL, and every byte >= 0x80, valid
 * UTF-8 or not) becomes \u00XX of the byte, so the result is printable ASCII
 * and each code point below 256 is the byte sent. Returns the length
 * written, or -1 (out holds "") if it would not fit: at most 6 * len + 3
 * bytes are needed. Pure.
 */
int accesslog_json_string(char *out, size_t cap, const char *s, size_t len);

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
	uint64_t			 migrated;	/* moves to a new client address */
	tick_t				 start, last;	/* first datagram, last either way */
	int				 reason;	/* enum close_reason */
};

/** Write the line of a QUIC flow, ending at now, to f (proto=quic), in
 *  format fmt, as accesslog_write() does a connection's. */
void accesslog_write_flow(FILE *f, const struct flow_log *l, tick_t now,
    enum access_format fmt);

#endif
