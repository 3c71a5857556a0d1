"""Upgrading the binary refuses no connection (issue 16, docs/upgrade.md).

Socket activation: halfpipe started as systemd starts it (the listening
socket made by the test, passed as fd 3 with LISTEN_PID/LISTEN_FDS set for
the new process) serves from that socket and binds none of its own; two
processes in a row on it (SIGTERM the first, start the second once it has
exited) while clients connect all the time: none refused or reset, every
echo checksummed (between the two, connections wait in the queue).

Hand-over: a new halfpipe started with --take-over OLD_ADMIN_SOCKET takes
the old one's listening sockets; the old drains and exits 0. 200 short
clients and 50 long paced transfers across it: every one complete and
checksummed. A take-over from a path with nothing behind it fails clearly.

Everything on 127.0.0.1 (the loopback fixture): a socket shared by the
test and two processes in turn needs one namespace.
"""

import errno
import hashlib
import os
import signal
import socket
import subprocess
import threading

import peer as peerlib
import procs
from harness import workers_of
from procs import T, poll_until

SNI = "a.example.test"
HELLO = peerlib.client_hello(SNI)


class Echo:
    """A backend on 127.0.0.1: every byte back, its FIN after the client's."""

    def __init__(self):
        self.s = socket.socket()
        self.s.bind(("127.0.0.1", 0))
        self.s.listen(1024)
        self.s.settimeout(0.2)
        self.port = self.s.getsockname()[1]
        self.done = False
        self.threads = []
        self.t = threading.Thread(target=self._accept, daemon=True)
        self.t.start()

    def _accept(self):
        while not self.done:
            try:
                c, _ = self.s.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            t = threading.Thread(target=self._serve, args=(c,), daemon=True)
            self.threads.append(t)
            t.start()

    @staticmethod
    def _serve(c):
        c.settimeout(T(60))
        try:
            for _ in range(1 << 20):
                b = c.recv(65536)
                if not b:
                    c.shutdown(socket.SHUT_WR)
                    break
                c.sendall(b)
        except OSError:
            pass
        finally:
            c.close()

    def close(self):
        self.done = True
        self.t.join(T(5))
        self.s.close()
        for t in self.threads:
            t.join(T(5))


def exchange(port, size, seed, chunk=65536, pace=0.0):
    """One client: connect (a few seconds' timeout: between two processes
    the connection waits in the queue), send a ClientHello then size
    pattern bytes (chunk by chunk, pace seconds apart), FIN, read to EOF.
    "ok" if every byte came back in order (sha256), else what went wrong."""
    data = HELLO + peerlib.pattern(size, seed)
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=T(5))
    except OSError as e:
        return "connect: %s" % (errno.errorcode.get(e.errno, e) if e.errno else "timeout")
    s.settimeout(T(30))
    err = []

    def send():
        try:
            for i in range(0, len(data), chunk):
                s.sendall(data[i:i + chunk])
                if pace:
                    threading.Event().wait(pace)     # pacing the sender, not a wait
            s.shutdown(socket.SHUT_WR)
        except OSError as e:
            err.append("send: %s" % errno.errorcode.get(e.errno, e))

    tx = threading.Thread(target=send, daemon=True)
    tx.start()
    h, n = hashlib.sha256(), 0
    try:
        for _ in range(1 << 20):
            b = s.recv(262144)
            if not b:
                break
            h.update(b)
            n += len(b)
    except OSError as e:
        err.append("recv: %s" % (errno.errorcode.get(e.errno, e) if e.errno else "timeout"))
    tx.join(T(30))
    s.close()
    if err:
        return err[0]
    if (n, h.hexdigest()) != (len(data), hashlib.sha256(data).hexdigest()):
        return "got %d bytes (want %d) or other bytes" % (n, len(data))
    return "ok"


