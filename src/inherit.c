#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "inherit.h"
#include "log.h"

#define SD_LISTEN_FDS_START 3

enum { FROM_SYSTEMD, FROM_OLD };

struct isock {
	int			 fd;
	int			 from;
	int			 used;		/* matched to an address */
	struct sockaddr_storage	 addr;
	char			 name[64];	/* the address, as text */
	char			 fdname[64];	/* LISTEN_FDNAMES' */
};

static struct isock tab[INHERIT_MAX];
static size_t ntab, ninherited;
static int nworkers = 1;
static long old_pid;

static const char *from_text(int from)
{
	return from == FROM_SYSTEMD ? "from systemd" : "taken over";
}

/* fd is a TCP listening socket (SO_ACCEPTCONN, SO_TYPE, family)? Its
 * address into e; 0, or -1 with *why. */
static int check_listening(int fd, struct isock *e, const char **why)
{
	socklen_t len = sizeof(e->addr);
	int v = 0;
	socklen_t vl = sizeof(v);

	*why = "not a socket";
	if (getsockname(fd, (struct sockaddr *)&e->addr, &len) == -1)
		return -1;
	sockaddr_str(&e->addr, e->name, sizeof(e->name));
	*why = "not an IPv4 or IPv6 socket";
	if (e->addr.ss_family != AF_INET && e->addr.ss_family != AF_INET6)
		return -1;
	*why = "not a stream socket";
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, &vl) == -1 || v != SOCK_STREAM)
		return -1;
	*why = "not listening";
	vl = sizeof(v);
	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &vl) == -1 || v == 0)
		return -1;
	return 0;
}

static void add(int fd, int from, const char *fdname)
{
	struct isock *e = &tab[ntab];
	const char *why;
	int fl, one = 1;

	memset(e, 0, sizeof(*e));
	e->fd = fd;
	e->from = from;
	snprintf(e->fdname, sizeof(e->fdname), "%s", fdname);
	if (check_listening(fd, e, &why) == -1)
		fatalx("%s: fd %d (%s, name \"%s\"): %s", from_text(from), fd,
		    e->name[0] ? e->name : "?", fdname, why);
	if ((fl = fcntl(fd, F_GETFL)) == -1 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) == -1)
		fatal("%s: fd %d", from_text(from), fd);
	/* as listener_bind() sets them: the accepted sockets inherit them */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	(void)setsockopt(fd, SOL_SOCKET, SO_OOBINLINE, &one, sizeof(one));
	ntab++;
	ninherited++;
}

void inherit_systemd(void)
{
	const char *pid = getenv("LISTEN_PID"), *nfds = getenv("LISTEN_FDS");
	const char *names = getenv("LISTEN_FDNAMES");
	char *end, name[64];
	long p, n, i;

	if (pid == NULL || nfds == NULL)
		goto out;
	errno = 0;
	p = strtol(pid, &end, 10);
	if (errno != 0 || *end != '\0' || p != (long)getpid())
		goto out;	/* for another process (sd_listen_fds() ignores it too) */
	errno = 0;
	n = strtol(nfds, &end, 10);
	if (errno != 0 || *end != '\0' || n < 0 || n > INHERIT_MAX)
		fatalx("LISTEN_FDS=\"%s\": want 0..%d", nfds, INHERIT_MAX);
	for (i = 0; i < n; i++) {
		size_t len = 0;

		name[0] = '\0';
		if (names != NULL) {	/* the i-th ':'-separated name */
			len = strcspn(names, ":");
			snprintf(name, sizeof(name), "%.*s", (int)len, names);
			names = names[len] == ':' ? names + len + 1 : NULL;
		}
		add(SD_LISTEN_FDS_START + (int)i, FROM_SYSTEMD, name[0] ? name : "unknown");
	}
out:
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
}

static long ms_left(const struct timespec *t0)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return INHERIT_TIMEOUT_MS - ((now.tv_sec - t0->tv_sec) * 1000 +
	    (now.tv_nsec - t0->tv_nsec) / 1000000);
}

/* Wait until fd has `events` or the hand-over's time is up (fatal). */
static void wait_for(int fd, short events, const struct timespec *t0, const char *path)
{
	struct pollfd pfd = { fd, events, 0 };
	long left;
	int rc;

	for (;;) {
		if ((left = ms_left(t0)) <= 0)
			fatalx("--take-over %s: no answer within %d ms", path, INHERIT_TIMEOUT_MS);
		if ((rc = poll(&pfd, 1, (int)left)) == 1)
			return;
		if (rc == -1 && errno != EINTR)
			fatal("--take-over %s: poll", path);
	}
}

/* The fds of one message's SCM_RIGHTS, added to the table. */
static void take_rights(struct msghdr *m, int *fds, size_t *n, const char *path)
{
	struct cmsghdr *cm;

	if (m->msg_flags & MSG_CTRUNC)
		fatalx("--take-over %s: more than %d sockets", path, INHERIT_MAX);
	for (cm = CMSG_FIRSTHDR(m); cm != NULL; cm = CMSG_NXTHDR(m, cm)) {
		size_t k, nk;

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		nk = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (k = 0; k < nk; k++) {
			if (*n == INHERIT_MAX)
				fatalx("--take-over %s: more than %d sockets", path, INHERIT_MAX);
			memcpy(&fds[(*n)++], CMSG_DATA(cm) + k * sizeof(int), sizeof(int));
		}
	}
}

