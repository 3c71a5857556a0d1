/*
 * QUIC flows (issue 17): a worker's UDP sockets of the listen-quic
 * addresses and its table of flows, passthrough, routed by the SNI of the
 * client's Initial packets (quic_initial.h reads them).
 *
 * Each worker binds its own UDP socket per listen-quic address
 * (SO_REUSEPORT: the kernel hashes a client's 4-tuple to one socket, so a
 * client's datagrams reach one worker while its address stays the same) and
 * reads it with recvmmsg() in batches. A flow is keyed by the client's
 * address and port:
 *
 *   PENDING   a new client address: its struct quic_hello (allocated, freed
 *             once the verdict is in) is fed every datagram, which is also
 *             queued (at most QUIC_QUEUE_DGRAMS datagrams, QUIC_QUEUE_BYTES
 *             bytes: a hello still incomplete when the queue is full is
 *             refused, malformed, the queue counted dropped);
 *             quic-hello-timeout;
 *   REFUSED   no route (and the block's default rejects), no SNI, not an
 *             Initial, an unknown version, malformed: no answer, no backend
 *             socket; the client's later datagrams are dropped cheaply until
 *             quic-hello-timeout from its first;
 *   RELAY     a UDP socket connect()ed to the route's server (one fd, from
 *             the fd budget), the queued datagrams sent first and in order;
 *             client -> backend with sendmsg() on it (after a PROXY v2
 *             header, UDP4/UDP6, on every datagram if the route has
 *             proxy=v2), backend -> client with sendmmsg() on the listening
 *             socket; quic-idle-timeout from the last datagram either way.
 *             An ICMP error on the server's socket (port unreachable:
 *             ECONNREFUSED, on a read or a send) ends the flow at once,
 *             connect-refused, a failure of the server.
 *
 * Every flow has one timer (re-armed lazily: a datagram only stamps the
 * time); at its end the fd is closed, the table entry freed and one
 * access-log line written (proto=quic). The table holds at most
 * quic-max-flows flows per worker, QUIC_PENDING_MAX of them pending; a new
 * client past either is dropped, counted, and said at most once a second.
 * A client whose address changes but not its connection IDs (NAT
 * rebinding) is followed (quic_cid.h): the Source CIDs of the server's
 * long-header packets are indexed per worker, and a datagram from an
 * unknown address sent to one of them goes to that flow's server; once
 * QUIC_MOVE_DGRAMS have come from that address in a row (none from the
 * flow's address between them) the flow moves there: re-keyed, replies
 * sent there, its socket, counters and deadline kept, its line's
 * migrated counted. Not followed: a client migrating on purpose (it
 * switches to a CID the server issued in an encrypted NEW_CONNECTION_ID
 * frame), a server using zero-length CIDs, a new address that SO_REUSEPORT
 * hashes to another worker (whose index does not hold the CIDs): each is
 * a new flow, refused as its packets are short-header ones.
 */
#ifndef HP_QUIC_H
#define HP_QUIC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define QUIC_QUEUE_DGRAMS	32		/* datagrams held before the route */
#define QUIC_QUEUE_BYTES	(64 * 1024)	/* and their bytes */
#define QUIC_PENDING_MAX	1024		/* pending flows per worker (~18 KiB each) */
#define QUIC_BATCH		16		/* datagrams per recvmmsg() */
#define QUIC_DGRAM_MAX		2048		/* a larger datagram is dropped */
#define QUIC_ADDRS_MAX		64		/* listen-quic addresses in all */

struct worker;
struct conf;

/** Every listen-quic address of c (0: QUIC is not used). */
size_t quic_naddrs(const struct conf *c);

/**
 * Set up worker w's QUIC part: bind a UDP socket (SO_REUSEPORT) per
 * listen-quic address of c and watch it. The first worker (first) binds the
 * addresses as written and keeps the addresses got (port 0 resolved) for the
 * others, which bind those; it logs "listening on ADDR (quic)". 0 (also with
 * no listen-quic: w->quic stays NULL), or -1 logged.
 */
int quic_open(struct worker *w, const struct conf *c, int first);

/** Live flows of w (pending, refused and relaying). */
size_t quic_nflows(const struct worker *w);

struct admin_row;

/** On w's own thread only (the admin's conns, admintab.h): the row of each
 *  live flow of w, as of now, into rows[0..max), newest first; returns how
 *  many (at most max, and at most quic_nflows(w)). */
size_t quic_rows(const struct worker *w, struct admin_row *rows, size_t max);

/**
 * The admin's kill: end w's flows (term=killed; the server socket closed,
 * the entry freed) that are flow id, or with route set every flow of that
 * route, or with server set every flow relaying to that server (its name
 * as written); how many. Nothing is sent: the client's later datagrams are
 * a new flow, refused, and both ends time out.
 */
size_t quic_kill(struct worker *w, uint64_t id, const char *route, const char *server);

/** The drain began: new client addresses are dropped; flows go on until
 *  their own deadline or quic_drain_deadline(). */
void quic_drain(struct worker *w);

/** The drain's deadline: every flow ends now (term=drain). */
void quic_drain_deadline(struct worker *w);

/** End every flow (term=drain), close the sockets, free it all. */
void quic_close(struct worker *w);

#endif
