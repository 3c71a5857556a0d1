/*
 * The PROXY protocol (HAProxy's proxy-protocol.txt), versions 1 and 2: a
 * header a load balancer puts before a connection's first byte, saying which
 * client it came from. Pure: no I/O, no allocation, bounds-checked readers
 * only (wire.h).
 *
 *   v1:  "PROXY" SP ( "TCP4" | "TCP6" ) SP src SP dst SP sport SP dport CRLF
 *        "PROXY" SP "UNKNOWN" [anything up to CRLF]        at most 107 bytes
 *   v2:  sig[12] = 0D 0A 0D 0A 00 0D 0A 51 55 49 54 0A
 *        ver_cmd u8   0x20 LOCAL | 0x21 PROXY
 *        fam     u8   0x00 UNSPEC | 0x11 TCP4 | 0x21 TCP6 (others, such as
 *                     0x12 UDP4 and 0x22 UDP6: kept unknown when read,
 *                     addresses skipped)
 *        len     u16  bytes that follow
 *          TCP4: src[4] dst[4] sport u16 dport u16
 *          TCP6: src[16] dst[16] sport u16 dport u16
 *          UDP4, UDP6: as TCP4, TCP6
 *          TLVs: type u8, length u16, value (skipped)
 */
#ifndef HP_PROXY_PROTO_H
#define HP_PROXY_PROTO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "addr.h"

#define PP_NEED_MORE	(-2)	/* a valid prefix: wait for more bytes */
#define PP_ERR		(-1)	/* not a PROXY header, or a broken one */

#define PP_V1_MAX	107	/* a v1 line, CRLF included (the spec's bound) */
#define PP_V2_MAX	4096	/* a v2 header, TLVs included (halfpipe's bound:
				   the format allows 16 + 65535) */
#define PP2_TYPE_AUTHORITY 0x02

/** What a header said. */
struct pp_info {
	int			 version;	/* 1 or 2 */
	int			 local;		/* v2 LOCAL: the balancer's own
						   connection (health check) */
	int			 has_addr;	/* src, dst are set (TCP4/TCP6) */
	struct sockaddr_storage	 src, dst;
	const char		*reason;	/* PP_ERR: why */
};

/**
 * Parse a PROXY header at p[0..len). Returns the header's length (bytes to
 * drop before the client's own bytes), PP_NEED_MORE if p is a valid prefix
 * of one, or PP_ERR (out->reason says why). v1 and v2 are told apart by
 * their first bytes; anything else is PP_ERR as soon as a byte differs.
 */
int pp_parse(const uint8_t *p, size_t len, struct pp_info *out);

/**
 * Write a header for a connection from src to dst into out[0..cap): v1 or
 * v2. With src or dst NULL, or of another family than AF_INET/AF_INET6 or
 * of two families, v1 says UNKNOWN and v2 LOCAL with no address. v2 adds
 * authority[0..alen) as a PP2_TYPE_AUTHORITY TLV when alen > 0 (at most
 * 255). Returns the length, or 0 if cap is too small (PP_WRITE_MAX is not).
 */
#define PP_WRITE_MAX	(16 + 36 + 3 + 255)
size_t pp_write(int version, const struct sockaddr_storage *src,
    const struct sockaddr_storage *dst, const char *authority, size_t alen,
    uint8_t *out, size_t cap);

/**
 * Write a v2 header for a UDP flow from src to dst into out[0..cap): PROXY
 * with UDP4 (0x12) or UDP6 (0x22) and no TLV, PP_DGRAM_V4 or PP_DGRAM_V6
 * bytes; LOCAL with no address (16 bytes) where pp_write() would. The
 * caller puts it before each datagram. Returns the length, or 0 if cap is
 * too small (PP_DGRAM_V6 is not).
 */
#define PP_DGRAM_V4	(16 + 12)
#define PP_DGRAM_V6	(16 + 36)
size_t pp_write_dgram(const struct sockaddr_storage *src, const struct sockaddr_storage *dst,
    uint8_t *out, size_t cap);

/** Is ss (an IPv4-mapped IPv6 address counts as IPv4) inside one of
 *  nets[0..n), the trusted senders of a header (accept-proxy)? */
int pp_net_match(const struct addr_net *nets, size_t n, const struct sockaddr_storage *ss);

#endif
