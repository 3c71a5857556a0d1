/*
 * QUIC Initial reader (the contract is quic_initial.h). Pure apart from
 * libcrypto: HKDF-SHA256, AES-128-ECB and AES-128-GCM, fetched once by
 * quic_crypto_init(); no cipher here is written by hand.
 *
 * What a client's first datagrams hold (RFC 9000 17.2, 17.2.2; RFC 9369 3.2):
 *
 *   datagram: packets coalesced back to back, each long header framed by its
 *   Length; a short-header packet (no Length) is always the last
 *   +- first byte        u8   0x80 long form, 0x40 fixed, type (bits 4-5;
 *   |                         Initial: 0 in v1, 1 in v2), protected low bits
 *   +- version           u32  0: Version Negotiation; 1, 0x6b3343cf known
 *   +- DCID, SCID        u8 length (<= 20) + bytes
 *   +- token             varint length + bytes          (Initial only)
 *   +- Length            varint: packet number + payload + 16-byte tag
 *   +- packet number     1-4 bytes, length in the (unmasked) first byte
 *   +- payload           AES-128-GCM, the header up to here as AAD
 *      +- frames         PADDING 0x00, PING 0x01, ACK 0x02/0x03,
 *                        CRYPTO 0x06 (offset, length, data),
 *                        CONNECTION_CLOSE 0x1c; nothing else in an Initial
 *
 * Choices where the RFCs leave the receiver room:
 *  - an Initial in a datagram of fewer than 1200 bytes is ignored (RFC 9000
 *    14.1: a server MUST discard it), not malformed; it still counts toward
 *    QUIC_INITIALS_MAX;
 *  - an Initial whose AEAD tag does not verify is skipped (it may be another
 *    connection's, corrupted or forged) and counts toward QUIC_INITIALS_MAX;
 *    the keys are kept from the first Initial that decrypts, whose DCID must
 *    be at least 8 bytes (RFC 9000 7.2); later Initials with another DCID
 *    are skipped (RFC 9000 12.2);
 *  - a header that runs past the datagram, a CID over 20 bytes, a packet
 *    too short to hold the header-protection sample, reserved bits set
 *    after a successful decryption, an Initial with no frames or with a
 *    frame not allowed there, a truncated frame, CRYPTO data past the
 *    ClientHello once its length is known (a client sends nothing after it
 *    in Initials before the server answers): malformed;
 *  - the packet number is taken as sent (its truncated value): clients
 *    number Initials from 0 and this reader reads at most 32 of them;
 *  - 0-RTT and Handshake packets are skipped by their Length; a short
 *    header, a Version Negotiation packet or another version's packet after
 *    the first Initial end the walk of that datagram.
 */
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include "quic_initial.h"
#include "wire.h"

#define QUIC_V1			0x00000001u
#define QUIC_V2			0x6b3343cfu
#define DCID_MIN		8	/* RFC 9000 7.2: a client's first DCID */
#define INITIAL_DGRAM_MIN	1200	/* RFC 9000 14.1 */
#define SAMPLE_LEN		16
#define TAG_LEN			16
#define PKT_MAX			65536	/* a UDP payload is at most 65527 bytes */

#define FR_PADDING		0x00
#define FR_PING			0x01
#define FR_ACK			0x02
#define FR_ACK_ECN		0x03
#define FR_CRYPTO		0x06
#define FR_CLOSE		0x1c

#define HS_CLIENT_HELLO		1
#define HS_HEADER_LEN		4

static EVP_KDF *kdf_hkdf;
static EVP_CIPHER *aes_ecb, *aes_gcm;
static EVP_MD *sha256;

int quic_crypto_init(void)
{
	if (kdf_hkdf != NULL && aes_ecb != NULL && aes_gcm != NULL && sha256 != NULL)
		return 0;
	if (OPENSSL_init_crypto(OPENSSL_INIT_NO_LOAD_CONFIG, NULL) != 1)
		return -1;
	if (kdf_hkdf == NULL)
		kdf_hkdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	if (aes_ecb == NULL)
		aes_ecb = EVP_CIPHER_fetch(NULL, "AES-128-ECB", NULL);
	if (aes_gcm == NULL)
		aes_gcm = EVP_CIPHER_fetch(NULL, "AES-128-GCM", NULL);
	if (sha256 == NULL)
		sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
	return kdf_hkdf && aes_ecb && aes_gcm && sha256 ? 0 : -1;
}

