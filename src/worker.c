#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "admin.h"
#include "fds.h"
#include "listener.h"
#include "log.h"
#include "metricsd.h"
#include "session.h"
#include "worker.h"

#define BUFPOOL_FREE_MAX 1024

/* Route and backend byte counters: room for this many of each, set once
 * (the metrics endpoint reads every worker's arrays while they serve), so
 * that a reload adding routes fits; past it a route goes uncounted. */
#define STAT_SLOTS_MIN 1024

static void on_signal(struct worker *w);

/* A reload: serve c from now on, between two event batches (no event of
 * the batch can still name a listener closed here). Sessions keep the conf
 * they started with (their reference). src[k] is the index in w->ls of the
 * socket that serves c's k-th address (kept open: its accept queue stays),
 * or -1 and then fd[k] is the socket the main thread bound for it. Removed
 * addresses close; their listener structs stay until the worker ends, as
 * live sessions name them. */
static void take_conf(struct worker *w, struct conf *c, int *src, int *fd)
{
	struct listener **ls = NULL;
	uint64_t one = 1;
	size_t i, j, n = 0, nnew = 0;

	for (i = 0; i < c->nlisteners; i++)
		nnew += c->listeners[i].naddr;
	if (src == NULL) {	/* the same addresses: only the blocks change */
		for (i = 0; i < c->nlisteners; i++)
			for (j = 0; j < c->listeners[i].naddr && n < w->nls; j++)
				w->ls[n++]->lc = &c->listeners[i];
		goto counters;
	}
	if ((ls = calloc(nnew ? nnew : 1, sizeof(*ls))) == NULL)
		fatalx("worker %d: out of memory", w->index);
	for (i = 0; i < c->nlisteners; i++)
		for (j = 0; j < c->listeners[i].naddr; j++, n++) {
			if (src[n] >= 0) {
				ls[n] = w->ls[src[n]];
				w->ls[src[n]] = NULL;
				ls[n]->lc = &c->listeners[i];
				continue;
			}
			if ((ls[n] = malloc(sizeof(*ls[n]))) == NULL)
				fatalx("worker %d: out of memory", w->index);
			if (listener_adopt(ls[n], w, &c->listeners[i], fd[n], NULL) == -1)
				fatalx("worker %d: cannot serve a new listen address", w->index);
			if (w->index == 0)
				log_info("listening on %s", ls[n]->name);
		}
	for (i = 0; i < w->nls; i++) {
		struct listener **r;

		if (w->ls[i] == NULL)
			continue;
		if (w->index == 0)
			log_info("no longer listening on %s", w->ls[i]->name);
		listener_close(w->ls[i]);
		if ((r = realloc(w->retired, (w->nretired + 1) * sizeof(*r))) == NULL)
			fatalx("worker %d: out of memory", w->index);
		w->retired = r;
		w->retired[w->nretired++] = w->ls[i];
	}
	free(w->ls);
	w->ls = ls;
	w->nls = nnew;
	free(src);
	free(fd);
counters:
	/* The counters are by index into the conf: start them again. */
	for (i = 0; i < w->stats.nroute_slots * 2; i++)
		stat_set(&w->stats.route_bytes[i], 0);
	for (i = 0; i < w->stats.nbackend_slots * 2; i++)
		stat_set(&w->stats.backend_bytes[i], 0);
	conf_unref(w->conf);
	w->conf = c;
	if (write(w->ack_fd, &one, sizeof(one)) == -1)
		fatal("worker %d: eventfd", w->index);
}

/* The main thread wrote to our eventfd: a signal came, or a reload. */
static void on_wake(struct ev *ev, uint32_t events)
{
	struct worker *w = (struct worker *)((char *)ev - offsetof(struct worker, wake_ev));
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
	}
	sigs = w->signals;
	w->signals = 0;
	pthread_mutex_unlock(&w->mu);
	for (; sigs > 0; sigs--)
		on_signal(w);
}

/* SIGTERM or SIGINT: the first starts the drain, the next ends it now. */
static void on_signal(struct worker *w)
{
	size_t i;

	if (w->draining) {
		w->drain_expire = w->now;	/* second signal: end them now */
		return;
	}
	w->draining = 1;
	w->drain_expire = tick_add(w->now, w->conf->drain_timeout_ms);
	for (i = 0; i < w->nls; i++)
		listener_close(w->ls[i]);
	if (w->index == 0)
		log_info("draining: no new connections; live ones have up to %u ms",
		    w->conf->drain_timeout_ms);
}

