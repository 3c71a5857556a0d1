/*
 * A worker: one thread with its own epoll loop, listening sockets (the same
 * addresses as every other worker's, SO_REUSEPORT), sessions, timers, buffer
 * and pipe pools. Workers share the configuration (read-only,
 * reference-counted), the access-log stream, and counters kept with relaxed
 * atomics (the fd budget, the connection limits, the connection id); the
 * metrics endpoint reads every worker's stats, the admin socket's requests
 * wait on a list under a mutex. Nothing on the relay path takes a lock.
 */
#ifndef HP_WORKER_H
#define HP_WORKER_H

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include "buf.h"
#include "conf.h"
#include "loop.h"
#include "ratelog.h"
#include "reason.h"
#include "splice.h"
#include "stats.h"
#include "tick.h"
#include "timer.h"

struct session;
struct listener;
struct metricsd;
struct admind;

struct worker {
	int			 index;
	pthread_t		 thread;
	struct loop		 loop;
	struct timer_heap	 timers;
	struct bufpool		 pool;
	struct pipepool		 pipes;
	struct conf		*conf;		/* a reference; a reload swaps it */
	pthread_mutex_t		 mu;		/* guards the two below */
	struct conf		*pending;	/* a reload's conf, not yet taken */
	int			*pend_src;	/* per new address: old index, or -1 */
	int			*pend_fd;	/* per new address: pre-bound, or -1 */
	struct conf		*take;		/* taken after the event batch */
	int			*take_src, *take_fd;
	unsigned		 signals;	/* SIGTERM/SIGINT not yet taken */
	FILE			*access;	/* NULL: access log off */
	struct listener		**ls;		/* this worker's listening sockets */
	size_t			 nls;
	struct listener		**retired;	/* removed by a reload: sessions */
	size_t			 nretired;	/* may still name them; freed at join */
	int			 wake_fd;	/* eventfd: the main thread's signals */
	int			 done_fd;	/* eventfd: +1 when this worker ends */
	int			 ack_fd;	/* eventfd: +1 when it took a reload */
	struct ev		 wake_ev;
	int			 spare_fd;	/* kept for the EMFILE answer */
	struct ratelog		 emfile_log;	/* out of fds: once a second */
	struct ratelog		 limit_log;	/* over a connection limit: likewise */
	struct ratelog		 accept_log;	/* no spare fd, other accept errors:
						   likewise, no summary line */
	tick_t			 spare_retry;	/* no spare fd: try again then */
	int			 listen_et;	/* listeners watched edge-triggered */
	tick_t			 rlimit_at;	/* RLIMIT_NOFILE last read */
	struct session		*live;		/* doubly linked */
	struct session		*dead;		/* freed after the batch */
	struct session		*ready;		/* to step again (session_run_ready()) */
	uint64_t		 nlive;
	struct wstats		 stats;		/* written by this worker only */
	struct metricsd		*md;		/* worker 0 with metrics on */
	int			 admin_fd;	/* eventfd: admin requests; -1: off */
	struct ev		 admin_ev;
	struct admind		*ad;		/* worker 0 with admin-socket on */
	tick_t			 census_at;	/* TCP states last counted */
	int			 draining;
	tick_t			 drain_expire;
	tick_t			 now;
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
/** From the main thread: the first call starts the drain, the second ends
 *  every session at once. */
void worker_signal(struct worker *w);
/** From the main thread: serve c (a reference, which w takes over) for new
 *  connections once it writes 1 to its ack_fd; live ones keep theirs.
 *  src and fd NULL: c's addresses are w's, in the same order. Otherwise
 *  (both malloc'd, taken over) src[k] is the index in w->ls of the socket
 *  kept for c's k-th address, or -1 and fd[k] the socket bound for it. */
void worker_reload(struct worker *w, struct conf *c, int *src, int *fd);
/** Wait for the thread to end and free what the worker holds. */
void worker_join(struct worker *w);

#endif
