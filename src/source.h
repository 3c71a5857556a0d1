/*
 * Source addresses for backend connections (`source ADDR[,ADDR...]`, a
 * route's `source=`): the local address a backend socket binds before its
 * connect, in round robin over the addresses of the backend's family, one
 * step per connection attempt. Pure: the list and its cursor (a relaxed
 * atomic, shared by the workers like a pool's); the bind is connect.c's.
 */
#ifndef HP_SOURCE_H
#define HP_SOURCE_H

#include <stdint.h>
#include <netinet/in.h>
#include <sys/socket.h>

#define SOURCE_MAX	16	/* addresses in one list */

struct source_set {
	struct sockaddr_in	 v4[SOURCE_MAX];	/* port 0 */
	struct sockaddr_in6	 v6[SOURCE_MAX];
	uint32_t		 n4, n6;
	uint32_t		 cursor4, cursor6;	/* relaxed atomics */
};

/**
 * "ADDR[,ADDR...]" (each a.b.c.d, an IPv6 address or [IPv6], no port, at
 * most SOURCE_MAX, none twice) or "off" (none) into *out. 0, or -1 with
 * *why set (a static text naming the bad part is in bad[badlen]).
 */
int source_parse(const char *list, struct source_set *out, const char **why, char *bad,
    size_t badlen);

/** The address the next connection to a backend of family binds (its
 *  length in *len), round robin over s's of that family; NULL when s has
 *  none of it (the connection stays unbound: the kernel chooses). */
const struct sockaddr *source_next(struct source_set *s, int family, socklen_t *len);

#endif
