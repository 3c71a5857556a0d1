/* `halfpipe --inspect FILE...`: classify files of raw client bytes (a TCP
 * stream's, or QUIC datagrams) offline, with the same readers the proxy uses
 * on live connections and flows. */
#ifndef HP_INSPECT_H
#define HP_INSPECT_H

#include <stddef.h>
#include <stdio.h>

/**
 * For each file print one line on out:
 *
 *	FILE<TAB>VERDICT<TAB>SNI<TAB>ALPN
 *
 * VERDICT is found, no-sni, incomplete, malformed or not-tls; SNI is the
 * host_name as sent (found only); ALPN the protocol names joined by commas,
 * each byte outside 0x21..0x7e and each ',' or '\' written as \xHH (found
 * and no-sni only); "-" marks an empty field. max_hello caps the handshake
 * body length (0: HELLO_MAX_DEFAULT).
 *
 * A file whose first byte has its two high bits set (a QUIC long header) is
 * one UDP payload; a text file whose first line is the hex of such a payload
 * holds one per line (colons, blanks and a CR skipped; blank lines too).
 * Their datagrams go to the QUIC Initial reader (quic_initial.h) in order
 * until its verdict, and the line is
 *
 *	FILE<TAB>VERDICT<TAB>SNI<TAB>ALPN<TAB>quic<TAB>VERSION<TAB>DCID<TAB>REASON
 *
 * VERDICT as quic_verdict_name() says it; VERSION (0x%08x) of the first
 * datagram's first packet; DCID in hex, the one the keys came from once an
 * Initial opened, else the first packet's; REASON the reader's, "-" if none.
 *
 * A file that cannot be read, a raw payload over 65527 bytes, a hex line
 * that is not hex or a hex file over 1 MiB gets a message naming it (and
 * the line) on err and no line; the others are still done. Returns 0, or 1
 * if any file got a message.
 */
int inspect_main(int nfiles, char **files, size_t max_hello, FILE *out, FILE *err);

#endif
