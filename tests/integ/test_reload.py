"""SIGHUP: halfpipe reads its configuration again.  New connections follow
the new routes; live ones keep theirs to their end; a configuration that
fails `-t` is refused with its errors and the old one keeps serving; a
change of the listen addresses is refused (restart to apply)."""

import os
import re
import signal
import time

from harness import (CLOSE, PROXY_CADDR, SERVER_ADDR, SHUT, STRIP, WAIT_EOF,
                     assert_bytes, hello, one, pattern, send_pattern, wait_tag, T)

A = "a.example.test"
B = "b.example.test"


def write_conf(path, routes, listen="%s:0" % PROXY_CADDR, extra=""):
    """routes: {sni: port on SERVER_ADDR}."""
    with open(path + ".new", "w") as f:
        f.write("hello-timeout 10s\nconnect-timeout 10s\nidle-timeout 60s\n"
                "half-closed-timeout 2s\ndrain-timeout 1s\n%s" % extra)
        f.write("listen %s\n" % listen)
        for sni, port in routes.items():
            f.write("route %s %s:%d\n" % (sni, SERVER_ADDR, port))
    os.rename(path + ".new", path)      # a reload never reads half a file


def reload(hp, n, what="reloaded"):
    """SIGHUP, then wait for the n-th line saying `what` (halfpipe says it once
    every worker serves the new configuration, or once it refused it)."""
    hp.kill(signal.SIGHUP)
    rx = re.compile(r"halfpipe: \w+: %s" % what)
    deadline = time.monotonic() + T(10)
    with hp.cond:
        for _ in range(100000):
            if sum(1 for line in hp.err if rx.search(line)) >= n:
                return
            left = deadline - time.monotonic()
            assert left > 0 and hp.running(), "no %d-th %r line:\n%s" % (n, what, hp.tail())
            hp.cond.wait(min(left, 0.5))


def start(topo, hp_bin, conf):
    return topo.halfpipe(hp_bin, ["-c", conf])


def test_reload_new_routes_live_sessions_keep_theirs(topo, hp_bin):
    # a.example.test goes to server A; a connection opened then stays
    # open across a reload that sends a.example.test to server B: it keeps
    # talking to A to its end, byte-exact; a new one goes to B.
    srv = topo.peer(topo.server, "server")
    body_a = pattern(256 * 1024, 1) + pattern(256 * 1024, 2)
    port_a = srv.listen(SERVER_ADDR, [[STRIP, send_pattern(256 * 1024, 1), wait_tag("go"),
                                       send_pattern(256 * 1024, 2), CLOSE]])
    port_b = srv.listen(SERVER_ADDR, [[STRIP, send_pattern(1000, 9), CLOSE]])
    conf = os.path.join(topo.tmp, "halfpipe.conf")
    write_conf(conf, {A: port_a})
    hp = start(topo, hp_bin, conf)
    cli = topo.peer(topo.client, "client")
    cli.connect(PROXY_CADDR, hp.port, [hello(A), WAIT_EOF, CLOSE])
    srv.wait(ev="hello")
    old = one(cli.wait(ev="connected"))["conn"]

    write_conf(conf, {A: port_b})
    reload(hp, 1)
    cli.connect(PROXY_CADDR, hp.port, [hello(A), WAIT_EOF, CLOSE])
    new = cli.wait(ev="eof", pred=lambda e: e["conn"] != old)[0]
    assert_bytes(new, pattern(1000, 9), "a new connection, to B")

    srv.signal("go")
    assert_bytes(one(cli.wait(ev="eof", conn=old, timeout=10)), body_a,
                 "the connection opened before the reload, to A")
    recs = hp.wait_log(n=2)
    assert sorted(r["backend"] for r in recs) == sorted(
        ["%s:%d" % (SERVER_ADDR, port_a), "%s:%d" % (SERVER_ADDR, port_b)]), recs
    assert hp.running()
    hp.assert_clean()


