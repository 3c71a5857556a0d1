"""The event matrix (tests/integ/matrix.py, docs/matrix.md), run.

Every possible cell runs at once against one halfpipe per variant: each cell
has its own server name, routed to its own backend listener with its own
server script, and its own client connection; the cells that must not share
a halfpipe (matrix.py `alone`, and DRAIN, which needs a SIGTERM) get their
own.  A cell's thread drives its connection into the phase (peer scripts, plus
a few signals when one peer must wait for something only the other peer or
halfpipe's sockets show), lets the event happen, waits out the cell's time
bound and then checks that halfpipe still serves.  Once every cell is done,
each is judged from what was recorded: the peers' events, the access log,
`ss` snapshots of halfpipe's namespace taken every 0.1 s.  Every failing cell
is reported (phase/side/event, expected, observed) before the test fails.
"""

import hashlib
import os
import signal
import sys
import threading
import time
import traceback

import matrix as M
import netns
import peer as peerlib
from netns import CLIENT_ADDR, PROXY_CADDR, SERVER_ADDR, T

SYN_DROP_ADDR = "198.18.2.3"    # halfpipe's SYNs to it are dropped (proxy ns)
DARK_ADDR = "198.18.2.4"        # every packet to or from it dropped (server ns)
REFUSED_PORT = 9                # nothing listens there: the server's kernel resets
PROBE_SNI = "probe.matrix.test"
ALERT = bytes.fromhex("15030300020270")
BIG = 3 * 1024 * 1024           # what the other side sends to a stopped reader
LINGER_TAIL = 16 * 1024         # LINGER stop-reading: the bytes before the last FIN
SMALL_RCVBUF = 4096
WATCH = {"op": "watch_rst"}
SHUT = {"op": "shut_wr"}
RST = {"op": "rst"}
RESET_ERRS = ("ECONNRESET", "EPIPE")


def sha(b):
    return hashlib.sha256(b).hexdigest()


def mark(name):
    return {"op": "mark", "name": name}


def wait_tag(tag):
    return {"op": "wait", "tag": tag}


def send(b):
    return {"op": "send", "hex": b.hex()}


def wait_rx(n):
    return {"op": "wait_rx", "n": n}


WAIT_EOF = {"op": "wait_eof"}


# -- the plan of one cell ------------------------------------------------------

