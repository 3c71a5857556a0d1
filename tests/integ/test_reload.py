"""SIGHUP: halfpipe reads its configuration again.  New connections follow
the new routes; live ones keep theirs to their end; a configuration that
fails `-t` is refused with its errors and the old one keeps serving.
Listen addresses follow the file: an added one is listened on, a removed
one closed (what it accepted goes on), one that cannot be bound refuses the
whole reload."""

import os
import re
import signal
import subprocess
import time

from harness import (CLOSE, ENDS, PROXY_CADDR, SERVER_ADDR, SHUT, STRIP, WAIT_EOF,
                     assert_bytes, ended, hello, one, pattern, rx_ended, send_pattern, wait_tag,
                     T)

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


def one_route(topo, hp_bin, k):
    """halfpipe sending A to a server that answers pattern k: (server port,
    configuration file, halfpipe)."""
    srv = topo.peer(topo.server, "server")
    port_a = srv.listen(SERVER_ADDR, [[STRIP, send_pattern(1000, k), CLOSE]])
    conf = os.path.join(topo.tmp, "halfpipe.conf")
    write_conf(conf, {A: port_a})
    return port_a, conf, start(topo, hp_bin, conf)


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
    # refused", and the old routes keep serving.  So does a new listen
    # address on port 0 (the workers' sockets must share one port).
    port_a, conf, hp = one_route(topo, hp_bin, 4)
    cli = topo.peer(topo.client, "client")

    with open(conf, "a") as f:
        f.write("idle-timeout banana\nroute c.example.test nowhere:notaport\n")
    reload(hp, 1, "reload refused")
    err = hp.stderr_text()
    assert "%s:8:" % conf in err and "%s:9:" % conf in err, hp.tail()
    cli.connect(PROXY_CADDR, hp.port, [hello(A), WAIT_EOF, CLOSE])
    assert_bytes(one(cli.wait(ev="eof")), pattern(1000, 4), "old route after a refused reload")

    write_conf(conf, {A: port_a}, listen="%s:0 [::1]:0" % PROXY_CADDR)
    reload(hp, 2, "reload refused")
    assert "listen [::1]:0: port 0 is for the start only" in hp.stderr_text(), hp.tail()
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
        before = cli.count(*ENDS)
        cli.connect(PROXY_CADDR, hp.port, [hello(B), SHUT, WAIT_EOF, CLOSE], count=nshort)
        ends = cli.wait(pred=lambda e: ended(e) and e["conn"] not in long_conns,
                        n=nshort * i, timeout=20)
        for e in ends[-nshort:]:
            assert e["ev"] == "eof", "reload %d: a new connection failed: %s" % (i, e)
            assert_bytes(e, pattern(500, 20 + k), "reload %d: new connection" % i)
        assert before <= cli.count(*ENDS)
    assert time.monotonic() - t0 < T(nchunks * 0.25), (
        "the reloads took longer than the transfers: they did not overlap")

    want = pattern(chunk, 7) * nchunks
    done = cli.wait(pred=lambda e: rx_ended(e) and e["conn"] in long_conns, n=nlong,
                    timeout=40)
    for e in done:
        assert e["ev"] == "eof", "a long transfer ended badly: %s" % e
        assert_bytes(e, want, "long transfer %s" % e["conn"])
    bad = cli.find(pred=lambda e: e["ev"] in ("rst", "rx_error", "connect_error"))
    assert not bad, bad[:3]
    assert len(hp.wait_log(n=nlong + nshort * nreload, timeout=20)) == nlong + nshort * nreload
    assert hp.running()
    hp.assert_clean()


def free_port(topo):
    """A port nothing listens on in the proxy namespace: bound to port 0 there
    and closed again."""
    out = subprocess.run(topo._argv(topo.proxy, [
        "python3", "-c", "import socket; s = socket.socket(); s.bind((%r, 0)); "
        "print(s.getsockname()[1])" % PROXY_CADDR]), check=True,
        capture_output=True, text=True, timeout=10).stdout
    return int(out)


def hold_port(topo):
    """Another process listening (without SO_REUSEPORT) on a port of the
    proxy namespace: (process, port)."""
    p = subprocess.Popen(topo._argv(topo.proxy, [
        "python3", "-c", "import socket, sys, time; s = socket.socket(); "
        "s.bind((%r, 0)); s.listen(); print(s.getsockname()[1], flush=True); "
        "sys.stdin.read()" % PROXY_CADDR]), stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, text=True)
    return p, int(p.stdout.readline())


