#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "addr.h"
#include "admin.h"
#include "admintab.h"
#include "ctl.h"
#include "log.h"
#include "metricsd.h"
#include "quic.h"
#include "session.h"
#include "worker.h"

/* A request every worker answers; on the shared list while any bit is set. */
struct areq {
	struct areq		*next;
	uint64_t		 todo;		/* bit i: worker i still to answer */
	const struct acmd	*cmd;
	struct admin_arg	 arg;		/* the request's ID or word */
	size_t			 killed;	/* kill: connections the workers ended */
	struct admin_row	*rows;
	size_t			 nrows, cap;
	int			 oom;
	struct ctl_conn		*cc;		/* the asking connection */
	int			 fds[CTL_FDS_MAX];	/* handover: dups to send */
	size_t			 nfds;
	const char		*refuse;	/* handover: why not */
};

/*
 * A command: a row. `each` runs on every worker's thread, under the list's
 * mutex, against that worker's sessions (NULL: nothing to ask them); then
 * `answer` writes the reply on the admin socket's worker.
 */
struct acmd {
	enum admin_cmd	 cmd;
	const char	*usage;
	const char	*help;
	void		(*each)(struct worker *w, struct areq *rq);
	void		(*answer)(struct areq *rq, struct mbuf *out);
};

/* Per worker: the eventfd that asks it to answer. */
struct admin {
	struct ev		 ev;
	int			 fd;
	struct worker		*w;
	struct ctl_server	 sv;		/* worker 0 only: the socket */
};

/* Shared by the workers, under mx. */
static pthread_mutex_t mx = PTHREAD_MUTEX_INITIALIZER;
static struct areq *pending;

/* Room for n more rows in rq: 0, or -1 (rq->oom set). */
static int rows_room(struct areq *rq, size_t n)
{
	struct admin_row *nr;
	size_t cap = rq->cap ? rq->cap : 64;

	if (rq->oom)
		return -1;
	while (cap - rq->nrows < n)
		cap *= 2;
	if (cap != rq->cap) {
		if ((nr = realloc(rq->rows, cap * sizeof(*nr))) == NULL) {
			rq->oom = 1;
			return -1;
		}
		rq->rows = nr;
		rq->cap = cap;
	}
	return 0;
}

/* This worker's connections, then its QUIC flows (quic.h), one row each. */
static void conns_each(struct worker *w, struct areq *rq)
{
	struct session *s;
	size_t n;

	for (s = w->live; s != NULL; s = s->next) {
		if (rows_room(rq, 1) == -1)
			return;
		session_row(s, w->loop.now, &rq->rows[rq->nrows++]);
	}
	n = quic_nflows(w);
	if (n > 0 && rows_room(rq, n) == 0)
		rq->nrows += quic_rows(w, rq->rows + rq->nrows, n);
}

static void conns_answer(struct areq *rq, struct mbuf *out)
{
	admin_table(out, rq->rows, rq->nrows);
}

static void kill_each(struct worker *w, struct areq *rq)
{
	struct session *s;

	for (s = w->live; s != NULL; s = s->next)
		if (s->id == rq->arg.id) {
			session_close(s, CR_KILLED);
			rq->killed = 1;
			return;
		}
	if (quic_kill(w, rq->arg.id, NULL, NULL) > 0)
		rq->killed = 1;
}

static void kill_answer(struct areq *rq, struct mbuf *out)
{
	if (rq->killed)
		mbuf_printf(out, "killed %llu\n", (unsigned long long)rq->arg.id);
	else
		mbuf_printf(out, "error: no such connection %llu\n", (unsigned long long)rq->arg.id);
}

/* kill route=NAME, kill server=ADDR: every connection of that route (its
 * name as the configuration has it) or to that server (as written). */
