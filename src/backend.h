/*
 * A server's state (docs/config.md "Server states"): what the active checks
 * (check.c) found, what the operator asked on the admin socket, and the
 * passive cool-down pool.c keeps (fails, down_until), combined into one of
 *
 *   up         picked as usual
 *   cooling    backend-fails connects failed in a row: passed over for
 *              backend-cooldown while any other server can be tried
 *   down       check-fall checks failed in a row (check-rise passes bring
 *              it back): never picked
 *   draining   `drain SERVER`: never picked; live connections finish
 *   disabled   `disable SERVER`: the same (HAProxy's maint); `kill
 *              server=ADDR` ends the live ones
 *
 * in that order of precedence, lowest first. One predicate,
 * backend_avail(), is what a pool pick asks. Every change of the combined
 * state is logged once (backend_note()): "server H:P: up -> down: 3 checks
 * failed: connect refused".
 *
 * The fields are shared by every worker as relaxed atomics: the check
 * results are written by the one worker that checks the server, the admin
 * state by the admin socket's worker, the passive counters by whichever
 * worker connected; each is a hint for the next pick, no two need agree.
 * The state machine itself (backend_check_result()) is pure: the caller
 * passes the clock.
 */
#ifndef HP_BACKEND_H
#define HP_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "tick.h"

struct backend;
struct conf;
struct mbuf;

enum be_state { BE_UP, BE_COOLING, BE_DOWN, BE_DRAINING, BE_DISABLED, BE_NSTATES };
enum be_admin { BA_READY, BA_DRAIN, BA_DISABLE };
enum be_check { BC_NONE, BC_TCP, BC_TLS };		/* weakest first */
enum be_result { BR_NONE, BR_PASS, BR_FAIL };

#define BE_LAT_BUCKETS	10	/* check latency: 1 2 5 10 25 50 100 250 500 1000 ms, +Inf */

struct backend_health {
	/* From the configuration, fixed once it is loaded. */
	uint8_t		 check;		/* enum be_check: the strongest a route asks */
	const char	*sni;		/* BC_TLS: the first such route's name (the
					   route owns it) */
	/* Relaxed atomics. */
	uint8_t		 admin;		/* enum be_admin, the admin socket's */
	uint8_t		 down;		/* 1: down by checks */
	uint8_t		 logged;	/* enum be_state last logged */
	uint8_t		 last;		/* enum be_result of the last check */
	const char	*why;		/* the last check's result, static text */
	uint32_t	 passes, fails;	/* checks in a row with that result */
	uint32_t	 last_ms;	/* the last check's latency */
	uint64_t	 last_at;	/* tick it ended; TICK_NONE: none yet */
	uint64_t	 npass, nfail;	/* checks by result, ever */
	uint64_t	 lat[BE_LAT_BUCKETS + 1], lat_sum_ms;	/* latency histogram */
};

/** "tcp" -> BC_TCP, "tls" -> BC_TLS, anything else BC_NONE. */
enum be_check backend_check_kind(const char *word);

/** A route with check kind k (BC_NONE: none) names be: be is checked the
 *  strongest way any route asks, tls with the first tls route's name. */
void backend_want_check(struct backend *be, enum be_check k, const char *route_name);

/** Is be cooling down (passive, pool_failed()) at now? */
int backend_cooling(const struct backend *be, tick_t now);

/** be's state at now (the precedence above). */
enum be_state backend_state(const struct backend *be, tick_t now);

/**
 * May a pick choose be at now? Never when down, draining or disabled; when
 * cooling only if cooling_ok (the pool's last resort: every untried server
 * left is cooling); up always.
 */
int backend_avail(const struct backend *be, tick_t now, int cooling_ok);

/** "up", "down", ... */
const char *backend_state_name(enum be_state s);

/**
 * One check of be ended at now after ms: passed, or failed because of why
 * (static text). Counts it; up turns down after fall failures in a row,
 * down turns up after rise passes in a row. Returns 1 if that flipped
 * be's check state (the caller then logs with backend_note()), else 0.
 */
int backend_check_result(struct backend *be, int pass, const char *why, uint32_t ms,
    tick_t now, uint32_t rise, uint32_t fall);

/** The operator's state for be (BA_READY is `enable`). */
void backend_set_admin(struct backend *be, enum be_admin a);

/**
 * If be's state at now is not the one last logged, log the change once
 * (one caller wins a race): "server NAME: OLD -> NEW: WHY". 1 if it logged.
 */
int backend_note(struct backend *be, tick_t now, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/** The backend of c named name as written (HOST:PORT), or NULL. */
struct backend *backend_find(const struct conf *c, const char *name);

/** A reload: each backend of nc named like one of old takes its state (the
 *  check counters and results, the admin state, the passive cool-down), so
 *  a server's state survives the reload. */
void backend_carry(struct conf *nc, const struct conf *old);

/** The `servers` table of c at now: a header line, then one line per
 *  backend, fields apart by a TAB (docs/admin.md). */
void backend_table(struct mbuf *out, const struct conf *c, tick_t now);

/** The per-server gauges, counters and check latency histogram of c at now
 *  in the Prometheus text format (docs/metrics.md). */
void backend_metrics(struct mbuf *out, const struct conf *c, tick_t now);

#endif
