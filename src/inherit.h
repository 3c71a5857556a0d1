/*
 * Listening sockets from before this process (docs/upgrade.md): systemd's
 * (socket activation: LISTEN_PID, LISTEN_FDS, LISTEN_FDNAMES, read by
 * hand) or an old halfpipe's (the hand-over: `--take-over PATH` asks the
 * old one's admin socket for every socket it listens on, SCM_RIGHTS). Read
 * in the main thread at start, before any worker binds and before the
 * sandbox; the workers then take their share of each address's sockets
 * (inherit_fds()), and an address nothing was inherited for is bound as
 * usual. One table for the process, set up once.
 */
#ifndef HP_INHERIT_H
#define HP_INHERIT_H

#include <stddef.h>
#include <sys/socket.h>

#include "conf.h"

#define INHERIT_MAX		253	/* SCM_MAX_FD: sockets in one hand-over */
#define INHERIT_TIMEOUT_MS	5000	/* the whole hand-over, connect to last byte */

/** systemd's sockets, as sd_listen_fds(1): none unless LISTEN_PID is our
 *  pid; the three variables are unset either way. Each fd must be a TCP
 *  listening socket (SO_ACCEPTCONN, SO_TYPE, family), else fatal naming
 *  the fd. Made non-blocking and close-on-exec. */
void inherit_systemd(void);

/** The hand-over: connect to the old halfpipe's admin socket at path, send
 *  "handover", take every socket of its answer. Everything within
 *  INHERIT_TIMEOUT_MS; any failure is fatal (the old one still holds the
 *  ports: binding would fail or split the traffic), with a message saying
 *  what went wrong. */
void inherit_takeover(const char *path);

/** Match what was inherited to c's listen addresses and metrics address,
 *  for nworkers workers. systemd's socket of no such address: fatal
 *  (naming fd, address and LISTEN_FDNAMES name). An old halfpipe's: closed
 *  and logged. */
void inherit_match(const struct conf *c, int nworkers);

/**
 * The sockets worker `index` serves for addr: up to max new fds (dups,
 * close-on-exec, the caller's) in out[], how many returned; 0 when nothing
 * was inherited for addr (bind it). Every inherited socket goes to some
 * worker: with at least as many sockets as workers each worker gets its
 * share, else every worker gets one shared with others, and *shared is
 * set (watch it with EPOLLEXCLUSIVE). *from says where they came from.
 */
size_t inherit_fds(const struct sockaddr_storage *addr, int index, int *out, size_t max,
    int *shared, const char **from);

/** An inherited socket for the metrics address: a dup, or -1 (bind it). */
int inherit_metrics(const struct sockaddr_storage *addr);

/** Every worker took its dups: close the table's own fds (systemd keeps
 *  its copies; an old halfpipe's are now only the workers'). */
void inherit_done(void);

/** How many sockets were inherited (0: a plain start). */
size_t inherit_count(void);

#endif
