/*
 * A worker: one thread with its own loop (loop.h: I/O, timers, tasks, then
 * one close-later list), listening sockets (the same addresses as every
 * other worker's, SO_REUSEPORT, or inherited ones: inherit.h), sessions and
 * buffer and pipe pools. Workers share the configurations (reference-counted; a reload swaps the one new
 * sessions get, and the backends' health counters in it are shared
 * atomics), the access-log stream, and counters kept with relaxed atomics
 * (the fd budget, the connection limits, the connection id); the metrics
 * endpoint reads every worker's stats, the admin socket's requests wait on
 * a list under a mutex. Nothing on the relay path takes a lock.
 *
 * Here is only what the worker itself does: its thread, the main thread's
 * wake-ups (signals, reloads), the drain. What else runs on the loop owns
 * its state and its timers: the listeners (listener.h), each session
 * (session.h), the control connections (ctl.h), the rate-limited log lines
 * (lognote.h).
 */
#ifndef HP_WORKER_H
#define HP_WORKER_H

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include "buf.h"
#include "conf.h"
#include "listener.h"
#include "lognote.h"
#include "loop.h"
#include "reason.h"
#include "kpipe.h"
#include "stats.h"

#define WORKERS_MAX 64
#define WORKER_TRIM_MS 1000	/* the memory timer's interval (worker.c on_trim()) */

struct session;
struct metricsd;
struct admin;
struct resolver;
struct checks;
struct quic;

struct worker {
	int			 index;
	pthread_t		 thread;
	struct loop		 loop;
	struct bufpool		 bufs;		
	struct kpipe_pool	 kpipes;
	struct conf		*conf;		/* a reference; a reload swaps it */
	pthread_mutex_t		 mu;		/* guards the four below */
	struct conf		*pending;	/* a reload's conf, not yet taken */
	int			*pend_src;	/* per new address: old index, or -1 */
	int			*pend_fd;	/* per new address: pre-bound, or -1 */
	unsigned		 signals;	/* SIGTERM/SIGINT not yet taken */
	int			 wake_fd;	/* eventfd: the main thread's news */
	int			 done_fd;	/* eventfd: +1 when this worker ends */
	int			 ack_fd;	/* eventfd: +1 when it took a reload */
	struct ev		 wake_ev;
	struct loop_task	 reload;	/* takes `take` after the batch */
	struct conf		*take;
	int			*take_src, *take_fd;
	FILE			*access;	/* NULL: access log off */
	struct loop_timer	 flush;		/* fflush(access) ACCESS_FLUSH_MS after a line */
	struct listeners	 ls;
	struct lognote		 fd_log;	/* out of fds (fds_shed()) */
	struct lognote		 source_log;	/* a source address bind failed (connect.c) */
	struct session		*live;		/* doubly linked */
	uint64_t		 nlive;
	struct wstats		 stats;		/* written by this worker only */
	struct loop_timer	 census;	/* metrics on: TCP states, each second */
	struct loop_timer	 trim;		/* memory back after a burst (worker.c) */
	uint64_t		 peak;		/* most sessions at once since the last trim */
	struct metricsd		*md;		/* worker 0 with metrics on */
	struct admin		*admin;		/* admin-socket on */
	struct resolver		*res;		/* worker 0: follows the backend names */
	struct checks		*checks;	/* the servers this worker checks (check.h) */
	struct quic		*quic;		/* listen-quic sockets and flows (quic.h) */
	int			 draining;
	struct loop_timer	 drain;		/* the drain's deadline */
	int			 delaying;	/* in drain-delay: still accepting */
	struct loop_timer	 delay;		/* drain-delay's end: the drain starts */
};

/**
 * Set up worker w: its loop and its listening sockets. The first worker
 * (bound == NULL) binds the configured addresses and stores the addresses it
 * got (ports chosen by the kernel included) in bound[]; the others bind
 * those. 0, or -1 after logging why.
 */
int worker_init(struct worker *w, int index, struct conf *c, FILE *access,
    int done_fd, int ack_fd, struct sockaddr_storage *bound, int first);
/** Start the worker's thread. 0 or -1. */
int worker_start(struct worker *w);
/** From the main thread: the first call starts the drain (after
 *  drain-delay, during which w accepts on), the second ends the delay if it
 *  still runs and every session at once. */
void worker_signal(struct worker *w);
/** From the main thread, before it signals the first worker: halfpipe is
 *  draining (or about to, after drain-delay); workers_ready() says 0 from
 *  now on. */
void workers_stopping(void);
/** 1 until workers_stopping(), then 0 (GET /ready: 200, then 503). Any
 *  thread; one atomic load, no lock. */
int workers_ready(void);
/** From the main thread: serve c (a reference, which w takes over) for new
 *  connections once it writes 1 to its ack_fd; live ones keep theirs.
 *  src and fd NULL: c's addresses are w's, in the same order. Otherwise
 *  (both malloc'd, taken over) src[k] is the index in w->ls.v of the socket
 *  kept for c's k-th address, or -1 and fd[k] the socket bound for it. */
void worker_reload(struct worker *w, struct conf *c, int *src, int *fd);
/** Wait for the thread to end and free what the worker holds. */
void worker_join(struct worker *w);

/** Every worker set up so far, by index (*n: how many; n may be NULL). */
struct worker **workers_all(size_t *n);

#endif