class Plan:
    """How to drive one cell: the scripts, the backend, the signals, and the
    bytes each peer sends (what "all" means for the other one)."""

    def __init__(self, cell, idx, tables):
        self.cell, self.idx = cell, idx
        self.id = M.cell_id(cell)
        self.label = "m%03d" % idx
        ph, x, ev = M.key(cell)
        self.phase, self.x, self.event = ph, x, ev
        self.y = "server" if x == "client" else "client"
        self.sni = "%s.matrix.test" % self.label
        if ph == "REJECT":
            self.sni = "%s.unrouted.test" % self.label
        self.hello = peerlib.client_hello(self.sni)
        self.backend = "listen"             # listen | syn-drop | dark | refused | None
        self.rcvbuf = {}                    # side -> SO_RCVBUF
        self.syncs = []
        self.sent = {"client": b"", "server": b""}
        self.scripts = {"client": [WATCH], "server": [WATCH]}
        self.event_ref = None               # (side, mark name) instead of X's event
        self.tables = tables
        seed = 1000 * idx
        self.pc = peerlib.pattern(3000, seed + 1)
        self.ps = peerlib.pattern(5000, seed + 2)
        self.d = peerlib.pattern(20000, seed + 3)
        self.u = peerlib.pattern(1000, seed + 4)
        getattr(self, "_" + ph.replace("-", "_").lower())()

    # helpers
    def add(self, side, *ops, data=b""):
        self.scripts[side].extend(ops)
        self.sent[side] += data

    def tag(self, name):
        return "%s:%s" % (self.label, name)

    def event_ops(self, side, data=None):
        """The event's own steps on `side`; data: what "data"/"urgent" send."""
        ev = self.event
        if ev == "FIN":
            self.add(side, SHUT, mark("event"))
        elif ev == "RST":
            self.add(side, RST)
        elif ev == "data":
            b = self.d if data is None else data
            self.add(side, send(b), mark("event"), data=b)
        elif ev == "urgent":
            b = self.u if data is None else data
            self.add(side, {"op": "urgent", "hex": b.hex()}, mark("event"), data=b)
        elif ev == "stop-reading":
            self.add(side, {"op": "stop_read"}, mark("event"))
        elif ev == "vanish":
            self.add(side, {"op": "vanish", "table": self.tables[side]}, mark("event"))
        elif ev != "silence":
            raise ValueError(ev)

    def big_after_stop(self, other):
        """stop-reading: once X stopped, `other` sends BIG."""
        self.add(other, wait_tag(self.tag("big")),
                 {"op": "send", "pattern": BIG, "seed": 7 * self.idx + 5})
        self.syncs += [("ev", self.x, "stop_read", None), ("signal", other, self.tag("big"))]

    # phases
    def _hello_0(self):
        self.add("client", mark("phase"))
        self.event_ops("client", data=self.hello)
        self.scripts["server"] = [WATCH]

    def _hello_partial(self):
        self.add("client", send(self.hello[:40]), mark("phase"), data=self.hello[:40])
        self.event_ops("client", data=self.hello[40:])

    def _connect(self):
        self.add("client", send(self.hello), mark("hello"), data=self.hello)
        if self.x == "server":
            self.backend = {"RST": "refused", "silence": "syn-drop", "vanish": "dark"}[self.event]
            self.add("client", mark("phase"))
            self.event_ref = ("client", "hello")
            return
        self.backend = "syn-drop"
        self.add("client", wait_tag(self.tag("go")), mark("phase"))
        self.syncs += [("ss", "SYN-SENT", "backend"), ("signal", "client", self.tag("go"))]
        self.event_ops("client")

    def _relay_pre(self, x):
        """Bytes both ways; the side x gets the last ones."""
        if x == "client":
            self.add("client", send(self.hello + self.pc), wait_rx(len(self.ps)),
                     data=self.hello + self.pc)
            self.add("server", wait_rx(len(self.hello + self.pc)), send(self.ps), data=self.ps)
        else:
            self.add("server", send(self.ps), data=self.ps)
            self.add("client", send(self.hello), wait_rx(len(self.ps)), send(self.pc),
                     data=self.hello + self.pc)
            self.add("server", wait_rx(len(self.hello + self.pc)))

    def _relay_open(self, drain=False):
        x, y = self.x, self.y
        self._relay_pre(x)
        if drain:
            self.add(x, mark("ready"), wait_tag("drain-go"))
        self.add(x, mark("phase"))
        self.event_ops(x)
        if self.event == "stop-reading":
            self.big_after_stop(y)
        if drain and self.event == "FIN":
            self.add(y, WAIT_EOF, SHUT)

    def _drain(self):
        self._relay_open(drain=True)

    def _half(self, f):
        """RELAY-cfin (f: client) and RELAY-sfin (f: server): bytes both
        ways, then f's FIN reaches the other side."""
        o = "server" if f == "client" else "client"
        self._relay_pre("client")
        self.add(f, SHUT)
        self.add(o, WAIT_EOF)
        if self.x == o:
            self.add(o, mark("phase"))
        else:
            self.add(f, wait_tag(self.tag("go")), mark("phase"))
            self.syncs += [("ev", o, "eof", "phase"), ("signal", f, self.tag("go"))]
        self.event_ops(self.x)
        if self.event == "stop-reading":
            self.big_after_stop(self.y)

    def _relay_cfin(self):
        self._half("client")

    def _relay_sfin(self):
        self._half("server")

    def _linger(self):
        x, y, ev = self.x, self.y, self.event
        self._relay_pre(x)
        last_ack = ("ss", "LAST-ACK", x)
        if ev in ("RST", "silence"):
            self.add(x, {"op": "deaf", "table": self.tables[x]}, SHUT,
                     wait_tag(self.tag("go")), mark("phase"))
            self.add(y, WAIT_EOF, SHUT)
            self.syncs += [("ev", y, "shut", "phase"), last_ack,
                           ("signal", x, self.tag("go"))]
            self.event_ops(x)
        elif ev == "stop-reading":
            self.rcvbuf[x] = SMALL_RCVBUF
            self.event_ops(x)
            self.add(x, SHUT)
            tail = peerlib.pattern(LINGER_TAIL, 1000 * self.idx + 9)
            self.add(y, WAIT_EOF, send(tail), SHUT, data=tail)
            self.syncs += [("ev", y, "shut", "phase"), last_ack]
        elif ev == "vanish":
            self.add(x, SHUT, wait_tag(self.tag("go")))
            self.event_ops(x)
            self.add(y, WAIT_EOF, wait_tag(self.tag("go2")), SHUT)
            self.syncs += [("ev", y, "eof", None), ("signal", x, self.tag("go")),
                           ("mark", x, "event"), ("signal", y, self.tag("go2")),
                           ("ev", y, "shut", "phase"), last_ack]
        else:
            raise ValueError(ev)

    def _reject(self):
        self.backend = None
        ev, h = self.event, self.hello
        send_shut = {"op": "send_shut", "hex": h.hex()}     # the FIN in the hello's segment
        if ev == "FIN":
            self.add("client", send_shut, mark("event"), WAIT_EOF, data=h)
            return
        if ev == "vanish":
            self.add("client", {"op": "deaf", "table": self.tables["client"]}, send_shut,
                     mark("event"), {"op": "vanish", "table": self.tables["client"]}, data=h)
            return
        self.add("client", send(h), data=h)
        if ev == "stop-reading":
            self.event_ops("client")
        else:
            self.add("client", WAIT_EOF, mark("phase"))
            self.event_ops("client")
            if ev in ("data", "urgent"):
                self.add("client", SHUT)


