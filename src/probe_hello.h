/*
 * The TLS probe's ClientHello (check.c, `check=tls`): a minimal valid TLS
 * 1.3 ClientHello that a TLS 1.2 server accepts too, carrying the route's
 * server name. Pure: the caller gives the random bytes and the buffer.
 *
 *   record    22, 0x0301, length
 *   handshake 1 (client_hello), length
 *     legacy_version 0x0303, random[32], session_id[32]
 *     cipher_suites  TLS 1.3 AES-128-GCM, AES-256-GCM, CHACHA20-POLY1305;
 *                    TLS 1.2 ECDHE-{ECDSA,RSA}-{AES128,AES256}-GCM, -CHACHA20
 *     compression    null
 *     extensions     server_name (host_name), supported_groups (x25519,
 *                    secp256r1, secp384r1), ec_point_formats (uncompressed),
 *                    signature_algorithms, supported_versions (1.3, 1.2),
 *                    key_share (x25519, 32 random bytes: the probe never
 *                    finishes a handshake, so no private key is kept)
 */
#ifndef HP_PROBE_HELLO_H
#define HP_PROBE_HELLO_H

#include <stddef.h>
#include <stdint.h>

#define PROBE_RANDOM	96	/* random bytes a hello takes: random, session id, key */
#define PROBE_HELLO_MAX	512	/* room enough for any server name (<= 253) */

/**
 * Write the record carrying a ClientHello for server name sni (1..253
 * bytes, as a route names it) into out[0..cap), using rnd[0..PROBE_RANDOM).
 * Returns its length, or 0 if sni is empty or too long or cap too small.
 */
size_t probe_hello(uint8_t *out, size_t cap, const char *sni, const uint8_t *rnd);

#endif