def test_reload_bad_config_is_refused(topo, hp_bin):
    # a file that fails -t: every error logged as FILE:LINE, "reload
    # refused", and the old routes keep serving.  So does a change of the
    # listen addresses (the listening sockets are never closed by a reload).
    srv = topo.peer(topo.server, "server")
    port_a = srv.listen(SERVER_ADDR, [[STRIP, send_pattern(1000, 4), CLOSE]])
    conf = os.path.join(topo.tmp, "halfpipe.conf")
    write_conf(conf, {A: port_a})
    hp = start(topo, hp_bin, conf)
    cli = topo.peer(topo.client, "client")

    with open(conf, "a") as f:
        f.write("idle-timeout banana\nroute c.example.test nowhere:notaport\n")
    reload(hp, 1, "reload refused")
    err = hp.stderr_text()
    assert "%s:8:" % conf in err and "%s:9:" % conf in err, hp.tail()
    cli.connect(PROXY_CADDR, hp.port, [hello(A), WAIT_EOF, CLOSE])
    assert_bytes(one(cli.wait(ev="eof")), pattern(1000, 4), "old route after a refused reload")

    write_conf(conf, {A: port_a}, listen="%s:0 %s:1" % (PROXY_CADDR, PROXY_CADDR))
    reload(hp, 2, "reload refused")
    assert "listen addresses changed" in hp.stderr_text(), hp.tail()
    cli.connect(PROXY_CADDR, hp.port, [hello(A), WAIT_EOF, CLOSE])
    assert_bytes(cli.wait(ev="eof", n=2)[1], pattern(1000, 4), "old listener after a refusal")

    # and a good one afterwards is taken
    write_conf(conf, {A: port_a, B: port_a})
    reload(hp, 1)
    assert hp.running()
    hp.assert_clean()


def test_reload_without_loss(topo, hp_bin):
    # 100 long transfers (1 MiB each, paced over ~4 s) through 10 reloads,
    # each of which moves b.example.test between two servers: every long
    # one arrives byte-exact; the 10 connections opened after each reload
    # all go where the new configuration says, none refused or reset.
    nlong, nshort, nreload = 100, 10, 10
    chunk, nchunks = 64 * 1024, 16
    srv = topo.peer(topo.server, "server")
    steps = [STRIP]
    for _ in range(nchunks):
        steps += [send_pattern(chunk, 7), {"op": "sleep", "s": 0.25}]
    port_l = srv.listen(SERVER_ADDR, [steps + [CLOSE]])
    ports = [srv.listen(SERVER_ADDR, [[STRIP, send_pattern(500, 20 + k), CLOSE]])
             for k in range(2)]
    conf = os.path.join(topo.tmp, "halfpipe.conf")
    write_conf(conf, {A: port_l, B: ports[0]})
    hp = start(topo, hp_bin, conf)
    cli = topo.peer(topo.client, "client")
    cli.connect(PROXY_CADDR, hp.port, [hello(A), WAIT_EOF, CLOSE], count=nlong)
    srv.wait(ev="hello", n=nlong, timeout=20)
    long_conns = {e["conn"] for e in cli.wait(ev="connected", n=nlong)}

    t0 = time.monotonic()
    for i in range(1, nreload + 1):
        k = i % 2
        write_conf(conf, {A: port_l, B: ports[k]},
                   extra="idle-timeout %ds\n" % (60 + i))
        reload(hp, i)
        before = cli.count("eof", "rst", "rx_error", "connect_error")
        cli.connect(PROXY_CADDR, hp.port, [hello(B), SHUT, WAIT_EOF, CLOSE], count=nshort)
        ends = cli.wait(pred=lambda e: e["ev"] in ("eof", "rst", "rx_error", "connect_error")
                        and e["conn"] not in long_conns, n=nshort * i, timeout=20)
        for e in ends[-nshort:]:
            assert e["ev"] == "eof", "reload %d: a new connection failed: %s" % (i, e)
            assert_bytes(e, pattern(500, 20 + k), "reload %d: new connection" % i)
        assert before <= cli.count("eof", "rst", "rx_error", "connect_error")
    assert time.monotonic() - t0 < T(nchunks * 0.25), (
        "the reloads took longer than the transfers: they did not overlap")

    want = pattern(chunk, 7) * nchunks
    done = cli.wait(pred=lambda e: e["ev"] in ("eof", "rst", "rx_error")
                    and e["conn"] in long_conns, n=nlong, timeout=40)
    for e in done:
        assert e["ev"] == "eof", "a long transfer ended badly: %s" % e
        assert_bytes(e, want, "long transfer %s" % e["conn"])
    bad = cli.find(pred=lambda e: e["ev"] in ("rst", "rx_error", "connect_error"))
    assert not bad, bad[:3]
    assert len(hp.wait_log(n=nlong + nshort * nreload, timeout=20)) == nlong + nshort * nreload
    assert hp.running()
    hp.assert_clean()
