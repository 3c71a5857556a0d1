#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "admin.h"
#include "check.h"
#include "connect.h"
#include "fds.h"
#include "listener.h"
#include "log.h"
#include "metricsd.h"
#include "quic.h"
#include "resolve.h"
#include "session.h"
#include "worker.h"

#define BUFPOOL_FREE_MAX 1024

/* Route and backend byte counters: room for this many of each, set once
 * (the metrics endpoint reads every worker's arrays while they serve), so
 * that a reload adding routes fits; past it a route goes uncounted. */
#define STAT_SLOTS_MIN 1024

static struct worker *all[WORKERS_MAX];
static size_t nall;
static int stopping;		/* workers_stopping(): __atomic */

void workers_stopping(void)
{
	__atomic_store_n(&stopping, 1, __ATOMIC_RELEASE);
}

int workers_ready(void)
{
	return !__atomic_load_n(&stopping, __ATOMIC_ACQUIRE);
}

struct worker **workers_all(size_t *n)
{
	if (n != NULL)
		*n = nall;
	return all;
}

static void on_signal(struct worker *w);

/* A reload, between two event batches (a task: no event of the batch can
 * still name a listener closed here): new connections get c from now on.
 * Sessions keep the conf they started with (their reference). */
static void on_reload(struct loop_task *t)
{
	struct worker *w = container_of(t, struct worker, reload);
	struct conf *c = w->take;
	uint64_t one = 1;
	size_t i;

	w->take = NULL;
	listeners_take(&w->ls, c, w->take_src, w->take_fd);
	free(w->take_src);
	free(w->take_fd);
	w->take_src = w->take_fd = NULL;
	/* The counters are by index into the conf: start them again. */
	for (i = 0; i < w->stats.nroute_slots * 2; i++)
		stat_set(&w->stats.route_bytes[i], 0);
	for (i = 0; i < w->stats.nbackend_slots * 2; i++)
		stat_set(&w->stats.backend_bytes[i], 0);
	if (w->res != NULL && resolve_follow(w->res, c) == -1)
		log_warnx("out of memory: some backend names are not followed");
	conf_unref(w->conf);
	w->conf = c;
	(void)checks_start(w, c);	/* a server's state is carried (backend_carry()) */
	if (write(w->ack_fd, &one, sizeof(one)) == -1)
		fatal("worker %d: eventfd", w->index);
}

/* The main thread wrote to our eventfd: a signal came, or a reload. */
static void on_wake(struct ev *ev, uint32_t events)
{
	struct worker *w = container_of(ev, struct worker, wake_ev);
	struct conf *c;
	uint64_t n;
	unsigned sigs;

	(void)events;
	if (read(w->wake_fd, &n, sizeof(n)) != (ssize_t)sizeof(n))
		return;
	pthread_mutex_lock(&w->mu);
	c = w->pending;
	w->pending = NULL;
	if (c != NULL) {	/* taken once the batch is over */
		w->take = c;
		w->take_src = w->pend_src;
		w->take_fd = w->pend_fd;
		w->pend_src = w->pend_fd = NULL;
		loop_task_queue(&w->loop, &w->reload);
	}
	sigs = w->signals;
	w->signals = 0;
	pthread_mutex_unlock(&w->mu);
	for (; sigs > 0; sigs--)
		on_signal(w);
}

static void on_drain_deadline(struct loop_timer *lt)
{
	session_drain_deadline(container_of(lt, struct worker, drain));
	quic_drain_deadline(container_of(lt, struct worker, drain));
}

/* The drain: no new connection; the live ones have drain-timeout. */
static void drain_start(struct worker *w)
{
	w->draining = 1;
	if (loop_timer_in(&w->loop, &w->drain, w->conf->drain_timeout_ms) == -1)
		fatalx("worker %d: out of memory", w->index);
	listeners_stop(&w->ls);
	quic_drain(w);
	if (w->index == 0)
		log_info("draining: no new connections; live ones have up to %u ms",
		    w->conf->drain_timeout_ms);
}

static void on_delay_end(struct loop_timer *lt)
{
	struct worker *w = container_of(lt, struct worker, delay);

	w->delaying = 0;
	if (w->index == 0)
		log_info("drain-delay: %u ms over, closing the listeners", w->conf->drain_delay_ms);
	drain_start(w);
}

/* SIGTERM or SIGINT: the first starts the drain, after drain-delay if set
 * (the listeners accept on meanwhile; /ready already says draining); the
 * next ends the delay if it still runs and every session now. */
