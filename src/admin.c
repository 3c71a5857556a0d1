#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "admin.h"
#include "admintab.h"
#include "log.h"
#include "session.h"
#include "worker.h"

#define ACONN_MAX	8
#define ACONN_TIMEOUT_MS 5000
#define AWORKERS_MAX	64

enum { AC_READ, AC_WAIT_WORKERS, AC_WRITE, AC_WAIT_FIN, AC_CLOSED };

/* A request the workers answer; on the shared list while any bit is set. */
struct areq {
	struct areq	*next;
	uint64_t	 todo;		/* bit i: worker i still to answer */
	enum admin_cmd	 cmd;
	uint64_t	 id;
	int		 killed;	/* kill: a worker found and ended it */
	struct admin_row *rows;
	size_t		 nrows, cap;
	int		 oom;
};

struct aconn {
	struct ev	 ev;
	int		 fd;
	int		 state;
	struct admind	*ad;
	tick_t		 expire;
	size_t		 rlen, opos;
	struct areq	*rq;		/* AC_WAIT_WORKERS */
	struct aconn	*next_dead;
	struct mbuf	 out;
	char		 req[ADMIN_REQ_MAX];
};

struct admind {
	struct ev	 ev;
	int		 fd;
	struct worker	*w;
	struct aconn	*c[ACONN_MAX];
	struct aconn	*dead;		/* closed, freed after the event batch */
};

/* Shared by the workers, under mx. */
static pthread_mutex_t mx = PTHREAD_MUTEX_INITIALIZER;
static struct areq *pending;
static struct worker *all[AWORKERS_MAX];
static size_t nall;

/* Take rq off the shared list (NULL-safe), then free it. */
static void areq_free(struct areq *rq)
{
	struct areq **pp;

	if (rq == NULL)
		return;
	pthread_mutex_lock(&mx);
	for (pp = &pending; *pp != NULL; pp = &(*pp)->next)
		if (*pp == rq) {
			*pp = rq->next;
			break;
		}
	pthread_mutex_unlock(&mx);
	free(rq->rows);
	free(rq);
}

