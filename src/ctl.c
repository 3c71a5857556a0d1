#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <unistd.h>

#include "ctl.h"
#include "log.h"

enum { CC_READ, CC_WAIT, CC_WRITE, CC_FIN, CC_CLOSED };

struct ctl_conn {
	struct ev		 ev;
	struct loop_timer	 timer;
	struct loop_closing	 closing;
	struct ctl_server	*sv;
	int			 fd;
	int			 state;
	size_t			 rlen, opos;
	void			*data;		/* the protocol's */
	int			*fds;		/* to send with the answer */
	size_t			 nfds;
	void			(*sent)(void *arg, int ok);
	void			*sent_arg;
	struct mbuf		 out;
	char			 req[];		/* proto->req_max bytes */
};

struct mbuf *ctl_out(struct ctl_conn *cc)
{
	return &cc->out;
}

struct ctl_server *ctl_server_of(struct ctl_conn *cc)
{
	return cc->sv;
}

void **ctl_data(struct ctl_conn *cc)
{
	return &cc->data;
}

static void reset_fd(int fd)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	(void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
}

/* Close the fds not sent (none: nothing to do); sent(arg, 0) if any. */
static void close_fds(struct ctl_conn *cc)
{
	size_t i;

	if (cc->nfds > 0 && cc->sent != NULL)
		cc->sent(cc->sent_arg, 0);
	cc->sent = NULL;
	for (i = 0; i < cc->nfds; i++)
		close(cc->fds[i]);
	free(cc->fds);
	cc->fds = NULL;
	cc->nfds = 0;
}

void ctl_out_fds(struct ctl_conn *cc, const int *fds, size_t n,
    void (*sent)(void *arg, int ok), void *arg)
{
	close_fds(cc);
	if (n == 0 || n > CTL_FDS_MAX || (cc->fds = malloc(n * sizeof(int))) == NULL) {
		cc->out.oom |= n != 0;
		while (n > 0)
			close(fds[--n]);
		return;
	}
	memcpy(cc->fds, fds, n * sizeof(int));
	cc->nfds = n;
	cc->sent = sent;
	cc->sent_arg = arg;
}

/* The answer's next bytes; the fds ride with the first (SCM_RIGHTS). */
static ssize_t send_out(struct ctl_conn *cc)
{
	union { char buf[CMSG_SPACE(CTL_FDS_MAX * sizeof(int))]; struct cmsghdr align; } u;
	struct iovec iov = { cc->out.p + cc->opos, cc->out.len - cc->opos };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *cm;
	ssize_t n;

	if (cc->nfds == 0)
		return send(cc->fd, iov.iov_base, iov.iov_len, MSG_NOSIGNAL);
	memset(&u, 0, sizeof(u));
	m.msg_control = u.buf;
	m.msg_controllen = CMSG_SPACE(cc->nfds * sizeof(int));
	cm = CMSG_FIRSTHDR(&m);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(cc->nfds * sizeof(int));
	memcpy(CMSG_DATA(cm), cc->fds, cc->nfds * sizeof(int));
	if ((n = sendmsg(cc->fd, &m, MSG_NOSIGNAL)) > 0) {
		void (*sent)(void *, int) = cc->sent;

		cc->sent = NULL;
		close_fds(cc);		/* they are the peer's now */
		sent(cc->sent_arg, 1);
	}
	return n;
}

static void cc_free(struct loop_closing *c)
{
	struct ctl_conn *cc = container_of(c, struct ctl_conn, closing);

	mbuf_free(&cc->out);
	free(cc);
}

/* The end: a reset (abort) or, after both FINs, a plain close. */
static void cc_end(struct ctl_conn *cc, int abort)
{
	struct ctl_server *sv = cc->sv;
	size_t i;

	if (cc->state == CC_WAIT && sv->proto->cancel != NULL)
		sv->proto->cancel(cc);
	close_fds(cc);
	loop_del(sv->loop, cc->fd);
	if (abort)
		reset_fd(cc->fd);
	else
		close(cc->fd);
	cc->fd = -1;
	cc->state = CC_CLOSED;
	loop_timer_stop(sv->loop, &cc->timer);
	for (i = 0; i < CTL_CONN_MAX; i++)
		if (sv->c[i] == cc)
			sv->c[i] = NULL;
	loop_close_later(sv->loop, &cc->closing, cc_free);
}

/* recv or send returned n: 1 to go on, 0 to wait for the next edge, -1 if
 * cc ended (an error). */
static int io_ok(struct ctl_conn *cc, ssize_t n)
{
	if (n >= 0)
		return 1;
	if (errno == EINTR)
		return 1;
	if (errno == EAGAIN || errno == EWOULDBLOCK)
		return 0;
	cc_end(cc, 1);
	return -1;
}