void quic_hello_init(struct quic_hello *q, size_t max_hello)
{
	memset(q, 0, offsetof(struct quic_hello, have));
	memset(q->have, 0, sizeof(q->have));
	if (max_hello == 0)
		max_hello = HELLO_MAX_DEFAULT;
	if (max_hello > QUIC_HELLO_MAX - HS_HEADER_LEN)
		max_hello = QUIC_HELLO_MAX - HS_HEADER_LEN;
	q->max_hello = max_hello;
	q->verdict = QUIC_NEED_MORE;
}

const char *quic_verdict_name(enum quic_verdict v)
{
	switch (v) {
	case QUIC_NEED_MORE:	return "incomplete";
	case QUIC_FOUND:	return "found";
	case QUIC_NO_SNI:	return "no-sni";
	case QUIC_NOT_INITIAL:	return "not-initial";
	case QUIC_VERSION:	return "version";
	case QUIC_MALFORMED:	return "malformed";
	}
	return "unknown";
}

/* RFC 9000 16: a variable-length integer; 0 and advanced, or -1. */
static int rd_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
	size_t n, i;
	uint64_t x;

	if (rd_left(*p, end) < 1)
		return -1;
	n = (size_t)1 << ((*p)[0] >> 6);
	if (rd_left(*p, end) < n)
		return -1;
	x = (*p)[0] & 0x3f;
	for (i = 1; i < n; i++)
		x = x << 8 | (*p)[i];
	*p += n;
	*v = x;
	return 0;
}

/* HKDF-Extract (secret_len 32) or HKDF-Expand; 0 or -1. */
static int hkdf(int mode, const uint8_t *key, size_t key_len, const uint8_t *salt_or_info,
    size_t si_len, uint8_t *out, size_t out_len)
{
	OSSL_PARAM params[5], *p = params;
	EVP_KDF_CTX *ctx;
	int rc;

	if ((ctx = EVP_KDF_CTX_new(kdf_hkdf)) == NULL)
		return -1;
	*p++ = OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode);
	*p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0);
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)key, key_len);
	*p++ = OSSL_PARAM_construct_octet_string(mode == EVP_KDF_HKDF_MODE_EXTRACT_ONLY ?
	    OSSL_KDF_PARAM_SALT : OSSL_KDF_PARAM_INFO, (void *)salt_or_info, si_len);
	*p = OSSL_PARAM_construct_end();
	rc = EVP_KDF_derive(ctx, out, out_len, params) == 1 ? 0 : -1;
	EVP_KDF_CTX_free(ctx);
	return rc;
}

/* RFC 8446 7.1 HKDF-Expand-Label with an empty context. */
static int expand_label(const uint8_t secret[32], const char *label, uint8_t *out, size_t out_len)
{
	uint8_t info[2 + 1 + 255 + 1];
	size_t ll = strlen(label), n = 0;

	info[n++] = (uint8_t)(out_len >> 8);
	info[n++] = (uint8_t)out_len;
	info[n++] = (uint8_t)(6 + ll);
	memcpy(info + n, "tls13 ", 6);
	n += 6;
	memcpy(info + n, label, ll);
	n += ll;
	info[n++] = 0;
	return hkdf(EVP_KDF_HKDF_MODE_EXPAND_ONLY, secret, 32, info, n, out, out_len);
}

int quic_initial_keys(uint32_t version, const uint8_t *dcid, size_t dcid_len,
    uint8_t key[16], uint8_t iv[12], uint8_t hp[16])
{
	static const uint8_t salt_v1[20] = {
		0x38, 0x76, 0x2c, 0xf7, 0xf5, 0x59, 0x34, 0xb3, 0x4d, 0x17,
		0x9a, 0xe6, 0xa4, 0xc8, 0x0c, 0xad, 0xcc, 0xbb, 0x7f, 0x0a,
	};
	static const uint8_t salt_v2[20] = {
		0x0d, 0xed, 0xe3, 0xde, 0xf7, 0x00, 0xa6, 0xdb, 0x81, 0x93,
		0x81, 0xbe, 0x6e, 0x26, 0x9d, 0xcb, 0xf9, 0xbd, 0x2e, 0xd9,
	};
	uint8_t initial[32], client[32];
	int v2 = version == QUIC_V2, rc;

	if (kdf_hkdf == NULL || (version != QUIC_V1 && version != QUIC_V2))
		return -1;
	rc = hkdf(EVP_KDF_HKDF_MODE_EXTRACT_ONLY, dcid, dcid_len, v2 ? salt_v2 : salt_v1, 20,
	    initial, sizeof(initial));
	if (rc == 0)
		rc = expand_label(initial, "client in", client, sizeof(client));
	if (rc == 0)
		rc = expand_label(client, v2 ? "quicv2 key" : "quic key", key, 16);
	if (rc == 0)
		rc = expand_label(client, v2 ? "quicv2 iv" : "quic iv", iv, 12);
	if (rc == 0)
		rc = expand_label(client, v2 ? "quicv2 hp" : "quic hp", hp, 16);
	OPENSSL_cleanse(initial, sizeof(initial));
	OPENSSL_cleanse(client, sizeof(client));
	return rc;
}