class Load:
    """nthreads clients connecting in a loop, each at most per_thread
    times (pace seconds apart), until stopped: the results."""

    def __init__(self, port, nthreads, per_thread, size=2000, pace=0.0):
        self.pace = pace
        self.results, self.lock, self.stop_ev = [], threading.Lock(), threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(port, per_thread, size, k),
                                         daemon=True) for k in range(nthreads)]
        for t in self.threads:
            t.start()

    def _run(self, port, n, size, k):
        for i in range(n):
            if self.stop_ev.is_set():
                return
            r = exchange(port, size, k * 100000 + i)
            with self.lock:
                self.results.append(r)
            if self.pace:
                self.stop_ev.wait(self.pace)    # pacing, not a wait for an event

    def count(self):
        with self.lock:
            return len(self.results)

    def finish(self):
        self.stop_ev.set()
        for t in self.threads:
            t.join(T(60))
        assert not any(t.is_alive() for t in self.threads), "clients still running"
        return list(self.results)


def hp_args(hp_bin, port, backend, *extra):
    return list(getattr(hp_bin, "extra", [])) + [
        "--listen", "127.0.0.1:%d" % port, "--route", "%s=127.0.0.1:%d" % (SNI, backend),
        "--drain-timeout", "30s"] + list(extra)


def activated(loopback, hp_bin, lsock, args, name="web"):
    """halfpipe started as systemd does: lsock as fd 3, LISTEN_PID its pid
    (bash sets it to its own, then execs halfpipe in place; sh takes no fd over 9), LISTEN_FDS=1."""
    fd = lsock.fileno()
    redir = "" if fd == 3 else " 3<&%d %d<&-" % (fd, fd)
    argv = ["bash", "-c", 'LISTEN_PID=$$ LISTEN_FDS=1 LISTEN_FDNAMES=%s exec "$@"%s' % (
        name, redir), "sh", str(hp_bin)]
    hp = procs.Halfpipe(argv, args, loopback.tmp)
    hp.popen_kw = {"pass_fds": (fd,)}
    loopback._own(hp)
    return hp


def listening(port):
    """The LISTEN sockets of 127.0.0.1:port (ss counts sockets, not fds)."""
    out = subprocess.run(["ss", "-Htln", "sport = :%d" % port], capture_output=True,
                         text=True, check=True, timeout=T(10)).stdout
    return [ln for ln in out.splitlines() if ln.strip()]


def test_socket_activation_two_processes_in_a_row(loopback, hp_bin):
    echo = Echo()
    lsock = socket.socket()
    try:
        lsock.bind(("127.0.0.1", 0))
        lsock.listen(4096)
        port = lsock.getsockname()[1]
        args = hp_args(hp_bin, port, echo.port)
        first = activated(loopback, hp_bin, lsock, args).start()
        first.wait_stderr(r"listening on 127\.0\.0\.1:%d \(from systemd, 1 socket" % port)
        assert len(listening(port)) == 1, listening(port)    # no socket of its own
        assert exchange(port, 10000, 1) == "ok"

        load = Load(port, 8, 400)
        poll_until(load.count, 20, "clients served by the first process",
                   done=lambda n: n >= 40)
        first.kill(signal.SIGTERM)
        rc = first.wait_exit(T(20))
        first.exit_code = rc
        assert rc == 0, "first halfpipe: exit status %s\n%s" % (rc, first.tail())
        first.join_readers()
        before = load.count()
        second = activated(loopback, hp_bin, lsock, args).start()
        poll_until(load.count, 30, "clients served by the second process",
                   done=lambda n: n >= before + 80)
        results = load.finish()
        bad = [r for r in results if r != "ok"]
        assert not bad, "%d of %d clients failed: %s" % (len(bad), len(results),
                                                          sorted(set(bad))[:5])
        assert len(listening(port)) == 1, listening(port)
        assert second.stderr_count(r"from systemd") >= 1
    finally:
        lsock.close()
        echo.close()


