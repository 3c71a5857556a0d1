"""A fleet of three halfpipes behind a kernel L4 balancer, in network
namespaces (docs/deploy.md), restarted one at a time under continuous load.

    client ns             balancer ns                 inst0..2 ns            server ns
    198.18.1.1 ---------- 198.18.1.2                  (one each)
    VIP 198.18.0.10:443   VIP on lo, forwarding  ---- 198.18.1{1,2,3}.1      198.18.2{1,2,3}.1
                          198.18.1{1,2,3}.2           halfpipe, /ready       one server peer
                                                      198.18.2{1,2,3}.2 ---- (0.0.0.0)

Each instance's default route is the balancer (NAT: replies go back through
it).  Two balancers, the same fleet and the same checks:

- IPVS managed by keepalived (an HTTP_GET check of each instance's /ready,
  delay_loop 0.1 s); skipped where the kernel has no IPVS (CONFIG_IP_VS);
  keepalived's view is `ipvsadm -Ln`.  Its configuration is checked with
  `keepalived -t` everywhere (test_keepalived_conf_is_valid).
- nftables: the VIP DNATed round robin (`numgen inc mod N map`) to the
  ready instances; the health checker that rewrites the map is
  tests/integ/nftcheck.py, playing keepalived's part (the same check: GET
  /ready every 100 ms, out at the first failure, in at the first 200).
  The view is the rule nft lists.

The rolling restart: SIGTERM to one instance (drain-delay 2s), wait until
the balancer's view lost it, which must be before its listeners close; wait
for the old process to exit (0); start a new one on the same addresses;
wait for its /ready 200 and for the view to have it again; next instance.
Meanwhile a client peer opens connections through the VIP every 50 ms, each
a ClientHello, 300 bytes and a FIN, answered by the backend with 4000 bytes
and a FIN.  Every connection must complete: no refusal, no reset, every
byte checksummed both ways, every access-log line term=client-fin; the
view (polled from the kernel every 50 ms) never has a draining instance
from the moment it dropped it until the new one is started, and no
backend connection comes from a draining instance once it was dropped.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import pytest

import netns
import nftcheck
import procs
from harness import (CLOSE, REPO, SHUT, SNI, STRIP, WAIT_EOF, ended_conns, hello, pattern,
                     send_pattern, sha, T)
from netns import run

HERE = os.path.dirname(os.path.abspath(__file__))
NFTCHECK = os.path.join(HERE, "nftcheck.py")

VIP, VIP_PORT = "198.18.0.10", 443
N = 3
REQ, REPLY = 300, 4000
DRAIN_DELAY = 2.0
TICK = 0.05             # the load's and the view poller's period
BATCH = 8               # connections per tick: 160/s
MIN_CONNS = 2000        # the load runs on until the restarts are done and this many
CHECK_INTERVAL = 0.1

_GET = r"""
import socket, sys
try:
    s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=1)
    s.sendall(b"GET /ready HTTP/1.0\r\n\r\n")
    buf = b""
    while True:
        c = s.recv(4096)
        if not c:
            break
        buf += c
    print(buf.split(b"\r\n", 1)[0].split()[1].decode())
except (OSError, IndexError) as e:
    print("error %s" % e)
"""


def inst_addr(i):
    return "198.18.%d.1" % (11 + i)


def bal_addr(i):
    return "198.18.%d.2" % (11 + i)


def srv_addr(i):
    return "198.18.%d.1" % (21 + i)


def inst_saddr(i):
    return "198.18.%d.2" % (21 + i)


def keepalived_conf(ports, mports, delay_loop=CHECK_INTERVAL):
    """The keepalived.conf of the IPVS variant (docs/deploy.md shows it):
    one virtual_server on the VIP, a real_server per instance, each with an
    HTTP_GET check of /ready on its metrics port."""
    reals = "".join("""
    real_server %(addr)s %(port)d {
        weight 1
        HTTP_GET {
            url {
                path /ready
                status_code 200
            }
            connect_ip %(addr)s
            connect_port %(mport)d
            connect_timeout 0.5
            retry 0
            delay_before_retry %(loop)s
            warmup 0
            fast_recovery
        }
    }
""" % {"addr": inst_addr(i), "port": ports[i], "mport": mports[i], "loop": delay_loop}
        for i in range(len(ports)))
    return """global_defs {
    router_id halfpipe-fleet
}

