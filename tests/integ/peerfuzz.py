#!/usr/bin/python3
"""A randomized peer fuzzer for halfpipe: invariants instead of expected values.

    python3 tests/integ/peerfuzz.py [--seed S] [--conns N] [--seconds T]
            [--variant plain|copy|asan[,...]] [--binary PATH] [--only I,J,...]

One Topology (client, proxy, server namespaces), one halfpipe with short
timeouts and a route for SNI fuzz.test to a server agent; a client agent opens
N connections over T seconds (a uniform spread plus bursts).  Each agent is
this file run as `peerfuzz.py agent ROLE NFT_TABLE` inside its namespace: one
epoll loop for all its connections, JSON commands on stdin, one JSON report
per connection side on stdout.

Every connection has a seed derived from the run seed and its index; from it
both sides draw their action sequence (random.Random, so `--seed S` replays
every plan, `--only I` replays connection I alone): send N bytes (1 B ..
256 KiB, log-uniform; blocking or not), pause, an urgent byte (MSG_OOB: a
normal payload byte once halfpipe has delivered it inline), stop reading for
a while, wait for bytes, FIN, RST (SO_LINGER {1,0} + close), vanish (an nft
rule in the side's own namespace drops the connection's 4-tuple both ways,
the socket is never touched again).  The client sends a real ClientHello
(Python's ssl, ALPN "fz.I.SEED" so the server agent knows the connection),
whole or split with a pause, or ends (RST, FIN, vanish, silence) before it is
complete.  Payload bytes are a keystream per connection and direction, so a
receiver checks every byte as it arrives.  Reading stays on unless stopped,
so an EOF or a reset is seen when it comes; after an EOF the socket stays
registered for errors only (epoll always reports EPOLLERR/EPOLLHUP), so a
reset that arrives after the EOF is seen too.  A side ends when it reset or
vanished, when it observed a reset (recv/send/SO_ERROR), or when it both sent
its FIN and read the EOF (then close()); a side whose plan is over otherwise
stays open until one of those happens (halfpipe's timeouts see to it).

Invariants, checked for every connection (docs/design.md, README.md):

 I1  a clean EOF reaches a side only if the other side sent FIN and every byte
     it wrote before the FIN arrived (count and sha256 equal).
 I2  a received stream is a prefix of what the other side sent (checked byte
     by byte against the keystream; the server's hello is the client's).
 I3  a RST sent by one side reaches the other as a reset (ECONNRESET/EPIPE on
     recv, send or SO_ERROR) within 1 s, unless the other side had itself
     reset, vanished or ended cleanly by then (or, not reading, had both FINs
     in its kernel: a closed socket sees no RST).
 I4  both sides end (no hang) within the last provable activity + the largest
     timeout + slack; halfpipe logs exactly one access-log line per client
     connection, with a documented term, and the term is checked where the
     actions determine it (see check_term()); the line's byte counts agree
     with what the peers saw.
 I5  nothing in the proxy namespace lingers in FIN-WAIT-1/2, CLOSE-WAIT,
     LAST-ACK or CLOSING past the largest timeout + 2 s after the last end.
 I6  afterwards halfpipe is idle (< 0.1 s CPU over a quiet second) and serves
     fresh connections at once (hello through, a byte back, within 2 s).

Timeouts and tolerances scale with HP_TEST_TIMEOUT_MULTIPLIER.
"""

import argparse
import errno
import hashlib
import heapq
import json
import os
import random
import re
import resource
import select
import socket
import ssl
import struct
import subprocess
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
SELF = os.path.abspath(__file__)

SNI = "fuzz.test"
CLIENT_ADDR = "198.18.1.1"
PROXY_CADDR = "198.18.1.2"
PROXY_SADDR = "198.18.2.2"
SERVER_ADDR = "198.18.2.1"

TIMEOUTS = {"hello-timeout": 2.0, "connect-timeout": 2.0, "idle-timeout": 3.0,
            "half-closed-timeout": 2.0, "drain-timeout": 1.0}
LARGEST = 3.0                   # the largest relay timeout
SHORTEST_RELAY = 2.0            # half-closed-timeout
RESET_WITHIN = 1.0              # I3
# TCP states (tcp_states.h) in which close() with SO_LINGER {1, 0} sends no
# RST: TIME_WAIT, CLOSE, LAST_ACK, CLOSING.
NO_RST_STATES = (6, 7, 9, 11)
SLACK = 1.5                     # I4: on top of the largest timeout
MARGIN = 0.25                   # clock and loop jitter when deciding what a timer could do
PORT_BASE = 10000               # client i binds PORT_BASE + i: one log line per port
MAX_CONNS = 20000
PROBE_BASE = 1000000            # probe connections (I6): i >= PROBE_BASE
PROBE_PORT = 31000
PROBES = 6

TERMS = set("""client-fin server-fin client-rst server-rst hello-timeout connect-timeout
idle-timeout half-closed-timeout drain-timeout hello-abort no-sni no-route not-tls
malformed connect-refused connect-error resource proxy-refused bad-proxy killed
no-server denied max-lifetime""".split())
RELAY_TERMS = {"client-fin", "server-fin", "client-rst", "server-rst", "idle-timeout",
               "half-closed-timeout"}
FIN_TERMS = {"client-fin", "server-fin"}
TIMEOUT_TERMS = {"idle-timeout", "half-closed-timeout"}


def mult():
    return float(os.environ.get("HP_TEST_TIMEOUT_MULTIPLIER", "1") or "1")


def T(s):
    return s * mult()


def now():
    return time.monotonic()


# ---- shared by the engine and the agents ---------------------------------------

def conn_seed(run_seed, i):
    """The seed of connection i of run run_seed (64 bits)."""
    return int.from_bytes(hashlib.sha256(b"%d/%d" % (run_seed, i)).digest()[:8], "big")


class KeyStream:
    """The bytes a side sends in one direction: block k of the stream is
    shake_128(seed/direction/k), so any offset is cheap to produce again."""

    BLOCK = 16384

    def __init__(self, seed, direction):
        self.key = b"%d/%s/" % (seed, direction.encode())
        self.k, self.blk = -1, b""

    def _block(self, k):
        if k != self.k:
            self.k, self.blk = k, hashlib.shake_128(self.key + b"%d" % k).digest(self.BLOCK)
        return self.blk

    def get(self, off, n):
        out = []
        while n > 0:
            k, o = divmod(off, self.BLOCK)
            piece = self._block(k)[o:o + n]
            out.append(piece)
            off += len(piece)
            n -= len(piece)
        return b"".join(out)


_hello_ctx = None


def make_hello(alpn):
    """A real ClientHello (Python's ssl through memory BIOs) for SNI fuzz.test
    offering ALPN protocol alpn, which names the connection to the server."""
    global _hello_ctx
    if _hello_ctx is None:
        _hello_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        _hello_ctx.check_hostname = False
        _hello_ctx.verify_mode = ssl.CERT_NONE
    _hello_ctx.set_alpn_protocols([alpn])
    outgoing = ssl.MemoryBIO()
    tls = _hello_ctx.wrap_bio(ssl.MemoryBIO(), outgoing, server_hostname=SNI)
    try:
        tls.do_handshake()
    except ssl.SSLWantReadError:
        pass
    data = outgoing.read()
    if not data or data[0] != 0x16:
        raise RuntimeError("ssl produced no ClientHello")
    return data


def alpn_of(i, seed):
    return "fz.%d.%016x" % (i, seed)


ALPN_RE = re.compile(rb"fz\.(\d+)\.([0-9a-f]{16})")


def hello_records_len(buf):
    """How many bytes at the start of buf the ClientHello's handshake records
    take: None while incomplete, -1 if buf is not a TLS handshake."""
    off = got = 0
    need = None
    for _ in range(64):
        if len(buf) < off + 5:
            return None
        if buf[off] != 0x16:
            return -1
        rlen = int.from_bytes(buf[off + 3:off + 5], "big")
        if len(buf) < off + 5 + rlen:
            return None
        if need is None:
            head = buf[off + 5:off + 9]
            if len(head) < 4:
                return -1           # a body too short for the handshake header
            need = 4 + int.from_bytes(head[1:4], "big")
        got += rlen
        off += 5 + rlen
        if got >= need:
            return off
    return -1


