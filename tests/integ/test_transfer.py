"""Bulk transfers under stress: a slow consumer (flow control must reach the
sender, nothing is dropped) and a lossy path (byte-exact both ways)."""

import pytest

import netns
from harness import (CLIENT_ADDR, CLOSE, MIB, PROXY_CADDR, SERVER_ADDR, SHUT, STRIP, WAIT_EOF,
                     Relay, assert_bytes, assert_term, hello, no_events, one, pattern,
                     poll_until, send_pattern, wait_tag)


def test_slow_consumer(topo, hp_bin):
    # the client stops reading while the server sends 32 MiB: halfpipe's
    # socket to the client fills up and halfpipe stops reading from the
    # server (bytes wait in its receive queue) instead of buffering without
    # bound; once the client reads again every byte arrives; term=server-fin.
    body = pattern(32 * MIB, 21)
    r = Relay(topo, hp_bin, [[STRIP, send_pattern(len(body), 21), CLOSE]])
    r.connect([hello(), {"op": "pause_read"}, wait_tag("resume"), {"op": "resume_read"},
               WAIT_EOF, CLOSE])

    def backpressure(socks):
        """Bytes queued in the proxy both ways: to the client, from the server."""
        return (any(s[3] == (PROXY_CADDR, r.port) and s[2] > 0 for s in socks) and
                any(s[4] == (SERVER_ADDR, r.sport) and s[1] > 0 for s in socks))
    poll_until(lambda: netns.ss_sockets(topo.proxy), 10, "backpressure in the proxy",
               done=backpressure)
    assert not r.server.find(ev="sent"), "the server sent 32 MiB to a client that reads nothing"
    r.client.signal("resume")
    assert_bytes(one(r.client.wait(ev="eof", timeout=30)), body, "client")
    no_events(r.client, "rst", "rx_error")
    rec = one(r.hp.wait_log(n=1))
    assert_term([rec], "server-fin")
    assert int(rec["s2c_bytes"]) == len(body), rec


@pytest.mark.slow
def test_lossy_path_both_ways(topo, hp_bin):
    # 3 % of the packets on both of halfpipe's links are dropped while 2 MiB
    # flow each way at once: every byte arrives, each side sees EOF;
    # term client-fin or server-fin.
    up, down = pattern(2 * MIB, 31), pattern(2 * MIB, 32)
    r = Relay(topo, hp_bin, [[STRIP, send_pattern(len(down), 32), SHUT, WAIT_EOF, CLOSE]],
              opts={"connect-timeout": "20s", "hello-timeout": "20s",
                    "half-closed-timeout": "10s"})
    topo.nft_loss(topo.proxy, CLIENT_ADDR, 3)
    topo.nft_loss(topo.proxy, SERVER_ADDR, 3)
    r.connect([hello(), send_pattern(len(up), 31), SHUT, WAIT_EOF, CLOSE])
    assert_bytes(one(r.server.wait(ev="eof", timeout=60)), up, "server")
    assert_bytes(one(r.client.wait(ev="eof", timeout=60)), down, "client")
    no_events(r.client, "rst", "rx_error", "send_error")
    no_events(r.server, "rst", "rx_error", "send_error")
    rec = one(r.hp.wait_log(n=1, timeout=20))
    assert_term([rec], "client-fin", "server-fin")