virtual_server %s %d {
    delay_loop %s
    lb_algo rr
    lb_kind NAT
    protocol TCP
%s}
""" % (VIP, VIP_PORT, delay_loop, reals)


class Fleet:
    """The namespaces, the server peer and the three instances."""

    def __init__(self, topo, hp_bin):
        self.topo, self.hp_bin = topo, hp_bin
        tag = "hf%d%d" % (os.getpid() % 1000000, next(netns._counter))
        self.ns = {k: tag + k for k in ("c", "b", "s", "i0", "i1", "i2")}
        for ns in self.ns.values():
            run(["ip", "netns", "add", ns])
            topo.cleanups.append(lambda ns=ns: run(["ip", "netns", "del", ns], check=False))
            run(["ip", "-n", ns, "link", "set", "lo", "up"])
        c, b, s = self.ns["c"], self.ns["b"], self.ns["s"]
        self._veth(c, tag + "c", "198.18.1.1", b, tag + "bc", "198.18.1.2")
        run(["ip", "-n", c, "route", "add", VIP + "/32", "via", "198.18.1.2"])
        run(["ip", "-n", b, "addr", "add", VIP + "/32", "dev", "lo"])
        run(["sysctl", "-qw", "net.ipv4.ip_forward=1"], ns=b)
        for i in range(N):
            ins = self.ns["i%d" % i]
            self._veth(b, tag + "b%d" % i, bal_addr(i), ins, tag + "i%d" % i, inst_addr(i))
            self._veth(s, tag + "s%d" % i, srv_addr(i), ins, tag + "j%d" % i, inst_saddr(i))
            run(["ip", "-n", ins, "route", "add", "default", "via", bal_addr(i)])
        self.server = topo.peer(s, "server")
        self.sport = self.server.listen("0.0.0.0", [[STRIP, WAIT_EOF,
                                                     send_pattern(REPLY, 7), CLOSE]])
        self.client = topo.peer(c, "client")
        self.ports, self.mports = [0] * N, [0] * N
        self.hp = [self.start(i) for i in range(N)]
        self.old = []                               # the instances restarted

    @staticmethod
    def _veth(ns_a, if_a, addr_a, ns_b, if_b, addr_b):
        assert len(if_a) <= 15 and len(if_b) <= 15
        run(["ip", "-n", ns_a, "link", "add", if_a, "type", "veth", "peer", "name", if_b,
             "netns", ns_b])
        for ns, ifn, addr in ((ns_a, if_a, addr_a), (ns_b, if_b, addr_b)):
            run(["ip", "-n", ns, "addr", "add", addr + "/24", "dev", ifn])
            run(["ip", "-n", ns, "link", "set", ifn, "up"])

    def start(self, i):
        """Instance i; the first time on ports the kernel picks (port 0),
        after a restart on the same ones."""
        a = inst_addr(i)
        h = self.topo.halfpipe(self.hp_bin, [
            "--listen", "%s:%d" % (a, self.ports[i]),
            "--route", "%s=%s:%d" % (SNI, srv_addr(i), self.sport),
            "--metrics", "%s:%d" % (a, self.mports[i]),
            "--drain-delay", "%dms" % (DRAIN_DELAY * 1000), "--drain-timeout", "10s",
            "--hello-timeout", "10s", "--connect-timeout", "10s"], ns=self.ns["i%d" % i])
        line = h.wait_stderr(r"serving metrics on %s:\d+" % a.replace(".", r"\."))
        self.ports[i], self.mports[i] = h.port, int(line.rsplit(":", 1)[1])
        return h

    def ready(self, i):
        """GET /ready of instance i, asked from the balancer: "200", "503"
        or "error ..."."""
        return run([sys.executable, "-c", _GET, inst_addr(i), str(self.mports[i])],
                   ns=self.ns["b"]).stdout.decode().strip()

    def backend_inst(self, ev):
        """The instance a server-side connection came from (its source)."""
        addr = ev["peer"].rsplit(":", 1)[0]
        return next(i for i in range(N) if inst_saddr(i) == addr)


class NftBalancer:
    """The VIP DNATed by nftables; nftcheck.py rewrites the map from /ready."""

    def __init__(self, fleet):
        self.fleet, self.ns = fleet, fleet.ns["b"]
        self.table = "hpfleet%d" % os.getpid()
        argv = ["ip", "netns", "exec", self.ns, sys.executable, NFTCHECK, "--table", self.table,
                "--vip", VIP, "--port", str(VIP_PORT), "--interval", str(CHECK_INTERVAL)]
        for i in range(N):
            argv += ["--inst", "%s:%d:%d" % (inst_addr(i), fleet.ports[i], fleet.mports[i])]
        self.checker = procs.Peer(argv, name="nftcheck")
        fleet.topo.procs.append(self.checker)
        fleet.topo.cleanups.append(lambda: run(["nft", "delete", "table", "ip", self.table],
                                               ns=self.ns, check=False))

    def view(self):
        """The instances the kernel's rule sends new connections to."""
        r = run(["nft", "-j", "list", "chain", "ip", self.table, "pre"], ns=self.ns, check=False)
        if r.returncode != 0:
            return frozenset()
        out = set()
        for item in json.loads(r.stdout).get("nftables", []):
            for expr in item.get("rule", {}).get("expr", []):
                for _, target in expr.get("dnat", {}).get("addr", {}).get("map", {}).get(
                        "data", {}).get("set", []):
                    addr, port = target["concat"]
                    out |= {i for i in range(N) if (inst_addr(i), self.fleet.ports[i]) ==
                            (addr, port)}
        return frozenset(out)

    def errors(self):
        return self.checker.find(ev="error")