static void on_signal(struct worker *w)
{
	if (w->delaying) {
		loop_timer_stop(&w->loop, &w->delay);
		w->delaying = 0;
		if (w->index == 0)
			log_info("drain-delay: cut short by a second signal");
		drain_start(w);
	}
	if (w->draining) {	/* second signal: end them now */
		(void)loop_timer_set(&w->loop, &w->drain, w->loop.now);
		return;
	}
	if (w->conf->drain_delay_ms == 0) {
		drain_start(w);
		return;
	}
	w->delaying = 1;
	if (loop_timer_in(&w->loop, &w->delay, w->conf->drain_delay_ms) == -1)
		fatalx("worker %d: out of memory", w->index);
	if (w->index == 0)
		log_info("drain-delay: /ready answers 503; still accepting for %u ms, then "
		    "draining", w->conf->drain_delay_ms);
}

static void on_census(struct loop_timer *lt)
{
	struct worker *w = container_of(lt, struct worker, census);

	session_census(w);
	(void)loop_timer_in(&w->loop, &w->census, 1000);
}

/* The allocator's free pages, back to the system. Under ASan malloc is
 * ASan's (it returns memory its own way) and glibc's malloc_trim() would
 * first set up the unused glibc heap, asking getrandom(), which the filter
 * does not allow. */
static void release_pages(void)
{
#ifndef __SANITIZE_ADDRESS__
	malloc_trim(0);
#endif
}

/* One allocator arena for every worker: malloc_trim() gives back the free
 * top of the main arena only; a thread arena's top keeps up to the trim
 * threshold and top pad (128 KiB each by default) for ever, which after a
 * burst left ~140 KiB resident per worker (7 % of an idle halfpipe's RSS
 * each). Set before the first worker thread exists. */
static void alloc_init(void)
{
#ifndef __SANITIZE_ADDRESS__
	(void)mallopt(M_ARENA_MAX, 1);
#endif
}

/*
 * Memory comes back after a burst. Armed by the first session after a quiet
 * spell, it runs every WORKER_TRIM_MS while the worker serves: the pooled buffers
 * idle for a whole interval are freed (down to BUF_KEEP while sessions
 * live, all of them once none does), and once the sessions are down to
 * half their peak or fewer (the burst is over), malloc_trim() hands the
 * allocator's free pages back to the system. An idle worker has no timer.
 */
static void on_trim(struct loop_timer *lt)
{
	struct worker *w = container_of(lt, struct worker, trim);
	size_t freed = bufpool_trim(&w->bufs, w->nlive > 0 ? BUF_KEEP : 0);

	if (freed > 0 || w->nlive <= w->peak / 2)
		release_pages();
	w->peak = w->nlive;
	if (w->nlive > 0 || w->bufs.nfree > 0)
		(void)loop_timer_in(&w->loop, &w->trim, WORKER_TRIM_MS);
}

static void on_flush(struct loop_timer *lt)
{
	struct worker *w = container_of(lt, struct worker, flush);

	fflush(w->access);
}