int worker_init(struct worker *w, int index, struct conf *c, FILE *access,
    int done_fd, int ack_fd, struct sockaddr_storage *bound, int first)
{
	size_t i, j, n = 0;

	memset(w, 0, sizeof(*w));
	w->index = index;
	w->conf = conf_ref(c);
	pthread_mutex_init(&w->mu, NULL);
	w->access = access;
	w->spare_fd = -1;
	w->wake_fd = -1;
	ratelog_init(&w->emfile_log, 1000);
	ratelog_init(&w->limit_log, 1000);
	ratelog_init(&w->accept_log, 1000);
	w->admin_fd = -1;
	w->done_fd = done_fd;
	w->ack_fd = ack_fd;
	w->pool.max_free = BUFPOOL_FREE_MAX;
	w->pipes.max = c->splice_pipes;
	w->now = tick_now();
	if (loop_init(&w->loop) == -1) {
		log_warn("epoll_create1");
		return -1;
	}
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
	metricsd_register(&w->stats);
	for (i = 0; i < c->nlisteners; i++)
		n += c->listeners[i].naddr;
	if ((w->ls = calloc(n ? n : 1, sizeof(*w->ls))) == NULL) {
		log_warnx("out of memory");
		return -1;
	}
	for (i = 0, n = 0; i < c->nlisteners; i++) {
		const struct listener_conf *lc = &c->listeners[i];

		for (j = 0; j < lc->naddr; j++, n++) {
			const struct sockaddr_storage *a = first ? &lc->addr[j] : &bound[n];

			if ((w->ls[n] = malloc(sizeof(*w->ls[n]))) == NULL) {
				log_warnx("out of memory");
				return -1;
			}
			w->nls = n + 1;
			if (listener_open(w->ls[n], w, lc, a, lc->addrlen[j],
			    lc->addrname[j], &bound[n]) == -1)
				return -1;
			if (first)
				log_info("listening on %s", w->ls[n]->name);
		}
	}
	if (index == 0 && c->metrics_addrlen != 0 && metricsd_open(w) == -1)
		return -1;
	if (strcmp(c->admin_socket, "off") != 0 && admin_open(w) == -1)
		return -1;
	return 0;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	uint64_t one = 1;

	for (;;) {
		tick_t next = timer_next(&w->timers);

		if (w->draining)
			next = tick_first(next, w->drain_expire);
		else
			next = tick_first(tick_first(next, w->spare_retry),
			    listener_logs_next(w));
		next = tick_first(next, admin_next(w));
		if (w->conf->metrics_addrlen != 0)	/* the TCP state census */
			next = tick_first(tick_first(next, tick_add(w->census_at, 1000)),
			    metricsd_next(w));
		if (loop_run_once(&w->loop, w->ready != NULL ? 0 : tick_remain(next, w->now),
		    &w->now) == -1)
			fatal("epoll_wait");
		if (w->take != NULL) {	/* a reload, between two batches */
			struct conf *c = w->take;

			w->take = NULL;
			take_conf(w, c, w->take_src, w->take_fd);
			w->take_src = w->take_fd = NULL;
		}
		session_run_timers(w);
		session_run_ready(w);
		if (w->now - w->rlimit_at >= 1000) {	/* prlimit from outside */
			fds_refresh();
			w->rlimit_at = w->now;
		}
		if (tick_is_expired(w->spare_retry, w->now) && !w->draining)
			listener_spare_retry(w);
		listener_flush_logs(w);
		if (w->draining && tick_is_expired(w->drain_expire, w->now))
			session_drain_deadline(w);
		if (w->conf->metrics_addrlen != 0) {
			if (w->now - w->census_at >= 1000) {
				session_census(w);
				w->census_at = w->now;
			}
			metricsd_expire(w);
		}
		admin_expire(w);
		session_reap(w);
		if (w->access != NULL)
			fflush(w->access);
		if (w->draining && w->nlive == 0)
			break;
	}
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
	size_t i;

	pthread_join(w->thread, NULL);
	for (i = 0; i < w->nls; i++) {
		if (w->ls[i] != NULL)
			listener_close(w->ls[i]);
		free(w->ls[i]);
	}
	free(w->ls);
	for (i = 0; i < w->nretired; i++)
		free(w->retired[i]);
	free(w->retired);
	metricsd_close(w);
	admin_close(w);
	free(w->stats.route_bytes);
	free(w->stats.backend_bytes);
	w->stats.route_bytes = w->stats.backend_bytes = NULL;
	if (w->wake_fd != -1)
		close(w->wake_fd);
	if (w->spare_fd != -1)
		close(w->spare_fd);
	loop_close(&w->loop);
	timer_heap_free(&w->timers);
	bufpool_drain(&w->pool);
	pipepool_drain(&w->pipes);
	conf_unref(w->pending);
	w->pending = NULL;
	conf_unref(w->conf);
	w->conf = NULL;
	pthread_mutex_destroy(&w->mu);
}
