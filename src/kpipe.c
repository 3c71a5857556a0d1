#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "fds.h"
#include "kpipe.h"

int kpipe_get(struct kpipe_pool *pp, struct kpipe *out)
{
	int fds[2];

	if (pp->in_use >= pp->max) {
		pp->fallbacks++;
		return -1;
	}
	if (pp->nfree > 0) {
		*out = pp->free[--pp->nfree];
		pp->in_use++;
		return 0;
	}
	if (!fds_take(2)) {
		pp->fallbacks++;
		return -1;
	}
	if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) == -1) {
		fds_give(2);
		pp->fallbacks++;
		return -1;
	}
	out->rd = fds[0];
	out->wr = fds[1];
	pp->in_use++;
	return 0;
}

void kpipe_put(struct kpipe_pool *pp, struct kpipe *kp)
{
	if (kp->rd == -1)
		return;
	pp->in_use--;
	if (pp->nfree == pp->cap_free) {
		size_t cap = pp->cap_free ? pp->cap_free * 2 : 16;
		struct kpipe *v = cap <= pp->max ? realloc(pp->free, cap * sizeof(*v)) : NULL;

		if (v == NULL) {
			close(kp->rd);
			close(kp->wr);
			fds_give(2);
			kp->rd = kp->wr = -1;
			return;
		}
		pp->free = v;
		pp->cap_free = cap;
	}
	pp->free[pp->nfree++] = *kp;
	kp->rd = kp->wr = -1;
}

void kpipe_discard(struct kpipe_pool *pp, struct kpipe *kp)
{
	if (kp->rd == -1)
		return;
	pp->in_use--;
	close(kp->rd);
	close(kp->wr);
	fds_give(2);
	kp->rd = kp->wr = -1;
}

void kpipe_drain(struct kpipe_pool *pp)
{
	while (pp->nfree > 0) {
		struct kpipe *kp = &pp->free[--pp->nfree];

		close(kp->rd);
		close(kp->wr);
		fds_give(2);
	}
	free(pp->free);
	pp->free = NULL;
	pp->cap_free = 0;
}
