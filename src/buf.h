/* Relay buffers. A direction holds one only while it has bytes in flight;
 * empty buffers go back to a per-worker pool (so an idle connection holds
 * no user-space buffer), and what the pool keeps after a burst goes back to
 * the allocator once it has stayed unused for a whole trim interval
 * (bufpool_trim(), on the worker's memory timer). */
#ifndef HP_BUF_H
#define HP_BUF_H

#include <stddef.h>
#include <stdint.h>

#define BUF_SIZE 16384
#define BUF_KEEP 8	/* the worker's bufpool_trim() keeps this many while it serves */

struct buf {
	struct buf	*next;		/* pool link */
	size_t		 cap;
	size_t		 start, end;	/* bytes in flight: data[start..end) */
	uint8_t		*data;		/* BUF_SIZE bytes after the header, or its own */
};

struct bufpool {
	struct buf	*free;
	size_t		 nfree, max_free;
	size_t		 in_use;	/* buffers handed out now */
	size_t		 low;		/* fewest free since the last trim */
};

/** An empty pool keeping at most max_free buffers. */
void bufpool_init(struct bufpool *p, size_t max_free);

static inline size_t buf_len(const struct buf *b)
{
	return b ? b->end - b->start : 0;
}

/** A pooled buffer of BUF_SIZE bytes, or NULL if out of memory. */
struct buf *buf_get(struct bufpool *p);
/** A buffer owning data[0..len) (malloc'd by the caller, freed by buf_put);
 *  NULL if out of memory (data is then freed). */
struct buf *buf_adopt(struct bufpool *p, uint8_t *data, size_t cap, size_t len);
void buf_put(struct bufpool *p, struct buf *b);
/** Free every pooled buffer. */
void bufpool_drain(struct bufpool *p);
/** Free the buffers that stayed in the pool since the last call (the
 *  fewest it held meanwhile), keeping at least `keep`; the count freed.
 *  Called once per interval, it gives back what a burst left behind
 *  within two intervals, and never a buffer that was taken meanwhile. */
size_t bufpool_trim(struct bufpool *p, size_t keep);

#endif