int worker_init(struct worker *w, int index, struct conf *c, FILE *access,
    int done_fd, int ack_fd, struct sockaddr_storage *bound, int first)
{
	memset(w, 0, sizeof(*w));
	if (index == 0 && first)
		alloc_init();
	w->index = index;
	w->conf = conf_ref(c);
	pthread_mutex_init(&w->mu, NULL);
	w->access = access;
	w->wake_fd = -1;
	w->done_fd = done_fd;
	w->ack_fd = ack_fd;
	w->kpipes.max = c->splice_pipes;
	w->ls.spare_fd = -1;
	if (index >= WORKERS_MAX) {
		log_warnx("at most %d workers", WORKERS_MAX);
		return -1;
	}
	all[index] = w;
	if ((size_t)index + 1 > nall)
		nall = (size_t)index + 1;
	if (loop_init(&w->loop) == -1) {
		log_warn("epoll_create1");
		return -1;
	}
	bufpool_init(&w->bufs, BUFPOOL_FREE_MAX);
	loop_timer_init(&w->trim, on_trim);
	loop_task_init(&w->reload, on_reload);
	loop_timer_init(&w->flush, on_flush);
	loop_timer_init(&w->drain, on_drain_deadline);
	loop_timer_init(&w->delay, on_delay_end);
	loop_timer_init(&w->census, on_census);
	fds_note_init(&w->fd_log, &w->loop, index);
	connect_note_init(&w->source_log, &w->loop, index);
	w->wake_ev.fn = on_wake;
	if ((w->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1 ||
	    loop_add(&w->loop, w->wake_fd, EPOLLIN, &w->wake_ev) == -1) {
		log_warn("eventfd");
		return -1;
	}
	w->stats.nroute_slots = c->nroutes_all > STAT_SLOTS_MIN ? c->nroutes_all : STAT_SLOTS_MIN;
	w->stats.nbackend_slots = c->nbackends > STAT_SLOTS_MIN ? c->nbackends : STAT_SLOTS_MIN;
	w->stats.route_bytes = calloc(w->stats.nroute_slots * 2, sizeof(uint64_t));
	w->stats.backend_bytes = calloc(w->stats.nbackend_slots * 2, sizeof(uint64_t));
	if (w->stats.route_bytes == NULL || w->stats.backend_bytes == NULL) {
		log_warnx("out of memory");
		return -1;
	}
	if (listeners_open(&w->ls, w, c, bound, first) == -1 || quic_open(w, c, first) == -1)
		return -1;
	if (c->metrics_addrlen != 0) {	/* the census feeds the TCP state gauges */
		if (loop_timer_in(&w->loop, &w->census, 1000) == -1 ||
		    (index == 0 && metricsd_open(w) == -1))
			return -1;
	}
	if (strcmp(c->admin_socket, "off") != 0 && admin_open(w) == -1)
		return -1;
	/* The first worker asks DNS about every backend name (resolve.h): its
	 * channel reads /etc/resolv.conf now, before the filter. */
	if (index == 0 && ((w->res = resolver_new(&w->loop, c->resolvers)) == NULL ||
	    resolve_follow(w->res, c) == -1))
		return -1;
	return checks_init(w);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	uint64_t one = 1;

	(void)checks_start(w, w->conf);	/* every worker is set up by now */
	while (!w->draining || w->nlive > 0 || quic_nflows(w) > 0)
		if (loop_run_once(&w->loop) == -1)
			fatal("epoll_wait");
	if (write(w->done_fd, &one, sizeof(one)) == -1)
		fatal("worker %d: eventfd", w->index);
	return NULL;
}

int worker_start(struct worker *w)
{
	if (w->index == 0)	/* every worker's listeners are open by now */
		fds_init();
	int rc = pthread_create(&w->thread, NULL, worker_main, w);

	if (rc != 0) {
		errno = rc;
		log_warn("pthread_create");
		return -1;
	}
	return 0;
}

void worker_signal(struct worker *w)
{
	uint64_t one = 1;

	pthread_mutex_lock(&w->mu);
	w->signals++;
	pthread_mutex_unlock(&w->mu);
	if (write(w->wake_fd, &one, sizeof(one)) == -1)
		log_warn("worker %d: eventfd", w->index);
}

void worker_reload(struct worker *w, struct conf *c, int *src, int *fd)
{
	uint64_t one = 1;

	/* The main thread waits for every worker's ack before the next
	 * reload: nothing is pending here. */
	pthread_mutex_lock(&w->mu);
	w->pending = c;
	w->pend_src = src;
	w->pend_fd = fd;
	pthread_mutex_unlock(&w->mu);
	if (write(w->wake_fd, &one, sizeof(one)) == -1)
		log_warn("worker %d: eventfd", w->index);
}

void worker_join(struct worker *w)
{
	pthread_join(w->thread, NULL);
	listeners_free(&w->ls);
	metricsd_close(w);
	admin_close(w);
	resolver_free(w->res);
	w->res = NULL;
	checks_free(w);
	quic_close(w);
	lognote_stop(&w->fd_log);
	lognote_stop(&w->source_log);
	if (w->wake_fd != -1)
		close(w->wake_fd);
	bufpool_drain(&w->bufs);
	loop_close(&w->loop);	/* what is left to close, closed */
	free(w->stats.route_bytes);
	free(w->stats.backend_bytes);
	w->stats.route_bytes = w->stats.backend_bytes = NULL;
	kpipe_drain(&w->kpipes);
	conf_unref(w->pending);
	w->pending = NULL;
	conf_unref(w->take);
	w->take = NULL;
	conf_unref(w->conf);
	w->conf = NULL;
	pthread_mutex_destroy(&w->mu);
}
