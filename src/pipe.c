#include <errno.h>
#include <stdio.h>
#include <sys/socket.h>

#include "pipe.h"

static enum pump_result write_out(struct pipe *p, int *moved, int *err)
{
	struct buf *b = p->buf;

	while (b->start < b->end && p->to->can_write) {
		ssize_t n = send(p->to->fd, b->data + b->start, b->end - b->start,
		    MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n == -1) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				p->to->can_write = 0;
			else if (errno != EINTR) {
				*err = errno;
				return PUMP_TO_ERR;
			}
			continue;
		}
		b->start += (size_t)n;
		p->bytes += (uint64_t)n;
		*moved = 1;
	}
	return PUMP_OK;
}

enum pump_result pipe_pump(struct pipe *p, struct bufpool *pool, tick_t now,
    int *moved, int *err)
{
	enum pump_result r = PUMP_OK;

	for (;;) {
		ssize_t n;

		if (buf_len(p->buf) > 0) {
			if ((r = write_out(p, moved, err)) != PUMP_OK)
				break;
			if (buf_len(p->buf) > 0)
				break;		/* writer blocks: stop reading */
		}
		if (p->flags & P_EOF) {
			if (!(p->flags & P_SHUT_DONE)) {
				if (shutdown(p->to->fd, SHUT_WR) == -1 && errno != ENOTCONN) {
					*err = errno;
					r = PUMP_TO_ERR;
					break;
				}
				p->flags |= P_SHUT_DONE;
				*moved = 1;
			}
			break;
		}
		if (!p->from->can_read)
			break;
		if (p->buf == NULL && (p->buf = buf_get(pool)) == NULL) {
			r = PUMP_NOMEM;
			break;
		}
		if (p->buf->start == p->buf->end)
			p->buf->start = p->buf->end = 0;
		n = recv(p->from->fd, p->buf->data + p->buf->end,
		    p->buf->cap - p->buf->end, MSG_DONTWAIT);
		if (n == -1) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				p->from->can_read = 0;
			else if (errno != EINTR) {
				*err = errno;
				r = PUMP_FROM_ERR;
				break;
			}
			continue;
		}
		if (n == 0) {
			p->flags |= P_EOF;
			p->eof_at = now;
			*moved = 1;
			continue;
		}
		p->buf->end += (size_t)n;
		*moved = 1;
	}
	if (p->buf != NULL && buf_len(p->buf) == 0) {
		buf_put(pool, p->buf);
		p->buf = NULL;
	}
	return r;
}

const char *pipe_flags_str(unsigned flags, char *out, unsigned outlen)
{
	snprintf(out, outlen, "%s%s%s", flags & P_EOF ? "EOF" : "",
	    (flags & P_EOF) && (flags & P_SHUT_DONE) ? "|" : "",
	    flags & P_SHUT_DONE ? "SHUT_DONE" : "");
	return out;
}