# -- recorders shared by the cells ----------------------------------------------

class Hub:
    """A peer's events sorted by label as they come, so a cell's thread is
    woken only by its own connection's events."""

    def __init__(self, peer):
        self.peer = peer
        self.lock = threading.Lock()
        self.evs, self.conds = {}, {}
        self.pos = 0
        self.stopped = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _cond(self, label):
        c = self.conds.get(label)
        if c is None:
            c = self.conds[label] = threading.Condition(self.lock)
        return c

    def _run(self):
        p = self.peer
        for _ in range(10 ** 7):
            if self.stopped:
                return
            with p.cond:
                if len(p.events) <= self.pos:
                    p.cond.wait(0.2)
                new = p.events[self.pos:]
                self.pos += len(new)
            if not new:
                continue
            with self.lock:
                touched = set()
                for e in new:
                    lb = e.get("label")
                    if lb is not None:
                        self.evs.setdefault(lb, []).append(e)
                        touched.add(lb)
                for lb in touched:
                    self._cond(lb).notify_all()

    def wait(self, label, pred, deadline):
        """The first event of label matching pred, waiting until deadline."""
        with self.lock:
            c = self._cond(label)
            for _ in range(10 ** 6):
                for e in self.evs.get(label, ()):
                    if pred(e):
                        return e
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                c.wait(min(left, 0.5))
        return None

    def events(self, label):
        with self.lock:
            return list(self.evs.get(label, ()))


class LogWatch:
    """Every access-log record of the instances, by client port, with the
    time it was first seen."""

    def __init__(self):
        self.cond = threading.Condition()
        self.instances = []
        self.by_port = {}
        self.stopped = False
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        for _ in range(10 ** 7):
            if self.stopped:
                return
            self.poll()
            time.sleep(0.03)        # polling a file: there is nothing to wait on

    def poll(self):
        for inst in list(self.instances):
            n = len(inst.hp.records)
            recs = inst.hp.log()[n:]
            t = time.monotonic()
            with self.cond:
                for r in recs:
                    port = netns.split_hostport(r.get("client", ":"))[1]
                    self.by_port.setdefault((inst.name, port), []).append((t, r))
                if recs:
                    self.cond.notify_all()

    def records(self, inst, port, since):
        """The records of connections from port to inst first seen after
        since (a client port is used again once its connection is gone)."""
        with self.cond:
            return [r for t, r in self.by_port.get((inst, port), ()) if t >= since]

    def wait(self, inst, port, since, deadline):
        with self.cond:
            for _ in range(10 ** 6):
                got = [r for t, r in self.by_port.get((inst, port), ()) if t >= since]
                if got:
                    return got
                left = deadline - time.monotonic()
                if left <= 0:
                    return []
                self.cond.wait(min(left, 0.5))
        return []


