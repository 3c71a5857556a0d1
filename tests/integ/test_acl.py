"""Access control (docs/config.md, "Access control"): `allow`/`deny` in a
listener block and `allow=`/`deny=` on a route, nginx's semantics (in
order, the first match decides, none: the opposite of the last rule).

A listener's rules are checked at accept, before a byte is read; on an
`accept-proxy` listener on the client the PROXY header names (an
IPv4-mapped TCP6 source matches IPv4 rules); a route's after the
ClientHello. A denied client is reset, term=denied, and the backend never
sees it.
"""

import os

import pytest

from harness import (CLIENT_ADDR, CLOSE, PROXY_CADDR, SERVER_ADDR, SNI, STRIP, WAIT_EOF,
                     DEFAULT_OPTS, assert_term, ended, hello, one)
from test_reload import reload

OTHER = "198.18.1.3"        # a second client address on the client's link
OTHER_SNI = "b.example.test"


def _opts():
    out = []
    for k, v in DEFAULT_OPTS.items():
        out += ["--" + k, v]
    return out


def _start(topo, hp_bin, block, routes, nserver=4):
    """A server answering "ok" (nserver connections), halfpipe with one
    listener whose block is `block` lines then `routes` (a list of
    (sni, options)), and a client peer that may use OTHER too."""
    topo.add_client_addr(OTHER)
    srv = topo.peer(topo.server, "server")
    sport = srv.listen(SERVER_ADDR, [[STRIP, {"op": "send", "hex": b"ok".hex()}, CLOSE]] * nserver)
    conf = os.path.join(topo.tmp, "hp.conf")
    with open(conf, "w") as f:
        f.write("listen %s:0\n%s\n" % (PROXY_CADDR, block))
        for sni, opts in routes:
            f.write("route %s %s:%d %s\n" % (sni, SERVER_ADDR, sport, opts))
    hp = topo.halfpipe(hp_bin, ["-c", conf] + _opts())
    return srv, hp, topo.peer(topo.client, "client")


def _served(conn_end):
    return conn_end["ev"] == "eof" and bytes.fromhex(conn_end.get("head", "")) == b"ok"


def _one_client(cli, hp, src, sni=SNI, prefix=b""):
    """Connect (from src), send a hello, wait for the end; returns
    (served, the access-log record of this connection)."""
    before = len(hp.log())
    label = "c%d" % before
    cli.send(cmd="connect", addr=PROXY_CADDR, port=hp.port, count=1, src=src, label=label,
             script=[hello(sni, prefix_hex=prefix.hex()), WAIT_EOF, CLOSE])
    # a denied client may see the reset on its send (send_error, an eof may
    # follow) rather than on a read: the first of them ends it
    end = cli.wait(pred=lambda e: e.get("label") == label and ended(e, send_error=True))[0]
    rec = hp.wait_log(n=before + 1)[before]
    return _served(end), rec


@pytest.mark.parametrize("rules,served", [
    ("allow %s" % CLIENT_ADDR, {CLIENT_ADDR: True, OTHER: False}),
    ("deny %s" % CLIENT_ADDR, {CLIENT_ADDR: False, OTHER: True}),
    ("deny %s\nallow 198.18.1.0/24" % OTHER, {CLIENT_ADDR: True, OTHER: False}),
    ("allow 198.18.1.0/24\ndeny %s" % OTHER, {CLIENT_ADDR: True, OTHER: True}),
], ids=["only-allow", "only-deny", "deny-then-allow", "allow-first-wins"])
def test_listener_rules_at_accept(topo, hp_bin, rules, served):
    # Each of the two client addresses is served or reset as the rules
    # say; a denied one is reset before a byte is read (hello_reads=0) and
    # never reaches the server.
    srv, hp, cli = _start(topo, hp_bin, rules, [(SNI, "")])
    for src in (CLIENT_ADDR, OTHER):
        ok, rec = _one_client(cli, hp, src)
        assert rec["client"].startswith(src + ":"), rec
        if served[src]:
            assert ok, (src, rec)
            assert_term([rec], "server-fin", "client-fin")
        else:
            assert not ok, (src, rec)
            assert_term([rec], "denied")
            assert rec["hello_reads"] == "0" and rec["attempts"] == "0", rec
    assert len(srv.find(ev="accepted")) == sum(served.values())


