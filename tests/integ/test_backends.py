"""Backend failures: a refusing backend, a blackholed one, a slow one, and a
bad backend next to a good one.  Each gives its documented term code and
signal to the client (docs/logging.md: RST for connect-refused and
connect-timeout), and one bad backend does not slow the others."""

import statistics

import pytest

from harness import (CLOSE, PROXY_CADDR, SERVER_ADDR, SHUT, SNI, STRIP, WAIT_EOF, Relay,
                     assert_bytes, assert_term, hello, no_events, one, pattern, rx_end,
                     send_pattern, T)

BAD_ADDR = "198.18.2.9"         # on the server link, nobody there; nft drops it anyway
BAD_SNI = "bad.example.test"
TMO = 3.0


def test_refusing_backend(topo, hp_bin):
    # nothing listens on the backend port: the client, whose hello is
    # complete, is reset within 0.5 s; term=connect-refused.
    r = Relay(topo, hp_bin, [[STRIP]], routes={SNI: "%s:9" % SERVER_ADDR})
    r.connect([hello(), WAIT_EOF])
    t0 = one(r.client.wait(ev="sent"))["t"]
    ev = rx_end(r.client)
    assert ev["ev"] == "rst", "client saw %s, want a reset" % ev
    assert ev["t"] - t0 < T(0.5), "reset %.2fs after the hello" % (ev["t"] - t0)
    rec = one(r.hp.wait_log(n=1))
    assert_term([rec], "connect-refused")
    assert rec["connect_ms"] == "-", rec


@pytest.mark.slow
def test_blackholed_backend(topo, hp_bin):
    # every packet to the backend is dropped: reset 3 s +- 1 s after the
    # hello; term=connect-timeout, its duration within 1 s of the timeout.
    r = Relay(topo, hp_bin, [[STRIP]], opts={"connect-timeout": "%ds" % TMO})
    topo.nft_drop(topo.proxy, SERVER_ADDR)
    r.connect([hello(), WAIT_EOF])
    t0 = one(r.client.wait(ev="sent"))["t"]
    ev = rx_end(r.client, timeout=TMO + 5)
    assert ev["ev"] == "rst", "client saw %s, want a reset" % ev
    assert TMO - 1 <= ev["t"] - t0 <= TMO + T(1), "reset after %.2fs" % (ev["t"] - t0)
    rec = one(r.hp.wait_log(n=1))
    assert_term([rec], "connect-timeout")
    assert abs(int(rec["duration_ms"]) - TMO * 1000) <= 1000, rec


@pytest.mark.slow
def test_slow_backend(topo, hp_bin):
    # the backend accepts at once but answers only 2.5 s later (under the
    # 4 s idle and half-closed timeouts): the client gets every byte;
    # term=client-fin.
    up, down = pattern(100000, 41), pattern(300000, 42)
    r = Relay(topo, hp_bin, [[STRIP, {"op": "sleep", "s": 2.5}, send_pattern(len(down), 42),
                              WAIT_EOF, CLOSE]],
              opts={"idle-timeout": "4s", "half-closed-timeout": "4s"})
    r.connect([hello(), send_pattern(len(up), 41), SHUT, WAIT_EOF, CLOSE])
    assert_bytes(one(r.server.wait(ev="eof", timeout=15)), up, "server")
    ev = one(r.client.wait(ev="eof", timeout=15))
    assert_bytes(ev, down, "client")
    no_events(r.client, "rst", "rx_error")
    rec = one(r.hp.wait_log(n=1, timeout=10))
    assert_term([rec], "client-fin")
    assert int(rec["duration_ms"]) >= 2500, rec


@pytest.mark.slow
def test_bad_backend_does_not_slow_good_one(topo, hp_bin):
    # 50 connections wait on a blackholed backend (connect-timeout 3 s);
    # meanwhile 20 connections, one after another, to a good backend each
    # get their first reply byte in under 0.3 s (median under 0.1 s); then
    # the 50 end with connect-timeout.
    nbad, ngood = 50, 20
    r = Relay(topo, hp_bin, [[STRIP, send_pattern(1000, 43), WAIT_EOF, CLOSE]],
              opts={"connect-timeout": "%ds" % TMO},
              routes=None)
    # a second route, to the blackholed address (halfpipe restarted with both)
    r.hp.stop()
    r.hp = topo.halfpipe(hp_bin, ["--listen", "%s:0" % PROXY_CADDR,
                                  "--route", "%s=%s" % (SNI, r.backend),
                                  "--route", "%s=%s:443" % (BAD_SNI, BAD_ADDR),
                                  "--connect-timeout", "%ds" % TMO, "--hello-timeout", "10s",
                                  "--idle-timeout", "20s", "--half-closed-timeout", "2s",
                                  "--drain-timeout", "1s"])
    topo.nft_drop(topo.proxy, BAD_ADDR)
    r.client.connect(PROXY_CADDR, r.hp.port, [hello(BAD_SNI), WAIT_EOF], count=nbad)
    conns = r.client.wait(ev="sent", n=nbad, timeout=10)
    t_bad = max(e["t"] for e in conns)
    lat = []
    body = pattern(1000, 43)
    for i in range(ngood):
        n = len(r.client.find(ev="sent"))
        r.client.connect(PROXY_CADDR, r.hp.port, [hello(), {"op": "wait_rx", "n": 1000},
                                                  SHUT, WAIT_EOF, CLOSE])
        sent = r.client.wait(ev="sent", n=n + 1, timeout=5)[-1]
        rx = one(r.client.wait(ev="rx", conn=sent["conn"], timeout=5))
        assert_bytes(rx, body, "good conn %d" % sent["conn"])
        lat.append(rx["t"] - sent["t"])
    t_good = r.client.find(ev="rx")[-1]["t"]
    assert t_good - t_bad < TMO, "the good connections took until the bad ones timed out"
    print("\nbackends[%s]: %d good connections next to %d stuck: reply latency median "
          "%.1f ms, max %.1f ms" % (hp_bin.extra, ngood, nbad, statistics.median(lat) * 1000,
                                   max(lat) * 1000))
    assert max(lat) < T(0.3), "latencies %s" % ["%.3f" % x for x in lat]
    assert statistics.median(lat) < T(0.1), "latencies %s" % ["%.3f" % x for x in lat]
    recs = r.hp.wait_log(pred=lambda x: x["sni"] == BAD_SNI, n=nbad, timeout=TMO + 5)
    assert_term(recs, "connect-timeout")
    good = r.hp.wait_log(pred=lambda x: x["sni"] == SNI, n=ngood, timeout=10)
    assert_term(good, "client-fin")