static void kill_some_each(struct worker *w, struct areq *rq)
{
	struct session *s, *next;
	int match;

	for (s = w->live; s != NULL; s = next) {
		next = s->next;		/* session_close() unlinks s */
		if (rq->cmd->cmd == ADMIN_KILL_ROUTE)
			match = s->rt != NULL && strcmp(s->rt->name, rq->arg.word) == 0;
		else
			match = s->be != NULL && strcmp(s->be->name, rq->arg.word) == 0;
		if (match) {
			session_close(s, CR_KILLED);
			rq->killed++;
		}
	}
	rq->killed += rq->cmd->cmd == ADMIN_KILL_ROUTE ? quic_kill(w, 0, rq->arg.word, NULL) :
	    quic_kill(w, 0, NULL, rq->arg.word);
}

static void kill_some_answer(struct areq *rq, struct mbuf *out)
{
	mbuf_printf(out, "killed %zu connection%s\n", rq->killed, rq->killed == 1 ? "" : "s");
}

/* The servers' rows, the operator's states: worker 0's configuration (the
 * state is shared by every worker, backend.h). */
static void servers_answer(struct areq *rq, struct mbuf *out)
{
	struct worker *w0 = workers_all(NULL)[0];

	(void)rq;
	backend_table(out, w0->conf, w0->loop.now);
}

static void server_op_answer(struct areq *rq, struct mbuf *out)
{
	static const char *const by[] = {
		[ADMIN_DISABLE] = "disabled by admin", [ADMIN_ENABLE] = "enabled by admin",
		[ADMIN_DRAIN] = "draining by admin",
	};
	struct worker *w0 = workers_all(NULL)[0];
	struct backend *be = backend_find(w0->conf, rq->arg.word);
	enum admin_cmd c = rq->cmd->cmd;
	enum be_state was;

	if (be == NULL) {
		mbuf_printf(out, "error: no such server %s\n", rq->arg.word);
		return;
	}
	was = backend_state(be, w0->loop.now);
	backend_set_admin(be, c == ADMIN_DISABLE ? BA_DISABLE : c == ADMIN_DRAIN ? BA_DRAIN :
	    BA_READY);
	backend_note(be, w0->loop.now, "%s", by[c]);
	mbuf_printf(out, "server %s: %s -> %s\n", be->name, backend_state_name(was),
	    backend_state_name(backend_state(be, w0->loop.now)));
}

/* The hand-over (docs/upgrade.md): one per process. */
static int handed_over;

/* handover: a dup of every listening socket of this worker (and worker 0's
 * metrics listener); a draining worker has none left to give. */
static void handover_each(struct worker *w, struct areq *rq)
{
	int fds[CTL_FDS_MAX], fd;
	size_t n, i;

	if (w->draining) {
		rq->refuse = "draining";
		return;
	}
	n = listeners_fds(&w->ls, fds, CTL_FDS_MAX);
	if (w->index == 0 && (fd = metricsd_fd(w)) != -1 && n < CTL_FDS_MAX)
		fds[n++] = fd;
	for (i = 0; i < n && rq->refuse == NULL; i++) {
		if (rq->nfds == CTL_FDS_MAX)
			rq->refuse = "more listening sockets than one message carries (253)";
		else if ((fd = fcntl(fds[i], F_DUPFD_CLOEXEC, 3)) == -1)
			rq->refuse = "out of file descriptors";
		else
			rq->fds[rq->nfds++] = fd;
	}
}

/* The sockets went (ok), or the asker left first: then a later hand-over
 * may try again. Once sent, the drain starts as at SIGTERM (the main
 * thread's signalfd takes it): our sockets close, the new process's copies
 * keep their queues. */
static void handover_sent(void *arg, int ok)
{
	(void)arg;
	if (!ok) {
		log_warnx("handover: the new process left before taking the sockets; "
		    "still serving");
		handed_over = 0;
		return;
	}
	log_info("handover: listening sockets sent; draining as at SIGTERM");
	if (tgkill(getpid(), getpid(), SIGTERM) == -1)
		log_warn("handover: cannot start the drain (SIGTERM ends it)");
}

