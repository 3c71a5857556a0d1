"""Backend pools (docs/config.md "Backend pools"): round robin spreads
connections evenly; a refused or blackholed first server hands the
connection to the next one within connect-timeout, with the ClientHello
replayed byte-exact; a server failing backend-fails times in a row is passed
over until backend-cooldown has passed; leastconn avoids the loaded server."""

import time

import pytest

from harness import (CLOSE, DEFAULT_OPTS, PROXY_CADDR, SERVER_ADDR, SHUT, SNI, STRIP, WAIT_EOF,
                     assert_term, hello, one, send_pattern, T)

ADDR2 = "198.18.2.21"           # a second server address on the server link
REFUSED = "%s:9" % SERVER_ADDR  # nothing listens there
SERVE = [[STRIP, WAIT_EOF, CLOSE]]


class Pool:
    """Two server peers (SERVER_ADDR: b1, ADDR2: b2) and a client; start()
    runs halfpipe with routes naming them."""

    def __init__(self, topo, hp_bin, scripts=SERVE):
        topo.add_server_addr(ADDR2)
        self.topo, self.hp_bin = topo, hp_bin
        self.s1 = topo.peer(topo.server, "s1")
        self.s2 = topo.peer(topo.server, "s2")
        self.b1 = "%s:%d" % (SERVER_ADDR, self.s1.listen(SERVER_ADDR, scripts))
        self.b2 = "%s:%d" % (ADDR2, self.s2.listen(ADDR2, scripts))
        self.client = topo.peer(topo.client, "client")

    def start(self, routes, opts=None):
        o = dict(DEFAULT_OPTS)
        o.update(opts or {})
        args = ["--listen", "%s:0" % PROXY_CADDR]
        for name, value in routes.items():
            args += ["--route", "%s=%s" % (name, value)]
        for k, v in o.items():
            args += ["--" + k, v]
        self.hp = self.topo.halfpipe(self.hp_bin, args)
        return self

    def connect(self, script, count=1):
        self.client.connect(PROXY_CADDR, self.hp.port, script, count)

    def one_by_one(self, n, script=None):
        """n connections in turn, each ended before the next; their log records."""
        base = len(self.hp.log())
        for i in range(n):
            self.connect(script or [hello(), SHUT, WAIT_EOF, CLOSE])
            self.hp.wait_log(n=base + i + 1)
        return self.hp.log()[base:base + n]


def test_round_robin_spreads_evenly(topo, hp_bin):
    # 10 connections at once over two servers: 5 each, every one served.
    p = Pool(topo, hp_bin)
    p.start({SNI: "%s,%s" % (p.b1, p.b2)})
    p.connect([hello(), SHUT, WAIT_EOF, CLOSE], count=10)
    recs = p.hp.wait_log(n=10, timeout=15)
    assert_term(recs, "client-fin")
    used = [r["backend"] for r in recs]
    assert used.count(p.b1) == 5 and used.count(p.b2) == 5, used
    assert all(r["attempts"] == "1" for r in recs), recs
    p.s1.wait(ev="accepted", n=5)
    p.s2.wait(ev="accepted", n=5)


def test_refused_server_next_one_gets_the_hello(topo, hp_bin):
    # the first server refuses: the second gets the whole stream, the hello
    # included, byte-exact; attempts=2, backend is the second.
    p = Pool(topo, hp_bin, scripts=[[WAIT_EOF, CLOSE]])
    p.start({SNI: "%s,%s" % (REFUSED, p.b2)})
    p.connect([hello(), send_pattern(50000, 7), SHUT, WAIT_EOF, CLOSE])
    shut = one(p.client.wait(ev="shut"))
    ev = one(p.s2.wait(ev="eof", timeout=10))
    assert (ev["rx"], ev["sha256"]) == (shut["tx"], shut["tx_sha256"]), (ev, shut)
    rec = one(p.hp.wait_log(n=1))
    assert_term([rec], "client-fin")
    assert rec["backend"] == p.b2 and rec["attempts"] == "2", rec


@pytest.mark.slow
def test_blackholed_server_next_one_within_budget(topo, hp_bin):
    # the first server drops every packet: with connect-timeout 2s and two
    # servers its attempt gets 1 s, then the second serves the connection.
    p = Pool(topo, hp_bin)
    p.start({SNI: "%s,%s" % (p.b2, p.b1)}, opts={"connect-timeout": "2s"})
    topo.nft_drop(topo.proxy, ADDR2)
    p.connect([hello(), SHUT, WAIT_EOF, CLOSE])
    rec = one(p.hp.wait_log(n=1, timeout=10))
    assert_term([rec], "client-fin")
    assert rec["backend"] == p.b1 and rec["attempts"] == "2", rec
    assert 900 <= int(rec["connect_ms"]) <= 1000 + T(0.5) * 1000, rec
    assert not p.client.find(ev="rst"), p.client.events


@pytest.mark.slow
def test_failing_server_cools_down(topo, hp_bin):
    # backend-fails 2, backend-cooldown 3s; the first server refuses.
    # Connections one at a time, round robin starting on it every other
    # time: it is tried (attempts=2) by connections 0 and 2, then passed
    # over (attempts=1) until the cool-down ends; then tried again.
    p = Pool(topo, hp_bin)
    p.start({SNI: "%s,%s" % (REFUSED, p.b2)},
            opts={"backend-fails": "2", "backend-cooldown": "3s"})
    t0 = time.monotonic()
    recs = p.one_by_one(8)
    assert [r["attempts"] for r in recs] == ["2", "1", "2", "1", "1", "1", "1", "1"], recs
    assert all(r["backend"] == p.b2 for r in recs), recs
    assert_term(recs, "client-fin")
    time.sleep(max(0.0, 3.3 - (time.monotonic() - t0)))
    recs = p.one_by_one(2)
    assert [r["attempts"] for r in recs] == ["2", "1"], recs
    assert_term(recs, "client-fin")


def test_leastconn_avoids_the_loaded_server(topo, hp_bin):
    # three long connections hold the first server (through a route naming
    # it alone: the count is per server); new connections on the leastconn
    # pool all go to the second.
    long_sni = "long.example.test"
    p = Pool(topo, hp_bin)
    p.start({SNI: "%s,%s,balance=leastconn" % (p.b1, p.b2), long_sni: p.b1})
    p.connect([hello(sni=long_sni), WAIT_EOF, CLOSE], count=3)
    p.s1.wait(ev="accepted", n=3)
    recs = p.one_by_one(4)
    assert all(r["backend"] == p.b2 for r in recs), recs
    assert_term(recs, "client-fin")
    p.client.send(cmd="close_all")
    p.hp.wait_log(n=7, timeout=10)