/* AES-128-ECB of the sample: the header-protection mask (its first 5 bytes). */
static int hp_mask(const uint8_t hp[16], const uint8_t *sample, uint8_t mask[16])
{
	EVP_CIPHER_CTX *ctx;
	int n = 0, ok;

	if ((ctx = EVP_CIPHER_CTX_new()) == NULL)
		return -1;
	ok = EVP_EncryptInit_ex2(ctx, aes_ecb, hp, NULL, NULL) == 1 &&
	    EVP_CIPHER_CTX_set_padding(ctx, 0) == 1 &&
	    EVP_EncryptUpdate(ctx, mask, &n, sample, SAMPLE_LEN) == 1 && n == SAMPLE_LEN;
	EVP_CIPHER_CTX_free(ctx);
	return ok ? 0 : -1;
}

/*
 * AES-128-GCM open of one packet: the AAD is the header with its protection
 * removed, given in three pieces (first byte, the bytes up to the packet
 * number as sent, the packet number) so the token is never copied; 0 and
 * out[0..ct_len - 16) the plaintext, or -1.
 */
static int aead_open(const uint8_t key[16], const uint8_t nonce[12], uint8_t first,
    const uint8_t *mid, size_t mid_len, const uint8_t *pn, size_t pn_len,
    const uint8_t *ct, size_t ct_len, uint8_t *out)
{
	EVP_CIPHER_CTX *ctx;
	size_t len = ct_len - TAG_LEN;
	int n = 0, m = 0, ok;

	if ((ctx = EVP_CIPHER_CTX_new()) == NULL)
		return -1;
	ok = EVP_DecryptInit_ex2(ctx, aes_gcm, key, nonce, NULL) == 1 &&
	    EVP_DecryptUpdate(ctx, NULL, &n, &first, 1) == 1 &&
	    EVP_DecryptUpdate(ctx, NULL, &n, mid, (int)mid_len) == 1 &&
	    EVP_DecryptUpdate(ctx, NULL, &n, pn, (int)pn_len) == 1 &&
	    EVP_DecryptUpdate(ctx, out, &n, ct, (int)len) == 1 &&
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_LEN, (void *)(ct + len)) == 1 &&
	    EVP_DecryptFinal_ex(ctx, out + n, &m) == 1 && (size_t)(n + m) == len;
	EVP_CIPHER_CTX_free(ctx);
	return ok ? 0 : -1;
}

static enum quic_verdict final(struct quic_hello *q, enum quic_verdict v, const char *reason)
{
	q->verdict = v;
	q->reason = reason;
	return v;
}

/* The 4-byte handshake header, once bytes 0..3 are in. */
static enum quic_verdict check_header(struct quic_hello *q)
{
	size_t body;

	if (q->need != 0 || q->contig < HS_HEADER_LEN)
		return QUIC_NEED_MORE;
	if (q->crypto[0] != HS_CLIENT_HELLO)
		return final(q, QUIC_MALFORMED, "handshake type is not client_hello");
	body = (size_t)q->crypto[1] << 16 | (size_t)q->crypto[2] << 8 | q->crypto[3];
	if (body > q->max_hello)
		return final(q, QUIC_MALFORMED, "ClientHello longer than the cap");
	q->need = HS_HEADER_LEN + body;
	return QUIC_NEED_MORE;
}

/* Place one CRYPTO frame's data at its offset. */
static enum quic_verdict place(struct quic_hello *q, uint64_t off, const uint8_t *data, size_t len)
{
	size_t i, at;