class IpvsBalancer:
    """IPVS in the balancer namespace, its real servers managed by
    keepalived's health checker (keepalived -C: no VRRP)."""

    def __init__(self, fleet):
        self.fleet, self.ns = fleet, fleet.ns["b"]
        d = os.path.join(fleet.topo.tmp, "keepalived")
        os.makedirs(d)
        conf = os.path.join(d, "keepalived.conf")
        with open(conf, "w") as f:
            f.write(keepalived_conf(fleet.ports, fleet.mports))
        self.proc = procs.Proc(["ip", "netns", "exec", self.ns, "keepalived", "-n", "-l", "-D",
                                "-C", "-f", conf, "-p", os.path.join(d, "keepalived.pid"),
                                "-c", os.path.join(d, "checkers.pid"),
                                "-r", os.path.join(d, "vrrp.pid")], "keepalived")
        fleet.topo.cleanups.append(self.stop)

    def stop(self):
        self.proc.kill(signal.SIGTERM)
        if self.proc.wait_exit(T(10)) is None:
            self.proc.kill(signal.SIGKILL)
            self.proc.wait_exit(T(5))
        self.proc.join_readers()

    def view(self):
        """The real servers of the VIP's virtual service in `ipvsadm -Ln`."""
        out, inside = set(), False
        for line in run(["ipvsadm", "-Ln"], ns=self.ns).stdout.decode().splitlines():
            f = line.split()
            if f and f[0] in ("TCP", "UDP", "SCTP"):
                inside = f[1] == "%s:%d" % (VIP, VIP_PORT)
            elif inside and f and f[0] == "->" and f[1] != "RemoteAddress:Port" and int(f[3]) > 0:
                out |= {i for i in range(N) if "%s:%d" % (inst_addr(i), self.fleet.ports[i]) ==
                        f[1]}
        return frozenset(out)

    def errors(self):
        return [] if self.proc.running() else ["keepalived exited: " + self.proc.tail()]


class Background:
    """One thread: every TICK it opens BATCH connections through the VIP and
    records the balancer's view when it changed; bounded in count and time."""

    def __init__(self, fleet, bal, max_s):
        self.fleet, self.bal = fleet, bal
        self.stop_ev = threading.Event()
        self.sent = 0
        self.views = []                     # (t, frozenset), on change
        self.max_s = max_s
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def _run(self):
        script = [hello(), send_pattern(REQ, 5), SHUT, WAIT_EOF, CLOSE]
        end = time.monotonic() + T(self.max_s)
        for _ in range(int(T(self.max_s) / TICK) + 1):
            t0 = time.monotonic()
            if self.stop_ev.is_set() or t0 >= end:
                break
            self.fleet.client.connect(VIP, VIP_PORT, script, count=BATCH)
            self.sent += BATCH
            t = time.monotonic()        # the view is as of t or later
            v = self.bal.view()
            if not self.views or self.views[-1][1] != v:
                self.views.append((t, v))
            self.stop_ev.wait(max(0.0, TICK - (time.monotonic() - t0)))

    def stop(self):
        self.stop_ev.set()
        self.thread.join(T(10))
        assert not self.thread.is_alive()