class SsWatch:
    """`ss` in halfpipe's namespace every 0.1 s: (time taken, sockets)."""

    PERIOD = 0.1

    def __init__(self, ns):
        self.ns = ns
        self.cond = threading.Condition()
        self.snaps = []
        self.stopped = False
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        for _ in range(10 ** 6):
            if self.stopped:
                return
            t0 = time.monotonic()
            try:
                socks = netns.ss_states(self.ns)
            except Exception:       # noqa: BLE001 - the namespace is going away
                return
            with self.cond:
                self.snaps.append((t0, socks))
                self.cond.notify_all()
            rest = self.PERIOD - (time.monotonic() - t0)
            if rest > 0:
                time.sleep(rest)    # the sampling period itself

    def wait(self, pred, deadline, after=0.0):
        """The first snapshot taken at or after `after` for which
        pred(sockets) holds, waiting until deadline; None if none."""
        with self.cond:
            i = 0
            for _ in range(10 ** 6):
                while i < len(self.snaps):
                    t0, socks = self.snaps[i]
                    i += 1
                    if t0 >= after and pred(socks):
                        return t0, socks
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(min(left, 0.5))
        return None

    def at_or_after(self, t):
        with self.cond:
            for t0, socks in self.snaps:
                if t0 >= t:
                    return t0, socks
        return None


class Instance:
    def __init__(self, name, plans, workers):
        self.name, self.plans, self.workers = name, plans, workers
        self.hp = None
        self.t_sigterm = None
        self.exit = None


# -- one run of the matrix --------------------------------------------------------