# ---- plans -----------------------------------------------------------------------
#
# An action is a JSON list: ["hello", a, b] (send the ClientHello's bytes from
# fraction a to b), ["send", n], ["send_async", n] (the next action does not
# wait for the bytes to be written), ["pause", ms], ["oob"], ["stop_read", ms],
# ["await_rx", k, ms] (until k more bytes came, EOF, reset or ms passed),
# ["fin"], ["rst"], ["vanish"].  What is left after the plan: stay open.

MIDDLE = (("send", 30), ("send_async", 10), ("pause", 14), ("oob", 5), ("stop_read", 8),
          ("await_rx", 10), ("fin", 8), ("rst", 3), ("vanish", 2))
DATA_ACTS = ("send", "send_async", "oob", "hello", "fin")


def _pick(rng, weighted):
    total = sum(w for _, w in weighted)
    x = rng.uniform(0, total)
    for k, w in weighted:
        x -= w
        if x <= 0:
            return k
    return weighted[-1][0]


def _action(rng, kind):
    if kind in ("send", "send_async"):
        return [kind, max(1, int(2 ** rng.uniform(0, 18)))]
    if kind == "pause":
        return [kind, rng.randint(0, 300)]
    if kind == "stop_read":
        return [kind, rng.randint(50, 900) if rng.random() < 0.85 else rng.randint(1000, 4000)]
    if kind == "await_rx":
        return [kind, rng.randint(1, 65536), rng.randint(100, 1000)]
    return [kind]


def plan_for(seed, role, i=0):
    """The actions of one side (role client or server) of connection seed."""
    if i >= PROBE_BASE:                     # I6: hello through, one byte back
        return ([["hello", 0.0, 1.0], ["await_rx", 1, int(T(2) * 1000)], ["fin"]]
                if role == "client" else [["send", 1], ["fin"]])
    rng = random.Random("%d/%s" % (seed, role))
    plan = []
    if role == "client":
        r = rng.random()
        if r < 0.12:                        # end before the hello is complete
            cut = rng.random()
            if cut > 0.2 and rng.random() < 0.5:
                mid = rng.uniform(0.05, cut)
                plan += [["hello", 0.0, mid], ["pause", rng.randint(0, 300)],
                         ["hello", mid, cut]]
            elif cut > 0.02:
                plan += [["hello", 0.0, cut]]
            plan += [["pause", rng.randint(0, 300)]]
            end = _pick(rng, (("rst", 45), ("fin", 45), ("vanish", 5), ("stay", 5)))
            if end != "stay":
                plan.append([end])
            return plan
        if r < 0.45:
            mid = rng.uniform(0.01, 0.99)
            plan += [["hello", 0.0, mid], ["pause", rng.randint(0, 300)], ["hello", mid, 1.0]]
        else:
            plan += [["hello", 0.0, 1.0]]
    finned = False
    for _ in range(rng.randint(0, 9)):
        choices = [(k, w) for k, w in MIDDLE
                   if not (finned and k in ("send", "send_async", "oob", "fin"))]
        act = _action(rng, _pick(rng, choices))
        plan.append(act)
        if act[0] in ("rst", "vanish"):
            return plan
        finned = finned or act[0] == "fin"
    end = _pick(rng, (("fin", 0 if finned else 55), ("stay", 22), ("rst", 13), ("vanish", 10)))
    if end != "stay":
        plan.append([end])
    return plan


def plan_budget(plan):
    """Seconds the plan's own waits can take at most."""
    s = 0.0
    for a in plan:
        if a[0] in ("pause", "stop_read"):
            s += a[1] / 1000.0
        elif a[0] == "await_rx":
            s += a[2] / 1000.0
    return s


