/*
 * ClientHello reader: record layer (hello_rd_*) and message parser
 * (tls_hello_parse). Pure: no allocation, no I/O, no logging. The rules are
 * those of ../shared/vectors/clienthello/INDEX.md, applied in the same order
 * as its reference classifier tools/hello.py, so that every prefix of every
 * input gets the same early verdict.
 *
 * What a client sends first (RFC 8446 4.1.2, 5.1; RFC 6066 3; RFC 7301 3.1):
 *
 *   TLSPlaintext record, repeated until the ClientHello message is in
 *   +- type                    u8   22 (handshake); else not-tls / malformed
 *   +- legacy_record_version   u16  major 3, minor ignored
 *   +- length                  u16  1..16384
 *   +- fragment                      the next `length` handshake bytes
 *
 *   Handshake message (the fragments joined; must end at a record end)
 *   +- msg_type                u8   1 (client_hello)
 *   +- length                  u24  <= max_hello
 *   +- ClientHello
 *      +- legacy_version       u16
 *      +- random               32 bytes
 *      +- legacy_session_id    <0..32>       u8 length
 *      +- cipher_suites        <2..2^16-2>   u16 length, even
 *      +- compression_methods  <1..2^8-1>    u8 length
 *      +- extensions           <0..2^16-1>   u16 length, optional, fills the rest
 *         +- extension, each type at most once
 *            +- extension_type u16
 *            +- extension_data <0..2^16-1>   u16 length
 *               server_name (0):
 *               +- server_name_list  u16 length, fills the data, one entry
 *                  +- name_type      u8   0 (host_name)
 *                  +- host_name      u16 length, 1..255 bytes of 0x21..0x7e
 *               alpn (16):
 *               +- protocol_name_list u16 length, fills the data, not empty
 *                  +- protocol_name  u8 length, not empty; repeated
 *               encrypted_client_hello (0xfe0d): noted, not parsed
 *               anything else: framing only
 */
#include <string.h>

#include "tls_hello.h"
#include "wire.h"

#define REC_HANDSHAKE		22
#define REC_HEADER_LEN		5
#define HS_CLIENT_HELLO		1
#define HS_HEADER_LEN		4

#define EXT_SERVER_NAME		0x0000
#define EXT_ALPN		0x0010
#define EXT_ECH			0xfe0d

#define NAME_TYPE_HOST_NAME	0
#define SESSION_ID_MAX		32
#define HOST_NAME_MAX_LEN	255

void hello_rd_init(struct hello_rd *rd, size_t max_hello)
{
	memset(rd, 0, sizeof(*rd));
	rd->max_hello = max_hello ? max_hello : HELLO_MAX_DEFAULT;
	rd->verdict = HELLO_NEED_MORE;
}

static enum hello_verdict rd_final(struct hello_rd *rd, enum hello_verdict v, const char *reason)
{
	rd->verdict = v;
	rd->reason = reason;
	return v;
}

/* One record header byte, i (0..4) being its index in the header. */
static enum hello_verdict rd_header_byte(struct hello_rd *rd, size_t i, uint8_t b)
{
	int first = rd->off == 0;

	switch (i) {
	case 0:
		if (b == REC_HANDSHAKE)
			break;
		if (first)
			return rd_final(rd, HELLO_NOT_TLS,
			    "first byte is not a TLS handshake record");
		return rd_final(rd, HELLO_MALFORMED,
		    "alert or other non-handshake record inside the hello");
	case 1:
		if (b == 3)
			break;
		if (first)
			return rd_final(rd, HELLO_NOT_TLS, "record major version is not 3");
		return rd_final(rd, HELLO_MALFORMED,
		    "record major version is not 3 inside the hello");
	case 2:
		break;			/* minor version: ignored (RFC 8446 5.1) */
	case 3:
		rd->rec_len = (uint16_t)(b << 8);
		break;
	case 4:
		rd->rec_len |= b;
		if (rd->rec_len == 0)
			return rd_final(rd, HELLO_MALFORMED, "zero-length record");
		if (rd->rec_len > HELLO_RECORD_MAX)
			return rd_final(rd, HELLO_MALFORMED, "record longer than 16384");
		rd->records++;
		rd->rec_end = rd->off + REC_HEADER_LEN + rd->rec_len;
		rd->rec_hs_end = rd->hs_len + rd->rec_len;
		if (rd->need && rd->rec_hs_end > rd->need)
			return rd_final(rd, HELLO_MALFORMED,
			    "hello does not end at a record boundary");
		break;
	}
	return HELLO_NEED_MORE;
}

