/*
 * The pool of kernel pipes for the zero-copy path (the splice() calls
 * themselves are half.c's): a direction that moves bulk data splices socket -> kernel
 * pipe -> socket, without copying through user space. Kernel pipes come from
 * a per-worker pool only while a direction has bytes in flight and go back
 * when it has none, so an idle connection holds no pipe. Each pipe is two
 * fds: the pool has a ceiling (the process's fd budget and the per-user pipe
 * budget are both finite); when no pipe is to be had the direction keeps the
 * plain buffer, and the fallback is counted.
 */
#ifndef HP_KPIPE_H
#define HP_KPIPE_H

#include <stddef.h>
#include <stdint.h>

#define SPLICE_CHUNK (64 * 1024)	/* a default pipe holds 16 pages */

struct kpipe {
	int	rd, wr;
};

struct kpipe_pool {
	struct kpipe	*free;
	size_t		 nfree, cap_free;
	size_t		 in_use;	/* pipes held by directions now */
	size_t		 max;		/* ceiling on pipes in use; 0: splice off */
	uint64_t	 fallbacks;	/* times a direction wanted one and got none */
};

/** A pipe from the pool (or new). 0, or -1 when none is to be had (the
 *  fallback is counted). */
int kpipe_get(struct kpipe_pool *pp, struct kpipe *out);
/** Give back an empty pipe. */
void kpipe_put(struct kpipe_pool *pp, struct kpipe *kp);
/** Close a pipe that may still hold bytes (the session is ending). */
void kpipe_discard(struct kpipe_pool *pp, struct kpipe *kp);
void kpipe_drain(struct kpipe_pool *pp);

#endif