	if (off > HS_HEADER_LEN + q->max_hello || len > HS_HEADER_LEN + q->max_hello - off)
		return final(q, QUIC_MALFORMED, "CRYPTO data past the ClientHello's cap");
	if (q->need != 0 && off + len > q->need)
		return final(q, QUIC_MALFORMED, "CRYPTO data past the ClientHello");
	for (i = 0; i < len; i++) {
		at = (size_t)off + i;
		if (q->have[at / 8] & (1u << (at % 8))) {
			if (q->crypto[at] != data[i])
				return final(q, QUIC_MALFORMED, "overlapping CRYPTO data disagrees");
			continue;
		}
		q->crypto[at] = data[i];
		q->have[at / 8] |= (uint8_t)(1u << (at % 8));
	}
	while (q->contig < QUIC_HELLO_MAX && (q->have[q->contig / 8] & (1u << (q->contig % 8))))
		q->contig++;
	return check_header(q);
}

/* RFC 9000 19.3: skip an ACK frame's fields after its type. */
static int skip_ack(const uint8_t **p, const uint8_t *end, int ecn)
{
	uint64_t v, ranges, i;

	if (rd_varint(p, end, &v) == -1 || rd_varint(p, end, &v) == -1 ||
	    rd_varint(p, end, &ranges) == -1 || rd_varint(p, end, &v) == -1)
		return -1;
	for (i = 0; i < ranges; i++)
		if (rd_varint(p, end, &v) == -1 || rd_varint(p, end, &v) == -1)
			return -1;
	for (i = 0; ecn && i < 3; i++)
		if (rd_varint(p, end, &v) == -1)
			return -1;
	return 0;
}

/* Walk the frames of one decrypted Initial payload. */
static enum quic_verdict frames(struct quic_hello *q, const uint8_t *p, const uint8_t *end)
{
	const uint8_t *data;
	uint64_t type, off, len, v;

	if (p == end)
		return final(q, QUIC_MALFORMED, "Initial packet without frames");
	while (p < end) {
		if (rd_varint(&p, end, &type) == -1)
			return final(q, QUIC_MALFORMED, "frame type truncated");
		switch (type) {
		case FR_PADDING:	/* a run of them, often ~1,000 bytes: in one loop */
			while (p < end && *p == FR_PADDING)
				p++;
			break;
		case FR_PING:
			break;
		case FR_ACK:
		case FR_ACK_ECN:
			if (skip_ack(&p, end, type == FR_ACK_ECN) == -1)
				return final(q, QUIC_MALFORMED, "ACK frame truncated");
			break;
		case FR_CRYPTO:
			if (rd_varint(&p, end, &off) == -1 || rd_varint(&p, end, &len) == -1 ||
			    len > rd_left(p, end) || rd_bytes(&p, end, (size_t)len, &data) == -1)
				return final(q, QUIC_MALFORMED, "CRYPTO frame truncated");
			if (place(q, off, data, (size_t)len) != QUIC_NEED_MORE)
				return q->verdict;
			break;
		case FR_CLOSE:
			if (rd_varint(&p, end, &v) == -1 || rd_varint(&p, end, &v) == -1 ||
			    rd_varint(&p, end, &len) == -1 || len > rd_left(p, end) ||
			    rd_skip(&p, end, (size_t)len) == -1)
				return final(q, QUIC_MALFORMED, "CONNECTION_CLOSE frame truncated");
			break;
		default:
			return final(q, QUIC_MALFORMED, "frame type not allowed in an Initial");
		}
	}
	return QUIC_NEED_MORE;
}

/*
 * Remove the protection of the Initial pkt[0..pn_off + length) under the
 * given keys and walk its frames. *opened says whether it decrypted; if not,
 * NEED_MORE (the packet is skipped).
 */