def test_socket_activation_unknown_fd_is_fatal(loopback, hp_bin):
    # systemd passes a socket no listen line names: a fatal error naming
    # the fd, its address and its LISTEN_FDNAMES name.
    lsock = socket.socket()
    try:
        lsock.bind(("127.0.0.1", 0))
        lsock.listen(16)
        other = lsock.getsockname()[1]
        hp = activated(loopback, hp_bin, lsock, hp_args(hp_bin, 0, 9), name="stray")
        hp.expect_exit = True
        try:
            hp.start(timeout=5)
        except AssertionError:
            pass
        rc = hp.wait_exit(T(10))
        hp.exit_code = 0 if rc == 1 else rc      # the failure is the test's point
        assert rc == 1, rc
        hp.join_readers()
        assert hp.stderr_count(r'systemd passed fd 3 \(127\.0\.0\.1:%d, name "stray"\), '
                               r"which no listen or metrics address" % other) == 1, hp.tail()
        hp.addrs = []       # nothing to watch: it never served
    finally:
        lsock.close()


def test_take_over_refuses_nothing(loopback, hp_bin):
    echo = Echo()
    admin = os.path.join(loopback.tmp, "admin.sock")
    try:
        old = procs.Halfpipe([str(hp_bin)], hp_args(hp_bin, 0, echo.port, "--admin-socket",
                                                    admin, "--metrics", "127.0.0.1:0"),
                             loopback.tmp)
        loopback._own(old)
        old.start()
        port = old.port
        mport = int(old.wait_stderr(r"serving metrics on 127\.0\.0\.1:\d+").rsplit(":", 1)[1])
        assert exchange(port, 1000, 1) == "ok"

        # 50 long transfers, paced to span the upgrade (2 MiB each, ~4 s)
        long_res, lock = [], threading.Lock()

        def transfer(k):
            r = exchange(port, 2 * 1024 * 1024, 900 + k, chunk=65536, pace=0.12)
            with lock:
                long_res.append(r)

        longs = [threading.Thread(target=transfer, args=(k,), daemon=True) for k in range(50)]
        for t in longs:
            t.start()
        poll_until(lambda: len(listening_conns(port)), 20, "50 transfers established",
                   done=lambda n: n >= 50)
        load = Load(port, 4, 50, pace=0.04)     # 200 clients in all, over ~2 s
        poll_until(load.count, 20, "clients served by the old process",
                   done=lambda n: n >= 10)

        # another number of workers: one watching both of two old sockets,
        # or two sharing the one of an old single worker
        nold = workers_of(hp_bin)
        nnew = 1 if nold > 1 else 2
        new = procs.Halfpipe([str(hp_bin)], hp_args(hp_bin, port, echo.port,
                                                    "--admin-socket", admin,
                                                    "--take-over", admin,
                                                    "--metrics", "127.0.0.1:%d" % mport,
                                                    "--workers", str(nnew)), loopback.tmp)
        loopback._own(new)
        new.start()
        # every worker's listener and the metrics one (bound, it would be in use)
        new.wait_stderr(r"took over %d listening sockets from pid %d" % (nold + 1, old.pid))
        new.wait_stderr(r"serving metrics on 127\.0\.0\.1:%d" % mport)
        new.wait_stderr(r"listening on 127\.0\.0\.1:%d \(taken over, %d sockets?%s\)" % (
            port, nold if nnew == 1 else 1, ", shared by the workers" if nnew > nold else ""))
        old.wait_stderr(r"handover: listening sockets sent; draining")
        with lock:
            assert len(long_res) < 50, "the transfers ended before the hand-over"

        poll_until(load.count, 60, "the 200 clients", done=lambda n: n >= 200)
        results = load.finish()
        for t in longs:
            t.join(T(60))
        assert len(results) == 200, len(results)
        bad = [r for r in results if r != "ok"]
        assert not bad, "%d of 200 clients failed: %s" % (len(bad), sorted(set(bad))[:5])
        assert len(long_res) == 50, long_res
        bad = [r for r in long_res if r != "ok"]
        assert not bad, "%d of 50 transfers failed: %s" % (len(bad), sorted(set(bad))[:5])

        rc = old.wait_exit(T(40))
        old.exit_code = rc
        assert rc == 0, "old halfpipe: exit status %s\n%s" % (rc, old.tail())
        old.join_readers()
        old.addrs = []      # gone: the new one is watched
        new.wait_log(n=1)   # some of the 200 came to the new process
        # the new one serves after the old is gone, and answers the admin path
        assert exchange(port, 5000, 2) == "ok"
        r = subprocess.run([str(hp_bin), "-s", admin, "conns"], capture_output=True,
                           text=True, timeout=T(10))
        assert r.returncode == 0 and r.stdout.startswith("id\t"), r
        m = socket.create_connection(("127.0.0.1", mport), timeout=T(5))
        try:
            m.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
            page = b"".join(iter(lambda: m.recv(65536), b""))
        finally:
            m.close()
        assert page.startswith(b"HTTP/1.0 200"), page[:200]
    finally:
        echo.close()