def long_and_short(topo, k):
    """A server with a long backend (pattern k, then on "go" pattern k+1)
    and a short one (pattern k+2): (server, long body, long port, short port)."""
    srv = topo.peer(topo.server, "server")
    body = pattern(256 * 1024, k) + pattern(256 * 1024, k + 1)
    port_l = srv.listen(SERVER_ADDR, [[STRIP, send_pattern(256 * 1024, k), wait_tag("go"),
                                       send_pattern(256 * 1024, k + 1), CLOSE]])
    port_s = srv.listen(SERVER_ADDR, [[STRIP, send_pattern(1000, k + 2), CLOSE]])
    return srv, body, port_l, port_s


def finish_long(srv, cli, hp, old, body, nlog, what):
    """Let the long transfer end: byte-exact; nlog access-log records; clean."""
    srv.signal("go")
    assert_bytes(one(cli.wait(ev="eof", conn=old, timeout=10)), body, what)
    assert len(hp.wait_log(n=nlog)) == nlog
    assert hp.running()
    hp.assert_clean()


def test_reload_adds_listen_address(topo, hp_bin):
    # a reload adding a second address: a client reaches it and is routed;
    # the first listener still serves, and a connection open on it across
    # the reload goes on byte-exact.
    srv, body, port_l, port_s = long_and_short(topo, 1)
    conf = os.path.join(topo.tmp, "halfpipe.conf")
    write_conf(conf, {A: port_l, B: port_s})
    hp = start(topo, hp_bin, conf)
    cli = topo.peer(topo.client, "client")
    cli.connect(PROXY_CADDR, hp.port, [hello(A), WAIT_EOF, CLOSE])
    srv.wait(ev="hello")
    old = one(cli.wait(ev="connected"))["conn"]

    p2 = free_port(topo)
    write_conf(conf, {A: port_l, B: port_s}, listen="%s:0 %s:%d" % (PROXY_CADDR, PROXY_CADDR, p2))
    reload(hp, 1)
    assert "listening on %s:%d" % (PROXY_CADDR, p2) in hp.stderr_text(), hp.tail()
    for port in (p2, hp.port):
        cli.connect(PROXY_CADDR, port, [hello(B), SHUT, WAIT_EOF, CLOSE])
    new = cli.wait(ev="eof", n=2, pred=lambda e: e["conn"] != old)
    for e in new:
        assert_bytes(e, pattern(1000, 3), "a new connection, on either address")
    finish_long(srv, cli, hp, old, body, 3, "the connection open across the reload")


def test_reload_removes_listen_address(topo, hp_bin):
    # start on two addresses, reload without the second: a new connection
    # to it is refused, one already open through it ends byte-exact, and
    # the first still serves.
    srv, body, port_l, port_s = long_and_short(topo, 4)
    p2 = free_port(topo)
    conf = os.path.join(topo.tmp, "halfpipe.conf")
    write_conf(conf, {A: port_l, B: port_s}, listen="%s:0 %s:%d" % (PROXY_CADDR, PROXY_CADDR, p2))
    hp = topo.halfpipe(hp_bin, ["-c", conf], nlisten=2)
    port1 = [int(x) for x in re.findall(r"listening on %s:(\d+)" % re.escape(PROXY_CADDR),
                                        hp.stderr_text()) if int(x) != p2][0]
    cli = topo.peer(topo.client, "client")
    cli.connect(PROXY_CADDR, p2, [hello(A), WAIT_EOF, CLOSE])
    srv.wait(ev="hello")
    old = one(cli.wait(ev="connected"))["conn"]

    write_conf(conf, {A: port_l, B: port_s})
    reload(hp, 1)
    assert "no longer listening on %s:%d" % (PROXY_CADDR, p2) in hp.stderr_text(), hp.tail()
    cli.connect(PROXY_CADDR, p2, [hello(B), WAIT_EOF, CLOSE])
    e = one(cli.wait(pred=lambda e: e["ev"] in ("connect_error", "connected")
                     and e["conn"] != old))
    assert (e["ev"], e.get("err")) == ("connect_error", "ECONNREFUSED"), e
    cli.connect(PROXY_CADDR, port1, [hello(B), SHUT, WAIT_EOF, CLOSE])
    new = one(cli.wait(ev="eof"))
    assert_bytes(new, pattern(1000, 6), "the address that stays")
    finish_long(srv, cli, hp, old, body, 2, "the connection accepted on the removed address")