static void handover_answer(struct areq *rq, struct mbuf *out)
{
	struct sockaddr_storage ss;
	socklen_t len;
	char name[64];
	size_t i;

	if (rq->refuse == NULL && handed_over)
		rq->refuse = "already handed over";
	if (rq->refuse == NULL && rq->nfds == 0)
		rq->refuse = "no listening socket";
	if (rq->refuse != NULL) {
		mbuf_printf(out, "error: handover refused: %s\n", rq->refuse);
		return;		/* areq_free() closes the dups */
	}
	mbuf_printf(out, "handover %zu pid %ld\n", rq->nfds, (long)getpid());
	for (i = 0; i < rq->nfds; i++) {
		len = sizeof(ss);
		if (getsockname(rq->fds[i], (struct sockaddr *)&ss, &len) == -1)
			ss.ss_family = AF_UNSPEC;
		mbuf_printf(out, "socket %zu %s\n", i, sockaddr_str(&ss, name, sizeof(name)));
	}
	log_info("handover: sending %zu listening socket%s", rq->nfds, rq->nfds == 1 ? "" : "s");
	ctl_out_fds(rq->cc, rq->fds, rq->nfds, handover_sent, NULL);
	rq->nfds = 0;
	handed_over = 1;
}

static void help_answer(struct areq *rq, struct mbuf *out);

static const struct acmd commands[] = {
	{ ADMIN_CONNS, "conns", "the live connection table (docs/admin.md)",
	  conns_each, conns_answer },
	{ ADMIN_KILL, "kill ID", "end connection ID, both sides reset (term killed)",
	  kill_each, kill_answer },
	{ ADMIN_KILL_ROUTE, "kill route=NAME",
	  "end every connection of route NAME, both sides reset (term killed)",
	  kill_some_each, kill_some_answer },
	{ ADMIN_KILL_SERVER, "kill server=HOST:PORT",
	  "end every connection to that server, both sides reset (term killed)",
	  kill_some_each, kill_some_answer },
	{ ADMIN_SERVERS, "servers", "the servers: state, in flight, fails, last check, addresses (docs/admin.md)",
	  NULL, servers_answer },
	{ ADMIN_DISABLE, "disable HOST:PORT",
	  "no new connections to that server; live ones go on (kill server= ends them)",
	  NULL, server_op_answer },
	{ ADMIN_DRAIN, "drain HOST:PORT", "no new connections to that server; live ones finish",
	  NULL, server_op_answer },
	{ ADMIN_ENABLE, "enable HOST:PORT", "undo disable or drain", NULL, server_op_answer },
	{ ADMIN_HANDOVER, "handover",
	  "pass every listening socket to the asker (halfpipe --take-over), then drain",
	  handover_each, handover_answer },
	{ ADMIN_HELP, "help", "this list", NULL, help_answer },
};
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void help_answer(struct areq *rq, struct mbuf *out)
{
	size_t i;

	(void)rq;
	for (i = 0; i < NCOMMANDS; i++)
		mbuf_printf(out, "%s\t%s\n", commands[i].usage, commands[i].help);
}

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
	while (rq->nfds > 0)
		close(rq->fds[--rq->nfds]);
	free(rq->rows);
	free(rq);
}

static void wake(struct worker *w)
{
	uint64_t one = 1;

	if (w->admin != NULL && write(w->admin->fd, &one, sizeof(one)) == -1)
		log_warn("worker %d: admin eventfd", w->index);
}

/* Our eventfd: answer the requests waiting for us; the socket's worker
 * then sends the answers every worker has given. */
static void on_wake(struct ev *ev, uint32_t events)
{
	struct admin *a = container_of(ev, struct admin, ev);
	struct worker *w = a->w;
	uint64_t bit = (uint64_t)1 << w->index, n;
	struct areq *rq;
	int done = 0;

	(void)events;
	if (read(a->fd, &n, sizeof(n)) != (ssize_t)sizeof(n))
		return;
	pthread_mutex_lock(&mx);
	for (rq = pending; rq != NULL; rq = rq->next)
		if (rq->todo & bit) {
			rq->cmd->each(w, rq);
			rq->todo &= ~bit;
			done |= rq->todo == 0;
		}
	pthread_mutex_unlock(&mx);
	if (w->index != 0) {
		if (done)
			wake(workers_all(NULL)[0]);
		return;
	}
	ctl_wake(&a->sv);
}

