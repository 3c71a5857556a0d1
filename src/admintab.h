/*
 * The admin socket's pure half (docs/admin.md): the check of a request line
 * and the text of the connection table. No I/O: the serving half is admin.c.
 */
#ifndef HP_ADMINTAB_H
#define HP_ADMINTAB_H

#include <stddef.h>
#include <stdint.h>

#include "metrics.h"

#define ADMIN_REQ_MAX	256	/* a request line, its newline included */

enum admin_cmd { ADMIN_NEED_MORE, ADMIN_BAD, ADMIN_CONNS, ADMIN_KILL, ADMIN_HELP,
	ADMIN_SERVERS, ADMIN_DISABLE, ADMIN_ENABLE, ADMIN_DRAIN, ADMIN_KILL_ROUTE,
	ADMIN_KILL_SERVER, ADMIN_HANDOVER };

#define ADMIN_ARG_MAX	280	/* a server (HOST:PORT as written) or route name, '\0' too */

/* A request's argument. */
struct admin_arg {
	uint64_t	 id;			/* kill ID */
	char		 word[ADMIN_ARG_MAX];	/* disable/enable/drain SERVER,
						   kill route=NAME, kill server=ADDR */
};

/** The request in req[0..len): ADMIN_NEED_MORE until its newline is there
 *  (ADMIN_BAD once len reaches ADMIN_REQ_MAX without one); "conns",
 *  "servers", "help", "handover", "kill ID" (ID decimal, 1..2^64-1, a->id set),
 *  "disable SERVER", "enable SERVER", "drain SERVER", "kill route=NAME",
 *  "kill server=ADDR" (a->word set: one word, no blank, shorter than
 *  ADMIN_ARG_MAX); anything else ADMIN_BAD. */
enum admin_cmd admin_parse(const char *req, size_t len, struct admin_arg *a);

/* One row of the table, as a worker saw its session. */
struct admin_row {
	uint64_t	 id;
	char		 client[64];
	char		 sni[256];
	char		 backend[280];
	const char	*phase;		/* static strings */
	uint64_t	 age_ms, idle_ms, c2s, s2c;
	const char	*client_tcp, *server_tcp;
	const char	*proto;		/* "quic" for a flow; NULL: "tcp" */
	uint64_t	 dgrams[2];	/* a flow's datagrams c2s, s2c */
};

/** The header line, then rows[0..n) sorted by id, one line each, fields
 *  apart by one TAB, an empty one written "-" (so are a TCP row's datagram
 *  counts); appended to out. */
void admin_table(struct mbuf *out, struct admin_row *rows, size_t n);

#endif