def rolling_restart(fleet, bal):
    """Restart every instance in turn; return per instance the times
    (term, out: the view lost it, closed: its listeners closed, exited,
    back: the new one in the view again) and the new instance's ready time."""
    steps = []
    for i in range(N):
        h = fleet.hp[i]
        t_term = time.monotonic()
        h.kill(signal.SIGTERM)
        procs.poll_until(lambda: i not in bal.view(), DRAIN_DELAY,
                         "instance %d out of the balancer's view" % i, step=0.02)
        t_out = time.monotonic()
        h.wait_stderr(r"drain-delay: \d+ ms over, closing the listeners", timeout=DRAIN_DELAY + 5)
        t_closed = h.stderr_lines(r"drain-delay: \d+ ms over")[0][0]
        rc = h.wait_exit(T(15))
        assert rc == 0, "instance %d exit status %s:\n%s" % (i, rc, h.tail())
        h.exit_code = rc
        t_exit = time.monotonic()
        assert i not in bal.view(), "instance %d back in the view before its restart" % i
        fleet.old.append(h)
        t_restart = time.monotonic()
        fleet.hp[i] = fleet.start(i)
        procs.poll_until(lambda: fleet.ready(i), 5, "new instance %d /ready" % i,
                         done=lambda s: s == "200", step=0.05)
        t_ready = time.monotonic()
        procs.poll_until(lambda: i in bal.view(), 5, "instance %d back in the view" % i,
                         step=0.02)
        steps.append({"i": i, "term": t_term, "out": t_out, "closed": t_closed,
                      "exit": t_exit, "restart": t_restart, "ready": t_ready,
                      "back": time.monotonic()})
    return steps


def run_fleet(topo, hp_bin, balancer):
    fleet = Fleet(topo, hp_bin)
    bal = balancer(fleet)
    procs.poll_until(bal.view, 10, "every instance in the balancer's view",
                     done=lambda v: v == frozenset(range(N)), step=0.05)
    load = Background(fleet, bal, max_s=50).start()
    try:
        procs.poll_until(lambda: fleet.client.count("eof"), 5, "the load flowing",
                         done=lambda n: n >= 50)
        steps = rolling_restart(fleet, bal)
        # on for a second at least after the last instance came back
        t_end = steps[-1]["back"] + 1.0
        procs.poll_until(lambda: (load.sent, time.monotonic()), 30,
                         "%d connections sent" % MIN_CONNS, step=0.1,
                         done=lambda v: v[0] >= MIN_CONNS and v[1] >= t_end)
    finally:
        load.stop()
    sent, client, server = load.sent, fleet.client, fleet.server
    procs.poll_until(lambda: len(ended_conns(client, send_error=True)), 20,
                     "all %d connections ended" % sent, done=lambda n: n >= sent, step=0.1)
    assert not bal.errors(), bal.errors()

    # none refused or reset; every transfer complete and checksummed both ways
    bad = [e for e in client.events if e["ev"] in ("connect_error", "rst", "rx_error",
                                                  "send_error", "aborted")]
    assert not bad, "%d of %d connections failed, first: %s" % (len(bad), sent, bad[:5])
    eofs = client.find(ev="eof")
    assert len(eofs) == sent, (len(eofs), sent)
    want = (REPLY, sha(pattern(REPLY, 7)))
    wrong = [e for e in eofs if (e["rx"], e["sha256"]) != want]
    assert not wrong, "%d replies not byte-exact: %s" % (len(wrong), wrong[:3])
    procs.poll_until(lambda: server.count("eof"), 5, "the server saw every request",
                     done=lambda n: n >= sent)
    want = (REQ, sha(pattern(REQ, 5)))
    srv_eofs = server.find(ev="eof")
    assert len(srv_eofs) == sent
    assert all((e["rx"], e["sha256"]) == want for e in srv_eofs)
    hps = fleet.old + fleet.hp
    procs.poll_until(lambda: sum(len(h.log()) for h in hps), 3, "every access-log line",
                     done=lambda n: n >= sent)
    terms = {}
    for r in (r for h in hps for r in h.log()):
        terms[r["term"]] = terms.get(r["term"], 0) + 1
    assert terms == {"client-fin": sent}, terms

    # the view followed /ready: it dropped each instance before its
    # listeners closed, kept it out until the new one was ready, took it back
    accepted = server.find(ev="accepted")
    for st in steps:
        i = st["i"]
        assert (st["term"] < st["out"] < st["closed"] < st["exit"] < st["restart"] <
                st["ready"] <= st["back"]), st
        during = [v for t, v in load.views if st["out"] <= t < st["restart"]]
        assert all(i not in v for v in during), (i, during)
        late = [e for e in accepted if fleet.backend_inst(e) == i
                and st["out"] + 0.5 <= e["t"] <= st["exit"]]
        assert not late, "instance %d still got new connections after the view dropped it: %s" % (
            i, late[:3])
    for i in range(N):      # each new instance served its share after it came back
        back = steps[i]["back"]
        assert any(fleet.backend_inst(e) == i and e["t"] > back for e in accepted), i

    # still serving and idle (the fixture's check, done here so that the
    # three can then drain at once rather than one after the other)
    for h in fleet.hp:
        h.watchdog(h.ns)
    for h in fleet.hp:
        h.kill(signal.SIGTERM)
    for h in fleet.hp:
        rc = h.wait_exit(T(DRAIN_DELAY + 10))
        assert rc == 0, "exit status %s:\n%s" % (rc, h.tail())
        h.exit_code = rc
    return sent


