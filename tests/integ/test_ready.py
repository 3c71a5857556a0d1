"""GET /ready on the metrics address, and drain-delay (docs/config.md,
docs/metrics.md): 200 "ready" while halfpipe accepts, also across a reload;
from the first SIGTERM on 503 "draining" at once while, for drain-delay, the
listeners still accept and serve new connections; then they close, the
drain lets live connections finish and the process exits 0.  A second
signal cuts the delay short and ends every connection, as a second signal
always does.  With the default (0) the listeners close at the signal."""

import signal
import time

import netns
from harness import (CLOSE, PROXY_CADDR, SHUT, STRIP, WAIT_EOF, Relay, assert_bytes, hello,
                     no_events, one, pattern, poll_until, rx_end, send_pattern, wait_tag, T)
from test_metrics import METRICS, metrics_port, scrape

REPLY = 3000
DELAY = 1.0


def ready(r, port):
    return scrape(r.topo, port, "/ready")


def served_script(seed):
    """A client that sends its hello, 100 bytes and its FIN, then reads the
    server's reply to the end."""
    return [hello(), send_pattern(100, seed), SHUT, WAIT_EOF, CLOSE]


def listening(topo, port):
    return [s for s in netns.ss_states(topo.proxy) if s[0] == "LISTEN" and s[1][1] == port]


def assert_refused(r, known):
    """A new connection to the relay's port is refused."""
    r.client.connect(PROXY_CADDR, r.port, [])
    ev = r.client.wait(pred=lambda e: e["ev"] in ("connect_error", "connected")
                       and e["conn"] not in known)[0]
    assert (ev["ev"], ev.get("err")) == ("connect_error", "ECONNREFUSED"), ev


def test_ready_then_draining_during_the_delay(topo, hp_bin):
    # A: held open across the signal, finished by the drain after the delay.
    # B: a new connection during the delay: accepted and served in full.
    reply = pattern(REPLY, 21)
    a_srv = [STRIP, WAIT_EOF, wait_tag("goA"), send_pattern(REPLY, 21), CLOSE]
    b_srv = [STRIP, WAIT_EOF, send_pattern(REPLY, 21), CLOSE]
    r = Relay(topo, hp_bin, [a_srv, b_srv],
              opts={"drain-delay": "%dms" % (DELAY * 1000), "drain-timeout": "10s"},
              extra=METRICS)
    port = metrics_port(r)
    assert ready(r, port) == (200, "ready\n")
    r.hp.kill(signal.SIGHUP)                     # a reload leaves it ready
    r.hp.wait_stderr(r"reloaded: ")
    assert ready(r, port) == (200, "ready\n")

    r.connect(served_script(22))
    r.server.wait(ev="eof")                      # A's request and FIN are through
    a_conn = one(r.client.wait(ev="connected"))["conn"]

    t_term = time.monotonic()
    r.hp.kill(signal.SIGTERM)
    st = poll_until(lambda: ready(r, port), 0.5, "/ready 503 after SIGTERM",
                    done=lambda s: s[0] == 503, step=0.02)
    t_503 = time.monotonic()
    assert st == (503, "draining\n")
    assert t_503 - t_term < DELAY / 2, "503 only %.2fs after the signal" % (t_503 - t_term)

    # during the delay: still listening, a new connection is served in full
    assert listening(topo, r.port), "listener gone during drain-delay"
    r.connect(served_script(23))
    b_conn = one(r.client.wait(ev="connected", n=2)[1:])["conn"]
    b_end = rx_end(r.client, conn=b_conn, timeout=DELAY)
    assert_bytes(b_end, reply, "connection B, opened during drain-delay")
    assert b_end["t"] - t_term < DELAY, "B ended %.2fs after the signal" % (b_end["t"] - t_term)
    assert ready(r, port)[0] == 503

    # the delay ends: the listeners close (one log line each way), a new
    # connection is refused
    r.hp.wait_stderr(r"drain-delay: 1000 ms over, closing the listeners", timeout=DELAY + 3)
    (t_over, _), = r.hp.stderr_lines(r"drain-delay: 1000 ms over")
    assert DELAY - 0.1 <= t_over - t_term <= DELAY + T(0.5), t_over - t_term
    assert r.hp.stderr_count(r"drain-delay: /ready answers 503; still accepting for 1000 ms") == 1
    poll_until(lambda: listening(topo, r.port), 1, "listener gone after drain-delay",
               done=lambda ls: not ls)
    assert_refused(r, (a_conn, b_conn))

    # the usual drain: A finishes, then the process exits once idle
    r.server.signal("goA")
    assert_bytes(rx_end(r.client, conn=a_conn), reply, "connection A, across the delay")
    rc = r.hp.wait_exit(T(5))
    assert rc == 0, "exit status %s:\n%s" % (rc, r.hp.tail())
    r.hp.exit_code = rc
    terms = sorted(rec["term"] for rec in r.hp.log())
    assert terms == ["client-fin", "client-fin"], r.hp.log()
    no_events(r.client, "rst", "send_error")


def test_second_signal_cuts_the_delay_short(topo, hp_bin):
    # drain-delay 30s: the second SIGTERM ends it and, as a second signal
    # does, every connection: the held one is reset, the process exits now.
    r = Relay(topo, hp_bin, [[STRIP]], opts={"drain-delay": "30s", "drain-timeout": "30s"},
              extra=METRICS)
    port = metrics_port(r)
    r.connect([hello()])
    r.server.wait(ev="hello")
    conn = one(r.client.wait(ev="connected"))["conn"]
    r.hp.kill(signal.SIGTERM)
    poll_until(lambda: ready(r, port), 0.5, "/ready 503", done=lambda s: s[0] == 503)
    r.hp.wait_stderr(r"drain-delay: /ready answers 503")
    assert listening(topo, r.port)
    t0 = time.monotonic()
    r.hp.kill(signal.SIGTERM)
    rc = r.hp.wait_exit(T(3))
    assert rc == 0, "exit status %s after the second SIGTERM:\n%s" % (rc, r.hp.tail())
    r.hp.exit_code = rc
    assert time.monotonic() - t0 < T(2)
    assert r.hp.stderr_count(r"drain-delay: cut short by a second signal") == 1
    assert rx_end(r.client, conn=conn)["ev"] == "rst"
    assert [rec["term"] for rec in r.hp.log()] == ["drain-timeout"], r.hp.log()


def test_no_delay_by_default(topo, hp_bin):
    # without drain-delay the listeners close at the signal, as before it
    # existed.
    r = Relay(topo, hp_bin, [[STRIP, WAIT_EOF, wait_tag("go"), CLOSE]],
              opts={"drain-timeout": "10s"}, extra=METRICS)
    port = metrics_port(r)
    r.connect([hello(), SHUT, WAIT_EOF, CLOSE])
    r.server.wait(ev="eof")
    conn = one(r.client.wait(ev="connected"))["conn"]
    t0 = time.monotonic()
    r.hp.kill(signal.SIGTERM)
    poll_until(lambda: listening(topo, r.port), 0.5, "listener gone at the signal",
               done=lambda ls: not ls, step=0.01)
    assert time.monotonic() - t0 < T(0.5)
    assert_refused(r, (conn,))
    assert r.hp.stderr_count(r"drain-delay") == 0
    r.server.signal("go")
    assert rx_end(r.client, conn=conn)["ev"] == "eof"
    rc = r.hp.wait_exit(T(5))
    assert rc == 0, "exit status %s:\n%s" % (rc, r.hp.tail())
    r.hp.exit_code = rc
