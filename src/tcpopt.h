/*
 * A side's TCP socket options: keepalive (SO_KEEPALIVE, TCP_KEEPIDLE,
 * TCP_KEEPINTVL, TCP_KEEPCNT) and TCP_USER_TIMEOUT, as client-keepalive,
 * client-user-timeout (on the listening sockets: accepted ones inherit
 * them) and server-keepalive, server-user-timeout (on each backend socket
 * before its connect) give them.
 */
#ifndef HP_TCPOPT_H
#define HP_TCPOPT_H

#include <stdint.h>

#include "conf.h"

/** Whether ka or user_timeout_ms asks for anything (else a new socket needs
 *  no call: the kernel's defaults are off). */
int tcpopt_wanted(const struct conf_keepalive *ka, uint32_t user_timeout_ms);

/** Set them on fd: keepalive on with ka's times (a 0 field: the kernel's)
 *  or off (ka->idle_s 0); TCP_USER_TIMEOUT user_timeout_ms (0: off). 0, or
 *  -1 with errno from the first call that failed (*what names it). */
int tcpopt_apply(int fd, const struct conf_keepalive *ka, uint32_t user_timeout_ms,
    const char **what);

#endif
