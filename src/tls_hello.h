/*
 * ClientHello reader, in two pure layers (no I/O, no allocation, no logging).
 *
 * 1. Record layer, hello_rd_feed(): walks the TLS records of the raw bytes a
 *    client has sent so far, checks every record header, and follows the
 *    handshake header across records until the whole ClientHello message is
 *    in. It is incremental: the caller keeps every raw byte in one contiguous
 *    buffer and calls it again, with the longer buffer, after each read; each
 *    raw byte is examined once.
 * 2. Message layer, tls_hello_parse(): parses one complete ClientHello
 *    handshake message (4-byte header included) and returns SNI and ALPN as
 *    pointer+length into it, like picohttpparser's phr_parse_request().
 *
 * When the message sits inside one record, hello_rd_msg() points straight into
 * the raw buffer; when it spans records the caller supplies a buffer of
 * rd->need bytes and hello_rd_gather() copies the handshake bytes into it.
 * hello_classify() does both steps for a buffer (tests, --inspect, fuzzing).
 *
 * The rules are those of ../shared/vectors/clienthello/INDEX.md.
 */
#ifndef HP_TLS_HELLO_H
#define HP_TLS_HELLO_H

#include <stddef.h>
#include <stdint.h>

enum hello_verdict {
	HELLO_NEED_MORE = 0,	/* consistent so far; read more */
	HELLO_FOUND,		/* complete, well-formed, has server_name */
	HELLO_NO_SNI,		/* complete, well-formed, no server_name */
	HELLO_NOT_TLS,		/* first byte not 22, or record major != 3 */
	HELLO_MALFORMED,	/* breaks a rule; info->reason says which */
	HELLO_COMPLETE		/* hello_rd_feed() only: message framed, parse it */
};

#define HELLO_MAX_DEFAULT 32768	/* default cap on the handshake body length */
#define HELLO_RECORD_MAX 16384	/* RFC 8446 5.1: TLSPlaintext.length <= 2^14 */

/*
 * Raw bytes that always suffice for a verdict under cap: the message is at most
 * 4 + cap bytes and every record carries at least one of them behind its
 * 5-byte header, so a hello never spans more than 6 * (4 + cap) raw bytes; the
 * extra 5 leave room for one record header. A reader whose buffer holds this
 * much has its answer before the buffer is full.
 */
#define HELLO_RAW_MAX(cap)	(6 * (4 + (size_t)(cap)) + 5)

struct hello_info {
	const uint8_t	*sni;		/* host_name bytes, as sent (not NUL-terminated) */
	size_t		 sni_len;
	const uint8_t	*alpn;		/* protocol_name_list contents (u8-prefixed names) */
	size_t		 alpn_len;	/* 0: no ALPN extension */
	int		 ech;		/* encrypted_client_hello extension present */
	const char	*reason;	/* static text for NOT_TLS / MALFORMED, else NULL */
};

/*
 * Record layer state. Only the 5 bytes of each record header and the first 4
 * handshake bytes are looked at; record payload is skipped by length, so a
 * feed costs O(new records), and raw bytes before rd->pos are never read again
 * (the caller may even move the buffer between calls: only offsets are kept).
 */

struct hello_rd {
	size_t		max_hello;	/* cap on the handshake body length */
	size_t		off;		/* raw offset of the next record header */
	size_t		rec_end;	/* raw offset where the current record ends */
	size_t		hs_len;		/* handshake bytes seen so far */
	size_t		need;		/* 4 + body length once known, else 0 */
	size_t		end;		/* raw offset just past the hello's last record */
	unsigned	records;	/* records that carry hello bytes */
	uint8_t		hdr[4];		/* the handshake header, gathered across records */
	const char	*reason;	/* why NOT_TLS / MALFORMED */
	size_t		pos;		/* raw bytes examined so far */
	size_t		rec_hs_end;	/* hs_len once the current record is in */
	uint16_t	rec_len;	/* length field of the record being read */
	enum hello_verdict verdict;	/* NEED_MORE until final, then sticky */
};

/** Start reading a new stream; max_hello caps the handshake body length
 *  (0 selects HELLO_MAX_DEFAULT). */
void hello_rd_init(struct hello_rd *rd, size_t max_hello);

/**
 * Examine raw[0..len), the bytes received so far (a longer buffer with the
 * same prefix on each call). Returns HELLO_NEED_MORE, HELLO_NOT_TLS,
 * HELLO_MALFORMED (rd->reason set) or HELLO_COMPLETE: the whole message
 * (rd->need bytes) is in, carried by rd->records records ending at raw offset
 * rd->end. Once it has returned anything but NEED_MORE it returns the same.
 */
enum hello_verdict hello_rd_feed(struct hello_rd *rd, const uint8_t *raw, size_t len);

/** After HELLO_COMPLETE: the message if it lies inside one record (pointer
 *  into raw), else NULL (use hello_rd_gather()). */
const uint8_t *hello_rd_msg(const struct hello_rd *rd, const uint8_t *raw);

/** After HELLO_COMPLETE: copy the rd->need handshake bytes into dst. */
void hello_rd_gather(const struct hello_rd *rd, const uint8_t *raw, uint8_t *dst);

/**
 * Finish what hello_rd_feed() started, on the same raw bytes: after
 * HELLO_COMPLETE, find the message (in raw, or gathered into scratch when it
 * spans records; scratch_cap must be at least rd->need, 4 + max_hello always
 * is) and parse it. Otherwise return rd's verdict with out->reason set.
 * Returns NEED_MORE, FOUND, NO_SNI, NOT_TLS or MALFORMED; *out points into raw
 * or scratch.
 */
enum hello_verdict hello_rd_parse(const struct hello_rd *rd, const uint8_t *raw,
    uint8_t *scratch, size_t scratch_cap, struct hello_info *out);

/**
 * Parse one complete ClientHello handshake message msg[0..len) (header
 * included, len == 4 + body length). Returns HELLO_FOUND, HELLO_NO_SNI or
 * HELLO_MALFORMED; fills *out (pointers into msg).
 */
enum hello_verdict tls_hello_parse(const uint8_t *msg, size_t len, struct hello_info *out);

/**
 * Both layers over one buffer. For a multi-record hello, scratch (scratch_cap
 * bytes, at least 4 + max_hello) receives the message and *out points into
 * it. Returns NEED_MORE, FOUND, NO_SNI, NOT_TLS or MALFORMED.
 */
enum hello_verdict hello_classify(const uint8_t *raw, size_t len, size_t max_hello,
    uint8_t *scratch, size_t scratch_cap, struct hello_info *out);

/** Iterate the ALPN names: *pos starts at 0. Returns 1 and sets name/len, or
 *  0 at the end. The list was validated by tls_hello_parse(). */
int hello_alpn_next(const struct hello_info *h, size_t *pos, const uint8_t **name, size_t *len);

/** "found", "no-sni", "incomplete", "malformed", "not-tls" (the --inspect words). */
const char *hello_verdict_name(enum hello_verdict v);

#endif
