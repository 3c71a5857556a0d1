#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "accesslog.h"
#include "listener.h"
#include "log.h"
#include "session.h"

#define ACCEPT_BATCH 64
#define EMFILE_LOG_MS 1000

static void spare_open(struct worker *w)
{
	if (w->spare_fd == -1)
		w->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

/* Out of fds: take the connection with the spare fd and drop it at once, so
 * the kernel queue drains and level-triggered epoll does not spin. */
static void shed_one(struct listener *l)
{
	struct worker *w = l->w;
	int fd;

	l->shed++;
	if (w->emfile_logged == TICK_NONE || w->now - w->emfile_logged >= EMFILE_LOG_MS) {
		log_warnx("%s: out of file descriptors: dropping new connections "
		    "(%llu so far)", l->name, (unsigned long long)l->shed);
		w->emfile_logged = w->now;
	}
	if (w->spare_fd == -1)
		return;
	close(w->spare_fd);
	w->spare_fd = -1;
	fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd != -1) {
		struct linger lg = { .l_onoff = 1, .l_linger = 0 };

		(void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		close(fd);
	}
	spare_open(w);
}

static void on_accept(struct ev *ev, uint32_t events)
{
	struct listener *l = (struct listener *)ev;
	int i;

	(void)events;
	for (i = 0; i < ACCEPT_BATCH; i++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		int fd = accept4(l->fd, (struct sockaddr *)&ss, &len,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd == -1) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE) {
				shed_one(l);
				continue;
			}
			log_warn("%s: accept", l->name);
			return;
		}
		session_start(l->w, l->lc, l->name, fd, &ss, len);
	}
}

int listener_open(struct listener *l, struct worker *w, const struct listener_conf *lc,
    const struct sockaddr_storage *addr, socklen_t len, const char *written,
    struct sockaddr_storage *bound)
{
	socklen_t blen = sizeof(*bound);
	int one = 1, fd;

	spare_open(w);
	memset(l, 0, sizeof(*l));
	l->ev.fn = on_accept;
	l->lc = lc;
	l->w = w;
	fd = socket(addr->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		log_warn("listen %s: socket", written);
		return -1;
	}
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) == -1) {
		log_warn("listen %s: SO_REUSEPORT", written);
		goto fail;
	}
	if (addr->ss_family == AF_INET6)
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)addr, len) == -1) {
		log_warn("listen %s: bind", written);
		goto fail;
	}
	if (listen(fd, 4096) == -1) {
		log_warn("listen %s: listen", written);
		goto fail;
	}
	if (getsockname(fd, (struct sockaddr *)bound, &blen) == -1) {
		log_warn("listen %s: getsockname", written);
		goto fail;
	}
	sockaddr_str(bound, l->name, sizeof(l->name));
	if (loop_add(&w->loop, fd, EPOLLIN, &l->ev) == -1) {
		log_warn("listen %s: epoll", l->name);
		goto fail;
	}
	l->fd = fd;
	return 0;
fail:
	close(fd);
	l->fd = -1;
	return -1;
}

void listener_close(struct listener *l)
{
	if (l->fd == -1)
		return;
	loop_del(&l->w->loop, l->fd);
	close(l->fd);
	l->fd = -1;
}
