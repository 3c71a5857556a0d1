"""The admin socket (docs/admin.md): `halfpipe -s PATH conns` lists every live
connection with its phase, bytes and both sockets' TCP states, `kill ID`
resets one (term=killed); the socket is mode 0600 and off by default."""

import os
import stat

import netns
import peer as peerlib
from harness import (SERVER_ADDR, SHUT, SNI, STRIP, WAIT_EOF, Relay, hello, one, poll_until,
                     send_pattern, wait_tag)

OPEN, HALF = 5, 3
UP, DOWN = 500, 1000
COLS = ["id", "client", "sni", "backend", "phase", "age_ms", "idle_ms", "c2s_bytes",
        "s2c_bytes", "client_tcp", "server_tcp", "proto", "c2s_datagrams", "s2c_datagrams"]


def admin(topo, hp_bin, path, *args):
    return netns.run([str(hp_bin), "-s", path] + list(args), ns=topo.proxy, check=False)


def table(topo, hp_bin, path):
    r = admin(topo, hp_bin, path, "conns")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.decode().splitlines()
    assert lines[0].split("\t") == COLS, lines[0]
    return [dict(zip(COLS, l.split("\t"))) for l in lines[1:]]


def wait_table(topo, hp_bin, path, pred, timeout, what):
    return poll_until(lambda: table(topo, hp_bin, path), timeout, what, done=pred, step=0.1)


def test_conns_and_kill(topo, hp_bin, tmp_path):
    path = str(tmp_path / "admin.sock")
    r = Relay(topo, hp_bin, [[STRIP, send_pattern(DOWN, 2), WAIT_EOF, wait_tag("end")]],
              opts={"half-closed-timeout": "60s"}, extra=["--admin-socket", path])
    r.hp.wait_stderr(r"admin socket on ")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_ISSOCK(os.stat(path).st_mode)
    r.connect([hello(), send_pattern(UP, 1), wait_tag("end")], count=OPEN)
    r.connect([hello(), send_pattern(UP, 1), SHUT, wait_tag("end")], count=HALF)
    up = UP + len(peerlib.client_hello(SNI))
    rows = wait_table(topo, hp_bin, path, lambda rows: (
        len(rows) == OPEN + HALF and
        all(x["c2s_bytes"] == str(up) and x["s2c_bytes"] == str(DOWN) for x in rows) and
        sum(x["server_tcp"] == "FIN_WAIT2" for x in rows) == HALF),
        5, "8 rows, bytes in, 3 half-closed")
    be = "%s:%d" % (SERVER_ADDR, r.sport)
    half = [x for x in rows if x["phase"] == "half-closed-c2s"]
    opened = [x for x in rows if x["phase"] == "open"]
    assert len(half) == HALF and len(opened) == OPEN, rows
    assert {x["server_tcp"] for x in half} == {"FIN_WAIT2"}
    assert {x["client_tcp"] for x in half} == {"CLOSE_WAIT"}
    assert {(x["client_tcp"], x["server_tcp"]) for x in opened} == {("ESTABLISHED",
                                                                      "ESTABLISHED")}
    for x in rows:
        assert x["sni"] == SNI and x["backend"] == be, x
        assert (x["proto"], x["c2s_datagrams"], x["s2c_datagrams"]) == ("tcp", "-", "-"), x
        assert int(x["age_ms"]) >= int(x["idle_ms"]) >= 0, x
    assert [int(x["id"]) for x in rows] == sorted(int(x["id"]) for x in rows)

    victim = opened[0]["id"]
    k = admin(topo, hp_bin, path, "kill", victim)
    assert k.returncode == 0 and k.stdout.decode() == "killed %s\n" % victim, k
    r.client.wait(ev="rst", timeout=5)
    rec = one(r.hp.wait_log(n=1, timeout=5))
    assert rec["term"] == "killed" and rec["id"] == victim, rec
    rows = table(topo, hp_bin, path)
    assert len(rows) == OPEN + HALF - 1 and victim not in {x["id"] for x in rows}

    k = admin(topo, hp_bin, path, "kill", "999999")
    assert k.returncode == 1 and b"no such connection 999999" in k.stderr, k
    assert k.stdout == b""
    k = admin(topo, hp_bin, path, "bogus")
    assert k.returncode == 2
    r.server.signal("end")
    r.client.signal("end")


def test_no_such_socket(topo, hp_bin, tmp_path):
    k = admin(topo, hp_bin, str(tmp_path / "none.sock"), "conns")
    assert k.returncode == 1 and b"No such file or directory" in k.stderr, k


def test_off_by_default(topo, hp_bin):
    r = Relay(topo, hp_bin, [[STRIP, WAIT_EOF]])
    r.hp.wait_stderr(r"workers?, splice-pipes")
    assert r.hp.stderr_count(r"admin") == 0
    ux = netns.run(["ss", "-xlH"], ns=topo.proxy).stdout.decode()
    assert "admin" not in ux
