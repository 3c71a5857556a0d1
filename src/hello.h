/*
 * HELLO, a room of the session (session_int.h): the client's first bytes,
 * read into hbuf (where accept-proxy trusts the peer, a PROXY header first,
 * cut from hbuf once whole) until the ClientHello reader (tls_hello.h) has
 * its verdict, within HELLO_RAW_MAX(hello-max) raw bytes. Then the route it
 * names (route.h) and the backend connect (connect.h), or a listener's
 * action: its backend, or the rejection's start (the alert and our FIN,
 * then REJECT in session.c). hbuf, the whole of what was read, is what
 * the backend gets first.
 */
#ifndef HP_HELLO_H
#define HP_HELLO_H

#include "session.h"

/** HELLO's step: read what the client sent until EAGAIN or a verdict, on
 *  which s moves on (CONNECT, REJECT) or is closed. */
void hello_read(struct session *s);

/** proxy=: put a PROXY header (version s->proxy_send) in front of hbuf.
 *  0, or -1 (getsockname() failed, or out of memory). */
int hello_proxy_prepend(struct session *s);

#endif
