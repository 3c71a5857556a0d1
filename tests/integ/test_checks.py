"""Active health checks and server states (docs/config.md "Health checks and
server states", docs/admin.md "servers"): a pool of three real backends in
namespaces; one killed (port closed) is marked down within fall x interval
and gets no client connection after that, stays down while its host is
blackholed (the checks time out), and is up again after rise checks once it
is back, with client traffic running beside the checks. The TLS probe tells
a server that answers TLS from one that accepts and says nothing. `drain`
under load: live transfers finish byte-exact, no new connection goes to the
drained server; `servers` and the /metrics gauges say so."""

import re
import signal
import time

import netns
from harness import (CLOSE, DEFAULT_OPTS, PROXY_CADDR, SERVER_ADDR, SHUT, SNI, STRIP, WAIT_EOF,
                     assert_term, hello, one, send_pattern, wait_tag, T)
from procs import poll_until
from test_metrics import scrape

ADDR2 = "198.18.2.22"
ADDR3 = "198.18.2.23"
SERVE = [[STRIP, WAIT_EOF, CLOSE]]
CHECKS = {"check-interval": "200ms", "check-timeout": "150ms", "check-rise": "2",
          "check-fall": "3"}


def admin(topo, hp_bin, path, *args):
    return netns.run([str(hp_bin), "-s", path] + list(args), ns=topo.proxy, check=False)


def servers(topo, hp_bin, path):
    """{server: row dict} from `servers`."""
    r = admin(topo, hp_bin, path, "servers")
    assert r.returncode == 0, r
    lines = r.stdout.decode().splitlines()
    head = lines[0].split("\t")
    return {row[0]: dict(zip(head, row)) for row in (ln.split("\t") for ln in lines[1:])}


def start(topo, hp_bin, tmp_path, route, opts=None):
    path = str(tmp_path / "admin.sock")
    o = dict(DEFAULT_OPTS)
    o.update(CHECKS)
    o.update(opts or {})
    args = ["--listen", "%s:0" % PROXY_CADDR, "--route", "%s=%s" % (SNI, route),
            "--admin-socket", path]
    for k, v in o.items():
        args += ["--" + k, v]
    return topo.halfpipe(hp_bin, args), path


def burst(hp, client, n):
    """n connections at once, all ended; their log records."""
    base = len(hp.log())
    client.connect(PROXY_CADDR, hp.port, [hello(), SHUT, WAIT_EOF, CLOSE], n)
    return hp.wait_log(n=base + n, timeout=20)[base:base + n]


def test_dead_server_down_blackholed_still_down_back_up(topo, hp_bin, tmp_path):
    topo.add_server_addr(ADDR2)
    topo.add_server_addr(ADDR3)
    s1, s2, s3 = (topo.peer(topo.server, n) for n in ("s1", "s2", "s3"))
    b1 = "%s:%d" % (SERVER_ADDR, s1.listen(SERVER_ADDR, SERVE))
    b2 = "%s:%d" % (ADDR2, s2.listen(ADDR2, SERVE))
    port3 = s3.listen(ADDR3, SERVE)
    b3 = "%s:%d" % (ADDR3, port3)
    hp, path = start(topo, hp_bin, tmp_path, "%s,%s,%s,check=tcp" % (b1, b2, b3))
    client = topo.peer(topo.client, "client")
    recs = burst(hp, client, 9)
    assert sorted(r["backend"] for r in recs) == sorted([b1, b2, b3] * 3), recs

    # killed: its port closed, the checks are refused; down within
    # fall x interval (plus the interval in which the kill fell)
    s3.kill()
    s3.wait_exit(T(5))
    t0 = time.monotonic()
    hp.wait_stderr(r"server %s: up -> down: 3 checks failed: connect refused" % re.escape(b3),
                   timeout=5)
    assert time.monotonic() - t0 <= 0.8 + T(0.5), time.monotonic() - t0
    assert servers(topo, hp_bin, path)[b3]["state"] == "down"
    recs = burst(hp, client, 20)
    assert_term(recs, "client-fin")
    assert b3 not in [r["backend"] for r in recs], recs
    assert all(r["attempts"] == "1" for r in recs), recs

    # blackholed: still down, the checks now time out
    table = topo.nft_drop(topo.proxy, ADDR3)
    poll_until(lambda: servers(topo, hp_bin, path)[b3]["last_check"] == "fail: timeout",
               timeout=T(3), what="a check of the blackholed server timing out")
    row = servers(topo, hp_bin, path)[b3]
    assert row["state"] == "down" and 150 <= int(row["latency_ms"]) <= 150 + T(0.2) * 1000, row
    recs = burst(hp, client, 10)
    assert b3 not in [r["backend"] for r in recs], recs

    # back: the blackhole lifted and a server on the same port again
    table.remove()
    s3b = topo.peer(topo.server, "s3b")
    s3b.send(cmd="listen", addr=ADDR3, port=port3, scripts=SERVE)
    s3b.wait(ev="listening")
    hp.wait_stderr(r"server %s: down -> up: 2 checks passed" % re.escape(b3), timeout=5)
    recs = burst(hp, client, 30)
    assert_term(recs, "client-fin")
    assert b3 in [r["backend"] for r in recs], recs
    assert hp.stderr_count(r"server %s: .* -> " % re.escape(b3)) == 2    # each change once
    m = servers(topo, hp_bin, path)
    assert m[b1]["state"] == m[b2]["state"] == m[b3]["state"] == "up", m
    assert m[b1]["check"] == "tcp" and m[b1]["last_check"] == "pass", m