static void cc_step(struct ctl_conn *cc)
{
	const struct ctl_proto *p = cc->sv->proto;
	enum ctl_verdict v;
	char sink[256];
	ssize_t n;

	for (;;) {
		switch (cc->state) {
		case CC_READ:
			n = recv(cc->fd, cc->req + cc->rlen, p->req_max - cc->rlen, 0);
			if (io_ok(cc, n) <= 0)
				return;
			if (n == 0) {	/* gone before its answer */
				cc_end(cc, 1);
				return;
			}
			if (n < 0)
				continue;
			cc->rlen += (size_t)n;
			v = p->request(cc, cc->req, cc->rlen);
			if (v == CTL_ANSWER)
				cc->state = CC_WRITE;
			else if (v == CTL_WAIT)
				cc->state = CC_WAIT;
			else if (cc->rlen == p->req_max)	/* the protocol's bug */
				cc_end(cc, 1);
			if (cc->state == CC_CLOSED)
				return;
			break;
		case CC_WAIT:
			return;
		case CC_WRITE:
			if (cc->out.oom) {
				cc_end(cc, 1);
				return;
			}
			if (cc->opos == cc->out.len) {
				if (shutdown(cc->fd, SHUT_WR) == -1) {
					cc_end(cc, 1);
					return;
				}
				cc->state = CC_FIN;
				break;
			}
			n = send_out(cc);
			if (io_ok(cc, n) <= 0)
				return;
			if (n > 0)
				cc->opos += (size_t)n;
			break;
		case CC_FIN:	/* the client's FIN, then close */
			n = recv(cc->fd, sink, sizeof(sink), 0);
			if (io_ok(cc, n) <= 0)
				return;
			if (n == 0) {
				cc_end(cc, 0);
				return;
			}
			break;
		default:
			return;
		}
	}
}

static void on_conn(struct ev *ev, uint32_t events)
{
	struct ctl_conn *cc = container_of(ev, struct ctl_conn, ev);

	(void)events;
	if (cc->state == CC_WAIT && (events & (EPOLLERR | EPOLLHUP))) {
		cc_end(cc, 1);	/* the client went away while we wait */
		return;
	}
	cc_step(cc);
}

static void on_timeout(struct loop_timer *lt)
{
	cc_end(container_of(lt, struct ctl_conn, timer), 1);
}

static void on_accept(struct ev *ev, uint32_t events)
{
	struct ctl_server *sv = container_of(ev, struct ctl_server, ev);
	struct ctl_conn *cc;
	size_t i;
	int fd;

	(void)events;
	for (;;) {
		fd = accept4(sv->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				log_warn("%s: accept", sv->proto->name);
			return;
		}
		for (i = 0; i < CTL_CONN_MAX && sv->c[i] != NULL; i++)
			;
		if (i == CTL_CONN_MAX ||
		    (cc = calloc(1, sizeof(*cc) + sv->proto->req_max)) == NULL) {
			reset_fd(fd);	/* over the cap */
			continue;
		}
		cc->ev.fn = on_conn;
		cc->sv = sv;
		cc->fd = fd;
		cc->state = CC_READ;
		loop_timer_init(&cc->timer, on_timeout);
		if (loop_add(sv->loop, fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, &cc->ev) == -1 ||
		    loop_timer_in(sv->loop, &cc->timer, CTL_TIMEOUT_MS) == -1) {
			loop_del(sv->loop, fd);
			reset_fd(fd);
			free(cc);
			continue;
		}
		sv->c[i] = cc;
		cc_step(cc);
	}
}

void ctl_wake(struct ctl_server *sv)
{
	size_t i;

	for (i = 0; i < CTL_CONN_MAX; i++) {
		struct ctl_conn *cc = sv->c[i];

		if (cc != NULL && cc->state == CC_WAIT && sv->proto->ready(cc)) {
			cc->state = CC_WRITE;
			cc_step(cc);
		}
	}
}

int ctl_open(struct ctl_server *sv, struct loop *l, int fd, const struct ctl_proto *p,
    void *arg)
{
	memset(sv, 0, sizeof(*sv));
	sv->ev.fn = on_accept;
	sv->loop = l;
	sv->proto = p;
	sv->arg = arg;
	sv->fd = fd;
	if (loop_add(l, fd, EPOLLIN, &sv->ev) == -1) {
		log_warn("%s: epoll", p->name);
		close(fd);
		sv->fd = -1;
		return -1;
	}
	return 0;
}

void ctl_close(struct ctl_server *sv)
{
	size_t i;

	if (sv->loop == NULL)
		return;
	for (i = 0; i < CTL_CONN_MAX; i++)
		if (sv->c[i] != NULL)
			cc_end(sv->c[i], 1);
	if (sv->fd != -1) {
		loop_del(sv->loop, sv->fd);
		close(sv->fd);
	}
	sv->fd = -1;
}

int ctl_listen_tcp(const struct sockaddr_storage *addr, socklen_t len, const char *name)
{
	int one = 1, fd = socket(addr->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd == -1) {
		log_warn("%s: socket", name);
		return -1;
	}
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (addr->ss_family == AF_INET6)
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)addr, len) == -1) {
		log_warn("%s: bind", name);
		goto fail;
	}
	if (listen(fd, CTL_BACKLOG) == -1) {
		log_warn("%s: listen", name);
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return -1;
}

int ctl_listen_unix(const char *path, const char *name)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		log_warnx("%s %s: path too long", name, path);
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) == -1) {
		log_warn("%s %s: socket", name, path);
		return -1;
	}
	/* mode 0600 from the start: fchmod() before bind() sets the file's */
	if (fchmod(fd, 0600) == -1) {
		log_warn("%s %s: fchmod", name, path);
		goto fail;
	}
	if (unlink(path) == -1 && errno != ENOENT) {
		log_warn("%s %s: unlink", name, path);
		goto fail;
	}
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		log_warn("%s %s: bind", name, path);
		goto fail;
	}
	if (chmod(path, 0600) == -1 || listen(fd, CTL_BACKLOG) == -1) {
		log_warn("%s %s: chmod/listen", name, path);
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return -1;
}
