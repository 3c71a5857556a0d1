#include <stdlib.h>
#include <string.h>

#include "buf.h"

void bufpool_init(struct bufpool *p, size_t max_free)
{
	memset(p, 0, sizeof(*p));
	p->max_free = max_free;
}

struct buf *buf_get(struct bufpool *p)
{
	struct buf *b = p->free;

	if (b != NULL) {
		p->free = b->next;
		if (--p->nfree < p->low)
			p->low = p->nfree;
	} else {
		p->low = 0;	/* the pool ran dry: nothing in it was idle */
		b = malloc(sizeof(*b) + BUF_SIZE);
		if (b == NULL)
			return NULL;
		b->data = (uint8_t *)(b + 1);
		b->cap = BUF_SIZE;
	}
	b->next = NULL;
	b->start = b->end = 0;
	p->in_use++;
	return b;
}

struct buf *buf_adopt(struct bufpool *p, uint8_t *data, size_t cap, size_t len)
{
	struct buf *b = malloc(sizeof(*b));

	if (b == NULL) {
		free(data);
		return NULL;
	}
	b->next = NULL;
	b->data = data;
	b->cap = cap;
	b->start = 0;
	b->end = len;
	p->in_use++;
	return b;
}

void buf_put(struct bufpool *p, struct buf *b)
{
	if (b == NULL)
		return;
	p->in_use--;
	if (b->data != (uint8_t *)(b + 1)) {
		free(b->data);
		free(b);
		return;
	}
	if (p->nfree >= p->max_free) {
		free(b);
		return;
	}
	b->next = p->free;
	p->free = b;
	p->nfree++;
}

void bufpool_drain(struct bufpool *p)
{
	struct buf *b;

	while ((b = p->free) != NULL) {
		p->free = b->next;
		free(b);
	}
	p->nfree = 0;
}

size_t bufpool_trim(struct bufpool *p, size_t keep)
{
	size_t idle = p->low < p->nfree ? p->low : p->nfree, n = 0;
	struct buf *b;

	while (idle > keep && (b = p->free) != NULL) {
		p->free = b->next;
		p->nfree--;
		idle--;
		free(b);
		n++;
	}
	p->low = p->nfree;
	return n;
}
