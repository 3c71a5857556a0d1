"""Routing by SNI and the listener's answers to what it cannot route:
rejections (alert + FIN), connect failures (reset), and the access log."""

import os

import pytest

from harness import (ALERT_DECODE_ERROR, ALERT_UNRECOGNIZED_NAME, CLIENT_ADDR, CLOSE,
                     PROXY_CADDR, SERVER_ADDR, SNI, STRIP, VECTORS, WAIT_EOF, Relay,
                     assert_bytes, assert_term, hello, no_events, one, rx_end, rx_ended)
import procs

# Rejected by the listener: what the client sends, what it must get back
# before the FIN, and the term code.
REJECTIONS = {
    "no-route": (hello("c.example.test"), ALERT_UNRECOGNIZED_NAME),
    "no-sni": (hello(None), ALERT_UNRECOGNIZED_NAME),
    # a handshake record holding a server_hello (type 2), not a client_hello
    "malformed": ({"op": "send", "hex": "16030100080200000403030000"}, ALERT_DECODE_ERROR),
    "not-tls": ({"op": "send", "hex": b"GET / HTTP/1.0\r\n\r\n".hex()}, b""),
}


@pytest.mark.parametrize("term", sorted(REJECTIONS))
def test_rejection(topo, hp_bin, term):
    # no-route, no-sni: alert unrecognized_name then FIN; malformed: alert
    # decode_error then FIN; not-tls: FIN only.  The backend is never
    # contacted; the access log says why.
    send, answer = REJECTIONS[term]
    r = Relay(topo, hp_bin, [[STRIP]])
    r.connect([send, WAIT_EOF, CLOSE])
    end = one(r.client.wait(pred=rx_ended))
    assert end["ev"] == "eof", "%s: expected the answer then FIN, got %s" % (term, end)
    assert_bytes(end, answer, term)
    rec = one(r.hp.wait_log(n=1))
    assert_term([rec], term)
    assert rec["backend"] == "-", rec
    if term == "no-route":
        assert rec["sni"] == "c.example.test", rec
    assert not r.server.find(ev="accepted")


def _serve_name(name):
    return [STRIP, {"op": "send", "hex": name.encode().hex()}, CLOSE]


def _fetch(client, port, script, timeout=10):
    """Open one connection running script; return its end event."""
    before = {e["conn"] for e in client.find(ev="connected")}
    client.connect(PROXY_CADDR, port, script)
    c = client.wait(pred=lambda e: e["ev"] in ("connected", "connect_error")
                    and e["conn"] not in before)[0]["conn"]
    return rx_end(client, conn=c, timeout=timeout)


def test_route_by_sni_and_default(topo, hp_bin):
    # exact names compare case-insensitively and ignore one trailing dot;
    # an unknown name goes to --default.
    srv = topo.peer(topo.server, "server")
    pa = srv.listen(SERVER_ADDR, [_serve_name("backend-a")])
    pb = srv.listen(SERVER_ADDR, [_serve_name("backend-b")])
    hp = topo.halfpipe(hp_bin, ["--listen", "%s:0" % PROXY_CADDR,
                                "--route", "a.example.test=%s:%d" % (SERVER_ADDR, pa),
                                "--default", "%s:%d" % (SERVER_ADDR, pb),
                                "--half-closed-timeout", "2s", "--drain-timeout", "1s"])
    cli = topo.peer(topo.client, "client")
    want = [("a.example.test", "backend-a"), ("A.Example.TEST", "backend-a"),
            ("a.example.test.", "backend-a"), ("c.example.test", "backend-b")]
    for sni, name in want:
        end = _fetch(cli, hp.port, [hello(sni), WAIT_EOF, CLOSE])
        assert end["ev"] == "eof" and bytes.fromhex(end["head"]) == name.encode(), (sni, end)
    recs = hp.wait_log(n=len(want))
    assert_term(recs, "server-fin", "client-fin")
    assert sorted(r["backend"] for r in recs) == sorted(
        "%s:%d" % (SERVER_ADDR, pa if n == "backend-a" else pb) for _, n in want), recs


# Captured ClientHellos (tests shared with the parser's vectors): file,
# TCP segment sizes to replay, backend it must reach.
CAPTURES = [
    ("chromium-pq.bin", [1448], "backend-a"),             # 2 segments, PQ key share, ECH
    ("firefox-esr-pq.bin", [1448], "backend-a"),
    ("openssl-ffdhe8192-maxfrag512-multirecord.bin", [517], "backend-b"),  # 3 records
    ("curl-upper.bin", [], "backend-a"),                  # SNI A.EXAMPLE.TEST
    ("curl-h2.bin", [], "backend-a"),
]


