#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/socket.h>

#include "half.h"

#define WOULD_BLOCK(e) ((e) == EAGAIN || (e) == EWOULDBLOCK)

void half_init(struct half *p, struct side *from, struct side *to)
{
	p->from = from;
	p->to = to;
	p->buf = NULL;
	p->kp.rd = p->kp.wr = -1;
	p->piped = 0;
	p->flags = 0;
	p->bytes = 0;
	p->eof_at = TICK_NONE;
}

void half_release(struct half *p, struct bufpool *pool, struct kpipe_pool *pp)
{
	buf_put(pool, p->buf);
	p->buf = NULL;
	kpipe_discard(pp, &p->kp);
	p->piped = 0;
}

/* Write out what the buffer holds. */
static enum pump_result flush_buf(struct half *p, int *moved, int *err)
{
	struct buf *b = p->buf;
	/* the FIN follows at once (half_pump): MSG_MORE holds these bytes
	 * back for shutdown(), which sends them and the FIN in one segment */
	int more = (p->flags & HF_EOF) ? MSG_MORE : 0;

	while (b->start < b->end && p->to->can_write) {
		ssize_t n = send(p->to->fd, b->data + b->start, b->end - b->start,
		    MSG_NOSIGNAL | MSG_DONTWAIT | more);

		if (n == -1) {
			if (WOULD_BLOCK(errno))
				p->to->can_write = 0;
			else if (errno != EINTR) {
				*err = errno;
				return PUMP_TO_ERR;
			}
			continue;
		}
		if ((size_t)n < b->end - b->start)	/* socket buffer full */
			p->to->can_write = 0;
		b->start += (size_t)n;
		p->bytes += (uint64_t)n;
		*moved = 1;
	}
	return PUMP_OK;
}

/* Write out what the kernel pipe holds. */
static enum pump_result flush_pipe(struct half *p, int *moved, int *err)
{
	unsigned more = (p->flags & HF_EOF) ? SPLICE_F_MORE : 0;	/* as above */

	while (p->piped > 0 && p->to->can_write) {
		ssize_t n = splice(p->kp.rd, NULL, p->to->fd, NULL, p->piped,
		    SPLICE_F_MOVE | SPLICE_F_NONBLOCK | more);

		if (n == -1) {
			if (WOULD_BLOCK(errno))
				p->to->can_write = 0;
			else if (errno != EINTR) {
				*err = errno;
				return PUMP_TO_ERR;
			}
			continue;
		}
		p->piped -= (size_t)n;
		p->bytes += (uint64_t)n;
		*moved = 1;
	}
	return PUMP_OK;
}

/* One read into the buffer. */
static ssize_t fill_copy(struct half *p, struct bufpool *pool, struct kpipe_pool *pp)
{
	ssize_t n;

	if (p->buf == NULL && (p->buf = buf_get(pool)) == NULL) {
		errno = ENOMEM;
		return -1;
	}
	if (p->buf->start == p->buf->end)
		p->buf->start = p->buf->end = 0;
	n = recv(p->from->fd, p->buf->data + p->buf->end, p->buf->cap - p->buf->end,
	    MSG_DONTWAIT);
	if (n > 0) {
		side_read_short(p->from, (size_t)n, p->buf->cap - p->buf->end);
		p->buf->end += (size_t)n;
		/* A full buffer means bulk: splice from now on, if allowed. */
		if (p->buf->end == p->buf->cap && pp->max > 0)
			p->flags |= HF_SPLICE;
	}
	return n;
}

/*
 * The FIN is in (EPOLLRDHUP) behind bytes just read, and the buffer has
 * room: read on before writing, so that the EOF is known when the bytes go
 * out and they leave with the FIN in one segment (a short connection's
 * reply and close: one packet, and one acknowledgement, fewer each way).
 */
static int read_ahead(const struct half *p)
{
	return p->from->hup && p->from->can_read && !(p->flags & (HF_EOF | HF_SPLICE)) &&
	    p->buf != NULL && p->buf->end < p->buf->cap && p->piped == 0;
}