/* One of the 4 handshake header bytes. */
static enum hello_verdict rd_hs_header_byte(struct hello_rd *rd, uint8_t b)
{
	const uint8_t *h, *hend;
	uint32_t body;

	rd->hdr[rd->hs_len++] = b;
	if (rd->hs_len == 1 && b != HS_CLIENT_HELLO)
		return rd_final(rd, HELLO_MALFORMED, "handshake type is not client_hello");
	if (rd->hs_len < HS_HEADER_LEN)
		return HELLO_NEED_MORE;
	h = rd->hdr + 1;
	hend = rd->hdr + HS_HEADER_LEN;
	if (rd_u24(&h, hend, &body) == -1)
		return rd_final(rd, HELLO_MALFORMED, "handshake header");	/* not reached */
	if (body > rd->max_hello)
		return rd_final(rd, HELLO_MALFORMED, "ClientHello longer than the cap");
	rd->need = HS_HEADER_LEN + (size_t)body;
	if (rd->rec_hs_end > rd->need)
		return rd_final(rd, HELLO_MALFORMED, "hello does not end at a record boundary");
	return HELLO_NEED_MORE;
}

enum hello_verdict hello_rd_feed(struct hello_rd *rd, const uint8_t *raw, size_t len)
{
	const uint8_t *p, *end;
	enum hello_verdict v;
	size_t at, n;
	uint8_t b;

	if (rd->verdict != HELLO_NEED_MORE || len <= rd->pos)
		return rd->verdict;
	p = raw + rd->pos;
	end = raw + len;
	while (p < end) {
		at = (size_t)(p - raw);
		if (rd->rec_end == 0) {
			/* Inside a record header: one byte at a time. */
			if (rd_u8(&p, end, &b) == -1)
				break;
			if ((v = rd_header_byte(rd, at - rd->off, b)) != HELLO_NEED_MORE)
				return v;
			continue;
		}
		if (rd->hs_len < HS_HEADER_LEN) {
			/* Inside the handshake header: one byte at a time. */
			if (rd_u8(&p, end, &b) == -1)
				break;
			if ((v = rd_hs_header_byte(rd, b)) != HELLO_NEED_MORE)
				return v;
		} else {
			/* Message body: skipped by length, parsed once complete. */
			n = rd_left(p, end);
			if (n > rd->rec_end - at)
				n = rd->rec_end - at;
			if (rd_skip(&p, end, n) == -1)
				break;
			rd->hs_len += n;
		}
		if ((size_t)(p - raw) == rd->rec_end) {
			rd->off = rd->rec_end;
			rd->rec_end = 0;
			if (rd->need && rd->hs_len == rd->need) {
				rd->end = rd->off;
				rd->pos = rd->off;
				return rd_final(rd, HELLO_COMPLETE, NULL);
			}
		}
	}
	rd->pos = (size_t)(p - raw);
	return HELLO_NEED_MORE;
}

const uint8_t *hello_rd_msg(const struct hello_rd *rd, const uint8_t *raw)
{
	if (rd->verdict != HELLO_COMPLETE || rd->records != 1)
		return NULL;
	return raw + REC_HEADER_LEN;
}

void hello_rd_gather(const struct hello_rd *rd, const uint8_t *raw, uint8_t *dst)
{
	const uint8_t *p = raw, *end = raw + rd->end, *frag;
	size_t got = 0, n;
	uint16_t len;

	if (rd->verdict != HELLO_COMPLETE)
		return;
	/* Record headers were checked by hello_rd_feed(); only lengths matter. */
	while (got < rd->need) {
		if (rd_skip(&p, end, 3) == -1 || rd_u16(&p, end, &len) == -1)
			return;
		n = rd->need - got < len ? rd->need - got : len;
		if (rd_bytes(&p, end, n, &frag) == -1)
			return;
		memcpy(dst + got, frag, n);
		got += n;
	}
}

