/*
 * One half of the relay (struct half, the c2s or the s2c of a session):
 * one direction, bytes read from one socket, buffered, written
 * to the other. EOF on the reading socket is forwarded as shutdown(SHUT_WR)
 * on the writing socket only once the buffer has drained (libuv uv__drain,
 * nginx !dst->buffered). Readiness is edge-triggered: a side's can_read /
 * can_write stay set until a call returns EAGAIN.
 */
#ifndef HP_HALF_H
#define HP_HALF_H

#include <stdint.h>
#include <sys/socket.h>

#include "buf.h"
#include "kpipe.h"
#include "tick.h"

struct side {
	int		fd;
	uint8_t		can_read;
	uint8_t		can_write;
	uint8_t		hup;	/* EPOLLRDHUP/HUP/ERR seen: read until 0 or EAGAIN */
	uint8_t		err;	/* EPOLLERR seen: the peer may have reset */
	uint8_t		urg;	/* EPOLLPRI seen: an urgent mark is ahead */
	uint8_t		oobinline;	/* SO_OOBINLINE is set (side_inline()) */
};

/*
 * Urgent bytes stay in the stream (SO_OOBINLINE), relayed like any other.
 * Client sockets inherit the option from the listener; a backend socket
 * gets it when it is made (one setsockopt per connection). Setting it
 * lazily, on the first EPOLLPRI, would save that call but was seen to lose
 * an urgent byte sent first (the peer fuzzer, seed 20261202 conn 110, the
 * splice variants): the calls on EPOLLPRI and at a splice() that stops at
 * a mark stay only as a no-op safety net.
 */
static inline void side_inline(struct side *sd)
{
	int one = 1;

	if (!sd->oobinline && sd->fd != -1) {
		(void)setsockopt(sd->fd, SOL_SOCKET, SO_OOBINLINE, &one, sizeof(one));
		sd->oobinline = 1;
	}
}

/*
 * Edge-triggered readiness without the extra EAGAIN call: a read that
 * returns less than asked drained the socket, unless a FIN or an error was
 * already reported (it may be waiting behind the data, and no new edge
 * would announce it) or an urgent mark is ahead (a read stops short at the
 * mark with more behind it); anything arriving later raises a new edge.
 */
static inline void side_read_short(struct side *sd, size_t got, size_t asked)
{
	if (got < asked && !sd->hup && !sd->urg)
		sd->can_read = 0;
}

/* A read said EAGAIN: nothing is left, an urgent mark included. */
static inline void side_drained(struct side *sd)
{
	sd->can_read = 0;
	sd->urg = 0;
}

#define HF_EOF		0x01	/* read returned 0: a FIN came in */
#define HF_SHUT_DONE	0x02	/* FIN forwarded: shutdown(to, SHUT_WR) done */
#define HF_SPLICE	0x04	/* bulk seen: move bytes with splice() */

struct half {
	struct side	*from, *to;
	struct buf	*buf;		/* NULL while nothing is in flight */
	struct kpipe	 kp;		/* kernel pipe, rd == -1 while none is held */
	size_t		 piped;		/* bytes in kp */
	unsigned	 flags;
	uint64_t	 bytes;		/* bytes written to `to` */
	tick_t		 eof_at;	/* when the FIN came in */
};

enum pump_result {
	PUMP_OK,
	PUMP_YIELD,	/* PUMP_BUDGET bytes read and more may wait: call again
			   after the other connections' turn (no new edge comes) */
	PUMP_FROM_ERR,	/* reading failed: that peer reset (errno kept in *err) */
	PUMP_TO_ERR,	/* writing or shutdown failed: that peer reset */
	PUMP_NOMEM	/* no buffer to be had */
};

/* Bytes one direction may read per call: a fast flow gives way to the rest
 * of the worker's connections and timers at least this often. */
#define PUMP_BUDGET (256 * 1024)

/**
 * Move bytes until both sockets would block, the buffer is full and the
 * writer blocks, the direction is done, or PUMP_BUDGET bytes were read
 * (PUMP_YIELD). Sets *moved when any byte moved or the FIN was seen or
 * forwarded. Returns PUMP_OK, PUMP_YIELD or the failure.
 */
enum pump_result half_pump(struct half *p, struct bufpool *pool,
    struct kpipe_pool *pp, tick_t now, int *moved, int *err);

/** Set up an idle direction from one side to the other. */
void half_init(struct half *p, struct side *from, struct side *to);

/** Give back the buffer and the kernel pipe (the session is ending). */
void half_release(struct half *p, struct bufpool *pool, struct kpipe_pool *pp);

/** Bytes read and not yet written. */
static inline size_t half_pending(const struct half *p)
{
	return buf_len(p->buf) + p->piped;
}

/** FIN seen and forwarded: nothing more will flow this way. */
static inline int half_done(const struct half *p)
{
	return (p->flags & HF_SHUT_DONE) != 0;
}

/** Print flags as "EOF|SHUT_DONE" into out (debug dumps). */
const char *half_flags_str(unsigned flags, char *out, unsigned outlen);

#endif