/*
 * One read from `from`: into the kernel pipe when splicing, else into the
 * buffer. Returns bytes read, 0 at EOF, -1 with errno (EAGAIN: drained).
 * splice() stops at an urgent mark, SO_OOBINLINE or not, and says 0 there
 * when the FIN is behind it, so a direction reads with recv() while a mark
 * is announced (EPOLLPRI), and a splice that says 0 is asked again with
 * recv(): the bytes after a mark, or the real EOF.
 */
static ssize_t fill(struct half *p, struct bufpool *pool, struct kpipe_pool *pp)
{
	ssize_t n;

	if ((p->flags & HF_SPLICE) && p->kp.rd == -1 && kpipe_get(pp, &p->kp) == -1)
		p->flags &= ~HF_SPLICE;		/* none to be had: copy */
	if ((p->flags & HF_SPLICE) && !p->from->urg) {
		n = splice(p->from->fd, NULL, p->kp.wr, NULL, SPLICE_CHUNK,
		    SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		if (n > 0)
			p->piped += (size_t)n;
		if (n != 0)
			return n;
		side_inline(p->from);	/* at a mark, recv() must not skip it */
	}
	return fill_copy(p, pool, pp);
}

enum pump_result half_pump(struct half *p, struct bufpool *pool,
    struct kpipe_pool *pp, tick_t now, int *moved, int *err)
{
	enum pump_result r = PUMP_OK;
	size_t got = 0;

	for (;;) {
		ssize_t n;

		if (buf_len(p->buf) > 0 && !read_ahead(p) &&
		    (r = flush_buf(p, moved, err)) != PUMP_OK)
			break;
		if (p->piped > 0 && (r = flush_pipe(p, moved, err)) != PUMP_OK)
			break;
		if (half_pending(p) > 0 && !read_ahead(p))
			break;			/* writer blocks: stop reading */
		if (p->flags & HF_EOF) {
			if (!(p->flags & HF_SHUT_DONE)) {
				/* ENOTCONN: `to` is closed, by a reset */
				if (shutdown(p->to->fd, SHUT_WR) == -1) {
					*err = errno;
					r = PUMP_TO_ERR;
					break;
				}
				p->flags |= HF_SHUT_DONE;
				*moved = 1;
			}
			break;
		}
		if (!p->from->can_read)
			break;
		if (got >= PUMP_BUDGET) {	/* the others' turn; more later */
			r = PUMP_YIELD;
			break;
		}
		n = fill(p, pool, pp);
		if (n == -1) {
			if (WOULD_BLOCK(errno))
				side_drained(p->from);
			else if (errno == ENOMEM) {
				r = PUMP_NOMEM;
				break;
			} else if (errno != EINTR) {
				*err = errno;
				r = PUMP_FROM_ERR;
				break;
			}
			continue;
		}
		if (n == 0) {
			p->flags |= HF_EOF;
			p->eof_at = now;
		}
		got += (size_t)n;
		*moved = 1;
	}
	/* Hold nothing while nothing is in flight. */
	if (p->buf != NULL && buf_len(p->buf) == 0) {
		buf_put(pool, p->buf);
		p->buf = NULL;
	}
	if (p->kp.rd != -1 && p->piped == 0)
		kpipe_put(pp, &p->kp);
	return r;
}

const char *half_flags_str(unsigned flags, char *out, unsigned outlen)
{
	snprintf(out, outlen, "%s%s%s%s%s", flags & HF_EOF ? "EOF" : "",
	    (flags & HF_EOF) && (flags & (HF_SHUT_DONE | HF_SPLICE)) ? "|" : "",
	    flags & HF_SHUT_DONE ? "SHUT_DONE" : "",
	    (flags & HF_SHUT_DONE) && (flags & HF_SPLICE) ? "|" : "",
	    flags & HF_SPLICE ? "SPLICE" : "");
	return out;
}
