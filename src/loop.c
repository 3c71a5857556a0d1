#include <errno.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "loop.h"

#define LOOP_BATCH 256

int loop_init(struct loop *l)
{
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	return l->epfd == -1 ? -1 : 0;
}

void loop_close(struct loop *l)
{
	if (l->epfd != -1)
		close(l->epfd);
	l->epfd = -1;
}

static int ctl(struct loop *l, int op, int fd, uint32_t events, struct ev *ev)
{
	struct epoll_event e = { .events = events, .data.ptr = ev };

	return epoll_ctl(l->epfd, op, fd, &e);
}

int loop_add(struct loop *l, int fd, uint32_t events, struct ev *ev)
{
	return ctl(l, EPOLL_CTL_ADD, fd, events, ev);
}

int loop_mod(struct loop *l, int fd, uint32_t events, struct ev *ev)
{
	return ctl(l, EPOLL_CTL_MOD, fd, events, ev);
}

int loop_del(struct loop *l, int fd)
{
	return ctl(l, EPOLL_CTL_DEL, fd, 0, NULL);
}

int loop_run_once(struct loop *l, int timeout_ms, tick_t *now)
{
	struct epoll_event evs[LOOP_BATCH];
	int i, n;

	n = epoll_wait(l->epfd, evs, LOOP_BATCH, timeout_ms);
	*now = tick_now();	/* before any handler stamps a deadline with it */
	if (n == -1)
		return errno == EINTR ? 0 : -1;
	for (i = 0; i < n; i++) {
		struct ev *ev = evs[i].data.ptr;

		ev->fn(ev, evs[i].events);
	}
	return n;
}