static void aconn_free(struct aconn *ac, int abort)
{
	struct admind *ad = ac->ad;
	size_t i;

	if (abort) {
		struct linger lg = { .l_onoff = 1, .l_linger = 0 };

		(void)setsockopt(ac->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	}
	loop_del(&ad->w->loop, ac->fd);
	close(ac->fd);
	ac->fd = -1;
	for (i = 0; i < ACONN_MAX; i++)
		if (ad->c[i] == ac)
			ad->c[i] = NULL;
	areq_free(ac->rq);
	ac->rq = NULL;
	mbuf_free(&ac->out);
	/* An event for it may still wait later in this epoll batch (it can be
	 * closed from the admin wake-up): free it only after the batch. */
	ac->state = AC_CLOSED;
	ac->next_dead = ad->dead;
	ad->dead = ac;
}

static void reap(struct admind *ad)
{
	struct aconn *ac;

	while ((ac = ad->dead) != NULL) {
		ad->dead = ac->next_dead;
		free(ac);
	}
}

/* Worker w's answer to rq, under mx: its rows, or the kill. */
static void answer(struct worker *w, struct areq *rq)
{
	struct session *s, *nx;
	struct admin_row *nr;

	for (s = w->live; s != NULL; s = nx) {
		nx = s->next;
		if (rq->cmd == ADMIN_KILL) {
			if (s->id == rq->id) {
				session_close(s, CR_KILLED);
				rq->killed = 1;
			}
			continue;
		}
		if (rq->nrows == rq->cap) {
			size_t cap = rq->cap ? rq->cap * 2 : 64;

			if ((nr = realloc(rq->rows, cap * sizeof(*nr))) == NULL) {
				rq->oom = 1;
				return;
			}
			rq->rows = nr;
			rq->cap = cap;
		}
		session_row(s, w->now, &rq->rows[rq->nrows++]);
	}
}

static void wake(struct worker *w)
{
	uint64_t one = 1;

	if (write(w->admin_fd, &one, sizeof(one)) == -1)
		log_warn("worker %d: admin eventfd", w->index);
}

static void aconn_step(struct aconn *ac);

/* Our admin eventfd: answer the requests waiting for us; worker 0 then
 * sends the answers every worker has given. */
static void on_admin_wake(struct ev *ev, uint32_t events)
{
	struct worker *w = (struct worker *)((char *)ev - offsetof(struct worker, admin_ev));
	uint64_t bit = (uint64_t)1 << w->index, n;
	struct areq *rq;
	int done = 0;
	size_t i;

	(void)events;
	if (read(w->admin_fd, &n, sizeof(n)) != (ssize_t)sizeof(n))
		return;
	pthread_mutex_lock(&mx);
	for (rq = pending; rq != NULL; rq = rq->next)
		if (rq->todo & bit) {
			answer(w, rq);
			rq->todo &= ~bit;
			done |= rq->todo == 0;
		}
	pthread_mutex_unlock(&mx);
	if (done && w->index != 0)
		wake(all[0]);
	if (w->ad == NULL)
		return;
	for (i = 0; i < ACONN_MAX; i++)
		if (w->ad->c[i] != NULL && w->ad->c[i]->state == AC_WAIT_WORKERS)
			aconn_step(w->ad->c[i]);
}

/* The request line is in: hand it to every worker, or answer it now. */
static void submit(struct aconn *ac, enum admin_cmd cmd, uint64_t id)
{
	struct areq *rq;
	size_t i;

	if (cmd == ADMIN_BAD) {
		mbuf_printf(&ac->out, "error: bad request (want \"conns\" or \"kill ID\")\n");
		ac->state = AC_WRITE;
		return;
	}
	if ((rq = calloc(1, sizeof(*rq))) == NULL) {
		mbuf_printf(&ac->out, "error: out of memory\n");
		ac->state = AC_WRITE;
		return;
	}
	rq->cmd = cmd;
	rq->id = id;
	for (i = 0; i < nall; i++)
		rq->todo |= (uint64_t)1 << i;
	pthread_mutex_lock(&mx);
	rq->next = pending;
	pending = rq;
	pthread_mutex_unlock(&mx);
	ac->rq = rq;
	ac->state = AC_WAIT_WORKERS;
	for (i = 0; i < nall; i++)
		wake(all[i]);
}

/* Every worker answered: the text to send. */
static void respond(struct aconn *ac)
{
	struct areq *rq = ac->rq;

	if (rq->oom)
		mbuf_printf(&ac->out, "error: out of memory\n");
	else if (rq->cmd == ADMIN_CONNS)
		admin_table(&ac->out, rq->rows, rq->nrows);
	else if (rq->killed)
		mbuf_printf(&ac->out, "killed %llu\n", (unsigned long long)rq->id);
	else
		mbuf_printf(&ac->out, "error: no such connection %llu\n",
		    (unsigned long long)rq->id);
	areq_free(rq);
	ac->rq = NULL;
	ac->state = AC_WRITE;
}

static void aconn_step(struct aconn *ac)
{
	enum admin_cmd cmd;
	uint64_t id = 0, todo;
	ssize_t n;
	char sink[256];

	for (;;) {
		switch (ac->state) {
		case AC_READ:
			n = recv(ac->fd, ac->req + ac->rlen, sizeof(ac->req) - ac->rlen, 0);
			if (n == -1) {
				if (errno == EINTR)
					continue;
				if (errno != EAGAIN && errno != EWOULDBLOCK)
					aconn_free(ac, 1);
				return;
			}
			if (n == 0) {
				aconn_free(ac, 1);
				return;
			}
			ac->rlen += (size_t)n;
			cmd = admin_parse(ac->req, ac->rlen, &id);
			if (cmd != ADMIN_NEED_MORE)
				submit(ac, cmd, id);
			break;
		case AC_WAIT_WORKERS:
			pthread_mutex_lock(&mx);
			todo = ac->rq->todo;
			pthread_mutex_unlock(&mx);
			if (todo != 0)
				return;
			respond(ac);
			break;
		case AC_WRITE:
			if (ac->out.oom) {
				aconn_free(ac, 1);
				return;
			}
			if (ac->opos == ac->out.len) {
				if (shutdown(ac->fd, SHUT_WR) == -1) {
					aconn_free(ac, 1);
					return;
				}
				ac->state = AC_WAIT_FIN;
				break;
			}
			n = send(ac->fd, ac->out.p + ac->opos, ac->out.len - ac->opos,
			    MSG_NOSIGNAL);
			if (n == -1) {
				if (errno == EINTR)
					continue;
				if (errno != EAGAIN && errno != EWOULDBLOCK)
					aconn_free(ac, 1);
				return;
			}
			ac->opos += (size_t)n;
			break;
		default:	/* AC_WAIT_FIN: the client's FIN, then close */
			n = recv(ac->fd, sink, sizeof(sink), 0);
			if (n == 0) {
				aconn_free(ac, 0);
				return;
			}
			if (n == -1) {
				if (errno == EINTR)
					continue;
				if (errno != EAGAIN && errno != EWOULDBLOCK)
					aconn_free(ac, 1);
				return;
			}
			break;
		}
	}
}

static void on_aconn(struct ev *ev, uint32_t events)
{
	struct aconn *ac = (struct aconn *)(void *)ev;

	(void)events;
	if (ac->state != AC_WAIT_WORKERS && ac->state != AC_CLOSED)
		aconn_step(ac);
}

static void on_aaccept(struct ev *ev, uint32_t events)
{
	struct admind *ad = (struct admind *)(void *)ev;
	struct aconn *ac;
	size_t i;
	int fd;

	(void)events;
	for (;;) {
		fd = accept4(ad->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				log_warn("admin: accept");
			return;
		}
		for (i = 0; i < ACONN_MAX && ad->c[i] != NULL; i++)
			;
		if (i == ACONN_MAX || (ac = calloc(1, sizeof(*ac))) == NULL) {
			close(fd);
			continue;
		}
		ac->ev.fn = on_aconn;
		ac->fd = fd;
		ac->ad = ad;
		ac->state = AC_READ;
		ac->expire = tick_add(ad->w->now, ACONN_TIMEOUT_MS);
		if (loop_add(&ad->w->loop, fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
		    &ac->ev) == -1) {
			close(fd);
			free(ac);
			continue;
		}
		ad->c[i] = ac;
		aconn_step(ac);
	}
}

static int listen_unix(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		log_warnx("admin-socket %s: path too long", path);
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) == -1) {
		log_warn("admin-socket %s: socket", path);
		return -1;
	}
	/* mode 0600 from the start: fchmod() before bind() sets the file's */
	if (fchmod(fd, 0600) == -1) {
		log_warn("admin-socket %s: fchmod", path);
		goto fail;
	}
	if (unlink(path) == -1 && errno != ENOENT) {
		log_warn("admin-socket %s: unlink", path);
		goto fail;
	}
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		log_warn("admin-socket %s: bind", path);
		goto fail;
	}
	if (chmod(path, 0600) == -1 || listen(fd, 16) == -1) {
		log_warn("admin-socket %s: chmod/listen", path);
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return -1;
}

