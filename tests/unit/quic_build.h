/*
 * Test-only QUIC client Initial builder: the inverse of src/quic_initial.c,
 * for unit tests and the fuzz target (an integration test may include it
 * too). It encrypts with libcrypto's AES-128-GCM and AES-128-ECB and the
 * reader's own quic_initial_keys(), which t_quic_initial checks against the
 * RFC 9001 / RFC 9369 vectors; qb_initial() reproduces RFC 9001 A.2 byte for
 * byte. Call quic_crypto_init() first.
 */
#ifndef HP_QUIC_BUILD_H
#define HP_QUIC_BUILD_H

#include <stdint.h>
#include <string.h>

#include <openssl/evp.h>

#include "quic_initial.h"

#define QB_V1	0x00000001u
#define QB_V2	0x6b3343cfu

/** A CRYPTO frame carrying data[0..len) at offset off into out; its size.
 *  Offsets and lengths are written as 4-byte varints (< 2^30). */
static inline size_t qb_crypto(uint8_t *out, size_t off, const uint8_t *data, size_t len)
{
	out[0] = 0x06;
	out[1] = (uint8_t)(0x80 | off >> 24);
	out[2] = (uint8_t)(off >> 16);
	out[3] = (uint8_t)(off >> 8);
	out[4] = (uint8_t)off;
	out[5] = (uint8_t)(0x80 | len >> 24);
	out[6] = (uint8_t)(len >> 16);
	out[7] = (uint8_t)(len >> 8);
	out[8] = (uint8_t)len;
	memcpy(out + 9, data, len);
	return 9 + len;
}

/**
 * One protected client Initial of version into out: DCID, SCID, the token
 * (tok_len < 64 bytes), a 2-byte Length, packet number pn in 4 bytes, then
 * payload[0..plen) padded with PADDING frames so the packet is at least
 * pad_to bytes. Returns its size, or 0 on a libcrypto failure or if the
 * payload needs more than the 2-byte Length holds (16383).
 */
static inline size_t qb_initial_tok(uint8_t *out, uint32_t version, const uint8_t *dcid,
    size_t dcid_len, const uint8_t *scid, size_t scid_len, const uint8_t *tok, size_t tok_len,
    uint32_t pn, const uint8_t *payload, size_t plen, size_t pad_to)
{
	uint8_t key[16], iv[12], hp[16], mask[16];
	size_t hl = 0, pn_off, body, i;
	EVP_CIPHER_CTX *ctx;
	EVP_CIPHER *gcm, *ecb;
	int n = 0, ok;

	if (quic_initial_keys(version, dcid, dcid_len, key, iv, hp) == -1)
		return 0;
	out[hl++] = (uint8_t)(0xc0 | (version == QB_V2 ? 1 : 0) << 4 | 0x03);
	out[hl++] = (uint8_t)(version >> 24);
	out[hl++] = (uint8_t)(version >> 16);
	out[hl++] = (uint8_t)(version >> 8);
	out[hl++] = (uint8_t)version;
	out[hl++] = (uint8_t)dcid_len;
	memcpy(out + hl, dcid, dcid_len);
	hl += dcid_len;
	out[hl++] = (uint8_t)scid_len;
	if (scid_len > 0)
		memcpy(out + hl, scid, scid_len);
	hl += scid_len;
	out[hl++] = (uint8_t)tok_len;		/* a 1-byte varint */
	if (tok_len > 0)
		memcpy(out + hl, tok, tok_len);
	hl += tok_len;
	body = plen;
	if (hl + 2 + 4 + body + 16 < pad_to)
		body = pad_to - (hl + 2 + 4 + 16);
	if (4 + body + 16 > 16383)
		return 0;
	out[hl++] = (uint8_t)(0x40 | (4 + body + 16) >> 8);
	out[hl++] = (uint8_t)(4 + body + 16);
	pn_off = hl;
	out[hl++] = (uint8_t)(pn >> 24);
	out[hl++] = (uint8_t)(pn >> 16);
	out[hl++] = (uint8_t)(pn >> 8);
	out[hl++] = (uint8_t)pn;
	if (plen > 0)
		memcpy(out + hl, payload, plen);
	memset(out + hl + plen, 0, body - plen);
	for (i = 0; i < 4; i++)
		iv[11 - i] ^= (uint8_t)(pn >> (8 * i));
	gcm = EVP_CIPHER_fetch(NULL, "AES-128-GCM", NULL);
	ecb = EVP_CIPHER_fetch(NULL, "AES-128-ECB", NULL);
	ctx = EVP_CIPHER_CTX_new();
	ok = gcm && ecb && ctx &&
	    EVP_EncryptInit_ex2(ctx, gcm, key, iv, NULL) == 1 &&
	    EVP_EncryptUpdate(ctx, NULL, &n, out, (int)hl) == 1 &&
	    EVP_EncryptUpdate(ctx, out + hl, &n, out + hl, (int)body) == 1 &&
	    EVP_EncryptFinal_ex(ctx, out + hl + n, &n) == 1 &&
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, out + hl + body) == 1 &&
	    EVP_EncryptInit_ex2(ctx, ecb, hp, NULL, NULL) == 1 &&
	    EVP_CIPHER_CTX_set_padding(ctx, 0) == 1 &&
	    EVP_EncryptUpdate(ctx, mask, &n, out + pn_off + 4, 16) == 1;
	EVP_CIPHER_CTX_free(ctx);
	EVP_CIPHER_free(gcm);
	EVP_CIPHER_free(ecb);
	if (!ok)
		return 0;
	out[0] ^= mask[0] & 0x0f;
	for (i = 0; i < 4; i++)
		out[pn_off + i] ^= mask[1 + i];
	return hl + body + 16;
}

/** qb_initial_tok() without a token. */
static inline size_t qb_initial(uint8_t *out, uint32_t version, const uint8_t *dcid, size_t dcid_len,
    const uint8_t *scid, size_t scid_len, uint32_t pn, const uint8_t *payload, size_t plen,
    size_t pad_to)
{
	return qb_initial_tok(out, version, dcid, dcid_len, scid, scid_len, NULL, 0, pn, payload,
	    plen, pad_to);
}

#endif