def schedule(run_seed, n, window):
    """[(i, seed, start offset)] for n connections over window seconds: 50 %
    spread evenly at random, 50 % in bursts (hundreds at once in long runs)."""
    rng = random.Random("schedule/%d" % run_seed)
    offs = []
    nburst = int(n * 0.5)
    while len(offs) < nburst:
        size = min(nburst - len(offs), rng.randint(10, max(10, min(200, n // 3))))
        at = rng.uniform(0, window)
        offs += [at + rng.uniform(0, 0.05) for _ in range(size)]
    offs += [rng.uniform(0, window) for _ in range(n - len(offs))]
    rng.shuffle(offs)
    return [(i, conn_seed(run_seed, i), round(offs[i], 4)) for i in range(n)]


# ---- the agent: one epoll loop per namespace ------------------------------------

def errname(e):
    return errno.errorcode.get(e.errno, str(e.errno)) if getattr(e, "errno", None) \
        else type(e).__name__


def emit(ev, **kw):
    kw["ev"] = ev
    sys.stdout.write(json.dumps(kw, separators=(",", ":")) + "\n")
    sys.stdout.flush()


MARKS_MAX = 3000


class Side:
    """One end of one connection, as a client or a server agent runs it."""

    def __init__(self, agent, role, sock, i=None, seed=None):
        self.agent, self.role, self.sock = agent, role, sock
        self.fd = sock.fileno()
        self.i, self.seed = i, seed
        self.t_start = now()
        self.log = []               # [t, what, detail...]: actions and observations
        self.tx_marks = []          # [t, tx before, tx after]: each successful send
        self.rx_marks = []          # [t, rx after]: each successful recv
        self.plan, self.pc = None, 0
        self.outbuf, self.async_out, self.oob_pending = memoryview(b""), False, False
        self.wait_until = None      # a pause
        self.await_rx = None        # (target rx, deadline)
        self.read_stopped, self.resume_at, self.parked = False, None, False
        self.tx, self.tx_hash = 0, hashlib.sha256()
        self.rx, self.rx_hash = 0, hashlib.sha256()
        self.ks_tx = self.ks_rx = None
        self.corrupt = None
        self.connecting = False
        self.connect_t = self.hello_done_t = None
        self.hello, self.hello_off, self.hello_len, self.hello_sha = b"", 0, None, None
        self.hbuf = b"" if role == "server" else None   # server: the hello being read
        self.fin_t = self.tx_at_fin = self.fin_sha = None
        self.eof_t = None
        self.reset_t = self.reset_err = self.reset_via = None
        self.rst_t = self.vanish_t = None
        self.end_t = self.end_how = None
        self.last_io_t = None
        self.mask = None
        self.errors = []
        self.lport = self.rport = None
        self.laddr = self.raddr = None      # (addr, port): kept for vanish, even once reset

    # -- bookkeeping --------------------------------------------------------------
    def note(self, what, *detail):
        self.log.append([round(now(), 6), what] + list(detail))

    def set_plan(self, i, seed):
        self.i, self.seed = i, seed
        over = self.agent.overrides.get(str(i), {}).get(self.role)
        self.plan = over if over is not None else plan_for(seed, self.role, i)
        mine, theirs = ("c2s", "s2c") if self.role == "client" else ("s2c", "c2s")
        self.ks_tx, self.ks_rx = KeyStream(seed, mine), KeyStream(seed, theirs)

    def report(self):
        return dict(role=self.role, i=self.i, seed=self.seed, lport=self.lport,
                    rport=self.rport, t_start=round(self.t_start, 4), connect_t=self.connect_t,
                    hello_done_t=self.hello_done_t, hello_len=self.hello_len,
                    hello_sha=self.hello_sha, pc=self.pc, plan=self.plan, tx=self.tx,
                    tx_sha=self.tx_hash.hexdigest(), fin_t=self.fin_t, tx_at_fin=self.tx_at_fin,
                    fin_sha=self.fin_sha, rx=self.rx, rx_sha=self.rx_hash.hexdigest(),
                    corrupt=self.corrupt, eof_t=self.eof_t, reset_t=self.reset_t,
                    reset_err=self.reset_err, reset_via=self.reset_via, rst_t=self.rst_t,
                    vanish_t=self.vanish_t, end_t=self.end_t, end_how=self.end_how,
                    last_io_t=self.last_io_t, log=self.log, tx_marks=self.tx_marks,
                    rx_marks=self.rx_marks, errors=self.errors,
                    unsent=len(self.outbuf), read_stopped=self.read_stopped,
                    parked=self.parked)

    def _mark(self, marks, entry):
        if len(marks) >= MARKS_MAX:         # keep the first half and the latest
            del marks[MARKS_MAX // 2:MARKS_MAX // 2 + 2]
        marks.append(entry)

    # -- epoll --------------------------------------------------------------------
    def want(self):
        if self.end_how is not None or self.parked:
            return None
        if self.connecting:
            return select.EPOLLOUT
        m = 0
        if not self.read_stopped and self.eof_t is None:
            m |= select.EPOLLIN
        if len(self.outbuf) or self.oob_pending:
            m |= select.EPOLLOUT
        return m                            # 0: EPOLLERR and EPOLLHUP only

    def update(self):
        m = self.want()
        if m == self.mask:
            return
        ep = self.agent.ep
        if self.mask is None:
            ep.register(self.fd, m)
            self.agent.fds[self.fd] = self
        elif m is None:
            ep.unregister(self.fd)
            self.agent.fds.pop(self.fd, None)
        else:
            ep.modify(self.fd, m)
        self.mask = m

    def on_event(self, ev):
        if self.end_how is not None:
            return
        if self.connecting:
            err = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err == 0 and not ev & select.EPOLLOUT:
                return
            self.connecting = False
            if err:
                self.note("connect_error", errno.errorcode.get(err, str(err)))
                self.end("connect_error")
                return
            self.connect_t = round(now(), 6)
            self.note("connected")
            self.pump()
            return
        if ev & select.EPOLLOUT:
            self.flush()
        if self.end_how is None and ev & select.EPOLLIN:
            self.read()
        if self.end_how is None and ev & (select.EPOLLERR | select.EPOLLHUP):
            if not self.read_stopped and self.eof_t is None:
                self.read()
            if self.end_how is None:
                err = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    self.observe_reset(errno.errorcode.get(err, str(err)), "so_error")
                elif ev & select.EPOLLHUP:
                    if self.read_stopped:   # both FINs in the kernel: look at resume
                        self.parked = True
                        self.note("parked")
                    elif self.eof_t is not None and self.fin_t is None:
                        self.note("hup_without_error")
                        self.end("hup")
        self.pump()

    # -- I/O ----------------------------------------------------------------------
    def read(self):
        for _ in range(16):
            try:
                data = self.sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                self.observe_reset(errname(e), "recv")
                return
            if not data:
                self.observe_eof()
                return
            t = round(now(), 6)
            self.last_io_t = t
            if self.hbuf is not None:
                data = self.take_hello(data)
                if not data:
                    continue
            if self.ks_rx is not None and self.corrupt is None:
                want = self.ks_rx.get(self.rx, len(data))
                if data != want:
                    k = next(j for j in range(len(data)) if data[j] != want[j])
                    self.corrupt = [self.rx + k, data[k:k + 16].hex(), want[k:k + 16].hex()]
                    self.note("corrupt", self.rx + k)
            self.rx += len(data)
            self.rx_hash.update(data)
            self._mark(self.rx_marks, [t, self.rx])
            if len(data) < 65536:
                return

    def take_hello(self, data):
        """Server: collect the ClientHello, learn the connection from its
        ALPN; returns the payload bytes after it."""
        self.hbuf += data
        n = hello_records_len(self.hbuf)
        if n is None:
            return b""
        hello, rest, self.hbuf = self.hbuf[:max(n, 0)], self.hbuf[max(n, 0):], None
        m = ALPN_RE.search(hello) if n > 0 else None
        if m is None:
            self.errors.append("not a ClientHello of ours (%d bytes, starting %s)"
                               % (len(hello) + len(rest), (hello + rest)[:32].hex()))
            self.note("bad_hello")
            self.plan = []
            return b""
        self.hello_len, self.hello_sha = n, hashlib.sha256(hello).hexdigest()
        self.hello_done_t = round(now(), 6)
        self.set_plan(int(m.group(1)), int(m.group(2), 16))
        self.note("hello", n)
        emit("identified", role=self.role, i=self.i)
        return rest

    def flush(self):
        while len(self.outbuf):
            chunk = self.outbuf[:262144]
            t = now()               # before the call: these bytes did not exist earlier
            try:
                n = self.sock.send(chunk)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                self.observe_reset(errname(e), "send")
                return
            self.sent(chunk[:n], t)
            self.outbuf = self.outbuf[n:]
            if n < len(chunk):
                return
        self.async_out = False
        if self.oob_pending:
            byte = self.ks_tx.get(self.tx, 1)
            t = now()
            try:
                self.sock.send(byte, socket.MSG_OOB)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                self.observe_reset(errname(e), "send_oob")
                return
            self.oob_pending = False
            self.sent(byte, t)
            self.note("oob_sent", self.tx - 1)

    def sent(self, data, t):
        t = round(t, 6)
        self.last_io_t = t
        if self.hello_done_t is None and self.role == "client":
            self.hello_off += len(data)     # not payload: no keystream, no mark
            if self.hello_off == len(self.hello):
                self.hello_done_t = t
                self.note("hello_done", len(self.hello))
            return
        self._mark(self.tx_marks, [t, self.tx, self.tx + len(data)])
        self.tx += len(data)
        self.tx_hash.update(data)

    # -- observations and ends ------------------------------------------------------
    def observe_reset(self, err, via):
        self.reset_t, self.reset_err, self.reset_via = round(now(), 6), err, via
        self.note("reset", err, via)
        self.end("reset")

    def observe_eof(self):
        self.eof_t = round(now(), 6)
        self.note("eof", self.rx)
        if self.hbuf is not None and self.hbuf:
            self.errors.append("EOF after %d bytes of the hello" % len(self.hbuf))
        if self.fin_t is not None:
            self.end("clean")

    def end(self, how):
        if self.end_how is not None:
            return
        self.end_how, self.end_t = how, round(now(), 6)
        if self.mask is not None:
            self.agent.ep.unregister(self.fd)
            self.agent.fds.pop(self.fd, None)
            self.mask = None
        if how == "vanish":
            self.agent.vanished[self.i] = self
        elif how != "rst":
            self.sock.close()
        self.agent.live.discard(self)
        emit("end", **self.report())

    # -- the plan -----------------------------------------------------------------
    def pump(self):
        for _ in range(1000):
            if self.end_how is not None or not self.step():
                break
        if self.end_how is None:
            self.update()

    def step(self):
        """Start or finish one action; False when nothing can move now."""
        t = now()
        if self.read_stopped and t >= self.resume_at:
            self.read_stopped, self.resume_at = False, None
            self.note("resume")
            if self.parked:
                self.parked = False
            return True
        if self.connecting or self.plan is None:
            return False
        if self.wait_until is not None:
            if t < self.wait_until:
                return False
            self.wait_until = None
            self.pc += 1
            return True
        if self.await_rx is not None:
            target, dl = self.await_rx
            if self.rx < target and self.eof_t is None and t < dl:
                return False
            self.note("await_end", self.rx)
            self.await_rx = None
            self.pc += 1
            return True
        if self.pc >= len(self.plan):
            return False
        act = self.plan[self.pc]
        kind = act[0]
        if (len(self.outbuf) or self.oob_pending) and (not self.async_out or kind in DATA_ACTS):
            return False
        self.note(kind, *act[1:])
        if kind == "hello":
            if not self.hello:
                self.hello = make_hello(alpn_of(self.i, self.seed))
                self.hello_len = len(self.hello)
                self.hello_sha = hashlib.sha256(self.hello).hexdigest()
            a, b = int(act[1] * len(self.hello)), int(act[2] * len(self.hello))
            if act[2] >= 1.0:
                b = len(self.hello)
            self.outbuf = memoryview(self.hello[a:b])
            self.pc += 1
            self.flush()
        elif kind in ("send", "send_async"):
            self.outbuf = memoryview(self.ks_tx.get(self.tx, act[1]))
            self.async_out = kind == "send_async"
            self.pc += 1
            self.flush()
        elif kind == "oob":
            self.oob_pending = True
            self.pc += 1
            self.flush()
        elif kind == "pause":
            self.wait_until = t + act[1] / 1000.0
            self.agent.timer(self.wait_until, self)
        elif kind == "stop_read":
            self.read_stopped = True
            self.resume_at = max(self.resume_at or 0, t + act[1] / 1000.0)
            self.agent.timer(self.resume_at, self)
            self.pc += 1
        elif kind == "await_rx":
            self.await_rx = (self.rx + act[1], t + act[2] / 1000.0)
            self.agent.timer(self.await_rx[1], self)
        elif kind == "fin":
            t_fin = round(now(), 6)     # before the call: no FIN on the wire earlier
            try:
                self.sock.shutdown(socket.SHUT_WR)
            except OSError as e:
                self.observe_reset(errname(e), "shutdown")
                return False
            self.fin_t, self.tx_at_fin = t_fin, self.tx
            self.fin_sha = self.tx_hash.hexdigest()
            self.pc += 1
            if self.eof_t is not None:
                self.end("clean")
        elif kind == "rst":
            st = self.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0]
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.pc += 1
            if st in NO_RST_STATES:
                # Both FINs already exchanged (and ours acknowledged or on
                # its way): the kernel sends no RST for this close
                # (tcp_need_reset()); as far as TCP goes the stream ended
                # cleanly, and no proxy can pass on what never left.
                self.note("rst_unsent", st)
                self.end("clean")
                return False
            self.rst_t = round(now(), 6)
            self.end("rst")
            self.sock.close()
        elif kind == "vanish":
            self.pc += 1
            self.vanish()
        else:
            raise ValueError("unknown action %r" % (act,))
        return True

    def tuples(self):
        """This connection's 4-tuple both ways, as elements of the vanish set."""
        (la, lp), (ra, rp) = self.laddr, self.raddr
        return "%s . %d . %s . %d, %s . %d . %s . %d" % (ra, rp, la, lp, la, lp, ra, rp)

    def vanish(self):
        """Drop every packet of this connection's 4-tuple in our namespace,
        both ways, and never touch the socket again (until forget())."""
        self.agent.nft("add element inet %s vanish { %s }" % (self.agent.table, self.tuples()),
                       self.errors)
        self.vanish_t = round(now(), 6)
        self.end("vanish")

    def forget(self):
        """halfpipe has closed its end: reset ours (the RST is dropped) and
        let the 4-tuple go, which halfpipe may use again for another backend
        connect."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()
        self.agent.nft("delete element inet %s vanish { %s }" % (self.agent.table,
                                                                self.tuples()), None)


class Agent:
    def __init__(self, role, table):
        self.role, self.table = role, table
        self.ep = select.epoll()
        self.fds = {}               # fd -> Side, or "stdin" / "listen"
        self.timers = []            # (t, n, side)
        self.ntimer = 0
        self.live = set()
        self.vanished = {}          # i -> vanished Side, its socket still open
        self.overrides = {}
        self.listener = None
        self.stdin_buf = b""
        self.running = True
        self.max_lag = 0.0
        try:
            soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):
            pass

    def nft(self, cmd, errors):
        try:
            r = subprocess.run(["nft", cmd], capture_output=True, timeout=10)
            if r.returncode != 0 and errors is not None:
                errors.append("nft: " + r.stderr.decode(errors="replace")[:200])
        except (OSError, subprocess.SubprocessError) as e:
            if errors is not None:
                errors.append("nft: %s" % e)

    def timer(self, t, side):
        self.ntimer += 1
        heapq.heappush(self.timers, (t, self.ntimer, side))

    def command(self, c):
        cmd = c["cmd"]
        if cmd == "listen":
            ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            ls.bind((c["addr"], 0))
            ls.listen(4096)
            ls.setblocking(False)
            self.listener = ls
            self.ep.register(ls.fileno(), select.EPOLLIN)
            self.fds[ls.fileno()] = "listen"
            emit("listening", port=ls.getsockname()[1])
        elif cmd == "plans":
            self.overrides.update(c["plans"])
        elif cmd == "start":
            t0 = c["t0"]
            for i, seed, off in c["conns"]:
                self.timer(t0 + off, ("connect", c["addr"], c["port"], i, seed))
        elif cmd == "forget":
            for i in c["i"]:
                side = self.vanished.pop(i, None)
                if side is not None:
                    side.forget()
        elif cmd == "dump":
            for s in list(self.live):
                emit("open", **s.report())
            emit("dumped", max_lag=round(self.max_lag, 3), live=len(self.live))
        elif cmd == "exit":
            self.running = False
        else:
            raise ValueError("unknown command %r" % cmd)

    def connect(self, addr, port, i, seed):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_OOBINLINE, 1)
        lport = PROBE_PORT + i - PROBE_BASE if i >= PROBE_BASE else PORT_BASE + i
        s.bind((CLIENT_ADDR, lport))
        s.setblocking(False)
        side = Side(self, "client", s)
        side.lport, side.rport = lport, port
        side.laddr, side.raddr = (CLIENT_ADDR, lport), (addr, port)
        side.set_plan(i, seed)
        self.live.add(side)
        side.note("connect", lport)
        try:
            s.connect((addr, port))
            side.connect_t = round(now(), 6)
        except BlockingIOError:
            side.connecting = True
        except OSError as e:
            side.note("connect_error", errname(e))
            side.end("connect_error")
            return
        side.pump()

    def accept(self):
        for _ in range(256):
            try:
                s, peer = self.listener.accept()
            except OSError as e:        # EAGAIN: the queue is empty
                if not isinstance(e, (BlockingIOError, InterruptedError)):
                    emit("accept_error", err=errname(e))
                return
            s.setblocking(False)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_OOBINLINE, 1)
            side = Side(self, "server", s)
            side.laddr, side.raddr = s.getsockname()[:2], peer[:2]
            side.lport, side.rport = side.laddr[1], peer[1]
            side.connect_t = round(now(), 6)
            self.live.add(side)
            emit("accepted", rport=peer[1])
            side.pump()

    def on_stdin(self):
        """Commands: one JSON object a line; EOF on stdin ends the agent."""
        data = os.read(0, 1 << 20)
        self.running = bool(data)
        *lines, self.stdin_buf = (self.stdin_buf + data).split(b"\n")
        for cmd in filter(bytes.strip, lines):
            self.command(json.loads(cmd))

    def run(self):
        os.set_blocking(0, False)
        self.ep.register(0, select.EPOLLIN)
        self.fds[0] = "stdin"
        life_end = now() + float(os.environ.get("HP_PEERFUZZ_MAX_LIFE", "3600"))
        while self.running and now() < life_end:
            t = now()
            wait = 0.5 if not self.timers else min(0.5, max(0.0, self.timers[0][0] - t))
            for fd, ev in self.ep.poll(wait):
                obj = self.fds.get(fd)
                if obj == "stdin":
                    self.on_stdin()
                elif obj == "listen":
                    self.accept()
                elif obj is not None:
                    obj.on_event(ev)
            t = now()
            for _ in range(100000):
                if not self.timers or self.timers[0][0] > t:
                    break
                due, _n, what = heapq.heappop(self.timers)
                self.max_lag = max(self.max_lag, t - due)
                if isinstance(what, tuple):
                    self.connect(*what[1:])
                elif what.end_how is None:
                    what.pump()
        for s in list(self.live):
            s.sock.close()
        for s in self.vanished.values():
            s.sock.close()
        emit("exiting")


def agent_main(argv):
    Agent(argv[0], argv[1]).run()


# ---- the engine -------------------------------------------------------------------

VARIANTS = {"plain": ("build/halfpipe", ["--workers", "2"]),
            "copy": ("build/halfpipe", ["--workers", "1", "--splice-pipes", "0"]),
            "asan": ("build-asan/halfpipe", ["--workers", "2"])}


class Binary(str):
    """A halfpipe path with the flags of its variant (like conftest's HpBin)."""

    def __new__(cls, path, extra=()):
        s = str.__new__(cls, path)
        s.extra = list(extra)
        return s


def variant_of(binary):
    extra = list(getattr(binary, "extra", []))
    if "--splice-pipes" in extra and extra[extra.index("--splice-pipes") + 1] == "0":
        return "copy"
    return "asan" if "asan" in os.path.basename(os.path.dirname(str(binary))) else "plain"


def workers_of(binary):
    extra = list(getattr(binary, "extra", []))
    if "--workers" in extra:
        return int(extra[extra.index("--workers") + 1])
    return len(os.sched_getaffinity(0))


class Rep:
    """One side's report (the agent's JSON), with attribute access."""

    def __init__(self, d):
        self.__dict__.update(d)
        self.rx_t = [m[0] for m in self.rx_marks]
        self.rx_n = [m[1] for m in self.rx_marks]

    def rx_reached(self, k):
        """Earliest time this side had received at least k bytes (None: never)."""
        import bisect
        j = bisect.bisect_left(self.rx_n, k)
        return self.rx_t[j] if j < len(self.rx_t) else None

    def activity(self):
        """Times of everything this side did or saw, resets excepted."""
        out = [e[0] for e in self.log if e[1] not in ("reset",)]
        out += [m[0] for m in self.tx_marks] + self.rx_t
        return out


def moved_between(a, b, c, s):
    """True if the peers' logs prove halfpipe moved a byte (or a FIN) at some
    moment in [a, b]: a byte written at t >= a (it did not exist before) was
    received by b, or a FIN sent at t >= a was read as EOF by b, or the hello
    finished at t >= a reached the server by b."""
    if c is None or s is None:
        return False
    for x, y in ((c, s), (s, c)):
        for t, before, after in x.tx_marks:
            if a <= t <= b and after > before:
                r = y.rx_reached(before + 1)
                if r is not None and r <= b:
                    return True
        if x.fin_t is not None and x.fin_t >= a and y.eof_t is not None and y.eof_t <= b:
            return True
    return (c.hello_done_t is not None and c.hello_done_t >= a and
            s.hello_done_t is not None and s.hello_done_t <= b)


def fmt_dur(s):
    return "%dms" % round(s * 1000)


class Result:
    def __init__(self, seed, variant, conns, seconds, only):
        self.seed, self.variant, self.conns, self.seconds, self.only = (
            seed, variant, conns, seconds, only)
        self.failures = []          # dicts: inv, i, seed, msg
        self.stats = {}
        self.details = {}           # i -> text (plans and logs) for failed connections
        self.notes = []             # diagnostics printed with the failures

    def fail(self, inv, i, msg, seed=None):
        self.failures.append({"inv": inv, "i": i, "seed": seed, "msg": msg})

    def replay(self, i=None):
        cmd = "python3 tests/integ/peerfuzz.py --seed %d --conns %d --seconds %g --variant %s" % (
            self.seed, self.conns, self.seconds, self.variant)
        if i is not None:
            cmd += " --only %d" % i
        return cmd

    def summary(self):
        st = self.stats
        return ("peerfuzz[%s] seed %d: %d connections (%s), peak %s open at once, "
                "%s payload bytes checked, terms %s; run %.1fs (agents' worst loop lag %ss/%ss); "
                "%d failure(s)%s" % (
                    self.variant, self.seed, st.get("conns", 0),
                    ", ".join("%s %d" % kv for kv in sorted(st.get("ends", {}).items())),
                    st.get("peak", "?"), st.get("bytes", 0),
                    ", ".join("%s=%d" % kv for kv in sorted(st.get("terms", {}).items())),
                    st.get("elapsed", 0.0), st.get("lag_client", "?"), st.get("lag_server", "?"),
                    len(self.failures),
                    "" if not self.failures else " by invariant: " + ", ".join(
                        "%s %d" % kv for kv in sorted(self.by_inv().items()))))

    def by_inv(self):
        out = {}
        for f in self.failures:
            out[f["inv"]] = out.get(f["inv"], 0) + 1
        return out

    def by_cause(self):
        """Failures by a rough cause read from their messages: the urgent
        byte, a reset after the same side's FIN, or anything else."""
        out = {}
        for f in self.failures:
            m = f["msg"]
            k = ("urgent byte" if "urgent" in m else
                 "reset after own FIN" if "after its FIN" in m else "other")
            out[k] = out.get(k, 0) + 1
        return out

    def report(self, limit=12):
        lines = ["peerfuzz: %d invariant failure(s), run seed %d, variant %s; by cause: %s" % (
            len(self.failures), self.seed, self.variant,
            ", ".join("%s %d" % kv for kv in sorted(self.by_cause().items()))),
            "replay the run: " + self.replay()]
        shown = set()
        for f in self.failures[:limit * 4]:
            seed = "" if f["seed"] is None else " (conn seed %d)" % f["seed"]
            where = "run" if f["i"] is None else "conn %s%s" % (f["i"], seed)
            lines.append("%s %s: %s" % (f["inv"], where, f["msg"]))
        lines += ["note: " + n for n in self.notes]
        if len(self.failures) > limit * 4:
            lines.append("... %d more" % (len(self.failures) - limit * 4))
        for f in self.failures:
            i = f["i"]
            if i is None or i in shown or len(shown) >= limit or i not in self.details:
                continue
            shown.add(i)
            lines.append("--- conn %d: replay alone: %s" % (i, self.replay(i)))
            lines.append(self.details[i])
        return "\n".join(lines)


def describe(i, c, s, recs, t0):
    """Plans, action logs and log lines of one connection, times relative to
    the client's connect (ms)."""
    base = c.t_start if c else t0

    def rel(t):
        return None if t is None else round((t - base) * 1000, 1)

    out = []
    for name, x in (("client", c), ("server", s)):
        if x is None:
            out.append("  %s: none" % name)
            continue
        out.append("  %s plan: %s" % (name, json.dumps(x.plan)))
        out.append("  %s: tx %d (fin at %s with %s) rx %d eof %s reset %s %s rst %s vanish %s "
                   "end %s %s%s%s" % (
                       name, x.tx, rel(x.fin_t), x.tx_at_fin, x.rx, rel(x.eof_t),
                       rel(x.reset_t), x.reset_err or "", rel(x.rst_t), rel(x.vanish_t),
                       rel(x.end_t), x.end_how, " corrupt %s" % x.corrupt if x.corrupt else "",
                       " errors %s" % x.errors if x.errors else ""))
        out.append("  %s log: %s" % (name, " ".join(
            "%s:%s%s" % (rel(e[0]), e[1], "(%s)" % ",".join(map(str, e[2:])) if e[2:] else "")
            for e in x.log)))
    for r in recs:
        out.append("  access log: " + " ".join("%s=%s" % kv for kv in r.items()))
    return "\n".join(out)


def parse_ts(ts):
    import calendar
    base, frac = ts.rstrip("Z").split(".")
    return calendar.timegm(time.strptime(base, "%Y-%m-%dT%H:%M:%S")) + int(frac) / 1000.0


def vanish_table(topo, ns):
    """An nft table (removed by the Topology) whose set `vanish` holds the
    4-tuples vanished peers drop, both ways."""
    import netns
    t = netns.NftTable(topo, ns, [], [])
    match = "ip saddr . tcp sport . ip daddr . tcp dport @vanish drop"
    netns.run(["nft", "-f", "-"], ns=ns, input=(
        "add set inet {t} vanish {{ type ipv4_addr . inet_service . ipv4_addr . inet_service; }}\n"
        "add rule inet {t} input {m}\nadd rule inet {t} output {m}\n".format(
            t=t.name, m=match)).encode())
    return t


def start_agent(topo, ns, role, table):
    import procs
    p = procs.Peer(["ip", "netns", "exec", ns, sys.executable, SELF, "agent", role, table],
                   name=role + "-agent")
    topo.procs.append(p)            # the Topology ends it (by pid) at close()
    return p


class SynSampler:
    """Samples, four times a second, the ports of halfpipe's backend
    connects in SYN-SENT (for diagnosing a connect-timeout)."""

    def __init__(self, ns, backend):
        import threading
        self.ns, self.backend, self.ports = ns, backend, set()
        self.done = threading.Event()
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        import netns
        for _ in range(100000):
            if self.done.wait(0.25):
                return
            try:
                for st, _l, peer in netns.ss_states(self.ns):
                    if st == "SYN-SENT" and peer == self.backend:
                        self.ports.add(_l[1])
            except Exception:       # noqa: BLE001 - diagnostics only
                return

    def stop(self):
        self.done.set()
        self.t.join(T(5))


def listen_drops(ns):
    import netns
    try:
        out = netns.run(["nstat", "-az", "TcpExtListenOverflows", "TcpExtListenDrops",
                         "TcpExtTCPReqQFullDrop", "TcpExtTCPReqQFullDoCookies"], ns=ns).stdout
        return " ".join(" ".join(l.split()[:2]) for l in out.decode().splitlines()
                        if l.startswith("Tcp"))
    except Exception as e:          # noqa: BLE001 - diagnostics only
        return "(nstat: %s)" % e


def run(topo, binary, seed, conns=150, seconds=8.0, only=None, plans=None, probes=True,
        out=print):
    """One fuzz run on topo with halfpipe binary; returns a Result."""
    import netns
    from procs import poll_until
    t_begin = now()
    variant = variant_of(binary)
    res = Result(seed, variant, conns, seconds, only)
    if conns > MAX_CONNS:
        raise ValueError("at most %d connections" % MAX_CONNS)
    sched = schedule(seed, conns, seconds)
    if only is not None:
        sched = [(i, s, 0.05 * k) for k, (i, s, _o) in enumerate(x for x in sched
                                                                   if x[0] in only)]
    tables = {r: vanish_table(topo, ns) for r, ns in
              (("client", topo.client), ("server", topo.server))}
    server = start_agent(topo, topo.server, "server", tables["server"].name)
    server.send(cmd="listen", addr=SERVER_ADDR)
    sport = server.wait(ev="listening")[0]["port"]
    args = ["--listen", "%s:0" % PROXY_CADDR, "--route", "%s=%s:%d" % (SNI, SERVER_ADDR, sport)]
    for k, v in TIMEOUTS.items():
        args += ["--" + k, fmt_dur(v)]
    hp = topo.halfpipe(binary, args)
    hp.wait_listeners(workers_of(binary))
    client = start_agent(topo, topo.client, "client", tables["client"].name)
    if plans:
        for a in (client, server):
            a.send(cmd="plans", plans=plans)
    wall_off = time.time() - now()

    syn_sent = SynSampler(topo.proxy, (SERVER_ADDR, sport))
    t0 = now() + 0.3
    client.send(cmd="start", addr=PROXY_CADDR, port=hp.port, t0=t0,
                conns=[[i, s, off] for i, s, off in sched])
    budget = 0.0
    for i, s, off in sched:
        pc, ps = plan_for(s, "client", i), plan_for(s, "server", i)
        over = (plans or {}).get(str(i), {})
        pc, ps = over.get("client", pc), over.get("server", ps)
        budget = max(budget, off + plan_budget(pc) + plan_budget(ps))
    deadline = t0 + budget + T(2 * LARGEST + SLACK + 4)
    peak = 0
    forgot = set()

    def forget_vanished():
        """Server sides that vanished, whose connection halfpipe has ended:
        their 4-tuple (halfpipe's ephemeral port) may come back."""
        logged = {netns.split_hostport(r["client"])[1] - PORT_BASE for r in hp.log()}
        gone = {e["i"] for e in server.find(ev="end") if e.get("vanish_t") is not None}
        todo = sorted((logged & gone) - forgot)
        if todo:
            server.send(cmd="forget", i=todo)
            forgot.update(todo)
    for _ in range(1000000):
        forget_vanished()
        ended = client.count("end")
        started = sum(1 for _i, _s, off in sched if t0 + off <= now())
        peak = max(peak, started - ended)
        if ended == len(sched) and server.count("end") >= server.count("accepted"):
            break
        if now() >= deadline:
            break
        with client.cond:
            client.cond.wait(0.1)
    syn_sent.stop()
    for a in (client, server):
        n = a.count("dumped")
        a.send(cmd="dump")
        a.wait(ev="dumped", n=n + 1, timeout=30)
    t_run_end = now()

    creps = {}
    for e in client.find(pred=lambda e: e["ev"] in ("end", "open")):
        creps[e["i"]] = Rep(e)
    sreps, anon = {}, []
    for e in server.find(pred=lambda e: e["ev"] in ("end", "open")):
        if e["i"] is None:
            anon.append(Rep(e))
        else:
            sreps.setdefault(e["i"], []).append(Rep(e))
    sreps_all = list(sreps.values())

    # the access log: one line per connected client (halfpipe may still be
    # timing out connections whose peers both left)
    want_ports = {c.lport for c in creps.values() if c.connect_t is not None}

    def log_ports():
        return {netns.split_hostport(r["client"])[1] for r in hp.log()} >= want_ports
    poll_until(lambda: forget_vanished() or log_ports(), LARGEST + SLACK + 3,
               "an access-log line for every connected client", fail=False)
    forget_vanished()
    recs_by_port = {}
    for r in hp.log():
        recs_by_port.setdefault(netns.split_hostport(r["client"])[1], []).append(r)

    # I5: nothing lingers past the largest timeout + 2 s after the last end
    ends = [x.end_t for x in creps.values() if x.end_t] + \
        [x.end_t for xs in sreps.values() for x in xs if x.end_t] + \
        [parse_ts(r["ts"]) - wall_off for rs in recs_by_port.values() for r in rs]
    last_end = max(ends) if ends else now()
    left = netns.wait_no_lingering(topo.proxy, [(PROXY_CADDR, hp.port), (SERVER_ADDR, sport)],
                                   deadline=max(now(), last_end + T(LARGEST + 2)))
    if left:
        res.fail("I5", None, "%d socket(s) in the proxy namespace still lingering %.1fs after "
                 "the last connection ended: %s" % (len(left), now() - last_end, left[:10]))

    # I6: idle, then fresh connections served at once
    if probes:
        c0 = hp.cpu_s()
        time.sleep(1.0)             # the quiet second being measured
        burnt = hp.cpu_s() - c0
        if burnt >= 0.1:
            res.fail("I6", None, "halfpipe used %.2fs of CPU in a quiet second after the run "
                     "(a worker spinning?)" % burnt)
        nc, ns_ = client.count("end"), server.count("end")
        client.send(cmd="start", addr=PROXY_CADDR, port=hp.port, t0=now(),
                    conns=[[PROBE_BASE + k, 0, 0.02 * k] for k in range(PROBES)])
        poll_until(lambda: client.count("end") >= nc + PROBES and
                   server.count("end") >= ns_ + PROBES, 6, "the probes ended at both peers",
                   fail=False)
        got = {e["i"]: Rep(e) for e in client.find(ev="end") if e["i"] >= PROBE_BASE}
        for k in range(PROBES):
            p = got.get(PROBE_BASE + k)
            first = p.rx_reached(1) if p else None
            if p is None or first is None or first - p.t_start > T(2):
                res.fail("I6", None, "fresh connection %d after the run: %s" % (
                    k, "no answer within %.0fs" % T(6) if p is None or first is None else
                    "first byte back after %.2fs" % (first - p.t_start)))
                if p is not None:
                    res.details[PROBE_BASE + k] = describe(PROBE_BASE + k, p, None, [], t0)

    # per connection: I1-I4
    checked = 0
    identified = set(sreps)
    for i, cseed, off in sched:
        c = creps.get(i)
        ss = sreps.pop(i, [])
        recs = recs_by_port.pop(PORT_BASE + i, [])
        n0 = len(res.failures)
        if c is None:
            res.fail("I4", i, "the client agent never reported this connection", cseed)
            continue
        if len(ss) > 1:
            res.fail("I2", i, "%d server sides for one client connection" % len(ss), cseed)
        s = ss[0] if ss else None
        check_conn(res, i, cseed, c, s, recs, wall_off)
        checked += c.tx + c.rx + (s.tx + s.rx if s else 0)
        if len(res.failures) > n0:
            res.details[i] = describe(i, c, s, recs, t0)
    for i, ss in sreps.items():
        if i < PROBE_BASE:
            res.fail("I2", i, "a server side for a connection the client never made")
    for port, rs in recs_by_port.items():
        if not PROBE_PORT <= port < PROBE_PORT + PROBES:
            res.fail("I4", None, "access-log line(s) for a client the run did not make: %s" % rs)
    check_anonymous(res, anon, creps, identified)
    for e in server.find(ev="accept_error"):
        res.fail("harness", None, "the server agent's accept failed: %s" % e["err"])
    if any("connect-timeout" in f["msg"] for f in res.failures):
        vanished = {x.rport: x.i for xs in sreps_all for x in xs if x.vanish_t is not None}
        hits = {p: vanished[p] for p in syn_sent.ports if p in vanished}
        res.notes.append("connect-timeout diagnostics: halfpipe's backend connects seen "
                 "in SYN-SENT (sampled): %d, from ports %s; ports of vanished server sides among "
                 "them: %s; server namespace %s" % (
                     len(syn_sent.ports), sorted(syn_sent.ports)[:20], hits or "none",
                     listen_drops(topo.server)))
    for a in (client, server):
        for e in a.find(ev="dumped")[-1:]:
            res.stats["lag_" + a.name.split("-")[0]] = e["max_lag"]

    terms = {}
    for r in hp.log():
        terms[r["term"]] = terms.get(r["term"], 0) + 1
    hows = {}
    for c in creps.values():
        hows["client " + str(c.end_how)] = hows.get("client " + str(c.end_how), 0) + 1
    res.stats.update(conns=len(sched), peak=peak, bytes=checked, terms=terms, ends=hows,
                     elapsed=now() - t_begin, run=t_run_end - t0)
    return res


def check_anonymous(res, anon, creps, identified):
    """Server sides that ended before they had the whole hello (a client reset
    right after it): halfpipe must have reset them, and there can be no more
    of them than clients without an identified server side."""
    for a in anon:
        if a.end_how != "reset":
            res.fail("I1" if a.eof_t else "I4", None,
                     "a server side that never got a whole ClientHello ended %s (%s; rx %d, "
                     "errors %s)" % (a.end_how, "EOF" if a.eof_t else "no reset", a.rx, a.errors))
    orphans = [c for c in creps.values() if c.hello_done_t is not None and c.i < PROBE_BASE
               and c.i not in identified]
    if len(anon) > len(orphans):
        res.fail("I2", None, "%d server side(s) without a whole ClientHello, but only %d client(s) "
                 "whose server side is unknown" % (len(anon), len(orphans)))


def oob_offsets(x):
    """The stream offsets at which side x sent an urgent byte."""
    return [e[2] for e in x.log if e[1] == "oob_sent"]


def other_name(role):
    return "server" if role == "client" else "client"


def check_conn(res, i, cseed, c, s, recs, wall_off):
    fail = lambda inv, msg: res.fail(inv, i, msg, cseed)   # noqa: E731
    sides = [x for x in (c, s) if x is not None]
    pair = {"client": s, "server": c}

    # I2: prefixes, and the hello as the client sent it
    for x in sides:
        y = pair[x.role]
        if x.corrupt:
            urg = y is not None and x.corrupt[0] in oob_offsets(y)
            fail("I2", "%s received a byte that is not the %s's at offset %d: got %s, sent %s%s" % (
                x.role, other_name(x.role), x.corrupt[0], x.corrupt[1], x.corrupt[2],
                " (the urgent byte sent there is missing)" if urg and
                x.corrupt[1][:-2] == x.corrupt[2][2:len(x.corrupt[1])] else
                " (at an urgent byte's offset)" if urg else ""))
        if y is not None and x.rx > y.tx:
            fail("I2", "%s received %d bytes, the %s sent only %d" % (x.role, x.rx, y.role, y.tx))
        for err in x.errors:
            fail("harness" if err.startswith("nft") else "I2", "%s: %s" % (x.role, err))
    if s is not None and (s.hello_len, s.hello_sha) != (c.hello_len, c.hello_sha):
        fail("I2", "the server's ClientHello (%s bytes) is not the client's (%s bytes)" % (
            s.hello_len, c.hello_len))
    if c.connect_t is None:
        fail("I4", "the client's connect failed (%s)" % c.end_how)
        return

    # I1: a clean EOF only after the other side's FIN, with every byte
    for x in sides:
        if x.eof_t is None:
            continue
        y = pair[x.role]
        if y is None:
            fail("I1", "the client read a clean EOF (after %d bytes) though no server side ever "
                 "existed" % x.rx)
        elif y.fin_t is None or y.fin_t > x.eof_t:
            fail("I1", "the %s read a clean EOF (after %d bytes) but the %s never sent FIN "
                 "(it %s)" % (x.role, x.rx, y.role, "reset" if y.rst_t else
                              "vanished" if y.vanish_t else "ended " + str(y.end_how)))
        elif (x.rx, x.rx_sha) != (y.tx_at_fin, y.fin_sha):
            nurg = len([k for k in oob_offsets(y) if k < y.tx_at_fin])
            fail("I1", "the %s read a clean EOF after %d bytes, the %s wrote %d before its FIN%s"
                 % (x.role, x.rx, y.role, y.tx_at_fin,
                    " (same count, other bytes)" if x.rx == y.tx_at_fin else
                    " (as many missing as it sent urgent bytes: %d)" % nurg
                    if nurg and y.tx_at_fin - x.rx == nurg else ""))

    # I3: a RST reaches the other side as a reset within 1 s
    for y in sides:
        if y.rst_t is None:
            continue
        x = pair[y.role]
        if x is None:
            continue                # the server never saw the connection
        within = y.rst_t + T(RESET_WITHIN)
        if x.reset_t is not None and x.reset_t <= within:
            continue
        if x.reset_t is None and x.end_how in ("rst", "vanish", "clean", "connect_error") and \
                x.end_t <= within:
            continue
        park = [e[0] for e in x.log if e[1] == "parked"]
        if park and park[0] <= within and x.fin_t is not None:
            continue                # both FINs were in its kernel: a closed socket
        if x.reset_t is not None:
            seen = "a reset (%s on %s) only %.2fs after it" % (
                x.reset_err, x.reset_via, x.reset_t - y.rst_t)
        elif x.end_t is not None:
            seen = "no reset; it ended %s %.2fs after it%s" % (
                x.end_how, x.end_t - y.rst_t, " (having read a clean EOF)" if x.eof_t else "")
        else:
            seen = "nothing: still open at the end of the run"
        fail("I3", "the %s reset (at %+.3fs%s); the %s saw %s" % (
            y.role, y.rst_t - c.t_start, ", after its FIN" if y.fin_t else "",
            x.role, seen))

    # I4: both ends end, in time
    for x in sides:
        acts = sorted(c.activity() + (s.activity() if s else []))
        if x.end_how is None:
            last = acts[-1] if acts else x.t_start
            fail("I4", "the %s side never ended: still open, nothing moved for %.1fs (plan at "
                 "step %d of %d%s)" % (x.role, now() - last, x.pc, len(x.plan or []),
                                       ", reading stopped" if x.read_stopped else ""))
            continue
        if x.end_how == "reset":
            prior = [t for t in acts if t < x.reset_t]
            last = max(prior) if prior else x.t_start
            if x.reset_t - last > T(LARGEST + SLACK):
                fail("I4", "the %s was reset %.2fs after the last activity (more than the "
                     "largest timeout %.0fs + %.1fs)" % (x.role, x.reset_t - last, LARGEST,
                                                        T(SLACK)))

    # I4: the access log
    if len(recs) != 1:
        fail("I4", "%d access-log lines for this client connection (want 1)" % len(recs))
        if not recs:
            return
    rec = recs[0]
    rec_end = parse_ts(rec["ts"]) - wall_off
    acts = sorted(c.activity() + (s.activity() if s else []))
    prior = [t for t in acts if t < rec_end]
    if prior and rec_end - max(prior) > T(LARGEST + SLACK) + 0.01:
        fail("I4", "halfpipe ended the connection %.2fs after the last activity" % (
            rec_end - max(prior)))
    if c.hello_done_t is not None and rec.get("alpn") != alpn_of(i, cseed):
        fail("I4", "the access-log line names alpn=%s" % rec.get("alpn"))
    check_term(fail, c, s, rec, rec_end)
    check_bytes(fail, c, s, rec)


def check_bytes(fail, c, s, rec):
    try:
        c2s, s2c = int(rec["c2s_bytes"]), int(rec["s2c_bytes"])
    except (KeyError, ValueError):
        fail("I4", "access-log line without byte counts")
        return
    hello = c.hello_len if c.hello_done_t is not None else 0
    if c2s > hello + c.tx:
        fail("I4", "c2s_bytes=%d, more than the client's hello and payload (%d + %d)" % (
            c2s, hello, c.tx))
    if s is not None:
        if c2s < s.hello_len + s.rx:
            fail("I4", "c2s_bytes=%d, less than the server received (%d + %d)" % (
                c2s, s.hello_len, s.rx))
        if s.eof_t is not None and c2s != s.hello_len + s.rx:
            fail("I4", "c2s_bytes=%d, the server read %d + %d to a clean EOF" % (
                c2s, s.hello_len, s.rx))
        if s2c > s.tx:
            fail("I4", "s2c_bytes=%d, more than the server sent (%d)" % (s2c, s.tx))
    elif s2c:
        fail("I4", "s2c_bytes=%d with no server side" % s2c)
    if s2c < c.rx or (c.eof_t is not None and s2c != c.rx):
        fail("I4", "s2c_bytes=%d, the client received %d%s" % (
            s2c, c.rx, " to a clean EOF" if c.eof_t else ""))


def check_term(fail, c, s, rec, rec_end):
    """The term code: documented, consistent with what the peers did, and the
    one the actions determine where they do."""
    term = rec.get("term")
    if term not in TERMS:
        fail("I4", "term=%s is not a documented code" % term)
        return
    hello_t = TIMEOUTS["hello-timeout"]      # halfpipe's own clock: not scaled
    if c.hello_done_t is None:
        own = c.rst_t or c.fin_t
        if own is not None and own - c.connect_t < hello_t - MARGIN:
            allowed = {"hello-abort"}
        elif own is not None:
            allowed = {"hello-abort", "hello-timeout"}
        else:                       # silent or vanished
            allowed = {"hello-timeout"}
        if term not in allowed:
            fail("I4", "term=%s; the client %s before its hello was complete: want %s" % (
                term, "reset" if c.rst_t else "sent FIN" if c.fin_t else
                "vanished" if c.vanish_t else "stayed silent", "/".join(sorted(allowed))))
        return
    if term not in RELAY_TERMS and not (
            term == "hello-timeout" and c.hello_done_t - c.connect_t > hello_t - MARGIN):
        fail("I4", "term=%s for a connection whose hello was complete and whose backend "
             "listens" % term)
        return
    fins_read = [x for x, y in ((c, s), (s, c)) if x is not None and y is not None and
                 x.fin_t is not None and y.eof_t is not None and y.eof_t <= rec_end]
    # what a term implies
    if term in FIN_TERMS:
        if s is None or c.fin_t is None or s.fin_t is None:
            fail("I4", "term=%s though %s never sent FIN" % (
                term, "the server" if s is None or s.fin_t is None else "the client"))
        for x in (c, s):
            if x is not None and x.reset_t is not None:
                fail("I4", "term=%s (a graceful close) but the %s saw a reset" % (term, x.role))
        want_first = "client" if term == "client-fin" else "server"
        if rec.get("first_close") != want_first:
            fail("I4", "term=%s with first_close=%s" % (term, rec.get("first_close")))
    if term == "client-rst" and c.rst_t is None:
        fail("I4", "term=client-rst but the client never reset")
    if term == "server-rst" and (s is None or s.rst_t is None):
        fail("I4", "term=server-rst but the server never reset")
    if term == "half-closed-timeout" and not [x for x in (c, s) if x is not None and
                                              x.fin_t is not None and x.fin_t <= rec_end]:
        fail("I4", "term=half-closed-timeout but neither side had sent FIN")
    if term == "idle-timeout" and fins_read:
        fail("I4", "term=idle-timeout though the %s's FIN had been passed on" % fins_read[0].role)
    if term in TIMEOUT_TERMS:
        tmo = TIMEOUTS["idle-timeout" if term == "idle-timeout" else "half-closed-timeout"]
        if moved_between(rec_end - (tmo - MARGIN), rec_end, c, s):
            fail("I4", "term=%s but bytes moved within its %.0fs before the end" % (term, tmo))
    # what the actions determine
    allowed, why = None, ""
    clean = (s is not None and all(x.fin_t is not None and x.eof_t is not None and
                                   x.rst_t is None and x.vanish_t is None and x.reset_t is None
                                   for x in (c, s)))
    if clean:
        allowed, why = set(FIN_TERMS), "both sides sent FIN and read EOF"
    else:
        rsts = sorted((x.rst_t, x.role) for x in (c, s) if x is not None and x.rst_t is not None)
        if rsts:
            t_rst, who = rsts[0]
            gone = [x for x in (c, s) if x is not None and x.role != who and x.end_t is not None
                    and x.end_t < t_rst and x.end_how in ("reset", "rst")]
            if (rec_end >= t_rst - 0.05 and not gone and
                    moved_between(t_rst - (SHORTEST_RELAY - MARGIN), t_rst, c, s)):
                allowed = {who + "-rst"}
                allowed |= {r + "-rst" for t, r in rsts[1:] if t <= t_rst + 0.05}
                # Both FINs (near) before the RST: halfpipe may have been
                # closing already, and the resetting side's socket may have
                # reached TIME_WAIT between its last look (NO_RST_STATES)
                # and its close(), which then sends no RST at all.
                if all(x is not None and x.fin_t is not None and x.fin_t < t_rst + 0.05
                       for x in (c, s)):
                    allowed |= FIN_TERMS
                rster = c if who == "client" else s
                why = "the %s reset at %+.3fs%s, with bytes moving and nothing else ended" % (
                    who, t_rst - c.t_start, " after its FIN" if rster.fin_t is not None and
                    rster.fin_t < t_rst else "")
    if allowed is not None and term not in allowed:
        fail("I4", "term=%s; want %s (%s)" % (term, "/".join(sorted(allowed)), why))


# ---- standalone ----------------------------------------------------------------------

def main(argv):
    if argv and argv[0] == "agent":
        agent_main(argv[1:])
        return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--conns", type=int, default=None,
                    help="connections per variant (default: 12 per second of --seconds)")
    ap.add_argument("--seconds", type=float, default=8.0,
                    help="the time over which connections start, all variants together")
    ap.add_argument("--variant", default="plain",
                    help="plain, copy, asan, or a comma-separated list of them")
    ap.add_argument("--binary", default=None, help="halfpipe binary (default: the variant's)")
    ap.add_argument("--only", default=None, help="run only these connection indexes: I,J,...")
    ap.add_argument("--plans", default=None,
                    help='JSON {"I": {"client": [...], "server": [...]}}: replace plans')
    ap.add_argument("--no-probes", action="store_true", help="skip I6")
    a = ap.parse_args(argv)
    sys.path.insert(0, HERE)
    import netns
    seed = a.seed if a.seed is not None else random.SystemRandom().randrange(1 << 32)
    variants = a.variant.split(",")
    window = a.seconds / len(variants)
    conns = a.conns if a.conns is not None else max(1, int(12 * window))
    only = None if a.only is None else {int(x) for x in a.only.split(",")}
    plans = json.loads(a.plans) if a.plans else None
    bad = 0
    for v in variants:
        path, extra = VARIANTS[v]
        binary = Binary(os.path.abspath(a.binary or os.path.join(REPO, path)), extra)
        print("peerfuzz: seed %d, variant %s, %d connections over %gs" % (seed, v, conns, window),
              flush=True)
        topo = netns.Topology()
        res = None
        try:
            res = run(topo, binary, seed, conns=conns, seconds=window, only=only, plans=plans,
                      probes=not a.no_probes)
        except Exception:           # noqa: BLE001 - report it, then tear down
            traceback.print_exc()
            print("peerfuzz: the run failed (seed %d, variant %s)" % (seed, v), flush=True)
            bad += 1
        if res is not None:
            print(res.summary(), flush=True)
            if res.failures:
                print(res.report(), flush=True)
                bad += 1
        try:
            topo.close()
        except Exception as e:      # noqa: BLE001 - halfpipe's exit, sanitizer reports
            print("peerfuzz: teardown (seed %d, variant %s): %s" % (seed, v, e), flush=True)
            bad += 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
