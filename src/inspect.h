/* `halfpipe --inspect FILE...`: classify files of raw client bytes offline,
 * with the same reader the proxy uses on live connections. */
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
 * body length (0: HELLO_MAX_DEFAULT). A file that cannot be read gets a
 * message naming it on err and no line; the others are still done.
 * Returns 0, or 1 if any file could not be read.
 */
int inspect_main(int nfiles, char **files, size_t max_hello, FILE *out, FILE *err);

#endif
