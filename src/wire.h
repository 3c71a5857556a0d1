/*
 * Bounds-checked big-endian readers for TLS wire formats (after picotls
 * ptls_decode_*). A cursor *p walks towards end; every reader returns 0 and
 * advances *p, or returns -1 and leaves *p alone when the bytes are not there.
 * Nothing here indexes past end, so a parser built only from these cannot
 * over-read:
 *
 *	if (rd_u16(&p, end, &n) == -1)
 *		goto fail;
 *
 * Nested length-prefixed vectors are opened as blocks: rd_block16() reads the
 * length, checks that the block fits inside the enclosing one and returns the
 * block's end; the caller parses up to that end and closes the block with
 * rd_block_close(), which fails unless the contents were used up exactly.
 */
#ifndef HP_WIRE_H
#define HP_WIRE_H

#include <stddef.h>
#include <stdint.h>

/** Bytes left between the cursor and end. */
static inline size_t rd_left(const uint8_t *p, const uint8_t *end)
{
	return (size_t)(end - p);
}

static inline int rd_u8(const uint8_t **p, const uint8_t *end, uint8_t *v)
{
	if (rd_left(*p, end) < 1)
		return -1;
	*v = (*p)[0];
	*p += 1;
	return 0;
}

static inline int rd_u16(const uint8_t **p, const uint8_t *end, uint16_t *v)
{
	if (rd_left(*p, end) < 2)
		return -1;
	*v = (uint16_t)((*p)[0] << 8 | (*p)[1]);
	*p += 2;
	return 0;
}

static inline int rd_u24(const uint8_t **p, const uint8_t *end, uint32_t *v)
{
	if (rd_left(*p, end) < 3)
		return -1;
	*v = (uint32_t)(*p)[0] << 16 | (uint32_t)(*p)[1] << 8 | (*p)[2];
	*p += 3;
	return 0;
}

/** Skip n bytes (fixed-size fields such as random). */
static inline int rd_skip(const uint8_t **p, const uint8_t *end, size_t n)
{
	if (rd_left(*p, end) < n)
		return -1;
	*p += n;
	return 0;
}

/** Take n bytes: *out points at them. */
static inline int rd_bytes(const uint8_t **p, const uint8_t *end, size_t n,
    const uint8_t **out)
{
	if (rd_left(*p, end) < n)
		return -1;
	*out = *p;
	*p += n;
	return 0;
}

/**
 * Open a vector with a u8 length prefix: on success *p is at its first byte
 * and *bend just past its last. Fails if the prefix is missing or the length
 * runs past end.
 */
static inline int rd_block8(const uint8_t **p, const uint8_t *end, const uint8_t **bend)
{
	const uint8_t *q = *p;
	uint8_t n;

	if (rd_u8(&q, end, &n) == -1 || rd_left(q, end) < n)
		return -1;
	*p = q;
	*bend = q + n;
	return 0;
}

/** As rd_block8() with a u16 length prefix. */
static inline int rd_block16(const uint8_t **p, const uint8_t *end, const uint8_t **bend)
{
	const uint8_t *q = *p;
	uint16_t n;

	if (rd_u16(&q, end, &n) == -1 || rd_left(q, end) < n)
		return -1;
	*p = q;
	*bend = q + n;
	return 0;
}

/** Close a block: fails unless the cursor sits exactly at its end. */
static inline int rd_block_close(const uint8_t *p, const uint8_t *bend)
{
	return p == bend ? 0 : -1;
}

#endif
