"""SIGTERM: halfpipe stops accepting, lets live sessions finish within the
drain timeout, ends the rest (term=drain-timeout) and exits 0."""

import signal
import time

import pytest

import netns
from harness import (CLOSE, MIB, PROXY_CADDR, SHUT, STRIP, WAIT_EOF, Relay, assert_bytes,
                     hello, no_events, one, pattern, poll_until, rx_end, send_pattern, wait_tag,
                     T)

DRAIN = 3.0


@pytest.mark.slow
def test_sigterm_drains_then_ends_the_rest(topo, hp_bin):
    # session A: the client has sent its request and FIN; its 1 MiB answer
    # starts only after SIGTERM and completes within the drain: byte-exact,
    # term=client-fin.  Session B: both sides open and silent: ended at the
    # drain timeout (reset), term=drain-timeout.  New connections are refused
    # once draining.  halfpipe exits 0, 3 s +- 1 s after the signal.
    body = pattern(MIB, 11)
    a_srv = [STRIP, WAIT_EOF, wait_tag("goA"), send_pattern(len(body), 11), CLOSE]
    b_srv = [STRIP]
    r = Relay(topo, hp_bin, [a_srv, b_srv], opts={"drain-timeout": "3s"})
    r.connect([hello(), send_pattern(100, 12), SHUT, WAIT_EOF, CLOSE])
    r.server.wait(ev="eof")                      # A's request and FIN are through
    r.connect([hello()])
    r.server.wait(ev="hello", n=2)               # B is established
    # the server may see B's hello before the client peer reports B connected
    a_conn, b_conn = (e["conn"] for e in r.client.wait(ev="connected", n=2))

    t_term = time.monotonic()
    r.hp.kill(signal.SIGTERM)

    # the listener goes away; a new connection is refused
    poll_until(lambda: [s for s in netns.ss_states(topo.proxy)
                        if s[0] == "LISTEN" and s[1][1] == r.port], 2,
               "halfpipe's listener gone after SIGTERM", done=lambda listening: not listening)
    r.client.connect(PROXY_CADDR, r.port, [])
    refused = r.client.wait(pred=lambda e: e["ev"] in ("connect_error", "connected")
                            and e["conn"] not in (a_conn, b_conn))[0]
    assert (refused["ev"], refused.get("err")) == ("connect_error", "ECONNREFUSED"), refused

    r.server.signal("goA")
    assert_bytes(one(r.client.wait(ev="eof", conn=a_conn, timeout=10)), body, "session A")

    b_end = rx_end(r.client, conn=b_conn, timeout=DRAIN + 5)
    assert b_end["ev"] == "rst", "session B should be reset at the drain timeout: %s" % b_end
    assert DRAIN - 1 <= b_end["t"] - t_term <= DRAIN + T(1), b_end["t"] - t_term

    rc = r.hp.wait_exit(T(DRAIN + 5))
    t_exit = time.monotonic()
    assert rc == 0, "halfpipe exit status %s after SIGTERM:\n%s" % (rc, r.hp.tail())
    r.hp.exit_code = rc
    assert t_exit - t_term <= DRAIN + T(2), "exit %.2fs after SIGTERM" % (t_exit - t_term)

    recs = {r_["term"]: r_ for r_ in r.hp.log()}
    assert sorted(recs) == ["client-fin", "drain-timeout"], r.hp.log()
    assert int(recs["client-fin"]["s2c_bytes"]) == len(body)
    no_events(r.client, "send_error")


def test_sigterm_idle_exits_at_once(topo, hp_bin):
    # no live session: SIGTERM (and SIGINT) make halfpipe exit 0 promptly,
    # well before the drain timeout.
    for sig in (signal.SIGTERM, signal.SIGINT):
        r = Relay(topo, hp_bin, [[STRIP]], opts={"drain-timeout": "10s"})
        t0 = time.monotonic()
        rc = r.hp.stop(sig, timeout=5)
        assert rc == 0, "exit status %s after signal %d" % (rc, sig)
        assert time.monotonic() - t0 < T(2)
        r.hp.assert_clean()
