"""Issue 12: regression tests for the peer faults that used to stop a worker,
lose a reset, truncate a stream or spin.  Each test is named after its
defect; each failed on the code before the fix (see the commit message).

Some run on loopback with plain sockets in this process (the test needs
MSG_OOB or exact control of when a reset goes out); the others in
namespaces with the scripted peers."""

import os
import random
import socket
import struct
import threading
import time

import netns
import peer as peerlib
from harness import (PROXY_CADDR, SERVER_ADDR, SHUT, SNI, STRIP, WAIT_EOF, Relay, hello,
                     pattern, poll_until, send_pattern, wait_tag, T)

LINGER0 = struct.pack("ii", 1, 0)


def _hp_loopback(topo, hp_bin, backend_port, *extra):
    return topo.halfpipe(hp_bin, ["--listen", "127.0.0.1:0",
                                  "--route", "%s=127.0.0.1:%d" % (SNI, backend_port),
                                  "--hello-timeout", "5s", "--connect-timeout", "5s",
                                  "--idle-timeout", "30s", "--half-closed-timeout", "10s",
                                  "--drain-timeout", "1s"] + list(extra))


class Backend:
    """A loopback TCP server in a thread: each connection's handler gets the
    accepted socket; handlers' exceptions are kept for the test to raise."""

    def __init__(self, handler):
        self.ls = socket.socket()
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(64)
        self.ls.settimeout(T(0.2))
        self.port = self.ls.getsockname()[1]
        self.handler, self.errors, self.stop = handler, [], threading.Event()
        self.threads = []
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        deadline = time.monotonic() + T(120)
        while not self.stop.is_set() and time.monotonic() < deadline:
            try:
                s, _ = self.ls.accept()
            except socket.timeout:
                continue
            th = threading.Thread(target=self._serve, args=(s,), daemon=True)
            th.start()
            self.threads.append(th)

    def _serve(self, s):
        try:
            s.settimeout(T(10))
            self.handler(s)
        except Exception as e:  # noqa: BLE001 - reported by close()
            self.errors.append(e)
        finally:
            s.close()

    def close(self):
        self.stop.set()
        self.t.join(T(5))
        for th in self.threads:
            th.join(T(10))
        self.ls.close()
        if self.errors:
            raise self.errors[0]


def recv_exact(s, n):
    out = b""
    while len(out) < n:
        d = s.recv(n - len(out))
        if not d:
            break
        out += d
    return out


def recv_to_eof(s, limit=64 << 20):
    out = []
    got = 0
    while got < limit:
        d = s.recv(1 << 20)
        if not d:
            break
        out.append(d)
        got += len(d)
    return b"".join(out)


HELLO = peerlib.client_hello(SNI)


def strip_hello(s):
    h = recv_exact(s, len(HELLO))
    assert h == HELLO, "the backend got %d bytes of hello, not the %d sent" % (len(h), len(HELLO))


def served_once(port, timeout=3):
    """A fresh client through halfpipe: hello in, 5 bytes back, both close."""
    c = socket.create_connection(("127.0.0.1", port), timeout=T(timeout))
    try:
        c.sendall(HELLO)
        got = recv_exact(c, 5)
        c.shutdown(socket.SHUT_WR)
        rest = recv_to_eof(c)
    finally:
        c.close()
    return got + rest


def echo5(s):
    strip_hello(s)
    s.sendall(b"hello")
    s.shutdown(socket.SHUT_WR)
    recv_to_eof(s)


def test_issue12_defect1_reset_during_hello_keeps_worker(loopback, hp_bin):
    # 1,000 clients reset at random points of their ClientHello (0 bytes to
    # all but the last), as TCP health checks do; one worker.  It used to
    # loop for ever on the first (reading fd -1).  Each is logged
    # hello-abort, the next client is served at once and the worker is
    # idle afterwards.
    be = Backend(echo5)
    try:
        hp = _hp_loopback(loopback, hp_bin, be.port, "--workers", "1")
        rnd = random.Random(12)
        total, batch = 1000, 100
        for _ in range(total // batch):
            socks = []
            for _ in range(batch):
                c = socket.create_connection(("127.0.0.1", hp.port), timeout=T(5))
                k = rnd.randrange(0, len(HELLO))
                if k:
                    c.sendall(HELLO[:k])
                socks.append(c)
            for c in socks:
                c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER0)
                c.close()
        recs = hp.wait_log(n=total, timeout=20)
        bad = [r for r in recs if r["term"] != "hello-abort"]
        assert not bad, "not hello-abort: %s" % bad[:3]
        t0 = time.monotonic()
        assert served_once(hp.port) == b"hello"
        assert time.monotonic() - t0 < T(2), "the next client waited"
        cpu0 = hp.cpu_s()
        time.sleep(1.0)     # the quiet second being measured, not an ordering wait
        assert hp.cpu_s() - cpu0 < 0.1, "halfpipe busy while idle"
    finally:
        be.close()


