"""TCP keepalive and TCP_USER_TIMEOUT per side (docs/config.md, "Keepalive
and user timeouts").

- `ss -tno` in the proxy's namespace shows timer:(keepalive,...) on both
  sockets of a live relayed connection, each within its side's IDLE; none
  with the defaults (off).
- client-user-timeout cuts a client that vanished while data was in flight
  toward it at the timeout (term=client-rst), long before idle-timeout.
- idle-timeout off with keepalive and user timeouts on both sides: a server
  that vanished with nothing in flight is cut by the keepalive probes
  (term=server-rst). With TCP_USER_TIMEOUT set the kernel gives a silent
  peer up at the first probe at least the user timeout after it last heard
  from it (IDLE + k * INTVL), whatever COUNT says.
"""

import os
import re

from harness import (CLOSE, PROXY_CADDR, SERVER_ADDR, SNI, STRIP, WAIT_EOF, DEFAULT_OPTS,
                     assert_term, hello, one)
import netns
from netns import T
from test_reload import reload


def _opts(**over):
    o = dict(DEFAULT_OPTS)
    o.update(over)
    out = []
    for k, v in o.items():
        out += ["--" + k, v]
    return out


def _relay(topo, hp_bin, opts, cscript, sscript):
    srv = topo.peer(topo.server, "server")
    sport = srv.listen(SERVER_ADDR, [sscript])
    hp = topo.halfpipe(hp_bin, ["--listen", "%s:0" % PROXY_CADDR,
                                "--route", "%s=%s:%d" % (SNI, SERVER_ADDR, sport)] + opts)
    cli = topo.peer(topo.client, "client")
    cli.connect(PROXY_CADDR, hp.port, [hello(SNI)] + cscript)
    conn = one(cli.wait(ev="connected"))
    srv.wait(ev="hello")
    return srv, sport, hp, cli, conn


def _ss_time(text):
    """ss's print_ms_timer() text in seconds: "1min5sec", "12sec", "6.988ms"
    (6 s 988 ms), "988ms"."""
    m = re.fullmatch(r"(?:(\d+)min)?(?:(\d+)(?:sec|\.))?(?:(\d+)ms)?", text)
    assert m and text, "unexpected ss timer %r" % text
    mins, secs, ms = (int(g) if g else 0 for g in m.groups())
    return mins * 60 + secs + ms / 1000.0


def _keepalive_timers(ns, sport, hp_port):
    """{"client": secs or None, "server": secs or None}: the keepalive timer
    ss -tno shows on the proxy's socket toward each side."""
    out = netns.run(["ss", "-tnoH", "state", "established"], ns=ns).stdout.decode()
    got = {"client": None, "server": None}
    for line in out.splitlines():
        f = line.split()
        if len(f) < 4:
            continue
        local, peer = netns.split_hostport(f[2]), netns.split_hostport(f[3])
        m = re.search(r"timer:\(keepalive,([^,]*),", line)
        secs = _ss_time(m.group(1)) if m else None
        if local == (PROXY_CADDR, hp_port):
            got["client"] = secs
        elif peer == (SERVER_ADDR, sport):
            got["server"] = secs
    return got, out


def test_ss_shows_keepalive_on_both_sides(topo, hp_bin):
    # client-keepalive 7s,3s,4 and server-keepalive 9s,2s,5: the accepted
    # socket (which inherited it from the listener) and the backend socket
    # each run a keepalive timer no longer than its side's IDLE.
    opts = _opts(**{"client-keepalive": "7s,3s,4", "server-keepalive": "9s,2s,5",
                    "client-user-timeout": "11s", "server-user-timeout": "13s"})
    srv, sport, hp, cli, conn = _relay(topo, hp_bin, opts, [WAIT_EOF, CLOSE],
                                       [STRIP, WAIT_EOF, CLOSE])
    got, out = _keepalive_timers(topo.proxy, sport, hp.port)
    assert got["client"] is not None and 0 < got["client"] <= 7, out
    assert got["server"] is not None and 7 < got["server"] <= 9, out


def test_no_keepalive_by_default(topo, hp_bin):
    # The defaults: no keepalive timer on either socket (the check above can
    # fail).
    srv, sport, hp, cli, conn = _relay(topo, hp_bin, _opts(), [WAIT_EOF, CLOSE],
                                       [STRIP, WAIT_EOF, CLOSE])
    got, out = _keepalive_timers(topo.proxy, sport, hp.port)
    assert got == {"client": None, "server": None}, out
    assert "timer:(keepalive" not in out, out