def test_real_client_hellos(topo, hp_bin):
    # real captured hellos (several segments, several records, upper case)
    # reach the backend their SNI names; hello_bytes is the hello's size.
    real = os.path.join(VECTORS, "real")
    if not os.path.isdir(real):
        pytest.skip("ClientHello vectors not found at %s" % real)
    srv = topo.peer(topo.server, "server")
    pa = srv.listen(SERVER_ADDR, [_serve_name("backend-a")])
    pb = srv.listen(SERVER_ADDR, [_serve_name("backend-b")])
    hp = topo.halfpipe(hp_bin, ["--listen", "%s:0" % PROXY_CADDR,
                                "--route", "a.example.test=%s:%d" % (SERVER_ADDR, pa),
                                "--route", "b.example.test=%s:%d" % (SERVER_ADDR, pb),
                                "--half-closed-timeout", "2s", "--drain-timeout", "1s"])
    cli = topo.peer(topo.client, "client")
    for fname, splits, name in CAPTURES:
        path = os.path.join(real, fname)
        size = os.path.getsize(path)
        cuts = [0] + splits + [size]
        script = []
        for a, b in zip(cuts, cuts[1:]):
            if script:
                script.append({"op": "sleep", "s": 0.1})   # a separate segment
            script.append({"op": "send", "file": path, "start": a, "end": b})
        end = _fetch(cli, hp.port, script + [WAIT_EOF, CLOSE])
        rec = hp.wait_log(n=1, pred=lambda r: r["client"].endswith(":%d" % _lport(cli, end)))[0]
        assert end["ev"] == "eof" and bytes.fromhex(end["head"]) == name.encode(), (
            fname, end, " ".join("%s=%s" % kv for kv in rec.items()))
        assert int(rec["hello_bytes"]) == size, (fname, rec)
        if splits:
            assert int(rec["hello_reads"]) >= 2, (fname, rec)


def _lport(client, end):
    return client.find(ev="connected", conn=end["conn"])[0]["lport"]


def test_connect_refused(topo, hp_bin):
    # the route names a port nobody listens on: the client gets a reset;
    # term=connect-refused.
    r = Relay(topo, hp_bin, [[STRIP]], routes={SNI: "%s:1" % SERVER_ADDR})
    r.connect([hello(), WAIT_EOF])
    end = one(r.client.wait(pred=rx_ended))
    assert end["ev"] == "rst", end
    rec = one(r.hp.wait_log(n=1))
    assert_term([rec], "connect-refused")


def test_access_log_fields(topo, hp_bin):
    # one logfmt line per connection with every documented key, in order.
    r = Relay(topo, hp_bin, [[STRIP, WAIT_EOF, {"op": "send", "hex": "6f6b"}, CLOSE]])
    r.connect([hello(alpn=["h2", "http/1.1"]), {"op": "send", "hex": "6869"},
               {"op": "shut_wr"}, WAIT_EOF, CLOSE])
    r.connect([hello(), {"op": "shut_wr"}, WAIT_EOF, CLOSE])
    ends = r.client.wait(ev="eof", n=2)
    recs = r.hp.wait_log(n=2)
    lports = {e["conn"]: e["lport"] for e in r.client.find(ev="connected")}
    for rec in recs:
        assert list(rec) == procs.ACCESS_LOG_KEYS, list(rec)
        # the bound address, or the address as configured
        assert rec["listener"] in ("%s:%d" % (PROXY_CADDR, r.port), "%s:0" % PROXY_CADDR), rec
        assert rec["client"] in ["%s:%d" % (CLIENT_ADDR, p) for p in lports.values()], rec
        assert rec["sni"] == SNI and rec["backend"] == r.backend, rec
        assert rec["term"] == "client-fin" and rec["first_close"] == "client", rec
        for k in ("hello_bytes", "hello_reads", "c2s_bytes", "s2c_bytes", "connect_ms",
                  "duration_ms", "close_lag_ms"):
            assert rec[k].isdigit(), (k, rec)
        assert int(rec["s2c_bytes"]) == 2, rec
    assert len({rec["id"] for rec in recs}) == 2, recs
    alpns = sorted(rec["alpn"] for rec in recs)
    assert alpns[0] == "-" and "h2" in alpns[1], alpns
    for e in ends:
        assert bytes.fromhex(e["head"]) == b"ok"
    no_events(r.client, "rst")