def _cut_after_fin(topo, hp_bin, who):
    # `who` sends 64 KiB and its FIN, then, once the other side has the EOF,
    # resets.  The other side must be reset at once (half-closed-timeout is
    # 10 s here), and the log says who reset.
    n = 64 * 1024
    if who == "server":
        r = Relay(topo, hp_bin, [[STRIP, send_pattern(n, 1), SHUT, wait_tag("rst"),
                                  {"op": "rst"}]], opts={"half-closed-timeout": "10s"})
        r.connect([hello(), WAIT_EOF, wait_tag("never")])
        got = r.client.wait(ev="eof")[0]
        assert got["rx"] == n
        r.server.signal("rst")
        sent = r.server.wait(ev="rst_sent")[0]
        other_ns, other_ep = topo.client, [(PROXY_CADDR, r.port)]
    else:
        r = Relay(topo, hp_bin, [[STRIP, WAIT_EOF, wait_tag("never")]],
                  opts={"half-closed-timeout": "10s"})
        r.connect([hello(), send_pattern(n, 2), SHUT, wait_tag("rst"), {"op": "rst"}])
        got = r.server.wait(ev="eof")[0]
        assert got["rx"] == n
        r.client.signal("rst")
        sent = r.client.wait(ev="rst_sent")[0]
        other_ns, other_ep = topo.server, [(SERVER_ADDR, r.sport)]
    rec = r.hp.wait_log(n=1, timeout=3)[0]
    assert rec["term"] == "%s-rst" % who, rec
    # the other peer's socket (in CLOSE_WAIT after our FIN) is gone: reset
    netns.assert_no_lingering(other_ns, other_ep, deadline=sent["t"] + T(2),
                              what="the other peer's socket")
    r.assert_no_lingering(deadline=time.monotonic() + T(2))


def test_issue12_defect2_server_rst_after_its_fin_resets_client(topo, hp_bin):
    _cut_after_fin(topo, hp_bin, "server")


def test_issue12_defect2_client_rst_after_its_fin_resets_server(topo, hp_bin):
    _cut_after_fin(topo, hp_bin, "client")


def _urgent_stream(bulk):
    """What the sender writes: bulk bytes (so the direction splices), then
    an urgent byte, then more."""
    return pattern(bulk, 3), b"!", pattern(70000, 4)


def _send_urgent(s, parts, fin, receiver_got):
    a, u, b = parts
    s.sendall(a)
    s.send(u, socket.MSG_OOB)
    s.sendall(b)
    if not fin:     # no FIN behind the mark: everything must still arrive
        assert receiver_got.wait(T(5)), "the bytes after the urgent mark never arrived"
    s.shutdown(socket.SHUT_WR)


def _urgent_case(topo, hp_bin, direction, bulk, fin):
    a, u, b = _urgent_stream(bulk)
    want = a + u + b
    got_all = threading.Event()
    result = {}

    def receive(s):
        buf = b""
        while len(buf) < len(want):
            d = s.recv(1 << 20)
            if not d:
                break
            buf += d
        if len(buf) >= len(want):
            got_all.set()
        buf += recv_to_eof(s)
        return buf

    def handler(s):
        strip_hello(s)
        if direction == "c2s":
            result["got"] = receive(s)
            s.shutdown(socket.SHUT_WR)
        else:
            _send_urgent(s, (a, u, b), fin, got_all)
            recv_to_eof(s)

    be = Backend(handler)
    try:
        hp = _hp_loopback(topo, hp_bin, be.port)
        c = socket.create_connection(("127.0.0.1", hp.port), timeout=T(10))
        try:
            c.sendall(HELLO)
            if direction == "c2s":
                _send_urgent(c, (a, u, b), fin, got_all)
                recv_to_eof(c)
            else:
                result["got"] = receive(c)
                c.shutdown(socket.SHUT_WR)
        finally:
            c.close()
        rec = hp.wait_log(n=1)[0]
    finally:
        be.close()
    got = result.get("got", b"")
    assert got == want, "%s: %d bytes arrived of %d (the urgent byte at %d)" % (
        direction, len(got), len(want), len(a))
    assert rec["term"] in ("client-fin", "server-fin"), rec


def test_issue12_defect3_urgent_byte_c2s_fin_behind(loopback, hp_bin):
    _urgent_case(loopback, hp_bin, "c2s", 1 << 20, True)


def test_issue12_defect3_urgent_byte_c2s_no_fin(loopback, hp_bin):
    _urgent_case(loopback, hp_bin, "c2s", 1 << 20, False)


def test_issue12_defect3_urgent_byte_s2c_fin_behind(loopback, hp_bin):
    _urgent_case(loopback, hp_bin, "s2c", 1 << 20, True)


def test_issue12_defect3_urgent_byte_s2c_no_fin_small(loopback, hp_bin):
    _urgent_case(loopback, hp_bin, "s2c", 1000, False)