class MatrixRun:
    def __init__(self, topo, hp_bin):
        self.topo, self.hp_bin = topo, hp_bin
        self.send_lock = threading.Lock()
        self.failures = {}          # cell id -> [problem, ...]
        self.flock = threading.Lock()
        self.times = {}             # cell id -> {"ref": t, "lo": s, "hi": s, ...}
        self.ports = {}             # cell id -> client port
        self.drain_go = threading.Event()

    def fail(self, plan, msg):
        with self.flock:
            self.failures.setdefault(plan.id if plan else "matrix", []).append(msg)

    def psend(self, side, **cmd):
        peer = self.client if side == "client" else self.server
        with self.send_lock:
            peer.send(**cmd)

    # set-up
    def setup(self):
        topo = self.topo
        topo.add_server_addr(SYN_DROP_ADDR)
        topo.add_server_addr(DARK_ADDR)
        topo.nft_drop_syn(topo.proxy, SYN_DROP_ADDR)
        netns.NftTable(topo, topo.server, ["ip daddr %s drop" % DARK_ADDR],
                       ["ip saddr %s drop" % DARK_ADDR])
        ctab = netns.NftTable(topo, topo.client, [], [])
        stab = netns.NftTable(topo, topo.server, [], [])
        tables = {"client": ctab.name, "server": stab.name}
        self.client = topo.peer(topo.client, "client")
        self.server = topo.peer(topo.server, "server")
        self.chub, self.shub = Hub(self.client), Hub(self.server)
        self.hubs = {"client": self.chub, "server": self.shub}
        self.probe_port = self.server.listen(SERVER_ADDR, [[
            {"op": "strip_hello"}, send(b"pong"), WAIT_EOF, {"op": "close"}]], label="probe")
        self.plans = [Plan(c, i, tables) for i, c in enumerate(M.CELLS)
                      if "impossible" not in c]
        addrs = {"listen": SERVER_ADDR, "syn-drop": SYN_DROP_ADDR, "dark": DARK_ADDR}
        for p in self.plans:
            p.endpoint = None
            if p.backend == "refused":
                p.endpoint = (SERVER_ADDR, REFUSED_PORT)
            elif p.backend is not None:
                kw = {"label": p.label}
                if "server" in p.rcvbuf:
                    kw["rcvbuf"] = p.rcvbuf["server"]
                port = self.server.listen(addrs[p.backend], [p.scripts["server"]], **kw)
                p.endpoint = (addrs[p.backend], port)
        workers = workers_of(self.hp_bin)
        main = [p for p in self.plans if p.phase != "DRAIN" and not p.cell.get("alone")]
        self.instances = [Instance("main", main, workers)]
        self.instances += [Instance(p.id, [p], workers) for p in self.plans
                           if p.cell.get("alone")]
        self.drain = Instance("drain", [p for p in self.plans if p.phase == "DRAIN"], workers)
        self.instances.append(self.drain)
        self.logs = LogWatch()
        self.ss = SsWatch(topo.proxy)
        for inst in self.instances:
            args = ["--listen", "%s:0" % PROXY_CADDR,
                    "--route", "%s=%s:%d" % (PROBE_SNI, SERVER_ADDR, self.probe_port)]
            for p in inst.plans:
                if p.endpoint is not None:
                    args += ["--route", "%s=%s:%d" % ((p.sni,) + p.endpoint)]
            for k, v in M.TIMEOUTS.items():
                args += ["--%s-timeout" % k, "%gs" % v]
            inst.hp = topo.halfpipe(self.hp_bin, args)
            for p in inst.plans:
                p.inst = inst
            self.logs.instances.append(inst)
        self.logs.thread.start()
        self.ss.thread.start()

    # driving one cell
    def ev_time(self, p, side, ev, name=None):
        e = [x for x in self.hubs[side].events(p.label)
             if x["ev"] == ev and (name is None or x.get("name") == name)]
        return e[0]["t"] if e else None

    def run_cell(self, p):
        try:
            self._run_cell(p)
        except Exception:           # noqa: BLE001 - a driver bug is one cell's failure
            self.fail(p, "driver error:\n" + traceback.format_exc())

    def _run_cell(self, p):
        t_start = time.monotonic()
        cmd = dict(cmd="connect", addr=PROXY_CADDR, port=p.inst.hp.port, count=1,
                   script=p.scripts["client"], label=p.label)
        if "client" in p.rcvbuf:
            cmd["rcvbuf"] = p.rcvbuf["client"]
        self.psend("client", **cmd)
        conn = self.chub.wait(p.label, lambda e: e["ev"] in ("connected", "connect_error"),
                              t_start + T(5))
        if conn is None or conn["ev"] != "connected":
            self.fail(p, "the client did not connect: %s" % conn)
            return
        p.lport = conn["lport"]
        self.ports[p.id] = p.lport
        refs = {"accept": conn["t"]}
        for s in p.syncs:
            dl = time.monotonic() + T(5)
            if s[0] == "signal":
                self.psend(s[1], cmd="signal", tag=s[2])
            elif s[0] in ("ev", "mark"):
                if s[0] == "ev":
                    pred = lambda e, ev=s[2]: e["ev"] == ev
                else:
                    pred = lambda e, name=s[2]: e["ev"] == "mark" and e.get("name") == name
                e = self.hubs[s[1]].wait(p.label, pred, dl)
                if e is None:
                    self.fail(p, "phase not reached: no %s %s event within %.1fs" % (
                        s[1], s[2], T(5)))
                    return
                if len(s) > 3 and s[3]:
                    refs[s[3]] = e["t"]
            elif s[0] == "ss":
                ep = self.proxy_endpoint(p, s[2])
                got = self.ss.wait(lambda socks, ep=ep, st=s[1]: any(
                    x[0] == st and ep in (x[1], x[2]) for x in socks), dl)
                if got is None:
                    self.fail(p, "phase not reached: no socket %s in %s in halfpipe's "
                                 "namespace within %.1fs" % (ep, s[1], T(5)))
        if p.phase == "DRAIN":
            if not self.drain_go.wait(T(15)):
                self.fail(p, "the drain never started")
                return
            refs["sigterm"] = self.drain.t_sigterm
        # the reference time of the cell's bound
        x = p.x
        dl = time.monotonic() + T(5)
        when = p.cell["when"]
        t, _, frm = when.partition("@")
        if when == "now" or frm == "event":
            side, name = p.event_ref or (x, "event")
            if p.event == "RST" and p.event_ref is None:
                e = self.hubs[x].wait(p.label, lambda e: e["ev"] == "rst_sent", dl)
            else:
                e = self.hubs[side].wait(p.label, lambda e: e["ev"] == "mark" and
                                         e.get("name") == name, dl)
            ref = e and e["t"]
        elif frm == "hello":
            e = self.chub.wait(p.label, lambda e: e["ev"] == "mark" and
                               e.get("name") == "hello", dl)
            ref = e and e["t"]
        elif frm == "phase" and "phase" not in refs:
            e = self.hubs[x].wait(p.label, lambda e: e["ev"] == "mark" and
                                  e.get("name") == "phase", dl)
            ref = e and e["t"]
        else:
            ref = refs.get(frm)
        if ref is None:
            self.fail(p, "the event did not happen (no reference time for %r)" % when)
            return
        if when == "now":
            lo, hi = -0.05, T(M.NOW)
        else:
            lo, hi = M.TIMEOUTS[t] - M.EARLY, M.TIMEOUTS[t] + T(M.LATE)
            if p.event == "stop-reading":
                hi += T(M.LATE_STALLED)
        self.times[p.id] = {"ref": ref, "lo": lo, "hi": hi}
        # wait out the bound (a late reset or EOF would still be recorded),
        # and for the access-log line
        end = ref + hi + 0.15
        for side in ("client", "server"):
            self.hubs[side].wait(p.label, lambda e: False, end)
        self.logs.wait(p.inst.name, p.lport, conn["t"], end + T(2))
        if p.phase != "DRAIN":
            self.probe(p)

    def proxy_endpoint(self, p, which):
        """The far end of one of halfpipe's sockets of p, as ss shows it."""
        if which == "client":
            return (CLIENT_ADDR, p.lport)
        return p.endpoint           # "server" / "backend"

    def probe(self, p):
        n = 1 if len(p.inst.plans) > 1 else 4 * p.inst.workers
        p.t_probe = time.monotonic()
        lb = p.label + "/probe"
        self.psend("client", cmd="connect", addr=PROXY_CADDR, port=p.inst.hp.port, count=n,
                   script=[{"op": "send", "hello": PROBE_SNI}, wait_rx(4), {"op": "close"}],
                   label=lb)
        dl = time.monotonic() + T(5)
        got = []
        for _ in range(n):
            e = self.chub.wait(lb, lambda e, got=got: e["ev"] == "rx" and e["conn"] not in got,
                               dl)
            if e is None:
                break
            got.append(e["conn"])
        p.probes = (len(got), n)
        # when a probe took the cell's client port again (a reset leaves no
        # TIME-WAIT to keep it), the sockets of that port after it are the
        # probe's: the lingering check looks only before it
        p.port_reused = min((e["t"] for e in self.chub.events(lb)
                             if e["ev"] == "connected" and e.get("lport") == p.lport),
                            default=None)

    # the drain instance
    def run_drain(self):
        inst = self.drain
        dl = time.monotonic() + T(10)
        for p in inst.plans:
            e = self.hubs[p.x].wait(p.label, lambda e: e["ev"] == "mark" and
                                    e.get("name") == "ready", dl)
            if e is None:
                self.fail(p, "phase not reached: RELAY-open before the SIGTERM")
        inst.t_sigterm = time.monotonic()
        inst.hp.kill(signal.SIGTERM)
        self.psend("client", cmd="signal", tag="drain-go")
        self.psend("server", cmd="signal", tag="drain-go")
        self.drain_go.set()
        rc = inst.hp.wait_exit(T(M.TIMEOUTS["drain"] + 5))
        inst.exit = (rc, time.monotonic() - inst.t_sigterm)
        if rc is not None:
            inst.hp.exit_code = rc

    def run(self):
        t0 = time.monotonic()
        threads = [threading.Thread(target=self.run_cell, args=(p,), daemon=True)
                   for p in self.plans]
        threads.append(threading.Thread(target=self.run_drain, daemon=True))
        for th in threads:
            th.start()
        deadline = t0 + T(60)
        for th in threads:
            th.join(max(0.1, deadline - time.monotonic()))
        stuck = [th for th in threads if th.is_alive()]
        if stuck:
            self.fail(None, "%d cell thread(s) still running after %.0fs" % (len(stuck),
                                                                              T(60)))
        # one more snapshot past every bound
        self.ss.wait(lambda s: True, time.monotonic() + T(2), after=time.monotonic())
        self.ss.stopped = True
        self.logs.poll()
        self.logs.stopped = True
        self.chub.stopped = self.shub.stopped = True
        self.elapsed = time.monotonic() - t0

    # judging
    def observed(self, p, side):
        """(outcome string, the rx info of it, events) of side in p."""
        evs = [e for e in self.hubs[side].events(p.label)]
        if side == "server" and not any(e["ev"] == "accepted" for e in evs):
            return "noconn", None, evs
        ends, info, last_rx = [], None, None
        for e in evs:
            kind = None
            if e["ev"] == "eof":
                kind = "eof"
            elif e["ev"] == "rst":
                kind = "rst"
            elif e["ev"] in ("send_error", "rx_error", "shut_error", "connect_error"):
                kind = "rst" if e.get("err") in RESET_ERRS else "%s:%s" % (e["ev"],
                                                                           e.get("err"))
            if "rx" in e:
                last_rx = e
            if kind is None:
                continue
            if info is None:
                info = e if "rx" in e else last_rx
            if not ends or ends[-1] != kind:
                ends.append(kind)
            if kind != "eof":
                break               # after a reset a recv says 0: not an EOF
        if info is None:
            info = last_rx
        return "+".join(ends) or "none", info, evs

    def judge(self, p):
        c = p.cell
        problems = []
        conn_t = self.ev_time(p, "client", "connected")
        with self.logs.cond:
            recs = [tr for tr in self.logs.by_port.get((p.inst.name, getattr(p, "lport", None)),
                                                       ()) if conn_t and tr[0] >= conn_t]
        # a record seen after the probes started may be a new connection
        # from the same port (used again once the cell's was gone)
        late = getattr(p, "t_probe", None)
        recs = recs[:1] + [tr for tr in recs[1:] if late is None or tr[0] < late]
        tm = self.times.get(p.id)
        # term
        if not recs:
            problems.append("term: expected %s, observed no access-log line" % c["term"])
        elif len(recs) > 1:
            problems.append("term: %d access-log lines: %s" % (
                len(recs), [r[1].get("term") for r in recs]))
        elif recs[0][1].get("term") != c["term"]:
            r = recs[0][1]
            problems.append("term: expected %s, observed %s (first_close=%s client_tcp=%s "
                            "server_tcp=%s duration_ms=%s)" % (
                                c["term"], r.get("term"), r.get("first_close"),
                                r.get("client_tcp"), r.get("server_tcp"),
                                r.get("duration_ms")))
        # time bound (the access log's end: connect + duration_ms)
        if tm and recs and conn_t is not None:
            try:
                t_end = conn_t + int(recs[0][1]["duration_ms"]) / 1000.0
            except (KeyError, ValueError):
                t_end = None
            if t_end is not None:
                dt = t_end - tm["ref"]
                if not tm["lo"] <= dt <= tm["hi"]:
                    problems.append("time: expected the end %s (%.2f..%.2fs), observed "
                                    "after %.2fs" % (c["when"], tm["lo"], tm["hi"], dt))
        # what each peer saw
        for side in ("client", "server"):
            want = c[side]
            if want == "-":
                continue
            got, info, evs = self.observed(p, side)
            if want == "noconn":
                if got != "noconn":
                    problems.append("%s: expected no connection, observed one (%s)" % (
                        side, got))
                continue
            wb, _, we = want.partition("/")
            if got != we:
                problems.append("%s: expected %s, observed %s%s" % (
                    side, we, got, self.detail(evs)))
            if wb != "any" and got != "noconn":
                data = ALERT if wb == "alert" else p.sent["server" if side == "client"
                                                           else "client"]
                rx = (info or {}).get("rx", 0)
                h = (info or {}).get("sha256", sha(b""))
                if (rx, h) != (len(data), sha(data)):
                    problems.append("%s: expected %s %d bytes (sha256 %s), observed %d "
                                    "(sha256 %s, starting %s)" % (
                                        side, wb, len(data), sha(data)[:12], rx, h[:12],
                                        (info or {}).get("head", "")[:24]))
            # resets must come within the bound, and not before it
            if tm and "rst" in we:
                r = [e for e in evs if e["ev"] == "rst" or (
                    e["ev"] in ("send_error", "rx_error") and e.get("err") in RESET_ERRS)]
                if r:
                    dt = r[0]["t"] - tm["ref"]
                    if not tm["lo"] - 0.05 <= dt <= tm["hi"] + 0.1:
                        problems.append("%s: reset after %.2fs, expected %s (%.2f..%.2fs)"
                                        % (side, dt, c["when"], tm["lo"], tm["hi"]))
        # nothing lingering past the bound
        if tm and hasattr(p, "lport"):
            after = tm["ref"] + tm["hi"]
            if recs:
                after = max(after, recs[0][0])
            snap = self.ss.at_or_after(after + 0.05)
            reused = getattr(p, "port_reused", None)
            eps = [(CLIENT_ADDR, p.lport)] + ([p.endpoint] if p.endpoint else [])
            if snap is not None and reused is not None and snap[0] >= reused:
                eps = eps[1:]       # that port is a probe's now
            if snap is None:
                problems.append("sockets: no ss snapshot past the bound")
            else:
                left = [s for s in snap[1] if s[0] in netns.LINGER_STATES and
                        any(ep in (s[1], s[2]) for ep in eps)]
                if left:
                    problems.append("sockets: %.2fs past the bound: %s" % (
                        snap[0] - tm["ref"] - tm["hi"], left))
        # still serving
        if p.phase != "DRAIN" and tm:
            got, n = getattr(p, "probes", (0, 0))
            if got < n:
                problems.append("serving: %d of %d new connections served afterwards" % (
                    got, n))
        return problems

    def states_seen(self, p):
        """The TCP states halfpipe's sockets of p went through, in order."""
        eps = {"client": (CLIENT_ADDR, getattr(p, "lport", -1)), "server": p.endpoint}
        seen = {"client": [], "server": []}
        with self.ss.cond:
            snaps = list(self.ss.snaps)
        for _t, socks in snaps:
            for st, local, peer in socks:
                for side, ep in eps.items():
                    if ep is not None and ep in (local, peer):
                        if not seen[side] or seen[side][-1] != st:
                            seen[side].append(st)
        return "C:%s S:%s" % (">".join(seen["client"]) or "-",
                              ">".join(seen["server"]) or "-")

    def summary(self, p):
        recs = self.logs.records(p.inst.name, getattr(p, "lport", None),
                                 self.ev_time(p, "client", "connected") or 0)
        tm = self.times.get(p.id)
        conn_t = self.ev_time(p, "client", "connected")
        dt = "-"
        if recs and tm and conn_t:
            dt = "%.2f" % (conn_t + int(recs[0].get("duration_ms", 0)) / 1000.0 - tm["ref"])
        return "%-30s term=%-20s end=%5ss client=%-8s server=%-8s %s" % (
            p.id, recs[0].get("term") if recs else "?", dt, self.observed(p, "client")[0],
            self.observed(p, "server")[0], self.states_seen(p))

    @staticmethod
    def detail(evs):
        keep = [e for e in evs if e["ev"] in ("eof", "rst", "send_error", "rx_error",
                                               "shut_error", "aborted", "accepted")]
        return " [%s]" % ", ".join("%s%s" % (e["ev"], "(%s)" % e["err"] if "err" in e else "")
                                   for e in keep[:6])

    def report(self):
        for p in self.plans:
            pr = self.judge(p)
            if pr:
                with self.flock:
                    self.failures.setdefault(p.id, []).extend(pr)
        d = self.drain.exit
        if d is None or d[0] != 0 or d[1] > M.TIMEOUTS["drain"] + T(2):
            self.failures.setdefault("DRAIN", []).append(
                "halfpipe exit after SIGTERM: expected 0 within %.1fs, observed %s" % (
                    M.TIMEOUTS["drain"] + T(2), d))
        lines = []
        for p in self.plans:
            for pr in self.failures.get(p.id, []):
                lines.append("%-30s %s" % (p.id, pr))
            if p.id in self.failures:
                lines.append("%-30s (halfpipe's sockets went %s)" % (p.id, self.states_seen(p)))
        for k in ("matrix", "DRAIN"):
            for pr in self.failures.get(k, []):
                lines.append("%-30s %s" % (k, pr))
        return lines


