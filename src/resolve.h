/*
 * Names that follow DNS: c-ares (Debian's libc-ares-dev) driven by an event
 * loop, no thread of its own and no getaddrinfo().
 *
 * A resolver is one c-ares channel. On a worker's loop (worker 0 owns every
 * name) its sockets are registered with the loop's epoll through c-ares'
 * socket-state callback and served by ares_process_fd(); its timeouts are
 * one loop_timer. A watch asks for a name's A and AAAA records at once,
 * then again after resolve-interval, or after the records' TTL if that is
 * shorter (addrset_next_ms(): at least 1 s); each answer that is not the
 * same set of addresses as the last is handed to the watch's callback,
 * filtered and ordered by the family preference. A failed or empty answer
 * keeps the last good addresses: said once when it starts ("keeping N
 * addresses of NAME: why") and once when the name resolves again.
 *
 * Without a loop (the main thread, which loads the configuration at start
 * and on a reload) resolve_now() asks for one name and waits with poll(),
 * bounded by the deadline resolve_deadline() set, so that a reload's
 * names together cost at most that long and never block a worker.
 *
 * Each channel reads /etc/resolv.conf (and the system's lookup order) when
 * it is made: make them before the seccomp filter is installed.
 */
#ifndef HP_RESOLVE_H
#define HP_RESOLVE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "addrset.h"

#define RESOLVE_TRY_MS		1000	/* c-ares' first timeout per query ... */
#define RESOLVE_TRIES		2	/* ... and tries per server (the second: 2 s) */
#define RESOLVE_RELOAD_MS	5000	/* a (re)load's names, all together */

struct loop;
struct conf;
struct resolver;
struct resolve_watch;

/* A name's new addresses (1..ADDRSET_MAX, the port of the watch set). */
typedef void (*resolve_cb)(void *arg, const struct sockaddr_storage *addrs, size_t n);

/** Once per process, before any resolver and any thread: 0 or -1. */
int resolve_init(void);

/** A resolver on loop l (NULL: for resolve_now() only), asking servers
 *  ("ADDR:PORT,[ADDR]:PORT" as the resolvers directive stores it; NULL:
 *  /etc/resolv.conf's). NULL after logging why. */
struct resolver *resolver_new(struct loop *l, const char *servers);
/** Stop every watch and free r (NULL is fine). Pending answers are dropped. */
void resolver_free(struct resolver *r);

/**
 * Follow host (a name, no port) for port: cb(arg, ...) with its addresses
 * each time they change; first asked at once. prefer: which families;
 * interval_ms: how often at most it is asked again. NULL if out of memory.
 * Only on a resolver with a loop, from that loop's thread.
 */
struct resolve_watch *resolve_watch(struct resolver *r, const char *host, uint16_t port,
    enum addr_prefer prefer, uint32_t interval_ms, resolve_cb cb, void *arg);
/** Stop following (an answer under way is dropped). NULL is fine. */
void resolve_unwatch(struct resolve_watch *w);

/**
 * Follow every backend of c given by name (struct backend.dns), each
 * answer published into its address set; the backends followed before (of
 * an older configuration) are let go. c NULL: let go of all. On the loop's
 * thread.
 */
int resolve_follow(struct resolver *r, struct conf *c);

/** For resolve_now(): answers must come within ms from now, all together. */
void resolve_deadline(struct resolver *r, uint32_t ms);

/**
 * The A and AAAA addresses of host into out[0..max) (port 0), *n their
 * count, waiting (poll) until the deadline at most. 0, or -1 with *why the
 * reason ("Timeout while contacting DNS servers", ...). A resolver without
 * a loop only.
 */
int resolve_now(struct resolver *r, const char *host, struct sockaddr_storage *out,
    size_t max, size_t *n, const char **why);

#endif
