/*
 * QUIC Initial reader: the ClientHello a QUIC client sends in its Initial
 * packets (RFC 9000 17.2.2, RFC 9001 5: Initial protection; QUIC v2, RFC
 * 9369), read without terminating the connection. Pure: no I/O, no logging;
 * its state is one fixed-size struct (no allocation of its own; libcrypto's
 * cipher contexts are the only ones, made and freed inside a call).
 *
 * A caller feeds every datagram a new client address sends, in the order
 * received, until the verdict is final. For each long-header packet of the
 * datagram (coalesced packets are walked by their Length fields): an Initial
 * of a known version has its keys derived from the client's first
 * Destination Connection ID (HKDF-SHA256 with the version's salt), its header
 * protection removed (AES-128-ECB on the sample), its payload decrypted
 * (AES-128-GCM); its frames are walked (PADDING, PING, ACK, CRYPTO,
 * CONNECTION_CLOSE; any other frame in an Initial is malformed) and the CRYPTO
 * data placed by offset into one reassembly buffer, so packets may come in
 * any order, duplicated or overlapping (overlaps must agree). Packets of other
 * types (0-RTT, Handshake) are skipped. Once the bytes from offset 0 hold the
 * whole ClientHello handshake message (its 4-byte header says how long), it
 * is parsed by the same message parser TCP uses (tls_hello_parse()).
 *
 * An Initial in a datagram shorter than 1200 bytes is ignored (RFC 9000 14.1:
 * a server MUST discard it), as is one whose AEAD tag does not verify (it may
 * be another connection's, corrupted or forged); both count toward
 * QUIC_INITIALS_MAX. The keys are those of the first Initial that decrypts
 * (its DCID must have at least 8 bytes, RFC 9000 7.2); later Initials with
 * another DCID are skipped. A header or frame that runs past its packet, a
 * CID over 20 bytes, reserved bits set, a frame not allowed in an Initial,
 * an empty Initial, disagreeing CRYPTO overlaps or CRYPTO data past the
 * ClientHello (once its header is in) or past the cap are malformed.
 *
 * Bounds: at most QUIC_HELLO_MAX bytes of CRYPTO data (a larger hello is
 * malformed), at most QUIC_INITIALS_MAX Initial packets read before a verdict.
 */
#ifndef HP_QUIC_INITIAL_H
#define HP_QUIC_INITIAL_H

#include <stddef.h>
#include <stdint.h>

#include "tls_hello.h"

#define QUIC_CID_MAX		20
#define QUIC_HELLO_MAX		16384	/* reassembly buffer: the hello's cap */
#define QUIC_INITIALS_MAX	32

enum quic_verdict {
	QUIC_NEED_MORE = 0,	/* consistent so far; feed the next datagram */
	QUIC_FOUND,		/* ClientHello complete, has server_name: info set */
	QUIC_NO_SNI,		/* ClientHello complete, no server_name */
	QUIC_NOT_INITIAL,	/* first datagram: no long-header Initial in it
				   (short header, Version Negotiation, Retry...) */
	QUIC_VERSION,		/* a version this reader does not know: *version */
	QUIC_MALFORMED		/* breaks a rule: reason says which */
};

struct quic_hello {
	uint32_t	version;		/* of the first Initial; 0 before */
	uint8_t		dcid[QUIC_CID_MAX];	/* the client's first DCID: the keys' */
	uint8_t		dcid_len;
	uint8_t		scid[QUIC_CID_MAX];	/* the client's Source CID */
	uint8_t		scid_len;
	uint8_t		key[16], iv[12], hp[16];	/* client Initial keys */
	uint32_t	initials;		/* Initial packets seen, read or skipped */
	uint32_t	datagrams;		/* datagrams fed */
	size_t		max_hello;		/* cap on the message, <= QUIC_HELLO_MAX */
	size_t		need;			/* 4 + body length once known, else 0 */
	size_t		contig;			/* bytes in from offset 0 */
	const char	*reason;		/* why final but not found/no-sni: static text */
	enum quic_verdict verdict;		/* NEED_MORE until final, then sticky */
	uint8_t		have[QUIC_HELLO_MAX / 8];	/* which crypto bytes are in */
	uint8_t		crypto[QUIC_HELLO_MAX];		/* the reassembled CRYPTO stream */
};

/** Before the seccomp filter and any thread: load and check the ciphers and
 *  the KDF libcrypto will be asked for (its configuration is not read), so
 *  that no later call opens a file. 0, or -1 if libcrypto lacks one (what is
 *  missing is then unknown to the caller: QUIC listeners cannot be served).
 *  Again after a success: 0 at once. */
int quic_crypto_init(void);

/** The client's Initial key, IV and header-protection key that version (1,
 *  or 0x6b3343cf: v2) derives from dcid (RFC 9001 5.2, RFC 9369 3.3). 0, or
 *  -1 for another version or a libcrypto failure. */
int quic_initial_keys(uint32_t version, const uint8_t *dcid, size_t dcid_len,
    uint8_t key[16], uint8_t iv[12], uint8_t hp[16]);

/** Start reading one client; max_hello caps the ClientHello body (0:
 *  HELLO_MAX_DEFAULT; more than QUIC_HELLO_MAX - 4 is QUIC_HELLO_MAX - 4). */
void quic_hello_init(struct quic_hello *q, size_t max_hello);

/**
 * Feed one datagram (the UDP payload as received). Returns the verdict so
 * far; a final one is sticky (later feeds return it unchanged, reading
 * nothing). On QUIC_FOUND / QUIC_NO_SNI, *info points into q->crypto (valid
 * while q is); otherwise *info is cleared but for reason (q->reason). info may
 * be NULL.
 */
enum quic_verdict quic_hello_feed(struct quic_hello *q, const uint8_t *dgram, size_t len,
    struct hello_info *info);

/** "found", "no-sni", "incomplete", "not-initial", "version", "malformed". */
const char *quic_verdict_name(enum quic_verdict v);

/**
 * From a datagram that is not the flow's first: the Destination Connection ID
 * of its first packet, long header or short (short: the first cid_len bytes
 * after the first byte, as the caller knows the length of the server's CIDs
 * it saw). 1 and *dcid, *dlen set, or 0 if the datagram cannot carry one
 * (too short, a long header's CID over 20 bytes, or a zero-length CID).
 */
int quic_dgram_dcid(const uint8_t *dgram, size_t len, size_t cid_len, const uint8_t **dcid,
    size_t *dlen);

#endif
