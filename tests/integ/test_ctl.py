"""Control connections (src/ctl.c): the admin socket and the metrics endpoint
are one machine, so they agree: at most 8 clients at once, more are reset at
accept; a client that says nothing is reset when its 5 s are up; a client that
leaves before its answer costs nothing; then both still answer. `help` lists
the admin commands, one row each."""

import errno
import re
import socket
import time

import netns
from harness import SNI, T

CAP, DEADLINE = 8, 5.0


def _start(loopback, hp_bin, tmp_path):
    sock = str(tmp_path / "admin.sock")
    hp = loopback.halfpipe(hp_bin, ["--listen", "127.0.0.1:0",
                                    "--route", "%s=127.0.0.1:9" % SNI,
                                    "--metrics", "127.0.0.1:0", "--admin-socket", sock])
    line = hp.wait_stderr(r"serving metrics on 127\.0\.0\.1:\d+")
    hp.wait_stderr(r"admin socket on ")
    return hp, sock, int(line.rsplit(":", 1)[1])


def _metrics_conn(port):
    return socket.create_connection(("127.0.0.1", port), timeout=T(10))


def _admin_conn(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(T(10))
    s.connect(path)
    return s


def _answer(s, req):
    """Send req, our FIN, and read the answer to EOF."""
    s.sendall(req)
    s.shutdown(socket.SHUT_WR)
    out = b""
    while True:
        b = s.recv(65536)
        if not b:
            return out
        out += b


def _refused(s):
    """The server ended s without an answer: a reset (TCP), or for a unix
    socket, which has no reset, an end with nothing sent."""
    try:
        return s.recv(1) == b""
    except ConnectionResetError:
        return True


def _check(new_conn, request, ok):
    held = [new_conn() for _ in range(CAP)]
    try:
        # every slot holds: the next client is turned away at once
        wait_from = time.monotonic()
        try:
            extra = new_conn()
        except ConnectionResetError:    # the reset came before connect() returned
            extra = None
        assert extra is None or _refused(extra), "a client over the cap was served"
        assert time.monotonic() - wait_from < T(2), "over the cap: not at accept"
        if extra is not None:
            extra.close()
        # the silent ones are reset when their deadline passes, not before
        for s in held:
            assert _refused(s), "a silent client was not ended"
        took = time.monotonic() - wait_from
        assert DEADLINE - 1.0 < took < T(DEADLINE + 3), "silent clients ended after %.1fs" % took
    finally:
        for s in held:
            s.close()
    # a client that leaves before its answer (FIN mid-request, then close)
    gone = new_conn()
    gone.sendall(request[:3])
    gone.close()
    # and then the server answers again
    s = new_conn()
    try:
        out = _answer(s, request)
    finally:
        s.close()
    assert ok(out), out[:200]


def test_metrics_cap_and_deadline(loopback, hp_bin, tmp_path):
    _, _, port = _start(loopback, hp_bin, tmp_path)
    _check(lambda: _metrics_conn(port), b"GET /metrics HTTP/1.0\r\n\r\n",
           lambda out: out.startswith(b"HTTP/1.0 200 OK") and b"halfpipe_connections_total" in out)


def test_admin_cap_and_deadline(loopback, hp_bin, tmp_path):
    _, sock, _ = _start(loopback, hp_bin, tmp_path)
    _check(lambda: _admin_conn(sock), b"conns\n",
           lambda out: out.startswith(b"id\tclient\tsni"))


def test_admin_help_lists_every_command(loopback, hp_bin, tmp_path):
    hp, sock, _ = _start(loopback, hp_bin, tmp_path)
    s = _admin_conn(sock)
    try:
        out = _answer(s, b"help\n").decode()
    finally:
        s.close()
    usages = [l.split("\t")[0] for l in out.splitlines()]
    assert usages == ["conns", "kill ID", "kill route=NAME", "kill server=HOST:PORT", "servers",
                      "disable HOST:PORT", "drain HOST:PORT", "enable HOST:PORT", "handover",
                      "help"], out
    assert all(re.match(r"^[^\t]+\t\S.*$", l) for l in out.splitlines()), out
    r = netns.run([str(hp_bin), "-s", sock, "help"], check=False)
    assert r.returncode == 0 and r.stdout.decode() == out, r
