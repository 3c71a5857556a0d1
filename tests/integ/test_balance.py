"""Balancing (docs/config.md "Backend pools"): weights split connections by
their ratio; the `source` directive makes the backend see the configured
source address."""

import re

from harness import (CLOSE, DEFAULT_OPTS, PROXY_CADDR, SERVER_ADDR, SHUT, SNI, STRIP, WAIT_EOF,
                     assert_term, hello, wait_tag)
import netns

SERVE = [[STRIP, WAIT_EOF, CLOSE]]
SRC = "198.18.2.22"             # a second proxy address on the server link


def start(topo, hp_bin, route, opts=None):
    o = dict(DEFAULT_OPTS)
    o.update(opts or {})
    args = ["--listen", "%s:0" % PROXY_CADDR, "--route", "%s=%s" % (SNI, route)]
    for k, v in o.items():
        args += ["--" + k, v]
    return topo.halfpipe(hp_bin, args)


def test_weights_split_by_ratio(topo, hp_bin):
    # 3:1 over 1000 connections, in batches of 100: within 5 % of 750:250.
    s1 = topo.peer(topo.server, "s1")
    s2 = topo.peer(topo.server, "s2")
    b1 = "%s:%d" % (SERVER_ADDR, s1.listen(SERVER_ADDR, SERVE))
    b2 = "%s:%d" % (SERVER_ADDR, s2.listen(SERVER_ADDR, SERVE))
    hp = start(topo, hp_bin, "%s/weight=3,%s" % (b1, b2))
    client = topo.peer(topo.client, "client")
    for i in range(10):
        client.connect(PROXY_CADDR, hp.port, [hello(), SHUT, WAIT_EOF, CLOSE], count=100)
        hp.wait_log(n=100 * (i + 1), timeout=30)
    recs = hp.log()
    assert_term(recs, "client-fin")
    n1 = sum(1 for r in recs if r["backend"] == b1)
    n2 = sum(1 for r in recs if r["backend"] == b2)
    assert n1 + n2 == 1000 and abs(n1 - 750) <= 50, (n1, n2)


def test_source_address_seen_by_backend(topo, hp_bin):
    netns.run(["ip", "-n", topo.proxy, "addr", "add", SRC + "/24", "dev", topo.tag + "ps"])
    s1 = topo.peer(topo.server, "s1")
    b1 = "%s:%d" % (SERVER_ADDR, s1.listen(SERVER_ADDR, SERVE))
    hp = start(topo, hp_bin, b1, opts={"source": SRC})
    client = topo.peer(topo.client, "client")
    client.connect(PROXY_CADDR, hp.port, [hello(), SHUT, WAIT_EOF, CLOSE], count=20)
    recs = hp.wait_log(n=20, timeout=15)
    assert_term(recs, "client-fin")
    peers = [e["peer"].rsplit(":", 1)[0] for e in s1.wait(ev="accepted", n=20)]
    assert peers == [SRC] * 20, peers


def test_source_ports_chosen_at_connect(topo, hp_bin):
    # 12 ephemeral ports in the proxy's namespace, `source` set, 16
    # connections held open at once, 8 to each of two backends: all are
    # served, which needs a port chosen per destination at connect
    # (IP_BIND_ADDRESS_NO_PORT); a port taken at bind() would run out at 12.
    netns.run(["ip", "-n", topo.proxy, "addr", "add", SRC + "/24", "dev", topo.tag + "ps"])
    netns.run(["sysctl", "-q", "-w", "net.ipv4.ip_local_port_range=61000 61011"],
              ns=topo.proxy)
    s1, s2 = topo.peer(topo.server, "s1"), topo.peer(topo.server, "s2")
    b1 = "%s:%d" % (SERVER_ADDR, s1.listen(SERVER_ADDR, SERVE))
    b2 = "%s:%d" % (SERVER_ADDR, s2.listen(SERVER_ADDR, SERVE))
    hp = start(topo, hp_bin, "%s,%s" % (b1, b2), opts={"source": SRC})
    client = topo.peer(topo.client, "client")
    client.connect(PROXY_CADDR, hp.port, [hello(), wait_tag("go"), SHUT, WAIT_EOF, CLOSE],
                   count=16)
    for s in (s1, s2):
        peers = [e["peer"].rsplit(":", 1)[0] for e in s.wait(ev="accepted", n=8, timeout=15)]
        assert peers == [SRC] * 8, peers
    client.signal("go")
    recs = hp.wait_log(n=16, timeout=15)
    assert_term(recs, "client-fin")
    assert sorted(r["backend"] for r in recs) == sorted([b1] * 8 + [b2] * 8), recs


