/*
 * Control connections: the one small machine behind the admin socket and
 * the metrics endpoint (HAProxy's CLI applet, one engine under every
 * keyword). Per connection:
 *
 *   READ    a bounded request, handed to the protocol as it grows
 *   WAIT    (optional) the protocol answers later: ctl_wake()
 *   WRITE   one answer
 *   FIN     our FIN sent; the close once the client's FIN comes
 *
 * all within CTL_TIMEOUT_MS of the accept, else a reset; at most
 * CTL_CONN_MAX at once, more are reset at accept; a reset too for a client
 * that ends (FIN or RST) before its answer. Frees go through the loop's
 * close-later list, so an event later in the batch never names a freed
 * connection. The protocol (admin.c: a request line; metricsd.c: HTTP/1.0)
 * only parses and answers; its commands are rows of its own table.
 */
#ifndef HP_CTL_H
#define HP_CTL_H

#include <stddef.h>

#include "loop.h"
#include "metrics.h"

#define CTL_CONN_MAX	8
#define CTL_TIMEOUT_MS	5000
#define CTL_BACKLOG	64
#define CTL_FDS_MAX	253	/* SCM_MAX_FD: fds with one answer */

struct ctl_conn;

enum ctl_verdict {
	CTL_MORE,	/* the request is not whole yet */
	CTL_ANSWER,	/* the answer is in ctl_out() */
	CTL_WAIT	/* the answer comes later: ctl_wake() */
};

struct ctl_proto {
	const char	*name;		/* "admin socket", "metrics": for messages */
	size_t		 req_max;	/* a request's bytes at most */
	/** The request so far, req[0..len) (len <= req_max; at req_max the
	 *  protocol must answer or wait). */
	enum ctl_verdict (*request)(struct ctl_conn *cc, const char *req, size_t len);
	/** A WAITing connection, woken by ctl_wake(): 1 if its answer is now
	 *  in ctl_out(), 0 to go on waiting. */
	int		(*ready)(struct ctl_conn *cc);
	/** cc ends (any way) while it waits: forget what names it. */
	void		(*cancel)(struct ctl_conn *cc);
};

struct ctl_server {
	struct ev		 ev;
	int			 fd;
	struct loop		*loop;
	const struct ctl_proto	*proto;
	void			*arg;		/* the protocol's */
	struct ctl_conn		*c[CTL_CONN_MAX];
};

/** Serve the listening socket fd (non-blocking, listening: ctl_listen_*)
 *  on loop l with protocol p; arg is p's. 0, or -1 (fd closed). */
int ctl_open(struct ctl_server *sv, struct loop *l, int fd, const struct ctl_proto *p,
    void *arg);
/** Reset every connection, close the socket (safe if never opened: fd -1). */
void ctl_close(struct ctl_server *sv);

/** Bind and listen on a TCP address / a unix path (mode 0600, a stale
 *  socket file replaced); the socket, or -1 after logging under `name`. */
int ctl_listen_tcp(const struct sockaddr_storage *addr, socklen_t len, const char *name);
int ctl_listen_unix(const char *path, const char *name);

/** The answer's buffer; the request's server, and a word for the protocol. */
struct mbuf *ctl_out(struct ctl_conn *cc);
struct ctl_server *ctl_server_of(struct ctl_conn *cc);
void **ctl_data(struct ctl_conn *cc);

/** Send fds[0..n) (copied; the fds are taken over) with the first bytes
 *  of cc's answer (SCM_RIGHTS, n <= CTL_FDS_MAX); once that send succeeded
 *  they are closed and sent(arg, 1) runs; if cc ends before, they are
 *  closed and sent(arg, 0) runs. The hand-over's (admin.c). */
void ctl_out_fds(struct ctl_conn *cc, const int *fds, size_t n,
    void (*sent)(void *arg, int ok), void *arg);

/** Ask every WAITing connection of sv whether its answer is ready. */
void ctl_wake(struct ctl_server *sv);

#endif