def workers_of(hp_bin):
    extra = list(getattr(hp_bin, "extra", []))
    if "--workers" in extra:
        return int(extra[extra.index("--workers") + 1])
    return len(os.sched_getaffinity(0))


# -- tests ---------------------------------------------------------------------------

def test_matrix_is_complete():
    # every phase x side x event is one row, impossible (with a reason) or
    # with every outcome; and the driver has a plan for each possible one
    assert M.check_complete() == []
    assert len(M.CELLS) == len(M.PHASES) * len(M.SIDES) * len(M.EVENTS)
    tables = {"client": "t_c", "server": "t_s"}
    for i, c in enumerate(M.CELLS):
        if "impossible" not in c:
            Plan(c, i, tables)


def test_matrix_doc_matches_table():
    # docs/matrix.md is exactly what the table generates
    with open(M.DOC) as f:
        doc = f.read()
    assert doc == M.markdown(), "docs/matrix.md is stale: run python3 tests/integ/matrix.py"


def test_matrix(topo, hp_bin):
    run = MatrixRun(topo, hp_bin)
    run.setup()
    run.run()
    lines = run.report()
    if os.environ.get("HP_MATRIX_VERBOSE"):
        for p in run.plans:
            sys.stderr.write(run.summary(p) + "\n")
    failing = sorted({ln.split()[0] for ln in lines})
    sys.stderr.write("matrix: %d cells in %.1fs, %d failing\n" % (
        len(run.plans), run.elapsed, len(failing)))
    assert not lines, "%d of %d cells fail:\n%s" % (len(failing), len(run.plans),
                                                   "\n".join(lines))
