/* t_listener: an inherited socket shared by the workers (inherit.h) is
 * watched with EPOLLEXCLUSIVE, and the accept pause, which watches the
 * listeners edge-triggered, re-registers it by delete and add (the kernel
 * refuses EPOLL_CTL_MOD on an EPOLLEXCLUSIVE registration). The pause is
 * reached for real in a forked child: out of fds, no spare fd, a
 * connection pending. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "conf.h"
#include "fds.h"
#include "inherit.h"
#include "listener.h"
#include "loop.h"
#include "test.h"
#include "worker.h"

enum { R_SHARED = 1, R_EXCL = 2, R_PAUSED = 4, R_ET_EXCL = 8 };

/* The events epoll has for fd in epfd (from /proc/self/fdinfo), or 0. */
static unsigned long watched(int epfd, int fd)
{
	char path[64], line[256];
	unsigned long ev = 0;
	FILE *f;
	int tfd;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", epfd);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "tfd: %d events: %lx", &tfd, &ev) == 2 && tfd == fd)
			break;
		else
			ev = 0;
	fclose(f);
	return ev;
}

/* In the child: 1 socket from "systemd" for 2 workers, worker 0's set;
 * then the pause. The bits of what held. */
static int child(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	struct sockaddr_storage bound[1];
	struct rlimit rl = { 64, 64 };
	static struct worker w;
	struct conf *c = conf_new();
	char pid[32], port[32];
	int l, cl, rc = 0, last = -1, fd;

	if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
		return -1;
	l = socket(AF_INET, SOCK_STREAM, 0);
	if (l == -1 || bind(l, (struct sockaddr *)&a, sizeof(a)) == -1 || listen(l, 16) == -1 ||
	    getsockname(l, (struct sockaddr *)&a, &alen) == -1 || dup2(l, 3) == -1)
		return -1;
	if (l != 3)
		close(l);
	snprintf(port, sizeof(port), "127.0.0.1:%u", (unsigned)ntohs(a.sin_port));
	if (c == NULL || conf_apply_flag(c, "listen", port, NULL) != 0 ||
	    conf_apply_flag(c, "route", "a.test=127.0.0.1:9", NULL) != 0 ||
	    conf_finish(c, NULL) != 0)
		return -1;
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	setenv("LISTEN_PID", pid, 1);
	setenv("LISTEN_FDS", "1", 1);
	inherit_systemd();
	inherit_match(c, 2);
	w.index = 0;
	w.conf = c;
	if (loop_init(&w.loop) == -1)
		return -1;
	fds_note_init(&w.fd_log, &w.loop, 0);
	fds_init();
	if (listeners_open(&w.ls, &w, c, bound, 1) == -1)
		return -1;
	inherit_done();
	if (w.ls.n == 1 && w.ls.v[0] != NULL && w.ls.v[0]->next == NULL && w.ls.v[0]->fd != 3)
		rc |= R_SHARED;		/* one socket, a dup of fd 3 */
	if ((watched(w.loop.epfd, w.ls.v[0]->fd) & EPOLLEXCLUSIVE) &&
	    !(watched(w.loop.epfd, w.ls.v[0]->fd) & EPOLLET))
		rc |= R_EXCL;
	/* a connection pending; no spare fd; every fd taken */
	if ((cl = socket(AF_INET, SOCK_STREAM, 0)) == -1 ||
	    connect(cl, (struct sockaddr *)&a, sizeof(a)) == -1)
		return -1;
	close(w.ls.spare_fd);
	w.ls.spare_fd = -1;
	while ((fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) != -1)
		last = fd;
	if (loop_run_once(&w.loop) == -1)
		return -1;
	if (last != -1)
		close(last);		/* room to read fdinfo */
	if (w.ls.et)
		rc |= R_PAUSED;
	if ((watched(w.loop.epfd, w.ls.v[0]->fd) & (EPOLLET | EPOLLEXCLUSIVE | EPOLLIN)) ==
	    (EPOLLET | EPOLLEXCLUSIVE | EPOLLIN))
		rc |= R_ET_EXCL;
	return rc;
}

int main(void)
{
	int st = 0, rc;
	pid_t pid;

	fflush(stdout);
	if ((pid = fork()) == 0)
		_exit(child() & 0xff);
	CHECK(pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st), "the child ran");
	rc = WEXITSTATUS(st);
	CHECK(rc != 0xff, "the child set up its listener");
	CHECK(rc & R_SHARED, "one inherited socket for two workers: worker 0 serves a dup");
	CHECK(rc & R_EXCL, "shared: watched EPOLLIN|EPOLLEXCLUSIVE, level-triggered");
	CHECK(rc & R_PAUSED, "out of fds with no spare: the accept pause");
	CHECK(rc & R_ET_EXCL, "paused: deleted and added again, EPOLLET|EPOLLEXCLUSIVE "
	    "(EPOLL_CTL_MOD would be refused)");
	return test_done();
}