def test_issue12_defect4_no_spare_fd_no_spin(loopback, hp_bin):
    # The fd limit is lowered below every fd halfpipe holds, so accept fails
    # with EMFILE and not even the spare can be reopened.  A waiting client
    # must cost no CPU (each failed accept used to re-arm the listener with
    # EPOLL_CTL_MOD, which woke it at once: 100 % CPU), and be served once
    # the limit is back.
    be = Backend(echo5)
    try:
        hp = _hp_loopback(loopback, hp_bin, be.port, "--workers", "1")
        hp.wait_listeners(1)
        pid = str(hp.check_pid())
        soft, hard = netns.procs.proc_nofile(hp.pid)
        netns.run(["prlimit", "--pid", pid, "--nofile=3:%s" % (hard or "unlimited")])
        c = socket.create_connection(("127.0.0.1", hp.port), timeout=T(10))
        try:
            hp.wait_stderr("out of file descriptors", timeout=5)
            cpu0 = hp.cpu_s()
            time.sleep(1.0)     # the window being measured
            used = hp.cpu_s() - cpu0
            assert used < 0.2, "%.2f s of CPU in 1 s while out of fds" % used
            netns.run(["prlimit", "--pid", pid, "--nofile=%s:%s" % (soft, hard or "unlimited")])
            c.sendall(HELLO)
            assert recv_exact(c, 5) == b"hello", "not served once the limit was back"
            c.shutdown(socket.SHUT_WR)
            recv_to_eof(c)
        finally:
            c.close()
        hp.wait_log(n=1)
    finally:
        be.close()


def test_issue12_defect6_reject_with_fin_waits_for_ack(topo, hp_bin):
    # A hello for a name with no route and the client's FIN arrive together;
    # the client then never acknowledges our FIN (its FINs from us are
    # dropped).  halfpipe used to close at once, leaving an orphan in
    # LAST_ACK retransmitting for minutes; it now holds the socket up to
    # half-closed-timeout (1 s) and resets it: nothing lingers past that.
    r = Relay(topo, hp_bin, [[STRIP, WAIT_EOF]], opts={"half-closed-timeout": "1s"})
    netns.NftTable(topo, topo.client, ["ip saddr %s tcp flags & fin == fin drop" % PROXY_CADDR],
                   [])
    r.connect([hello("nobody.example.test"), SHUT, wait_tag("never")])
    sent = r.client.wait(ev="shut")[0]
    rec = r.hp.wait_log(n=1, timeout=5)[0]
    assert rec["term"] == "no-route", rec
    netns.assert_no_lingering(topo.proxy, [(PROXY_CADDR, r.port)], deadline=sent["t"] + T(3),
                              what="the rejected client's socket")


BENCH_BACKEND = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "build", "bench-backend")


def test_issue12_defect7_fast_flows_share_the_worker(loopback, hp_bin):
    # One worker; two downloads as fast as both ends can go (bench-backend
    # sources 16 GiB each, the readers here never pause).  A direction
    # used to pump until a socket would block, which on loopback may be
    # never; it now gives way after PUMP_BUDGET bytes.  A third connection
    # opened meanwhile gets its first byte within a second.
    import subprocess
    be = subprocess.Popen([BENCH_BACKEND, "-t", "60", "-s", "source", str(16 << 30)],
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    readers, stop, moved = [], threading.Event(), [0, 0]
    try:
        port = int(be.stdout.readline())
        hp = _hp_loopback(loopback, hp_bin, port, "--workers", "1")

        def read_fast(i, c):
            buf = bytearray(4 << 20)
            deadline = time.monotonic() + T(30)
            while not stop.is_set() and time.monotonic() < deadline:
                n = c.recv_into(buf)
                if n == 0:
                    break
                moved[i] += n
        for i in range(2):
            c = socket.create_connection(("127.0.0.1", hp.port), timeout=T(10))
            c.sendall(HELLO)
            th = threading.Thread(target=read_fast, args=(i, c), daemon=True)
            th.start()
            readers.append((th, c))
        poll_until(lambda: list(moved), 10, "both downloads going (64 MiB each)",
                   done=lambda m: min(m) > 64 << 20, step=0.01)
        be.stdin.write(b"hold\n")       # the next connection: one byte, then idle
        be.stdin.flush()
        be.stdout.readline()
        t0 = time.monotonic()
        c3 = socket.create_connection(("127.0.0.1", hp.port), timeout=T(10))
        c3.sendall(HELLO)
        first = c3.recv(1)
        took = time.monotonic() - t0
        c3.close()
        assert first, "the third connection got nothing"
        assert min(moved) > 64 << 20
        assert took < T(1.0), "the third connection waited %.2f s beside two fast flows" % took
    finally:
        stop.set()
        for th, c in readers:
            th.join(T(35))
            c.close()
        be.stdin.close()
        be.terminate()
        be.wait(T(10))
