/*
 * The deadline policy: when each phase of a session times out, as arithmetic
 * on ticks. Pure: no I/O, no session, no worker; the caller passes the clock
 * and the inputs as plain values, so tests use a fake one. session.c and
 * connect.c ask it, the heap (timer.h) keeps what it answers. A timeout of
 * 0 ms means none, and no deadline is ever TICK_NONE by accident: every sum
 * goes through tick_add().
 */
#ifndef HP_DEADLINE_H
#define HP_DEADLINE_H

#include <stdint.h>

#include "tick.h"

/* A session's phases (session.h says what each one does). */
enum phase { PH_HELLO, PH_CONNECT, PH_RELAY, PH_LINGER, PH_REJECT, PH_CLOSED };

#define LINGER_POLL_FIRST_MS	20	/* LINGER's first pause between looks */
#define LINGER_POLL_MAX_MS	200	/* what the doubling pause stops at */

/* What a session's next deadline depends on. */
struct dl_in {
	enum phase	phase;
	tick_t		phase_expire;	/* HELLO, CONNECT, REJECT, LINGER: the phase's own */
	tick_t		poll_at;	/* LINGER: the next look at the sockets */
	tick_t		last_active;	/* RELAY: the last byte either way */
	tick_t		acked_at;	/* RELAY: when the checkpoint last read the
					   acknowledgements, TICK_NONE before it */
	uint32_t	relay_ms;	/* RELAY: the timeout, dl_relay_timeout() */
	tick_t		log_at;		/* RELAY, LINGER: the next access-log progress
					   line (access-log-interval); TICK_NONE: none */
	tick_t		life_expire;	/* HELLO, CONNECT, RELAY: max-lifetime's end,
					   TICK_NONE: none */
};

/**
 * The session's next deadline. RELAY: none if relay_ms is 0; else, until a
 * checkpoint has been taken at or after the halfway point of the current
 * window (acked_at >= last_active + relay_ms / 2), that checkpoint (at least
 * 1 ms after last_active), then last_active + relay_ms. LINGER: the earlier
 * of phase_expire and poll_at. CLOSED: none. The others: phase_expire.
 * HELLO, CONNECT and RELAY: whichever of that and life_expire is earlier
 * (LINGER and REJECT are already ending, under their own bound).
 * In RELAY and LINGER, log_at when it comes first.
 */
tick_t dl_next(const struct dl_in *in);

/** RELAY's timeout: half_closed_ms once either direction saw its FIN
 *  (half_closed set), else idle_ms. */
uint32_t dl_relay_timeout(int half_closed, uint32_t idle_ms, uint32_t half_closed_ms);

/**
 * A connect attempt's deadline: the budget left until end, shared among the
 * servers left to try (left, this one included), at least 1 ms, so that a
 * server that drops SYNs cannot eat the whole budget. end itself when left
 * is 0 or 1, the budget is used up, or there is none (end TICK_NONE).
 */
tick_t dl_attempt(tick_t end, tick_t now, uint32_t left);

/**
 * LINGER's next look at the sockets after now: LINGER_POLL_FIRST_MS at
 * *step 0, doubling with each look (*step counts them, up to 4, where it
 * stays), never more than LINGER_POLL_MAX_MS.
 */
tick_t dl_linger_poll(tick_t now, unsigned *step);

#endif
