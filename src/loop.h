/* A thin epoll wrapper: no proxy policy. Each registered fd carries a
 * struct ev whose callback receives the epoll event bits. */
#ifndef HP_LOOP_H
#define HP_LOOP_H

#include <stdint.h>

#include "tick.h"

struct ev {
	void	(*fn)(struct ev *ev, uint32_t events);
};

struct loop {
	int	epfd;
};

int loop_init(struct loop *l);
void loop_close(struct loop *l);
/** Register / change / remove fd; 0 or -1 (errno set). */
int loop_add(struct loop *l, int fd, uint32_t events, struct ev *ev);
int loop_mod(struct loop *l, int fd, uint32_t events, struct ev *ev);
int loop_del(struct loop *l, int fd);
/** Wait up to timeout_ms (-1 forever), set *now to the time it woke, then
 *  run the callbacks of what is ready. Returns the number of events, or -1
 *  (EINTR is 0). */
int loop_run_once(struct loop *l, int timeout_ms, tick_t *now);

#endif
