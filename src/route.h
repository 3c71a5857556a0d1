/*
 * SNI -> backend. Pure: no I/O. Exact names and "*.example.com" wildcards
 * (matching one label or more in front of example.com, never example.com
 * itself); names compare case-insensitively and ignore one trailing dot.
 * A route may also require an ALPN protocol the client offers.
 * Precedence: exact name before wildcard; a longer wildcard suffix before a
 * shorter one; for the same name, a route with an ALPN condition that the
 * client meets before one without. No match: NULL (the listener's
 * on-no-route action applies). halfpipe never connects anywhere a route
 * does not name.
 */
#ifndef HP_ROUTE_H
#define HP_ROUTE_H

#include <stddef.h>
#include <stdint.h>

struct route;
struct route_table;

/** Build a lookup table over routes[0..n) (which must outlive it).
 *  NULL on allocation failure. */
struct route_table *route_table_new(struct route *routes, size_t n);
/** Free t (NULL is fine); the routes stay. */
void route_table_free(struct route_table *t);

/**
 * The route for host_name sni[0..sni_len) and the ALPN protocol_name_list
 * alpn[0..alpn_len) (u8-length-prefixed names as on the wire; alpn_len 0: the
 * client sent none), or NULL.
 */
const struct route *route_lookup(const struct route_table *t, const uint8_t *sni,
    size_t sni_len, const uint8_t *alpn, size_t alpn_len);

#endif