def test_tls_probe_tells_tls_from_silence(topo, hp_bin, tmp_path, certs):
    topo.add_server_addr(ADDR2)
    tls = topo.tls_server(topo.server, SERVER_ADDR, certs["a_cert"], certs["a_key"], "tls")
    silent = topo.peer(topo.server, "silent")
    bs = "%s:%d" % (ADDR2, silent.listen(ADDR2, [[WAIT_EOF, CLOSE]]))
    bt = "%s:%d" % (SERVER_ADDR, tls.port)
    hp, path = start(topo, hp_bin, tmp_path, "%s,%s,check=tls" % (bt, bs))
    hp.wait_stderr(r"server %s: up -> down: 3 checks failed: timeout" % re.escape(bs),
                   timeout=5)
    poll_until(lambda: servers(topo, hp_bin, path)[bt]["last_check"] == "pass",
               timeout=T(3), what="the TLS server's check passing")
    m = servers(topo, hp_bin, path)
    assert m[bt]["state"] == "up" and m[bt]["check"] == "tls", m
    assert m[bs]["state"] == "down" and m[bs]["last_check"] == "fail: timeout", m
    assert hp.stderr_count(r"server %s: " % re.escape(bt)) == 0


def test_drain_under_load(topo, hp_bin, tmp_path):
    topo.add_server_addr(ADDR2)
    s1, s2 = topo.peer(topo.server, "s1"), topo.peer(topo.server, "s2")
    whole = [[WAIT_EOF, CLOSE]]     # the hello kept: rx is what the client sent
    b1 = "%s:%d" % (SERVER_ADDR, s1.listen(SERVER_ADDR, whole))
    b2 = "%s:%d" % (ADDR2, s2.listen(ADDR2, whole))
    hp, path = start(topo, hp_bin, tmp_path, "%s,%s,check=tcp" % (b1, b2),
                     opts={"metrics": "127.0.0.1:0"})
    mport = int(hp.wait_stderr(r"serving metrics on 127\.0\.0\.1:\d+").rsplit(":", 1)[1])
    client = topo.peer(topo.client, "client")
    # six long transfers, three on each server, held halfway
    client.connect(PROXY_CADDR, hp.port,
                   [hello(), send_pattern(300000, 3), wait_tag("go"), send_pattern(300000, 4),
                    SHUT, WAIT_EOF, CLOSE], 6)
    poll_until(lambda: {k: v["inflight"] for k, v in servers(topo, hp_bin, path).items()} ==
               {b1: "3", b2: "3"}, timeout=T(5), what="three connections on each server")
    d = admin(topo, hp_bin, path, "drain", b1)
    assert d.returncode == 0 and d.stdout == ("server %s: up -> draining\n" % b1).encode(), d
    hp.wait_stderr(r"server %s: up -> draining: draining by admin" % re.escape(b1))
    status, body = scrape(topo, mport)
    assert status == 200
    assert 'halfpipe_server_state{server="%s",state="draining"} 1' % b1 in body, body
    assert 'halfpipe_server_up{server="%s"} 0' % b1 in body, body
    assert 'halfpipe_server_inflight{server="%s"} 3' % b1 in body, body
    assert re.search(r'halfpipe_server_checks_total\{server="%s",result="pass"\} [1-9]'
                     % re.escape(b2), body), body
    # new connections meanwhile: none to the drained server
    recs = burst(hp, client, 10)
    assert [r["backend"] for r in recs] == [b2] * 10, recs
    client.signal("go")
    shuts = client.wait(ev="shut", n=6 + 10, timeout=20)
    recs = hp.wait_log(n=16, timeout=20)
    assert_term(recs, "client-fin")
    long = [r for r in recs if int(r["c2s_bytes"]) > 600000]
    assert sorted(r["backend"] for r in long) == sorted([b1] * 3 + [b2] * 3), long
    eofs = s1.wait(ev="eof", n=3, timeout=10) + s2.wait(ev="eof", n=13, timeout=10)
    sent = sorted((e["tx"], e["tx_sha256"]) for e in shuts)
    got = sorted((e["rx"], e["sha256"]) for e in eofs)
    assert got == sent, (got, sent)      # every transfer whole, byte-exact
    e = admin(topo, hp_bin, path, "enable", b1)
    assert e.stdout == ("server %s: draining -> up\n" % b1).encode(), e
    k = admin(topo, hp_bin, path, "kill", "server=%s" % b1)
    assert k.returncode == 0 and k.stdout == b"killed 0 connections\n", k
    assert admin(topo, hp_bin, path, "drain", "10.9.9.9:1").returncode == 1


