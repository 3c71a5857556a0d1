"""Every phase has a deadline.  Each timeout here is 2 s and must fire at
2 s +- 1 s, measured from the start of its phase to the moment the client
sees the reset (halfpipe aborts both sockets on any timeout)."""

import time

import pytest

from harness import (CLOSE, SERVER_ADDR, SNI, STRIP, SHUT, WAIT_EOF, Relay, assert_term, hello,
                     no_events, one, rx_end, rx_ended, T)

TMO = 2.0


def _end(p):
    """The first end-of-stream event of p's connection."""
    return rx_end(p, timeout=TMO + 5)


def _fired_at(ev, t0, what):
    assert ev["ev"] == "rst", "%s: expected a reset, got %s" % (what, ev)
    dt = ev["t"] - t0
    assert TMO - 1 <= dt <= TMO + T(1), "%s: fired after %.2fs, want %.1f+-1s" % (what, dt, TMO)


@pytest.mark.slow
def test_hello_timeout_silent_client(topo, hp_bin):
    # the client connects and says nothing: reset 2 s after the connect;
    # term=hello-timeout; the backend is never contacted.
    r = Relay(topo, hp_bin, [[STRIP]], opts={"hello-timeout": "2s"})
    r.connect([])
    t0 = one(r.client.wait(ev="connected"))["t"]
    _fired_at(_end(r.client), t0, "hello timeout")
    rec = one(r.hp.wait_log(n=1))
    assert_term([rec], "hello-timeout")
    assert not r.server.find(ev="accepted")


@pytest.mark.slow
def test_hello_timeout_trickling_client(topo, hp_bin):
    # the client sends its ClientHello one byte a second: the hello deadline
    # is absolute, so the reset still comes 2 s after the connect.
    r = Relay(topo, hp_bin, [[STRIP]], opts={"hello-timeout": "2s"})
    r.connect([{"op": "send_slow", "hello": SNI, "interval": 1.0}])
    t0 = one(r.client.wait(ev="connected"))["t"]
    _fired_at(_end(r.client), t0, "hello timeout (1 byte/s)")
    rec = one(r.hp.wait_log(n=1))
    assert_term([rec], "hello-timeout")
    assert not r.server.find(ev="accepted")


@pytest.mark.slow
def test_connect_timeout_blackholed_backend(topo, hp_bin):
    # every packet to the backend is dropped: the client, whose hello is
    # complete, gets a reset 2 s later; term=connect-timeout.
    r = Relay(topo, hp_bin, [[STRIP]], opts={"connect-timeout": "2s"})
    topo.nft_drop(topo.proxy, SERVER_ADDR)
    r.connect([hello()])
    t0 = one(r.client.wait(ev="sent"))["t"]
    _fired_at(_end(r.client), t0, "connect timeout")
    rec = one(r.hp.wait_log(n=1))
    assert_term([rec], "connect-timeout")


@pytest.mark.slow
def test_idle_timeout(topo, hp_bin):
    # both sides open and silent after the hello: both get a reset 2 s after
    # the last byte moved; term=idle-timeout.
    r = Relay(topo, hp_bin, [[STRIP]], opts={"idle-timeout": "2s"})
    r.connect([hello()])
    t0 = one(r.server.wait(ev="hello"))["t"]
    _fired_at(_end(r.client), t0, "idle timeout (client)")
    _fired_at(_end(r.server), t0, "idle timeout (server)")
    rec = one(r.hp.wait_log(n=1))
    assert_term([rec], "idle-timeout")


@pytest.mark.slow
def test_idle_timer_rearms_on_traffic(topo, hp_bin):
    # the client sends a byte every 0.5 s for 3 s (longer than the idle
    # timeout), then stops: the session survives the trickle and is reset
    # 2 s after the last byte; term=idle-timeout.
    n = 7
    r = Relay(topo, hp_bin, [[STRIP, {"op": "wait_rx", "n": n}]], opts={"idle-timeout": "2s"})
    r.connect([hello(), {"op": "send_slow", "hex": "2e" * n, "interval": 0.5}])
    t0 = one(r.server.wait(ev="rx", timeout=10))["t"]
    _fired_at(_end(r.client), t0, "idle timeout after trickle")
    rec = one(r.hp.wait_log(n=1))
    assert_term([rec], "idle-timeout")


@pytest.mark.slow
def test_halfclosed_timer_rearms_on_traffic(topo, hp_bin):
    # the client half-closes; the server trickles a byte every 0.5 s for 3 s
    # (longer than the half-closed timeout), then goes quiet: every byte
    # arrives, and the reset comes 2 s after the last one;
    # term=half-closed-timeout.
    n = 7
    r = Relay(topo, hp_bin, [[STRIP, {"op": "wait_eof"},
                              {"op": "send_slow", "hex": "2e" * n, "interval": 0.5}]])
    r.connect([hello(), SHUT, {"op": "wait_rx", "n": n}])
    t0 = one(r.client.wait(ev="rx", timeout=10))["t"]
    _fired_at(_end(r.client), t0, "half-closed timeout after trickle")
    no_events(r.client, "short")
    rec = one(r.hp.wait_log(n=1))
    assert_term([rec], "half-closed-timeout")


@pytest.mark.slow
def test_deadlines_start_at_accept_after_an_idle_spell(topo, hp_bin):
    # halfpipe sits idle for longer than its hello timeout (its event loop
    # asleep in epoll_wait), then a client connects: the hello deadline runs
    # from that accept, not from when the loop last woke, so the connection
    # is served; its access-log duration is the connection's, not the idle
    # spell's.
    r = Relay(topo, hp_bin, [[STRIP, {"op": "send", "hex": "706f6e67"}, CLOSE]],
              opts={"hello-timeout": "1s"})
    time.sleep(2.5)     # the idle spell is the condition under test
    r.connect([hello(), WAIT_EOF, CLOSE])
    ev = one(r.client.wait(pred=rx_ended, timeout=5))
    assert ev["ev"] == "eof", ev
    assert ev["rx"] == 4, ev
    rec = one(r.hp.wait_log(n=1))
    assert_term([rec], "server-fin")
    assert int(rec["duration_ms"]) < 1000, rec