def test_reload_listen_address_in_use_is_refused(topo, hp_bin):
    # a new address another process listens on: "reload refused" with the
    # bind error, nothing half-applied, the old configuration serves on.
    port_a, conf, hp = one_route(topo, hp_bin, 8)
    holder, busy = hold_port(topo)
    try:
        write_conf(conf, {A: port_a}, listen="%s:0 %s:%d" % (PROXY_CADDR, PROXY_CADDR, busy))
        reload(hp, 1, "reload refused")
        assert "reload refused: listen %s:%d: bind: Address already in use" % (
            PROXY_CADDR, busy) in hp.stderr_text(), hp.tail()
        assert "listening on %s:%d" % (PROXY_CADDR, busy) not in hp.stderr_text()
        cli = topo.peer(topo.client, "client")
        cli.connect(PROXY_CADDR, hp.port, [hello(A), WAIT_EOF, CLOSE])
        assert_bytes(one(cli.wait(ev="eof")), pattern(1000, 8), "the old configuration")
    finally:
        holder.stdin.close()
        holder.wait(timeout=10)
    # the same file once the port is free is taken
    reload(hp, 1)
    assert "listening on %s:%d" % (PROXY_CADDR, busy) in hp.stderr_text(), hp.tail()
    assert hp.running()
    hp.assert_clean()


def _slow_dns(on_query):
    """A DNS server on 127.0.0.1 (UDP, port 0) that calls on_query() before
    it answers its first query: A queries get 127.0.0.1, others no record.
    Returns (socket, thread); closing the socket ends the thread."""
    import socket
    import struct
    import threading

    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(0.2)

    def serve():
        first = True
        for _ in range(2000):               # bounded: ~400 s at most
            try:
                q, peer = s.recvfrom(512)
            except socket.timeout:
                continue
            except OSError:
                return
            if len(q) < 12:
                continue
            if first:
                first = False
                on_query()
            end = 12
            while end < len(q) and q[end] != 0:
                end += q[end] + 1
            qtype = struct.unpack("!H", q[end + 1:end + 3])[0] if end + 3 <= len(q) else 0
            question = q[12:end + 5]
            ans = b""
            if qtype == 1:
                ans = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 4) + bytes([127, 0, 0, 1])
            hdr = q[:2] + struct.pack("!HHHHH", 0x8180, 1, 1 if ans else 0, 0, 0)
            try:
                s.sendto(hdr + question + ans, peer)
            except OSError:
                return

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    return s, t


def test_sighup_while_the_configuration_loads_is_kept(loopback, hp_bin, certs):
    """A SIGHUP (or SIGUSR1) that comes while halfpipe still loads its
    configuration, here while it waits for DNS, waits and becomes a reload
    once it serves; the build before ended at once (the signal's default
    action: run() had not blocked it yet)."""
    import procs

    a = loopback.tls_server(None, "127.0.0.1", certs["a_cert"], certs["a_key"], "backend-a")
    box = {}

    def signal_it():
        for _ in range(200):                # Popen() returns before the first query, mostly
            if box.get("hp") is not None and getattr(box["hp"], "p", None) is not None:
                break
            time.sleep(0.01)
        box["hp"].p.send_signal(signal.SIGHUP)
        box["hp"].p.send_signal(signal.SIGUSR1)
        box["sent"] = True

    dns, th = _slow_dns(signal_it)
    try:
        conf = os.path.join(loopback.tmp, "slow.conf")
        with open(conf, "w") as f:
            f.write("resolvers 127.0.0.1:%d\nlisten 127.0.0.1:0\nroute %s slow.test:%d\n"
                    % (dns.getsockname()[1], A, a.port))
        hp = procs.Halfpipe([str(hp_bin)], list(getattr(hp_bin, "extra", [])) + ["-c", conf],
                            loopback.tmp)
        box["hp"] = hp
        loopback._own(hp)
        hp.start()
        assert box.get("sent"), "the DNS server never saw a query"
        hp.wait_stderr(r"SIGHUP: reloading", 10)
        hp.wait_stderr(r"reloaded: ", 10)
        hp.wait_stderr(r"SIGUSR1", 10)
        assert hp.running()
        from test_e2e import _https_get
        resp = _https_get(certs["ca"], hp.addrs[0], A)
        assert resp.endswith(b"backend-a\n"), resp
    finally:
        dns.close()
        th.join(2)
