#include "deadline.h"

/*
 * RELAY: the timeout runs from the last byte moved. Halfway there comes a
 * checkpoint (session.c reads the acknowledgement counters then), so that at
 * the deadline a peer still taking bytes can be told from a stalled one; a
 * connection that ends before it costs no TCP_INFO call at all.
 */
static tick_t relay_next(const struct dl_in *in)
{
	uint32_t t = in->relay_ms;

	if (t == 0)
		return TICK_NONE;
	if (in->acked_at == TICK_NONE || in->acked_at < in->last_active + t / 2)
		return tick_add(in->last_active, t / 2 ? t / 2 : 1);
	return tick_add(in->last_active, t);
}

/* The phase's own deadline, max-lifetime's end where it applies. */
static tick_t phase_next(const struct dl_in *in)
{
	switch (in->phase) {
	case PH_RELAY:
		return tick_first(relay_next(in), in->life_expire);
	case PH_HELLO:
	case PH_CONNECT:
		return tick_first(in->phase_expire, in->life_expire);
	case PH_LINGER:
		return tick_first(in->phase_expire, in->poll_at);
	case PH_CLOSED:
		return TICK_NONE;
	default:
		return in->phase_expire;
	}
}

/* A long session's access-log progress line rides on the same timer. */
tick_t dl_next(const struct dl_in *in)
{
	tick_t d = phase_next(in);

	if (in->phase == PH_RELAY || in->phase == PH_LINGER)
		d = tick_first(d, in->log_at);
	return d;
}

uint32_t dl_relay_timeout(int half_closed, uint32_t idle_ms, uint32_t half_closed_ms)
{
	return half_closed ? half_closed_ms : idle_ms;
}

tick_t dl_attempt(tick_t end, tick_t now, uint32_t left)
{
	int remain = tick_remain(end, now);

	if (left <= 1 || remain <= 0)
		return end;
	return tick_add(now, (uint32_t)remain / left > 0 ? (uint32_t)remain / left : 1);
}

tick_t dl_linger_poll(tick_t now, unsigned *step)
{
	uint32_t pause = (uint32_t)LINGER_POLL_FIRST_MS << (*step < 4 ? (*step)++ : 4);

	if (pause > LINGER_POLL_MAX_MS)
		pause = LINGER_POLL_MAX_MS;
	return tick_add(now, pause);
}