def test_state_survives_a_reload(topo, hp_bin, tmp_path):
    # a drained server and a server down by checks stay so across a reload
    # of the same file (the new configuration's servers of the same name
    # take their state): after it, every connection goes to the third one,
    # and `enable` then brings the drained one back.
    topo.add_server_addr(ADDR2)
    topo.add_server_addr(ADDR3)
    s1, s2, s3 = (topo.peer(topo.server, n) for n in ("s1", "s2", "s3"))
    b1 = "%s:%d" % (SERVER_ADDR, s1.listen(SERVER_ADDR, SERVE))
    b2 = "%s:%d" % (ADDR2, s2.listen(ADDR2, SERVE))
    b3 = "%s:%d" % (ADDR3, s3.listen(ADDR3, SERVE))
    sock = str(tmp_path / "admin.sock")
    conf = str(tmp_path / "halfpipe.conf")
    with open(conf, "w") as f:
        f.write("".join("%s %s\n" % kv for kv in CHECKS.items()))
        f.write("admin-socket %s\nlisten %s:0\nroute %s %s,%s,%s check=tcp\n"
                % (sock, PROXY_CADDR, SNI, b1, b2, b3))
    hp = topo.halfpipe(hp_bin, ["-c", conf])
    client = topo.peer(topo.client, "client")
    assert admin(topo, hp_bin, sock, "drain", b1).returncode == 0
    s2.kill()
    s2.wait_exit(T(5))
    hp.wait_stderr(r"server %s: up -> down" % re.escape(b2), timeout=5)

    hp.kill(signal.SIGHUP)
    hp.wait_stderr(r"halfpipe: \w+: reloaded", timeout=10)
    st = {k: v["state"] for k, v in servers(topo, hp_bin, sock).items()}
    assert st == {b1: "draining", b2: "down", b3: "up"}, st
    recs = burst(hp, client, 9)
    assert_term(recs, "client-fin")
    assert [r["backend"] for r in recs] == [b3] * 9, recs
    assert admin(topo, hp_bin, sock, "enable", b1).returncode == 0
    recs = burst(hp, client, 6)
    assert sorted(set(r["backend"] for r in recs)) == sorted([b1, b3]), recs
