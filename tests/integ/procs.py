"""Processes the integration tests start: test peers and halfpipe itself.

Every process is started here with pipes on stdin/stdout/stderr; reader
threads collect its output so the harness can wait for a line or an event
with a deadline instead of sleeping.  Processes are ended by their own pid,
never by name.
"""

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PEER = os.path.join(HERE, "peer.py")

SANITIZER_ERRORS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")

# Keys every access-log line carries, in order (docs/logging.md).
ACCESS_LOG_KEYS = ("ts id listener client sni alpn backend hello_bytes hello_reads "
                   "c2s_bytes s2c_bytes connect_ms duration_ms first_close "
                   "close_lag_ms client_tcp server_tcp term attempts").split()


def T(seconds):
    return seconds * float(os.environ.get("HP_TEST_TIMEOUT_MULTIPLIER", "1") or "1")


def poll_until(probe, timeout, what, done=bool, step=0.05, since=None, deadline=None,
               fail=True):
    """Poll: call probe() until done(its value) holds, sleeping `step` seconds
    between calls, for at most T(timeout) seconds from `since` (a
    time.monotonic(); default: now), or, with timeout None, until `deadline`
    (a time.monotonic() already scaled).  Bounded both ways: probe() runs at
    least once and once more at or after the deadline, and at most
    int(span / step) + 2 times in all.  Returns the value done() accepted.
    If the deadline comes first: with fail (the default) raises
    AssertionError "<what>: not within N s; last: <last value>"; without,
    returns the last value, for the caller to judge.  For what no event
    announces (files, /proc, ss, another process); peer events and stderr
    lines are waited for with Peer.wait and Halfpipe.wait_stderr."""
    t0 = time.monotonic()
    start = t0 if since is None else since
    if deadline is None:
        deadline = start + T(timeout)
    value, ok = None, False
    for _ in range(int(max(0.0, deadline - t0) / step) + 2):
        value = probe()
        ok = done(value)
        left = deadline - time.monotonic()
        if ok or left <= 0:
            break
        time.sleep(min(step, left))
    if ok or not fail:
        return value
    last = value if isinstance(value, str) else repr(value)
    raise AssertionError("%s: not within %.1fs; last: %s" % (what, deadline - start,
                                                             last[:3000]))


def peer_argv(*args):
    return [sys.executable, PEER] + list(args)


def parse_logfmt(line):
    """One access-log line as a dict; raises ValueError if it is not logfmt
    (key=value tokens separated by single spaces)."""
    rec = {}
    for tok in line.rstrip("\n").split(" "):
        key, eq, val = tok.partition("=")
        if not eq or not key or key in rec:
            raise ValueError("not logfmt: %r" % line)
        rec[key] = val
    return rec


def proc_fds(pid):
    """Open fds of pid by kind: {"total", "socket", "pipe", "other"}."""
    out = {"total": 0, "socket": 0, "pipe": 0, "other": 0}
    d = "/proc/%d/fd" % pid
    for name in os.listdir(d):
        try:
            target = os.readlink(os.path.join(d, name))
        except OSError:
            continue                    # closed meanwhile
        out["total"] += 1
        kind = target.split(":", 1)[0]
        out[kind if kind in ("socket", "pipe") else "other"] += 1
    return out


def proc_rss_kb(pid):
    """Resident set size of pid in KiB (VmRSS)."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for pid %d" % pid)


def proc_nofile(pid):
    """pid's RLIMIT_NOFILE as (soft, hard), from /proc/PID/limits (None:
    unlimited)."""
    with open("/proc/%d/limits" % pid) as f:
        for line in f:
            if line.startswith("Max open files"):
                soft, hard = line[len("Max open files"):].split()[:2]
                return tuple(None if v == "unlimited" else int(v) for v in (soft, hard))
    raise AssertionError("no `Max open files` for pid %d" % pid)


def proc_cpu_s(pid):
    """CPU time (user + system, all threads) pid has used, in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[0] is the state (field 3); utime and stime are fields 14, 15
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# The watchdog's probe, run in halfpipe's namespace: argv host port n timeout.
_PROBE = r"""
import errno, socket, sys, time
host, port, n, tmo = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
fam = socket.AF_INET6 if ":" in host else socket.AF_INET
socks = []
for i in range(n):
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(tmo)
    try:
        s.connect((host, port))
        s.sendall(bytes.fromhex("1603010200"))
        s.shutdown(socket.SHUT_WR)
    except OSError as e:
        if e.errno not in (errno.ECONNRESET, errno.EPIPE, errno.ENOTCONN):
            print("probe %d: connect: %s" % (i, e)); sys.exit(1)
        s.close()       # reset at once (a limit, accept-proxy): answered
        continue
    socks.append(s)
deadline = time.monotonic() + tmo
for i, s in enumerate(socks):
    s.settimeout(max(0.01, deadline - time.monotonic()))
    try:
        while s.recv(4096):
            pass
    except ConnectionResetError:
        pass
    except socket.timeout:
        print("probe %d of %d: no answer within %.1f s" % (i + 1, n, tmo)); sys.exit(1)
    s.close()
"""