static enum quic_verdict open_initial(struct quic_hello *q, const uint8_t *pkt, size_t pn_off,
    size_t length, const uint8_t key[16], const uint8_t iv[12], const uint8_t hp[16], int *opened)
{
	uint8_t mask[16], nonce[12], pn[4], first;
	uint8_t pt[PKT_MAX];
	size_t pn_len, i;
	uint64_t num = 0;

	*opened = 0;
	if (length < 4 + SAMPLE_LEN)
		return final(q, QUIC_MALFORMED, "Initial too short for its header-protection sample");
	if (hp_mask(hp, pkt + pn_off + 4, mask) == -1)
		return QUIC_NEED_MORE;
	first = pkt[0] ^ (mask[0] & 0x0f);
	pn_len = (size_t)(first & 0x03) + 1;
	for (i = 0; i < pn_len; i++) {
		pn[i] = pkt[pn_off + i] ^ mask[1 + i];
		num = num << 8 | pn[i];
	}
	if (length < pn_len + TAG_LEN || length - pn_len > sizeof(pt) + TAG_LEN)
		return QUIC_NEED_MORE;
	memcpy(nonce, iv, sizeof(nonce));
	for (i = 0; i < 8; i++)
		nonce[11 - i] ^= (uint8_t)(num >> (8 * i));
	if (aead_open(key, nonce, first, pkt + 1, pn_off - 1, pn, pn_len, pkt + pn_off + pn_len,
	    length - pn_len, pt) == -1)
		return QUIC_NEED_MORE;
	*opened = 1;
	if (first & 0x0c)
		return final(q, QUIC_MALFORMED, "reserved header bits set in an Initial");
	return frames(q, pt, pt + (length - pn_len - TAG_LEN));
}

enum pkt_type { PT_INITIAL, PT_0RTT, PT_HANDSHAKE, PT_RETRY };

struct long_hdr {
	enum pkt_type	type;		/* in v1's numbering */
	const uint8_t	*dcid, *scid;
	uint8_t		dcid_len, scid_len;
	size_t		pn_off;		/* where the packet number starts */
	size_t		length;		/* the Length field */
	size_t		total;		/* the whole packet */
};

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* A long header of a known version at pkt[0..left): NULL, or why malformed. */
static const char *long_header(const uint8_t *pkt, size_t left, uint32_t version,
    struct long_hdr *h)
{
	const uint8_t *p = pkt + 5, *end = pkt + left, *tok;
	uint64_t tlen, length;
	unsigned t = (pkt[0] >> 4) & 3;

	h->type = (enum pkt_type)(version == QUIC_V2 ? (t + 3) & 3 : t);
	if (rd_u8(&p, end, &h->dcid_len) == -1)
		return "long header truncated";
	if (h->dcid_len > QUIC_CID_MAX)
		return "connection ID longer than 20 bytes";
	if (rd_bytes(&p, end, h->dcid_len, &h->dcid) == -1 || rd_u8(&p, end, &h->scid_len) == -1)
		return "long header truncated";
	if (h->scid_len > QUIC_CID_MAX)
		return "connection ID longer than 20 bytes";
	if (rd_bytes(&p, end, h->scid_len, &h->scid) == -1)
		return "long header truncated";
	if (h->type == PT_RETRY)
		return NULL;
	if (h->type == PT_INITIAL && (rd_varint(&p, end, &tlen) == -1 ||
	    tlen > rd_left(p, end) || rd_bytes(&p, end, (size_t)tlen, &tok) == -1))
		return "Initial token truncated";
	if (rd_varint(&p, end, &length) == -1)
		return "long header truncated";
	if (length > rd_left(p, end))
		return "packet Length runs past the datagram";
	h->pn_off = (size_t)(p - pkt);
	h->length = (size_t)length;
	h->total = h->pn_off + h->length;
	return NULL;
}

/* One Initial of the flow's version: decrypt it under the flow's keys, or
 * under keys from its own DCID while no Initial has decrypted yet. */
static enum quic_verdict read_initial(struct quic_hello *q, const uint8_t *pkt,
    const struct long_hdr *h, uint32_t version)
{
	uint8_t key[16], iv[12], hp[16];
	enum quic_verdict v;
	int opened;

	if (q->dcid_len != 0) {
		if (h->dcid_len != q->dcid_len || memcmp(h->dcid, q->dcid, q->dcid_len) != 0)
			return QUIC_NEED_MORE;		/* another connection's: skipped */
		return open_initial(q, pkt, h->pn_off, h->length, q->key, q->iv, q->hp, &opened);
	}
	if (h->dcid_len < DCID_MIN)
		return final(q, QUIC_MALFORMED, "first Initial's DCID shorter than 8 bytes");
	if (quic_initial_keys(version, h->dcid, h->dcid_len, key, iv, hp) == -1)
		return final(q, QUIC_MALFORMED, "libcrypto failed (quic_crypto_init not called?)");
	v = open_initial(q, pkt, h->pn_off, h->length, key, iv, hp, &opened);
	if (opened) {
		memcpy(q->dcid, h->dcid, h->dcid_len);
		q->dcid_len = h->dcid_len;
		memcpy(q->scid, h->scid, h->scid_len);
		q->scid_len = h->scid_len;
		memcpy(q->key, key, sizeof(key));
		memcpy(q->iv, iv, sizeof(iv));
		memcpy(q->hp, hp, sizeof(hp));
	}
	OPENSSL_cleanse(key, sizeof(key));
	return v;
}

