/*
 * Active health checks (route option check=tcp|tls; check-interval,
 * check-timeout, check-rise, check-fall): probes on the workers' own event
 * loops, no thread of their own. Each checked server of a configuration is
 * checked by one worker (its index in conf.backends modulo the number of
 * workers), with one loop_timer; the first check comes at a random point of
 * the first interval (so a thousand servers do not all connect at once),
 * then one every interval from the start of the last, never more than one
 * in flight (check-timeout is at most check-interval).
 *
 *   tcp  a non-blocking connect that completes within check-timeout passes;
 *   tls  then the ClientHello of probe_hello.h for the route's name goes
 *        out, and a TLS record header of type handshake (22) or alert (21),
 *        version 0x03xx, must come back within the same timeout; other
 *        bytes, EOF, a reset or silence fail.
 *
 * A probe ends with a reset (SO_LINGER 0: no TIME_WAIT left behind). Its
 * result goes to backend_check_result(); a change of state is logged by
 * backend_note().
 */
#ifndef HP_CHECK_H
#define HP_CHECK_H

struct worker;
struct conf;

/** From worker_init() (before the sandbox: it seeds the random bytes the
 *  probes and the jitter use): the worker's check state, nothing checked
 *  yet. 0, or -1 after logging. */
int checks_init(struct worker *w);

/** Check the servers of c that are w's to check, stopping whatever w
 *  checked before (a reload): a probe in flight is reset. 0, or -1 out of
 *  memory (after logging; nothing is checked then). */
int checks_start(struct worker *w, const struct conf *c);

/** Stop every check of w and free its state (safe after a failed init). */
void checks_free(struct worker *w);

#endif