class Proc:
    """A child process whose stdout and stderr lines are collected."""

    def __init__(self, argv, name, env=None, popen_kw=None):
        self.name = name
        self.argv = argv
        self.cond = threading.Condition()
        self.out, self.err = [], []
        self.err_t = []             # when each stderr line was read (monotonic)
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, env=env, **(popen_kw or {}))
        self.pid = self.p.pid
        self.readers = [threading.Thread(target=self._read, args=(self.p.stdout, self.out),
                                         daemon=True),
                        threading.Thread(target=self._read, args=(self.p.stderr, self.err),
                                         daemon=True)]
        for r in self.readers:
            r.start()

    def _read(self, f, lines):
        for raw in iter(f.readline, b""):
            line = raw.decode(errors="replace").rstrip("\n")
            with self.cond:
                lines.append(line)
                if lines is self.err:
                    self.err_t.append(time.monotonic())
                self._on_line(f, line)
                self.cond.notify_all()
        with self.cond:
            self.cond.notify_all()

    def _on_line(self, f, line):
        pass

    def running(self):
        return self.p.poll() is None

    def kill(self, sig=signal.SIGKILL):
        """Signal our own child by pid (never by name)."""
        if self.p.poll() is None:
            os.kill(self.pid, sig)

    def wait_exit(self, timeout):
        try:
            return self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def join_readers(self, timeout=5):
        for r in self.readers:
            r.join(T(timeout))

    def stderr_text(self):
        with self.cond:
            return "\n".join(self.err)

    def stderr_lines(self, regex):
        """(time read, line) of every stderr line so far matching regex."""
        rx = re.compile(regex)
        with self.cond:
            return [(t, ln) for t, ln in zip(self.err_t, self.err) if rx.search(ln)]

    def tail(self, n=40):
        with self.cond:
            return "\n".join(self.err[-n:])

    def _close_stdin(self):
        try:
            self.p.stdin.close()
        except OSError:
            pass


class Peer(Proc):
    """A peer.py process: JSON commands in, JSON events out."""

    def __init__(self, argv, name="peer"):
        self.events = []
        self.counts = {}            # events seen so far, by "ev"
        self.conns_by_ev = {}       # "ev" -> the set of "conn"s it came for
        super().__init__(argv, name)

    def _on_line(self, f, line):
        if f is self.p.stdout:
            try:
                ev = json.loads(line)
            except ValueError:
                ev = {"ev": "garbage", "line": line}
            self.events.append(ev)
            self.counts[ev.get("ev")] = self.counts.get(ev.get("ev"), 0) + 1
            if "conn" in ev:
                self.conns_by_ev.setdefault(ev.get("ev"), set()).add(ev["conn"])

    def count(self, *evs):
        """How many events named one of evs came so far (no scan: for peers
        with tens of thousands of events)."""
        with self.cond:
            return sum(self.counts.get(e, 0) for e in evs)

    def conns(self, *evs):
        """The connections that saw at least one of the events evs."""
        with self.cond:
            return set().union(*(self.conns_by_ev.get(e, ()) for e in evs))

    def send(self, **cmd):
        self.p.stdin.write((json.dumps(cmd) + "\n").encode())
        self.p.stdin.flush()

    def listen(self, addr, scripts, **kw):
        """Listen on addr:0; the i-th accepted connection runs scripts[i] (the
        last one for the rest).  Returns the port."""
        n = len(self.find(ev="listening"))
        self.send(cmd="listen", addr=addr, port=0, scripts=scripts, **kw)
        return self.wait(ev="listening", n=n + 1)[-1]["port"]

    def connect(self, addr, port, script, count=1, src=None):
        kw = {"src": src} if src else {}
        self.send(cmd="connect", addr=addr, port=port, count=count, script=script, **kw)

    def signal(self, tag):
        self.send(cmd="signal", tag=tag)

    def find(self, pred=None, **match):
        with self.cond:
            return [e for e in self.events
                    if all(e.get(k) == v for k, v in match.items()) and (pred is None or pred(e))]

    def wait(self, pred=None, n=1, timeout=10, **match):
        """Wait until n events match (ev=..., conn=..., pred); return them all."""
        deadline = time.monotonic() + T(timeout)
        with self.cond:
            for _ in range(1000000):
                hits = [e for e in self.events
                        if all(e.get(k) == v for k, v in match.items())
                        and (pred is None or pred(e))]
                if len(hits) >= n:
                    return hits
                left = deadline - time.monotonic()
                if left <= 0 or (self.p.poll() is not None and not any(
                        r.is_alive() for r in self.readers)):
                    break
                self.cond.wait(min(left, 0.5))
            raise AssertionError(
                "%s: wanted %d event(s) matching %s%s within %.1fs, got %d.\n"
                "last events: %s\nstderr: %s" % (
                    self.name, n, match, " +pred" if pred else "", T(timeout), len(hits),
                    "\n  ".join(json.dumps(e) for e in self.events[-15:]), self.tail(20)))

    def finish(self):
        if self.running():
            try:
                self.send(cmd="exit")
            except OSError:
                pass
        self._close_stdin()
        if self.wait_exit(T(3)) is None:
            self.kill(signal.SIGKILL)
            self.wait_exit(T(5))
        self.join_readers()
        err = self.stderr_text()
        if "Traceback" in err:
            raise AssertionError("%s crashed:\n%s" % (self.name, err[-3000:]))