int admin_open(struct worker *w)
{
	struct admind *ad;

	w->admin_ev.fn = on_admin_wake;
	if ((w->admin_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1 ||
	    loop_add(&w->loop, w->admin_fd, EPOLLIN, &w->admin_ev) == -1) {
		log_warn("eventfd");
		return -1;
	}
	if ((size_t)w->index >= AWORKERS_MAX)
		return -1;
	all[w->index] = w;
	if ((size_t)w->index + 1 > nall)
		nall = (size_t)w->index + 1;
	if (w->index != 0)
		return 0;
	if ((ad = calloc(1, sizeof(*ad))) == NULL) {
		log_warnx("out of memory");
		return -1;
	}
	ad->ev.fn = on_aaccept;
	ad->w = w;
	if ((ad->fd = listen_unix(w->conf->admin_socket)) == -1) {
		free(ad);
		return -1;
	}
	if (loop_add(&w->loop, ad->fd, EPOLLIN, &ad->ev) == -1) {
		log_warn("admin-socket: epoll");
		close(ad->fd);
		free(ad);
		return -1;
	}
	log_info("admin socket on %s", w->conf->admin_socket);
	w->ad = ad;
	return 0;
}

void admin_close(struct worker *w)
{
	struct admind *ad = w->ad;
	size_t i;

	if (w->admin_fd != -1)
		close(w->admin_fd);
	w->admin_fd = -1;
	if (ad == NULL)
		return;
	for (i = 0; i < ACONN_MAX; i++)
		if (ad->c[i] != NULL)
			aconn_free(ad->c[i], 1);
	reap(ad);
	close(ad->fd);
	free(ad);
	w->ad = NULL;
}

tick_t admin_next(const struct worker *w)
{
	tick_t next = TICK_NONE;
	size_t i;

	if (w->ad == NULL)
		return TICK_NONE;
	for (i = 0; i < ACONN_MAX; i++)
		if (w->ad->c[i] != NULL)
			next = tick_first(next, w->ad->c[i]->expire);
	return next;
}

void admin_expire(struct worker *w)
{
	size_t i;

	if (w->ad == NULL)
		return;
	for (i = 0; i < ACONN_MAX; i++)
		if (w->ad->c[i] != NULL && tick_is_expired(w->ad->c[i]->expire, w->now))
			aconn_free(w->ad->c[i], 1);
	reap(w->ad);	/* after the batch: no event can point at these now */
}