@pytest.mark.slow
def test_rolling_restart_behind_nftables(loopback, hp_bin):
    assert run_fleet(loopback, hp_bin, NftBalancer) >= MIN_CONNS


@pytest.mark.slow
def test_rolling_restart_behind_ipvs_keepalived(loopback, hp_bin):
    if shutil.which("modprobe"):
        subprocess.run(["modprobe", "-q", "ip_vs"], capture_output=True, timeout=20)
    if not os.path.exists("/proc/net/ip_vs"):
        pytest.skip("kernel without IPVS (CONFIG_IP_VS)")
    for tool in ("keepalived", "ipvsadm"):
        if shutil.which(tool) is None:
            pytest.skip("%s is not installed (make test-deps)" % tool)
    assert run_fleet(loopback, hp_bin, IpvsBalancer) >= MIN_CONNS


def test_keepalived_conf_is_valid(loopback):
    # the configuration the IPVS variant runs (and docs/deploy.md shows),
    # checked by keepalived itself; a broken one is refused, so the check
    # can fail.
    if shutil.which("keepalived") is None:
        pytest.skip("keepalived is not installed (make test-deps)")
    good = os.path.join(loopback.tmp, "keepalived.conf")
    bad = os.path.join(loopback.tmp, "bad.conf")
    text = keepalived_conf([40001, 40002, 40003], [9101, 9102, 9103])
    with open(good, "w") as f:
        f.write(text)
    with open(bad, "w") as f:
        f.write(text.replace("status_code 200", "status_code x", 1))
    for path, rc in ((good, 0), (bad, None)):
        r = subprocess.run(["keepalived", "-t", "-f", path], capture_output=True, timeout=T(20))
        assert (r.returncode == 0) == (rc == 0), (path, r.returncode, r.stderr[-2000:])
    assert text.count("real_server ") == 3 and text.count("path /ready") == 3


def test_deploy_doc_shows_the_tested_configs():
    # docs/deploy.md shows the keepalived.conf the IPVS variant writes and
    # the rule nftcheck.py installs, for the fleet's addresses on ports 443
    # (TLS) and 9101 (metrics): the same text, not a copy that drifts.
    doc = open(os.path.join(REPO, "docs", "deploy.md")).read()
    assert "```\n" + keepalived_conf([443] * N, [9101] * N) + "```" in doc
    a = type("A", (), {"table": "hpfleet", "vip": VIP, "port": VIP_PORT})
    rule = nftcheck.rule(a, list(range(N)), [(inst_addr(i), 443) for i in range(N)])
    assert rule.startswith("add rule ip hpfleet pre ")
    assert "\t\t" + rule[len("add rule ip hpfleet pre "):] in doc