class Halfpipe(Proc):
    """halfpipe under test.  Knows its listening ports (from its `listening
    on` lines) and its access log."""

    LISTEN_RE = re.compile(r"halfpipe: info: listening on (\S+)")

    def __init__(self, argv, args, tmpdir, nlisten=1, log=True):
        self.args = list(args)
        self.log_path = None
        if "--access-log" in self.args:
            self.log_path = self.args[self.args.index("--access-log") + 1]
        elif log:
            self.log_path = os.path.join(tmpdir, "access-%d.log" % id(self))
            self.args += ["--access-log", self.log_path]
        self.binary_argv = argv + self.args
        self.nlisten = nlisten
        self.addrs = []
        self.exit_code = None
        self.expect_exit = False
        self._log_pos = 0
        self._log_buf = ""
        self.records = []
        self.popen_kw = {}      # e.g. pass_fds and preexec_fn (test_upgrade.py)

    def start(self, timeout=10):
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "abort_on_error=0:detect_leaks=1")
        env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
        super().__init__(self.binary_argv, "halfpipe", env=env, popen_kw=self.popen_kw)
        deadline = time.monotonic() + T(timeout)
        with self.cond:
            for _ in range(100000):
                found = [m.group(1) for m in map(self.LISTEN_RE.search, self.err) if m]
                if len(found) >= self.nlisten:
                    break
                if self.p.poll() is not None and not self.readers[1].is_alive():
                    raise AssertionError("halfpipe exited (%s) before listening: %s\n%s" % (
                        self.p.returncode, " ".join(self.binary_argv), self.tail()))
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("halfpipe printed no `listening on` line in %.1fs:\n%s"
                                         % (T(timeout), self.tail()))
                self.cond.wait(min(left, 0.5))
        for a in found:
            host, _, port = a.rpartition(":")
            self.addrs.append((host.strip("[]"), int(port)))
        self.port = self.addrs[0][1]
        return self

    # -- the process itself ---------------------------------------------------
    def check_pid(self):
        """`ip netns exec` execs halfpipe in place: self.pid is halfpipe's."""
        exe = os.path.basename(os.readlink("/proc/%d/exe" % self.pid))
        exe = exe[:-len(" (deleted)")] if exe.endswith(" (deleted)") else exe   # rebuilt
        assert exe == "halfpipe", "pid %d is %s, not halfpipe" % (self.pid, exe)
        return self.pid

    def fds(self):
        """halfpipe's open fds by kind (see proc_fds)."""
        return proc_fds(self.check_pid())

    def rss_kb(self):
        return proc_rss_kb(self.check_pid())

    def cpu_s(self):
        return proc_cpu_s(self.check_pid())

    def wait_listeners(self, n, timeout=5):
        """Wait until halfpipe holds n listening sockets (one per worker and
        address: the `listening on` lines come from the first worker only,
        the others may still be binding); return its fds then."""
        fds = poll_until(self.fds, timeout, "%d listening sockets" % n,
                         done=lambda f: f["socket"] >= n, step=0.01, fail=False)
        assert fds["socket"] == n, "halfpipe holds %d sockets, want %d listeners" % (
            fds["socket"], n)
        return fds

    def stderr_count(self, regex):
        """How many stderr lines so far match regex."""
        rx = re.compile(regex)
        with self.cond:
            return sum(1 for line in self.err if rx.search(line))

    # -- stderr ---------------------------------------------------------------
    def wait_stderr(self, regex, timeout=10):
        rx = re.compile(regex)
        deadline = time.monotonic() + T(timeout)
        with self.cond:
            for _ in range(100000):
                for line in self.err:
                    if rx.search(line):
                        return line
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("no stderr line matching %r within %.1fs:\n%s" % (
                        regex, T(timeout), self.tail()))
                self.cond.wait(min(left, 0.5))

    # -- access log -----------------------------------------------------------
    def log(self):
        """All access-log records so far (parsed)."""
        if self.log_path is None:
            return []
        try:
            with open(self.log_path, "r", errors="replace") as f:
                f.seek(self._log_pos)
                chunk = f.read()
                self._log_pos = f.tell()
        except FileNotFoundError:
            chunk = ""
        self._log_buf += chunk
        while "\n" in self._log_buf:
            line, self._log_buf = self._log_buf.split("\n", 1)
            if line:
                self.records.append(parse_logfmt(line))
        return list(self.records)

    def wait_log(self, pred=None, n=1, timeout=10, **match):
        """Wait until n access-log records match; return them."""
        hits = poll_until(lambda: [r for r in self.log()
                                   if all(r.get(k) == v for k, v in match.items())
                                   and (pred is None or pred(r))],
                          timeout, "access-log records", done=lambda h: len(h) >= n, step=0.02,
                          fail=False)
        if len(hits) >= n:
            return hits
        raise AssertionError("wanted %d access-log record(s) matching %s within %.1fs, got %d.\n"
                             "log (last 10): %s\nstderr: %s" % (
                                 n, match, T(timeout), len(hits),
                                 "\n  ".join(" ".join("%s=%s" % kv for kv in r.items())
                                             for r in self.records[-10:]), self.tail(20)))

    # -- ending ---------------------------------------------------------------
    def stop(self, sig=signal.SIGTERM, timeout=15):
        """Signal halfpipe, wait for it to exit; return its exit status."""
        self.kill(sig)
        rc = self.wait_exit(T(timeout))
        if rc is None:
            self.kill(signal.SIGKILL)
            self.wait_exit(T(5))
            self.join_readers()
            raise AssertionError("halfpipe did not exit within %.1fs of signal %d:\n%s" % (
                T(timeout), sig, self.tail()))
        self.join_readers()
        self.exit_code = rc
        return rc

    # -- the liveness watchdog (issue 12) -------------------------------------
    PROBES = 8          # connections: with SO_REUSEPORT each lands on some worker
    QUIET_S = 0.2       # the window CPU is measured over (CPU time counts in 10 ms ticks)
    QUIET_CPU_S = 0.04  # at most this much CPU in it, 20 % (a spinning worker: ~QUIET_S)

    def watchdog(self, ns=None):
        """After a test: halfpipe must still serve a new connection and be
        idle.  PROBES clients each send a TLS record header and their FIN;
        every one must be answered (halfpipe closes it: hello-abort, or a
        reset by a limit or accept-proxy) within 3 s, so no worker is deaf
        or stuck; then its CPU over a quiet QUIET_S must stay under
        QUIET_CPU_S, so none is spinning.  Skipped where the test set
        self.watchdog_off (it stopped listening on purpose)."""
        if getattr(self, "watchdog_off", False) or not self.running() or not self.addrs:
            return
        host, port = self.addrs[0]
        argv = [sys.executable, "-c", _PROBE, host, str(port), str(self.PROBES), str(T(3))]
        if ns is not None:
            argv = ["ip", "netns", "exec", ns] + argv
        r = subprocess.run(argv, capture_output=True, timeout=T(20))
        if r.returncode != 0:
            raise AssertionError("watchdog: halfpipe no longer serves new connections "
                                 "after the test: %s\n%s" % (
                                     r.stdout.decode(errors="replace").strip(), self.tail()))
        cpu0 = self.cpu_s()
        time.sleep(self.QUIET_S)        # the window measured, not an ordering wait
        used = self.cpu_s() - cpu0
        if used > self.QUIET_CPU_S:
            raise AssertionError("watchdog: halfpipe used %.2f s of CPU in a quiet %.1f s "
                                 "after the test (spinning?):\n%s" % (
                                     used, self.QUIET_S, self.tail()))

    def sanitizer_report(self):
        err = self.stderr_text()
        for pat in SANITIZER_ERRORS:
            i = err.find(pat)
            if i != -1:
                return err[max(0, i - 200):i + 4000]
        return None

    def assert_clean(self):
        rep = self.sanitizer_report()
        assert rep is None, "sanitizer report in halfpipe's stderr:\n" + rep

    def finish(self):
        died = self.p.poll() is not None and self.exit_code is None
        if self.running():
            self.stop()
        else:
            self.wait_exit(T(5))
            self.join_readers()
            if self.exit_code is None:
                self.exit_code = self.p.returncode
        self._close_stdin()
        self.assert_clean()
        if died and not self.expect_exit:
            raise AssertionError("halfpipe exited on its own during the test (status %s):\n%s"
                                 % (self.exit_code, self.tail()))
        assert self.exit_code == 0, "halfpipe exit status %s:\n%s" % (self.exit_code,
                                                                       self.tail())