enum hello_verdict hello_rd_parse(const struct hello_rd *rd, const uint8_t *raw,
    uint8_t *scratch, size_t scratch_cap, struct hello_info *out)
{
	const uint8_t *msg;

	memset(out, 0, sizeof(*out));
	if (rd->verdict != HELLO_COMPLETE) {
		out->reason = rd->reason;
		return rd->verdict;
	}
	if ((msg = hello_rd_msg(rd, raw)) == NULL) {
		if (scratch == NULL || scratch_cap < rd->need) {
			out->reason = "scratch buffer smaller than the hello";
			return HELLO_MALFORMED;
		}
		hello_rd_gather(rd, raw, scratch);
		msg = scratch;
	}
	return tls_hello_parse(msg, rd->need, out);
}

enum hello_verdict hello_classify(const uint8_t *raw, size_t len, size_t max_hello,
    uint8_t *scratch, size_t scratch_cap, struct hello_info *out)
{
	struct hello_rd rd;

	hello_rd_init(&rd, max_hello);
	hello_rd_feed(&rd, raw, len);
	return hello_rd_parse(&rd, raw, scratch, scratch_cap, out);
}

/* server_name extension_data (RFC 6066 3): exactly one host_name. */
static const char *parse_server_name(const uint8_t *p, const uint8_t *end, struct hello_info *out)
{
	const uint8_t *lend, *name, *nend;
	uint8_t type;

	if (rd_left(p, end) < 2)
		return "server_name extension too short";
	if (rd_block16(&p, end, &lend) == -1)
		return "server_name list overruns the extension";
	if (rd_block_close(lend, end) == -1)
		return "bytes after the server_name list";
	if (p == lend)
		return "server_name list is empty";
	if (rd_u8(&p, lend, &type) == -1 || type != NAME_TYPE_HOST_NAME)
		return "server_name name_type is not host_name";
	if (rd_block16(&p, lend, &nend) == -1)
		return "host_name overruns the server_name list";
	name = p;
	p = nend;
	if (rd_block_close(p, lend) == -1)
		return "server_name list holds more than one name";
	if (name == nend)
		return "host_name is empty";
	if (rd_left(name, nend) > HOST_NAME_MAX_LEN)
		return "host_name longer than 255";
	out->sni = name;
	out->sni_len = rd_left(name, nend);
	while (name < nend) {
		uint8_t c;

		if (rd_u8(&name, nend, &c) == -1 || c < 0x21 || c > 0x7e)
			return "host_name byte not printable ASCII";
	}
	return NULL;
}

/* ALPN extension_data (RFC 7301 3.1): a non-empty list of non-empty names. */
static const char *parse_alpn(const uint8_t *p, const uint8_t *end, struct hello_info *out)
{
	const uint8_t *lend, *nend;

	if (rd_left(p, end) < 2)
		return "ALPN extension too short";
	if (rd_block16(&p, end, &lend) == -1)
		return "ALPN list overruns the extension";
	if (rd_block_close(lend, end) == -1)
		return "bytes after the ALPN list";
	if (p == lend)
		return "ALPN list is empty";
	out->alpn = p;
	out->alpn_len = rd_left(p, lend);
	while (p < lend) {
		if (rd_block8(&p, lend, &nend) == -1)
			return "ALPN protocol name overruns the list";
		if (p == nend)
			return "ALPN protocol name is empty";
		p = nend;
	}
	return NULL;
}