void inherit_takeover(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	union { char buf[CMSG_SPACE(INHERIT_MAX * sizeof(int))]; struct cmsghdr align; } ctl;
	static const char req[] = "handover\n";
	char text[32768];
	size_t tlen = 0, nfds = 0, i;
	int fds[INHERIT_MAX], fd;
	struct timespec t0;
	struct ucred cr;
	socklen_t crl = sizeof(cr);
	unsigned long want;
	ssize_t r;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (strlen(path) >= sizeof(sun.sun_path))
		fatalx("--take-over %s: path too long", path);
	memcpy(sun.sun_path, path, strlen(path) + 1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) == -1)
		fatal("--take-over %s: socket", path);
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1)
		fatal("--take-over %s: no halfpipe answers there (its admin-socket?)", path);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &crl) == 0)
		old_pid = (long)cr.pid;
	wait_for(fd, POLLOUT, &t0, path);
	if (send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL) != (ssize_t)sizeof(req) - 1)
		fatal("--take-over %s: send", path);
	for (;;) {
		struct iovec iov = { text + tlen, sizeof(text) - 1 - tlen };
		struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
		    .msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf) };

		if (iov.iov_len == 0)
			fatalx("--take-over %s: answer too long", path);
		wait_for(fd, POLLIN, &t0, path);
		r = recvmsg(fd, &m, MSG_CMSG_CLOEXEC);
		if (r == -1 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (r == -1)
			fatal("--take-over %s: recvmsg", path);
		take_rights(&m, fds, &nfds, path);
		if (r == 0)
			break;
		tlen += (size_t)r;
	}
	close(fd);
	text[tlen] = '\0';
	if (strncmp(text, "error: ", 7) == 0)
		fatalx("--take-over %s: the old halfpipe refused: %.*s", path,
		    (int)strcspn(text + 7, "\n"), text + 7);
	if (sscanf(text, "handover %lu", &want) != 1 || want != nfds || nfds == 0)
		fatalx("--take-over %s: not a hand-over answer (%zu sockets with \"%.*s\")", path,
		    nfds, (int)strcspn(text, "\n"), text);
	for (i = 0; i < nfds; i++)
		add(fds[i], FROM_OLD, "-");
	log_info("took over %zu listening socket%s from pid %ld (%s)", nfds,
	    nfds == 1 ? "" : "s", old_pid, path);
}

void inherit_match(const struct conf *c, int nw)
{
	size_t i, j, k;

	nworkers = nw < 1 ? 1 : nw;
	for (k = 0; k < ntab; k++) {
		struct isock *e = &tab[k];

		for (i = 0; i < c->nlisteners && !e->used; i++)
			for (j = 0; j < c->listeners[i].naddr && !e->used; j++)
				e->used = addr_same(&c->listeners[i].addr[j], &e->addr);
		if (!e->used && c->metrics_addrlen != 0)
			e->used = addr_same(&c->metrics_addr, &e->addr);
		if (e->used)
			continue;
		if (e->from == FROM_SYSTEMD)
			fatalx("systemd passed fd %d (%s, name \"%s\"), which no listen or "
			    "metrics address of the configuration names", e->fd, e->name,
			    e->fdname);
		log_info("taken over: %s is not in the configuration: closed", e->name);
		close(e->fd);
		e->fd = -1;
	}
}

static int dup_fd(const struct isock *e)
{
	int fd = fcntl(e->fd, F_DUPFD_CLOEXEC, 3);

	if (fd == -1)
		fatal("%s: dup fd %d (%s)", from_text(e->from), e->fd, e->name);
	return fd;
}

size_t inherit_fds(const struct sockaddr_storage *addr, int index, int *out, size_t max,
    int *shared, const char **from)
{
	size_t k, m = 0, n = 0, pick;
	struct isock *v[INHERIT_MAX];

	for (k = 0; k < ntab; k++)
		if (tab[k].fd != -1 && addr_same(&tab[k].addr, addr))
			v[m++] = &tab[k];
	*shared = 0;
	if (m == 0)
		return 0;
	*from = from_text(v[0]->from);
	if (m >= (size_t)nworkers) {	/* its share: every nworkers-th */
		for (k = (size_t)index; k < m && n < max; k += (size_t)nworkers)
			out[n++] = dup_fd(v[k]);
		return n;
	}
	pick = (size_t)index % m;	/* fewer sockets than workers: shared */
	*shared = 1;
	out[n++] = dup_fd(v[pick]);
	return n;
}

int inherit_metrics(const struct sockaddr_storage *addr)
{
	size_t k;

	for (k = 0; k < ntab; k++)
		if (tab[k].fd != -1 && addr_same(&tab[k].addr, addr))
			return dup_fd(&tab[k]);
	return -1;
}

void inherit_done(void)
{
	size_t k;

	for (k = 0; k < ntab; k++)
		if (tab[k].fd != -1)
			close(tab[k].fd);
	ntab = 0;
}

size_t inherit_count(void)
{
	return ninherited;
}