/* Walk the packets of one datagram; *initials counts the Initials seen. */
static enum quic_verdict walk(struct quic_hello *q, const uint8_t *dgram, size_t len,
    int first, int *initials)
{
	const uint8_t *p = dgram, *end = dgram + len;
	struct long_hdr h;
	const char *why;
	uint32_t version;

	while (p < end && q->verdict == QUIC_NEED_MORE) {
		if (!(p[0] & 0x80))
			break;				/* short header: the last packet */
		if (rd_left(p, end) < 5)
			return final(q, QUIC_MALFORMED, "long header truncated");
		version = be32(p + 1);
		if (version == 0) {
			if (first && p == dgram)
				return final(q, QUIC_NOT_INITIAL, "Version Negotiation packet");
			break;
		}
		if (version != QUIC_V1 && version != QUIC_V2) {
			if (first && p == dgram) {
				q->version = version;
				return final(q, QUIC_VERSION, "QUIC version not supported");
			}
			break;
		}
		if (q->version != 0 && version != q->version)
			break;				/* another version after the first Initial */
		if ((why = long_header(p, rd_left(p, end), version, &h)) != NULL)
			return final(q, QUIC_MALFORMED, why);
		if (h.type == PT_RETRY)
			break;				/* no Length: nothing after it can be framed */
		if (h.type == PT_INITIAL) {
			(*initials)++;
			if (q->version == 0)
				q->version = version;
			if (++q->initials > QUIC_INITIALS_MAX)
				return final(q, QUIC_MALFORMED,
				    "more than 32 Initial packets without the whole ClientHello");
			if (len >= INITIAL_DGRAM_MIN && read_initial(q, p, &h, version) != QUIC_NEED_MORE)
				return q->verdict;
		}
		p += h.total;
	}
	return q->verdict;
}

/* The verdict for the info the caller asked for (FOUND / NO_SNI: parsed). */
static enum quic_verdict result(struct quic_hello *q, struct hello_info *info)
{
	struct hello_info scratch, *out = info ? info : &scratch;
	enum hello_verdict hv;

	if (q->verdict == QUIC_NEED_MORE && q->need != 0 && q->contig >= q->need) {
		hv = tls_hello_parse(q->crypto, q->need, out);
		if (hv == HELLO_FOUND)
			final(q, QUIC_FOUND, NULL);
		else if (hv == HELLO_NO_SNI)
			final(q, QUIC_NO_SNI, NULL);
		else
			final(q, QUIC_MALFORMED, out->reason);
		return q->verdict;
	}
	if (info == NULL)
		return q->verdict;
	if (q->verdict == QUIC_FOUND || q->verdict == QUIC_NO_SNI) {
		tls_hello_parse(q->crypto, q->need, info);	/* the same answer again */
		return q->verdict;
	}
	memset(info, 0, sizeof(*info));
	info->reason = q->reason;
	return q->verdict;
}

enum quic_verdict quic_hello_feed(struct quic_hello *q, const uint8_t *dgram, size_t len,
    struct hello_info *info)
{
	int first, initials = 0;

	if (q->verdict != QUIC_NEED_MORE)
		return result(q, info);
	first = q->datagrams++ == 0;
	walk(q, dgram, len, first, &initials);
	if (first && initials == 0 && q->verdict == QUIC_NEED_MORE)
		final(q, QUIC_NOT_INITIAL, "no Initial packet in the first datagram");
	return result(q, info);
}

int quic_dgram_dcid(const uint8_t *dgram, size_t len, size_t cid_len, const uint8_t **dcid,
    size_t *dlen)
{
	if (len < 1)
		return 0;
	if (dgram[0] & 0x80) {
		if (len < 6 || dgram[5] > QUIC_CID_MAX || (size_t)dgram[5] > len - 6 || dgram[5] == 0)
			return 0;
		*dcid = dgram + 6;
		*dlen = dgram[5];
		return 1;
	}
	if (cid_len == 0 || cid_len > QUIC_CID_MAX || cid_len > len - 1)
		return 0;
	*dcid = dgram + 1;
	*dlen = cid_len;
	return 1;
}