/* The request line: answer it now, or hand it to every worker. */
static enum ctl_verdict on_request(struct ctl_conn *cc, const char *req, size_t len)
{
	struct mbuf *out = ctl_out(cc);
	enum admin_cmd c;
	struct areq *rq;
	size_t i, nw;
	struct admin_arg arg = { 0 };
	struct worker **ws = workers_all(&nw);

	if ((c = admin_parse(req, len, &arg)) == ADMIN_NEED_MORE)
		return CTL_MORE;
	for (i = 0; i < NCOMMANDS && commands[i].cmd != c; i++)
		;
	if (i == NCOMMANDS) {
		mbuf_printf(out, "error: bad request (\"help\" lists the commands)\n");
		return CTL_ANSWER;
	}
	if ((rq = calloc(1, sizeof(*rq))) == NULL) {
		mbuf_printf(out, "error: out of memory\n");
		return CTL_ANSWER;
	}
	rq->cmd = &commands[i];
	rq->arg = arg;
	rq->cc = cc;
	if (rq->cmd->each == NULL) {
		rq->cmd->answer(rq, out);
		free(rq);
		return CTL_ANSWER;
	}
	for (i = 0; i < nw; i++)
		rq->todo |= (uint64_t)1 << i;
	pthread_mutex_lock(&mx);
	rq->next = pending;
	pending = rq;
	pthread_mutex_unlock(&mx);
	*ctl_data(cc) = rq;
	for (i = 0; i < nw; i++)
		wake(ws[i]);
	return CTL_WAIT;
}

/* Every worker answered? Then the text to send. */
static int on_ready(struct ctl_conn *cc)
{
	struct areq *rq = *ctl_data(cc);
	uint64_t todo;

	pthread_mutex_lock(&mx);
	todo = rq->todo;
	pthread_mutex_unlock(&mx);
	if (todo != 0)
		return 0;
	if (rq->oom)
		mbuf_printf(ctl_out(cc), "error: out of memory\n");
	else
		rq->cmd->answer(rq, ctl_out(cc));
	areq_free(rq);
	*ctl_data(cc) = NULL;
	return 1;
}

static void on_cancel(struct ctl_conn *cc)
{
	areq_free(*ctl_data(cc));
	*ctl_data(cc) = NULL;
}

static const struct ctl_proto admin_proto = {
	.name = "admin socket",
	.req_max = ADMIN_REQ_MAX,
	.request = on_request,
	.ready = on_ready,
	.cancel = on_cancel,
};

int admin_open(struct worker *w)
{
	struct admin *a;
	int fd;

	if (w->index >= 64) {
		log_warnx("admin-socket: at most 64 workers");
		return -1;
	}
	if ((a = calloc(1, sizeof(*a))) == NULL) {
		log_warnx("out of memory");
		return -1;
	}
	a->w = w;
	a->ev.fn = on_wake;
	a->sv.fd = -1;
	w->admin = a;
	if ((a->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1 ||
	    loop_add(&w->loop, a->fd, EPOLLIN, &a->ev) == -1) {
		log_warn("eventfd");
		return -1;
	}
	if (w->index != 0)
		return 0;
	if ((fd = ctl_listen_unix(w->conf->admin_socket, "admin-socket")) == -1 ||
	    ctl_open(&a->sv, &w->loop, fd, &admin_proto, a) == -1)
		return -1;
	log_info("admin socket on %s", w->conf->admin_socket);
	return 0;
}

void admin_close(struct worker *w)
{
	struct admin *a = w->admin;

	if (a == NULL)
		return;
	ctl_close(&a->sv);
	if (a->fd != -1) {
		loop_del(&w->loop, a->fd);
		close(a->fd);
	}
	free(a);
	w->admin = NULL;
}