def test_route_rules_after_the_hello(topo, hp_bin):
    # A route's allow= admits only OTHER to a.example.test; b.example.test
    # has no rules. The denied client's hello was read (its SNI is logged)
    # but no backend connect was made.
    srv, hp, cli = _start(topo, hp_bin, "", [(SNI, "allow=%s" % OTHER), (OTHER_SNI, "")])
    ok, rec = _one_client(cli, hp, CLIENT_ADDR, SNI)
    assert not ok
    assert_term([rec], "denied")
    assert rec["sni"] == SNI and rec["attempts"] == "0" and int(rec["hello_reads"]) >= 1, rec
    ok, rec = _one_client(cli, hp, CLIENT_ADDR, OTHER_SNI)
    assert ok, rec
    ok, rec = _one_client(cli, hp, OTHER, SNI)
    assert ok, rec
    assert len(srv.find(ev="accepted")) == 2


def test_listener_and_route_rules_on_the_proxy_header(topo, hp_bin):
    # accept-proxy: the listener's rules are checked on the client the
    # header names, not on the balancer's address (198.18.1.1, which no
    # rule names); an IPv4-mapped TCP6 source matches the IPv4 rule; the
    # route's deny= sees the header's client too.
    block = "accept-proxy 198.18.1.0/24\ndeny 203.0.113.0/24"
    srv, hp, cli = _start(topo, hp_bin, block, [(SNI, "deny=192.0.2.66")])

    def v1(src, fam="TCP4", dst=PROXY_CADDR):
        return ("PROXY %s %s %s 40000 443\r\n" % (fam, src, dst)).encode()
    cases = [(v1("203.0.113.7"), False), (v1("192.0.2.9"), True),
             (v1("::ffff:203.0.113.8", "TCP6", "::ffff:%s" % PROXY_CADDR), False),
             (v1("192.0.2.66"), False)]
    for prefix, want in cases:
        ok, rec = _one_client(cli, hp, CLIENT_ADDR, SNI, prefix)
        assert ok == want, (prefix, rec)
        assert_term([rec], *(("server-fin", "client-fin") if want else ("denied",)))
    recs = hp.log()
    assert recs[0]["client"] == "203.0.113.7:40000", recs[0]
    assert recs[3]["client"] == "192.0.2.66:40000" and recs[3]["sni"] == SNI, recs[3]
    assert len(srv.find(ev="accepted")) == 1


def test_local_header_keeps_the_balancer_address(topo, hp_bin):
    # A v2 LOCAL header (a balancer's health check) names no client: the
    # listener's rules see the connection's own address, the balancer's.
    local = bytes.fromhex("0d0a0d0a000d0a515549540a") + bytes([0x20, 0x00, 0x00, 0x00])
    block = "accept-proxy 198.18.1.0/24\ndeny %s" % OTHER
    srv, hp, cli = _start(topo, hp_bin, block, [(SNI, "")])
    ok, rec = _one_client(cli, hp, OTHER, SNI, local)
    assert not ok and rec["client"].startswith(OTHER + ":"), rec
    assert_term([rec], "denied")
    ok, rec = _one_client(cli, hp, CLIENT_ADDR, SNI, local)
    assert ok and rec["client"].startswith(CLIENT_ADDR + ":"), rec
    assert len(srv.find(ev="accepted")) == 1


def test_reload_applies_new_rules_to_new_connections(topo, hp_bin):
    # A connection from OTHER is relaying when a reload denies OTHER: it
    # goes on to its clean end; a new one from OTHER is denied, one from
    # 198.18.1.1 still served.
    topo.add_client_addr(OTHER)
    srv = topo.peer(topo.server, "server")
    sport = srv.listen(SERVER_ADDR, [[STRIP, {"op": "wait", "tag": "go"},
                                      {"op": "send", "hex": b"ok".hex()}, CLOSE],
                                     [STRIP, {"op": "send", "hex": b"ok".hex()}, CLOSE]])
    conf = os.path.join(topo.tmp, "hp.conf")

    def write(block):
        with open(conf, "w") as f:
            f.write("listen %s:0\n%s\nroute %s %s:%d\n" % (PROXY_CADDR, block, SNI,
                                                         SERVER_ADDR, sport))
    write("allow 198.18.1.0/24")
    hp = topo.halfpipe(hp_bin, ["-c", conf] + _opts())
    cli = topo.peer(topo.client, "client")
    cli.send(cmd="connect", addr=PROXY_CADDR, port=hp.port, count=1, src=OTHER, label="live",
             script=[hello(SNI), WAIT_EOF, CLOSE])
    srv.wait(ev="hello")
    write("deny %s" % OTHER)
    reload(hp, 1)
    ok, rec = _one_client(cli, hp, OTHER)
    assert not ok
    assert_term([rec], "denied")
    srv.signal("go")
    end = one(cli.wait(pred=lambda e: e.get("label") == "live" and ended(e)))
    assert _served(end), end
    rec = hp.wait_log(n=2)[1]
    assert rec["client"].startswith(OTHER + ":"), rec
    assert_term([rec], "server-fin", "client-fin")
    ok, rec = _one_client(cli, hp, CLIENT_ADDR)
    assert ok, rec
