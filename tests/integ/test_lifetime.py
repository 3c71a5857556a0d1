"""max-lifetime (docs/config.md, "Maximum lifetime"): a connection as old as
its listener's `max-lifetime`, or its route's `max-lifetime=` (which wins),
is reset both ways with term=max-lifetime, busy or idle, never before; a
younger one, or one whose route says off, goes on; a reload applies a new
value to new connections and leaves the live ones with theirs.
"""

import os

from harness import (CLOSE, PROXY_CADDR, SERVER_ADDR, STRIP, WAIT_EOF, DEFAULT_OPTS,
                     assert_term, ended, hello, one)
import netns
from netns import CLIENT_ADDR, T
from test_reload import reload

B_SNI, C_SNI = "b.example.test", "c.example.test"
IDLE = [STRIP, WAIT_EOF, CLOSE]             # the server reads to the end


def _opts():
    out = []
    for k, v in DEFAULT_OPTS.items():
        out += ["--" + k, v]
    return out


def _write(path, lifetime, sport):
    with open(path, "w") as f:
        f.write("listen %s:0\nmax-lifetime %s\n" % (PROXY_CADDR, lifetime))
        f.write("route a.example.test %s:%d\n" % (SERVER_ADDR, sport))
        f.write("route %s %s:%d max-lifetime=off\n" % (B_SNI, SERVER_ADDR, sport))
        f.write("route %s %s:%d max-lifetime=1s\n" % (C_SNI, SERVER_ADDR, sport))


def _setup(topo, hp_bin, lifetime, nserver):
    srv = topo.peer(topo.server, "server")
    sport = srv.listen(SERVER_ADDR, [IDLE] * nserver)
    conf = os.path.join(topo.tmp, "hp.conf")
    _write(conf, lifetime, sport)
    hp = topo.halfpipe(hp_bin, ["-c", conf] + _opts())
    return srv, sport, conf, hp, topo.peer(topo.client, "client")


def _open(cli, hp, label, sni="a.example.test", then=()):
    cli.send(cmd="connect", addr=PROXY_CADDR, port=hp.port, count=1, label=label,
             script=[hello(sni)] + list(then) + [WAIT_EOF, CLOSE])
    cli.wait(ev="connected", label=label)


def _ended_at(rec, ms, margin_ms):
    d = int(rec["duration_ms"])
    assert ms <= d <= ms + margin_ms, "ended after %d ms, want %d..%d: %s" % (
        d, ms, ms + margin_ms, rec)


def test_busy_and_idle_end_at_the_value(topo, hp_bin):
    # Listener 2s: an idle connection and a busy one (64 MiB pushed through
    # a 4 MB/s limit: bytes move the whole time) both end at 2 s, reset,
    # term=max-lifetime; c.example.test's max-lifetime=1s wins over the
    # listener's; b.example.test's max-lifetime=off outlives them all and
    # ends cleanly when the client closes; a connection opened once the
    # others are gone is served whole, untouched.
    netns.NftTable(topo, topo.proxy, ["ip saddr %s limit rate over 4 mbytes/second drop"
                                      % CLIENT_ADDR], [])
    srv, sport, conf, hp, cli = _setup(topo, hp_bin, "2s", 5)
    _open(cli, hp, "off", B_SNI, then=[{"op": "wait", "tag": "go"}, {"op": "shut_wr"}])
    _open(cli, hp, "idle")
    _open(cli, hp, "busy", then=[{"op": "send", "pattern": 64 << 20, "seed": 1}])
    _open(cli, hp, "short", C_SNI)
    recs = hp.wait_log(n=3, timeout=T(10))
    by_sni = {}
    for r in recs:
        assert_term([r], "max-lifetime")
        by_sni.setdefault(r["sni"], []).append(r)
    assert sorted(by_sni) == ["a.example.test", C_SNI], recs
    margin = int(T(400))
    _ended_at(by_sni[C_SNI][0], 1000, margin)
    for r in by_sni["a.example.test"]:
        _ended_at(r, 2000, margin)
    busy = max(by_sni["a.example.test"], key=lambda r: int(r["c2s_bytes"]))
    assert int(busy["c2s_bytes"]) > 2 << 20, "the busy one moved bytes: %s" % busy
    assert int(busy["c2s_bytes"]) < 64 << 20, "cut before its transfer ended: %s" % busy
    for label in ("idle", "busy", "short"):
        # a reset: on a read, or on a write (the read then ends at EOF)
        cli.wait(pred=lambda e, l=label: e.get("label") == l and ended(e))
        errs = cli.find(pred=lambda e, l=label: e.get("label") == l and e["ev"] in (
            "rst", "rx_error", "send_error"))
        assert errs, "reset, not a FIN: %s" % cli.find(label=label)[-3:]
    # the route with max-lifetime=off is still open, older than 2 s
    assert not cli.find(pred=lambda e: e.get("label") == "off" and ended(e))
    assert len(hp.log()) == 3
    # a young connection: served whole and closed by its client, cleanly
    cli.send(cmd="connect", addr=PROXY_CADDR, port=hp.port, count=1, label="young",
             script=[hello("a.example.test"), {"op": "shut_wr"}, WAIT_EOF, CLOSE])
    rec = hp.wait_log(n=4)[3]
    assert_term([rec], "server-fin", "client-fin")
    assert int(rec["duration_ms"]) < 2000, rec
    # and the route that says off: ended by its client, cleanly, after 2 s
    cli.signal("go")
    rec = hp.wait_log(n=5)[4]
    assert rec["sni"] == B_SNI and int(rec["duration_ms"]) > 2000, rec
    assert_term([rec], "server-fin", "client-fin")
    assert len(srv.find(ev="accepted")) == 5


def test_reload_applies_to_new_connections(topo, hp_bin):
    # max-lifetime 1s, one connection open; reload to 3s: the live one still
    # ends at 1 s, one opened after the reload at 3 s.
    srv, sport, conf, hp, cli = _setup(topo, hp_bin, "1s", 2)
    _open(cli, hp, "old")
    _write(conf, "3s", sport)
    reload(hp, 1)
    _open(cli, hp, "new")
    recs = hp.wait_log(n=2, timeout=T(10))
    margin = int(T(400))
    assert_term(recs, "max-lifetime")
    _ended_at(recs[0], 1000, margin)
    _ended_at(recs[1], 3000, margin)