/* The extensions block: framing of each, contents of server_name and ALPN. */
static const char *parse_extensions(const uint8_t *p, const uint8_t *end, struct hello_info *out)
{
	uint64_t seen[65536 / 64];
	const uint8_t *dend;
	const char *why;
	uint16_t type;

	memset(seen, 0, sizeof(seen));
	while (p < end) {
		if (rd_left(p, end) < 4 || rd_u16(&p, end, &type) == -1)
			return "extension header truncated";
		if (rd_block16(&p, end, &dend) == -1)
			return "extension overruns the block";
		if (seen[type / 64] & (UINT64_C(1) << (type % 64)))
			return "duplicate extension";
		seen[type / 64] |= UINT64_C(1) << (type % 64);
		why = NULL;
		if (type == EXT_SERVER_NAME)
			why = parse_server_name(p, dend, out);
		else if (type == EXT_ALPN)
			why = parse_alpn(p, dend, out);
		else if (type == EXT_ECH)
			out->ech = 1;
		if (why != NULL)
			return why;
		p = dend;
	}
	return NULL;
}

enum hello_verdict tls_hello_parse(const uint8_t *msg, size_t len, struct hello_info *out)
{
	const uint8_t *p = msg, *end = msg + len, *bend;
	const char *why;
	uint32_t body;
	uint8_t type;

	memset(out, 0, sizeof(*out));
	if (rd_u8(&p, end, &type) == -1 || rd_u24(&p, end, &body) == -1) {
		why = "handshake header truncated";
		goto fail;
	}
	if (type != HS_CLIENT_HELLO) {
		why = "handshake type is not client_hello";
		goto fail;
	}
	if (body != rd_left(p, end)) {
		why = "handshake length does not match the message";
		goto fail;
	}
	if (rd_skip(&p, end, 2 + 32) == -1) {
		why = "ClientHello ends inside legacy_version or random";
		goto fail;
	}
	if (rd_block8(&p, end, &bend) == -1) {
		why = "legacy_session_id overruns the hello";
		goto fail;
	}
	if (rd_left(p, bend) > SESSION_ID_MAX) {
		why = "legacy_session_id longer than 32";
		goto fail;
	}
	p = bend;
	if (rd_block16(&p, end, &bend) == -1) {
		why = "cipher_suites overrun the hello";
		goto fail;
	}
	if (rd_left(p, bend) < 2 || rd_left(p, bend) % 2 != 0) {
		why = "cipher_suites length odd or zero";
		goto fail;
	}
	p = bend;
	if (rd_block8(&p, end, &bend) == -1) {
		why = "compression_methods overrun the hello";
		goto fail;
	}
	if (p == bend) {
		why = "no compression method";
		goto fail;
	}
	p = bend;
	if (p == end)
		return HELLO_NO_SNI;	/* no extensions block: legal before TLS 1.3 */
	if (rd_block16(&p, end, &bend) == -1) {
		why = rd_left(p, end) < 2 ? "extensions length truncated" :
		    "extensions block length mismatch";
		goto fail;
	}
	if (rd_block_close(bend, end) == -1) {
		why = "extensions block length mismatch";
		goto fail;
	}
	if ((why = parse_extensions(p, bend, out)) != NULL)
		goto fail;
	return out->sni != NULL ? HELLO_FOUND : HELLO_NO_SNI;
fail:
	memset(out, 0, sizeof(*out));
	out->reason = why;
	return HELLO_MALFORMED;
}

int hello_alpn_next(const struct hello_info *h, size_t *pos, const uint8_t **name, size_t *len)
{
	const uint8_t *p, *end, *nend;

	if (h->alpn == NULL || *pos >= h->alpn_len)
		return 0;
	p = h->alpn + *pos;
	end = h->alpn + h->alpn_len;
	if (rd_block8(&p, end, &nend) == -1)
		return 0;
	*name = p;
	*len = rd_left(p, nend);
	*pos = (size_t)(nend - h->alpn);
	return 1;
}

const char *hello_verdict_name(enum hello_verdict v)
{
	switch (v) {
	case HELLO_NEED_MORE:
		return "incomplete";
	case HELLO_FOUND:
		return "found";
	case HELLO_NO_SNI:
		return "no-sni";
	case HELLO_NOT_TLS:
		return "not-tls";
	case HELLO_MALFORMED:
		return "malformed";
	case HELLO_COMPLETE:
		return "complete";
	}
	return "?";
}