def test_backup_only_when_every_primary_is_down(topo, hp_bin):
    # primary s1, backup s2: while s1 serves, s2 gets nothing; s1's port
    # closed (its peer ended), every connection is served by s2.
    s1 = topo.peer(topo.server, "s1")
    s2 = topo.peer(topo.server, "s2")
    b1 = "%s:%d" % (SERVER_ADDR, s1.listen(SERVER_ADDR, SERVE))
    b2 = "%s:%d" % (SERVER_ADDR, s2.listen(SERVER_ADDR, SERVE))
    hp = start(topo, hp_bin, "%s,%s/backup" % (b1, b2),
               opts={"backend-fails": "1", "backend-cooldown": "60s"})
    client = topo.peer(topo.client, "client")
    client.connect(PROXY_CADDR, hp.port, [hello(), SHUT, WAIT_EOF, CLOSE], count=20)
    recs = hp.wait_log(n=20, timeout=15)
    assert all(r["backend"] == b1 for r in recs), recs
    s1.finish()                 # its listener closes: connects are refused
    client.connect(PROXY_CADDR, hp.port, [hello(), SHUT, WAIT_EOF, CLOSE], count=20)
    recs = hp.wait_log(n=40, timeout=15)[20:]
    assert_term(recs, "client-fin")
    assert all(r["backend"] == b2 for r in recs), recs


def test_source_keeps_clients_and_moves_only_a_dead_servers(topo, hp_bin):
    # 8 client addresses, 3 servers, balance=source: each address stays on
    # one server over 3 connections; the busiest server's port closed, its
    # clients move and no other client does.
    peers = [topo.peer(topo.server, "s%d" % i) for i in range(3)]
    bes = ["%s:%d" % (SERVER_ADDR, p.listen(SERVER_ADDR, SERVE)) for p in peers]
    hp = start(topo, hp_bin, ",".join(bes) + ",balance=source",
               opts={"backend-fails": "1", "backend-cooldown": "60s"})
    addrs = ["198.18.1.%d" % (11 + i) for i in range(8)]
    for a in addrs:
        topo.add_client_addr(a)
    client = topo.peer(topo.client, "client")

    def round_of(n_before):
        for a in addrs:
            client.connect(PROXY_CADDR, hp.port, [hello(), SHUT, WAIT_EOF, CLOSE], count=3,
                           src=a)
        recs = hp.wait_log(n=n_before + 24, timeout=15)[n_before:]
        assert_term(recs, "client-fin")
        on = {}
        for r in recs:
            on.setdefault(r["client"].rsplit(":", 1)[0], set()).add(r["backend"])
        assert all(len(v) == 1 for v in on.values()) and len(on) == 8, on
        return {k: v.pop() for k, v in on.items()}

    first = round_of(0)
    busiest = max(bes, key=lambda b: list(first.values()).count(b))
    assert len(set(first.values())) > 1, first
    peers[bes.index(busiest)].finish()
    second = round_of(24)
    for a in addrs:
        if first[a] == busiest:
            assert second[a] != busiest, (a, first, second)
        else:
            assert second[a] == first[a], (a, first, second)


def test_backup_gives_back_when_the_primary_returns(topo, hp_bin):
    # primary s1 checked (check=tcp), backup s2: s1's port closed, checks
    # take it down and s2 serves every connection; s1 listening again on
    # the same port, checks bring it up and every connection goes back to
    # it, none to the backup.
    checks = {"check-interval": "200ms", "check-timeout": "150ms", "check-rise": "2",
              "check-fall": "2"}
    s1 = topo.peer(topo.server, "s1")
    s2 = topo.peer(topo.server, "s2")
    port1 = s1.listen(SERVER_ADDR, SERVE)
    b1 = "%s:%d" % (SERVER_ADDR, port1)
    b2 = "%s:%d" % (SERVER_ADDR, s2.listen(SERVER_ADDR, SERVE))
    hp = start(topo, hp_bin, "%s,%s/backup,check=tcp" % (b1, b2), opts=checks)
    client = topo.peer(topo.client, "client")
    s1.finish()
    hp.wait_stderr(r"server %s: up -> down" % re.escape(b1), timeout=5)
    client.connect(PROXY_CADDR, hp.port, [hello(), SHUT, WAIT_EOF, CLOSE], count=10)
    recs = hp.wait_log(n=10, timeout=15)
    assert_term(recs, "client-fin")
    assert all(r["backend"] == b2 for r in recs), recs

    s1b = topo.peer(topo.server, "s1b")
    s1b.send(cmd="listen", addr=SERVER_ADDR, port=port1, scripts=SERVE)
    assert s1b.wait(ev="listening")[0]["port"] == port1
    hp.wait_stderr(r"server %s: down -> up" % re.escape(b1), timeout=5)
    client.connect(PROXY_CADDR, hp.port, [hello(), SHUT, WAIT_EOF, CLOSE], count=10)
    recs = hp.wait_log(n=20, timeout=15)[10:]
    assert_term(recs, "client-fin")
    assert all(r["backend"] == b1 for r in recs), recs