def listening_conns(port):
    """Established connections to 127.0.0.1:port (halfpipe's side)."""
    out = subprocess.run(["ss", "-Htn", "state", "established", "sport = :%d" % port],
                         capture_output=True, text=True, check=True, timeout=T(10)).stdout
    return [ln for ln in out.splitlines() if ln.strip()]


def test_take_over_from_nothing_fails_clearly(loopback, hp_bin):
    path = os.path.join(loopback.tmp, "nobody.sock")
    r = subprocess.run([str(hp_bin)] + hp_args(hp_bin, 0, 9, "--take-over", path),
                       capture_output=True, text=True, timeout=T(20))
    assert r.returncode == 1, r
    assert "--take-over %s: no halfpipe answers there" % path in r.stderr, r.stderr
    # nothing listening was left behind
    assert "listening on" not in r.stderr, r.stderr


def test_handover_is_not_an_admin_client_command(loopback, hp_bin):
    # `halfpipe -s SOCKET handover` would throw the sockets away: refused
    r = subprocess.run([str(hp_bin), "-s", os.path.join(loopback.tmp, "x.sock"), "handover"],
                       capture_output=True, text=True, timeout=T(10))
    assert r.returncode == 2 and "-s SOCKET wants a command" in r.stderr, r



def free_port():
    """A port nothing listens on now (bound to port 0, then closed)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def halfpipe_holds(pid, port):
    """Whether process pid holds a listening socket of 127.0.0.1:port."""
    out = subprocess.run(["ss", "-Htlnp", "sport = :%d" % port], capture_output=True,
                         text=True, check=True, timeout=T(10)).stdout
    return "pid=%d," % pid in out


def test_reload_keeps_or_closes_an_inherited_socket(loopback, hp_bin):
    # A reload that adds an address keeps the inherited socket of a kept
    # one (halfpipe binds none of its own for it); one that removes it
    # closes halfpipe's copies ("no longer listening"), the test's socket
    # (systemd's) stays.
    echo = Echo()
    lsock = socket.socket()
    conf = os.path.join(loopback.tmp, "hp.conf")
    try:
        lsock.bind(("127.0.0.1", 0))
        lsock.listen(4096)
        a, b = lsock.getsockname()[1], free_port()

        def write(*ports):
            with open(conf, "w") as f:
                f.write("drain-timeout 30s\n")
                for p in ports:
                    f.write("listen 127.0.0.1:%d\nroute %s 127.0.0.1:%d\n" % (p, SNI, echo.port))

        def reload(n):
            hp.kill(signal.SIGHUP)
            poll_until(lambda: hp.stderr_count(r"info: reloaded: "), 20, "reload %d" % n,
                       done=lambda k: k >= n)

        write(a)
        hp = activated(loopback, hp_bin, lsock, ["-c", conf] + list(hp_bin.extra)).start()
        hp.wait_stderr(r"listening on 127\.0\.0\.1:%d \(from systemd" % a)
        assert exchange(a, 3000, 1) == "ok"
        write(b, a)
        reload(1)
        assert exchange(a, 3000, 2) == "ok" and exchange(b, 3000, 3) == "ok"
        assert len(listening(a)) == 1 and halfpipe_holds(hp.pid, a), listening(a)
        write(b)
        reload(2)
        hp.wait_stderr(r"no longer listening on 127\.0\.0\.1:%d" % a)
        assert not halfpipe_holds(hp.pid, a)
        assert len(listening(a)) == 1          # the test's own, as systemd's
        hp.addrs = [("127.0.0.1", b)]           # what the watchdog probes
        assert exchange(b, 3000, 4) == "ok"
    finally:
        lsock.close()
        echo.close()


def test_take_over_refused_by_a_draining_halfpipe(loopback, hp_bin):
    # the old one is draining (SIGTERM, a connection still live on its one
    # worker): it has no listening socket left to give and says so; the new
    # one exits 1 with that message; the old one finishes its drain.
    echo = Echo()
    admin = os.path.join(loopback.tmp, "admin.sock")
    held = None
    try:
        old = procs.Halfpipe([str(hp_bin)], hp_args(hp_bin, 0, echo.port, "--admin-socket",
                                                    admin, "--workers", "1"), loopback.tmp)
        loopback._own(old)
        old.start()
        held = socket.create_connection(("127.0.0.1", old.port), timeout=T(5))
        held.sendall(HELLO)
        poll_until(lambda: len(listening_conns(old.port)), 10, "the held connection",
                   done=lambda n: n >= 1)
        old.kill(signal.SIGTERM)
        old.wait_stderr(r"draining: no new connections")
        r = subprocess.run([str(hp_bin)] + hp_args(hp_bin, old.port, echo.port,
                                                   "--take-over", admin),
                           capture_output=True, text=True, timeout=T(20))
        assert r.returncode == 1, r
        assert ("--take-over %s: the old halfpipe refused: handover refused: draining" % admin
                in r.stderr), r.stderr
        held.close()
        held = None
        rc = old.wait_exit(T(40))
        old.exit_code = rc
        assert rc == 0, old.tail()
        old.join_readers()
    finally:
        if held is not None:
            held.close()
        echo.close()


def test_take_over_from_a_silent_socket_times_out(loopback, hp_bin):
    # something listens at the path but never answers: the take-over gives
    # up after 5 s, exit 1, and says so
    path = os.path.join(loopback.tmp, "silent.sock")
    s = socket.socket(socket.AF_UNIX)
    try:
        s.bind(path)
        s.listen(4)
        r = subprocess.run([str(hp_bin)] + hp_args(hp_bin, 0, 9, "--take-over", path),
                           capture_output=True, text=True, timeout=T(20))
        assert r.returncode == 1, r
        assert "--take-over %s: no answer within 5000 ms" % path in r.stderr, r.stderr
    finally:
        s.close()


def test_take_over_into_other_addresses(loopback, hp_bin):
    # the new configuration has another address: the old one's sockets are
    # closed (and said so), the new address is bound; once the old one has
    # drained nothing listens on the old address any more.
    echo = Echo()
    admin = os.path.join(loopback.tmp, "admin.sock")
    try:
        old = procs.Halfpipe([str(hp_bin)], hp_args(hp_bin, 0, echo.port, "--admin-socket",
                                                    admin), loopback.tmp)
        loopback._own(old)
        old.start()
        a, b = old.port, free_port()
        new = procs.Halfpipe([str(hp_bin)], hp_args(hp_bin, b, echo.port, "--admin-socket",
                                                    admin, "--take-over", admin), loopback.tmp)
        loopback._own(new)
        new.start()
        line = new.wait_stderr(r"listening on 127\.0\.0\.1:%d" % b)
        assert "taken over" not in line, line
        assert new.stderr_count(r"taken over: 127\.0\.0\.1:%d is not in the configuration: "
                                r"closed" % a) == workers_of(hp_bin), new.tail()
        rc = old.wait_exit(T(20))
        old.exit_code = rc
        assert rc == 0, old.tail()
        old.join_readers()
        old.addrs = []
        assert listening(a) == [], listening(a)
        assert exchange(b, 3000, 5) == "ok"
    finally:
        echo.close()