def test_user_timeout_cuts_a_vanished_client(topo, hp_bin):
    # The client vanishes (its packets dropped both ways), then the server
    # sends 64 KiB: halfpipe's writes toward the client stay unacknowledged,
    # and client-user-timeout 2s ends the connection 2 s after them, with
    # idle-timeout still 60 s away.
    ctab = netns.NftTable(topo, topo.client, [], [])
    srv, sport, hp, cli, conn = _relay(
        topo, hp_bin, _opts(**{"client-user-timeout": "2s"}),
        [{"op": "wait", "tag": "v"}, {"op": "vanish", "table": ctab.name}, WAIT_EOF, CLOSE],
        [STRIP, {"op": "wait", "tag": "s"}, {"op": "send", "pattern": 65536, "seed": 3},
         WAIT_EOF, CLOSE])
    cli.signal("v")
    cli.wait(ev="vanished")
    srv.signal("s")
    sent = one(srv.wait(ev="sent"))
    rec = one(hp.wait_log(n=1, timeout=T(15)))
    assert_term([rec], "client-rst")
    end_t = conn["t"] + int(rec["duration_ms"]) / 1000.0
    cut = end_t - sent["t"]
    assert 2.0 - 0.1 <= cut <= 2.0 + T(0.6), "cut %.3f s after the data, want ~2 s: %s" % (
        cut, rec)
    assert int(rec["s2c_bytes"]) == 65536, rec


def test_keepalive_cuts_a_vanished_idle_server(topo, hp_bin):
    # idle-timeout off; the server vanishes with nothing in flight: the
    # server side's probes (IDLE 2s, INTVL 1s, user timeout 5s) give it up
    # 5 s after it was last heard from, term=server-rst; COUNT 9 would say
    # 11 s: with a user timeout set, the kernel goes by it, not by COUNT.
    stab = netns.NftTable(topo, topo.server, [], [])
    opts = _opts(**{"idle-timeout": "off",
                    "client-keepalive": "30s,5s,3", "client-user-timeout": "45s",
                    "server-keepalive": "2s,1s,9", "server-user-timeout": "5s"})
    srv, sport, hp, cli, conn = _relay(
        topo, hp_bin, opts, [WAIT_EOF, CLOSE],
        [STRIP, {"op": "vanish", "table": stab.name}, WAIT_EOF, CLOSE])
    gone = one(srv.wait(ev="vanished"))
    rec = one(hp.wait_log(n=1, timeout=T(20)))
    assert_term([rec], "server-rst")
    end_t = conn["t"] + int(rec["duration_ms"]) / 1000.0
    cut = end_t - gone["t"]
    assert 5.0 - 0.3 <= cut <= 5.0 + T(0.8), "cut %.3f s after the server vanished: %s" % (
        cut, rec)


def test_reload_sets_the_listener_again(topo, hp_bin):
    # The client side lives on the listening sockets: a reload that turns
    # client-keepalive on gives it to connections accepted after it (the
    # socket, kept across the reload, is set again), not to one before.
    srv = topo.peer(topo.server, "server")
    sport = srv.listen(SERVER_ADDR, [[STRIP, WAIT_EOF, CLOSE]] * 2)
    conf = os.path.join(topo.tmp, "hp.conf")

    def write(extra):
        with open(conf, "w") as f:
            f.write("%slisten %s:0\nroute %s %s:%d\n" % (extra, PROXY_CADDR, SNI, SERVER_ADDR,
                                                        sport))
    write("")
    hp = topo.halfpipe(hp_bin, ["-c", conf] + _opts())
    cli = topo.peer(topo.client, "client")
    cli.connect(PROXY_CADDR, hp.port, [hello(SNI), WAIT_EOF, CLOSE])
    before = one(cli.wait(ev="connected"))
    srv.wait(ev="hello")
    write("client-keepalive 7s\n")
    reload(hp, 1)
    cli.connect(PROXY_CADDR, hp.port, [hello(SNI), WAIT_EOF, CLOSE])
    after = cli.wait(ev="connected", n=2)[1]
    srv.wait(ev="hello", n=2)
    out = netns.run(["ss", "-tnoH", "state", "established"], ns=topo.proxy).stdout.decode()
    lines = {netns.split_hostport(l.split()[3])[1]: l for l in out.splitlines()
             if netns.split_hostport(l.split()[2]) == (PROXY_CADDR, hp.port)}
    assert "timer:(keepalive" not in lines[before["lport"]], out
    assert "timer:(keepalive" in lines[after["lport"]], out
