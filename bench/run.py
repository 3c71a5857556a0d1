#!/usr/bin/python3
"""
bench/run.py: halfpipe beside HAProxy, nginx and sniproxy, same machine, same run.

`make bench` builds halfpipe, bench-loadgen and bench-backend, then runs this
(standard library only; root, because it installs Debian packages when they
are missing and raises fd limits). What it does, in order:

1. Installs haproxy, nginx, libnginx-mod-stream, sniproxy and strace if missing
   (`apt-get update` once, then `apt-get install -y`), with a
   /usr/sbin/policy-rc.d that exits 101 in place so no service starts (it
   is removed afterwards only if this script wrote it).
2. For each round (3 by default) and each workload, runs every peer one
   after the other (A B C ... then again), each started by this script from
   a config generated into a temporary directory, listening on 127.0.0.1 on
   a port picked by binding port 0 and closing it just before the start.
   Peers: halfpipe, halfpipe-log (its access log on, to a file), haproxy (no splice), haproxy-splice (option
   splice-auto), nginx (stream, ssl_preread + map), sniproxy, direct (the
   load generator straight to the backend). Logging is off everywhere.
   --base PATH adds halfpipe-base: another halfpipe binary (an earlier
   build) with the same flags, interleaved with the others, so a change is
   measured before and after in one run.
3. Pins CPUs: the proxy (all its processes/threads) on CPU 1, the load
   generator and the backend on CPU 0 (sched_setaffinity in the child
   before exec, the same as `taskset -c`).
4. Workloads: cps-517 and cps-2k (64 concurrent connections; hello, 1 KiB
   reply, the client closes, then the backend; connections/s, p50/p99
   latency, proxy CPU s per 1,000 connections), cps-fin (the same with the
   backend sending its FIN right behind the reply), dl-1, dl-16, ul-1, ul-16
   (bulk download/upload, 1 and 16 streams, MB/s), hold (5,000 idle
   connections: proxy RSS and kernel socket memory per connection, then
   the RSS for 5 s after they end against the RSS before; every proxy is
   started fresh for it),
   sys-517 (strace -f -c on the proxy over a 2 s cps run at 8 at once:
   system calls per connection, in all and by kind; not timed). The cps
   runs also report how busy each core was (proxy's and load's).
   QUIC (issue 17; bench-quicload, UDP to bench-backend -u's echo):
   quic-flows (new flows, 64 at once, each one real client Initial with the
   SNI from a source address not used before, answered by the echo: flows/s,
   p99, proxy CPU s per 1,000 flows), quic-bulk (one flow, 1,200-byte
   datagrams echoed, 64 out at a time: MB/s each way, share lost),
   quic-blast (the same without a window), sys-quic (strace: system calls
   per flow and per datagram relayed). Their peers are started fresh for
   them: halfpipe with listen-quic, nginx's stream UDP proxy (no SNI
   routing) and direct; HAProxy and sniproxy have no UDP passthrough.
5. Prints one table: medians over rounds, each with its ratio to HAProxy, to
   the best of the peers (HAProxy with and without splice, nginx, sniproxy)
   and to direct (the QUIC rows: to nginx's UDP proxy and to direct), and writes every raw number to build/bench/results-DATE.json.

Every wait is bounded: each child has a time limit, each poll loop a count
and a deadline, and the whole run a deadline (--max-minutes). Every process
started is ended by its pid, every temporary directory removed. Traffic only
ever goes to 127.0.0.1.

Quick run:  make bench BENCH_ARGS="--rounds 1 --seconds 2 --only halfpipe,haproxy"
"""
import argparse
import datetime
import hashlib
import json
import os
import platform
import resource
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(ROOT, "build")
VECTORS = os.path.join(ROOT, "tests", "vectors", "clienthello", "real")   # ../shared's, copied
HELLOS = {  # workload name -> capture; both carry SNI a.example.test
    "517": "curl-h2.bin",       # curl 7.88 / OpenSSL 3, 517 bytes, one record
    "2k": "chromium-pq.bin",    # Chromium with X25519Kyber768, 1,986 bytes
}
SNI = "a.example.test"
PROXY_CPU = 1
LOAD_CPU = 0
NOFILE = 20000
NGINX_STREAM = "/usr/lib/nginx/modules/ngx_stream_module.so"
PACKAGES = {"haproxy": "/usr/sbin/haproxy", "nginx": "/usr/sbin/nginx",
            "libnginx-mod-stream": NGINX_STREAM, "sniproxy": "/usr/sbin/sniproxy",
            "strace": "/usr/bin/strace"}
ALL_PEERS = ["halfpipe", "halfpipe-log", "haproxy", "haproxy-splice", "nginx", "sniproxy", "direct"]
WORKLOADS = ["cps-517", "cps-2k", "cps-fin", "dl-1", "dl-16", "ul-1", "ul-16", "hold", "sys-517",
             "quic-flows", "quic-bulk", "quic-blast", "sys-quic"]
# the others: "x best peer" is against the best of these in the same run
PEERS_COMPARED = ["haproxy", "haproxy-splice", "nginx", "sniproxy"]
# hold: RSS sampled for this long after the held connections end
AFTER_S, AFTER_STEP = 5.0, 0.25
SYS_SECONDS = 2   # the traced cps run (strace slows the proxy: not timed)
HALFPIPE = os.path.join(BUILD, "halfpipe")  # replaced by a snapshot in the temp dir
HALFPIPE_BASE = None  # --base: a snapshot of that binary
ACCESS_LOG = False  # --access-log: halfpipe logs into the temp dir, to find errors
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def log(msg):
    print(msg, file=sys.stderr, flush=True)


class Deadline(Exception):
    pass


# ---------------------------------------------------------------- install

def install_packages():
    missing = [pkg for pkg, path in PACKAGES.items() if not os.path.exists(path)]
    if not missing:
        return
    if os.geteuid() != 0:
        sys.exit("bench: missing packages %s; run as root to install them" % " ".join(missing))
    policy = "/usr/sbin/policy-rc.d"
    wrote_policy = False
    if not os.path.exists(policy):
        with open(policy, "w") as f:
            f.write("#!/bin/sh\n# written by halfpipe bench/run.py: start no service\nexit 101\n")
        os.chmod(policy, 0o755)
        wrote_policy = True
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    try:
        log("bench: installing %s" % " ".join(missing))
        subprocess.run(["apt-get", "update", "-q"], check=True, env=env, timeout=600,
                       stdout=subprocess.DEVNULL)
        subprocess.run(["apt-get", "install", "-y", "-q"] + missing, check=True, env=env,
                       timeout=900, stdout=subprocess.DEVNULL)
    finally:
        if wrote_policy:
            os.unlink(policy)
    still = [pkg for pkg, path in PACKAGES.items() if not os.path.exists(path)]
    if still:
        sys.exit("bench: still missing after install: %s" % " ".join(still))


# ---------------------------------------------------------------- /proc helpers

def free_port(kind=socket.SOCK_STREAM):
    """A port the kernel just handed out for 127.0.0.1 (TCP, or UDP with
    kind SOCK_DGRAM); closed again at once."""
    s = socket.socket(socket.AF_INET, kind)
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


def listeners_on(port, table="tcp"):
    """Number of LISTEN sockets on 127.0.0.1:port (from /proc/net/tcp), or
    with table "udp" of UDP sockets bound to it, unconnected (state 07)."""
    n = 0
    want = "0100007F:%04X" % port
    with open("/proc/net/" + table) as f:
        for line in f:
            parts = line.split()
            if (len(parts) > 3 and parts[1] == want and parts[3] == ("0A" if table == "tcp" else "07")
                    and (table == "tcp" or parts[2] == "00000000:0000")):
                n += 1
    return n


def proc_children():
    """ppid -> [pid] for every process now."""
    kids = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
        except OSError:
            continue
        fields = st[st.rfind(")") + 2:].split()
        kids.setdefault(int(fields[1]), []).append(int(d))
    return kids


def tree(pids):
    """The pids and all their descendants (bounded depth)."""
    kids = proc_children()
    out, todo = [], list(pids)
    for _ in range(10000):
        if not todo:
            break
        p = todo.pop()
        if p in out:
            continue
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def cpu_ticks(pids):
    """utime+stime (all threads) of these processes, in seconds."""
    total = 0
    for p in pids:
        try:
            with open("/proc/%d/stat" % p) as f:
                st = f.read()
        except OSError:
            continue
        fields = st[st.rfind(")") + 2:].split()
        total += int(fields[11]) + int(fields[12])
    return total / CLK_TCK


def rss_bytes(pids):
    total = 0
    for p in pids:
        try:
            with open("/proc/%d/status" % p) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
        except OSError:
            pass
    return total


def pss_bytes(pids):
    total = 0
    for p in pids:
        try:
            with open("/proc/%d/smaps_rollup" % p) as f:
                for line in f:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1]) * 1024
        except OSError:
            pass
    return total


def sockstat_tcp_mem():
    """TCP socket buffer memory in bytes (/proc/net/sockstat `mem`, pages)."""
    with open("/proc/net/sockstat") as f:
        for line in f:
            if line.startswith("TCP:"):
                parts = line.split()
                return int(parts[parts.index("mem") + 1]) * PAGE
    return 0


KCACHES = ("TCP", "sock_inode_cache", "filp", "dentry", "eventpoll_epi", "eventpoll_pwq")


def kslab_bytes():
    """Bytes in the slab caches every TCP socket with an fd takes (the sock,
    its inode, file, dentry, epoll item): active objects x object size."""
    total = 0
    with open("/proc/slabinfo") as f:
        for line in f:
            parts = line.split()
            if parts and parts[0] in KCACHES:
                total += int(parts[1]) * int(parts[3])
    return total


def skmem_bytes(ports):
    """Buffer memory (skmem r+w+f+o: receive queue, send queue, forward
    allocation, options) of the established TCP sockets on 127.0.0.1 with a
    local or remote port in `ports`, from `ss -tmn`."""
    try:
        out = subprocess.run(["ss", "-tmnH", "state", "established"], capture_output=True,
                             text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    total, sock = 0, None
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 4 and ":" in parts[2]:
            lp, rp = int(parts[2].rsplit(":", 1)[1]), int(parts[3].rsplit(":", 1)[1])
            sock = lp in ports or rp in ports
        i = line.find("skmem:(")
        if i != -1 and sock:
            fields = line[i + 7:line.index(")", i)].split(",")
            kv = {}
            for fld in fields:
                k = fld.rstrip("0123456789")
                kv[k] = int(fld[len(k):])
            total += kv.get("r", 0) + kv.get("w", 0) + kv.get("f", 0) + kv.get("o", 0)
            sock = None
    return total


def slab_bytes():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("Slab:"):
                return int(line.split()[1]) * 1024
    return 0


def cpu_busy(cpu):
    """(busy, total) jiffies of one CPU from /proc/stat."""
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("cpu%d " % cpu):
                v = [int(x) for x in line.split()[1:]]
                idle = v[3] + v[4]
                return sum(v[:8]) - idle, sum(v[:8])
    return 0, 1


def all_busy():
    """(busy, total) jiffies of all CPUs from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return sum(v[:8]) - v[3] - v[4], sum(v[:8])


def children_cpu():
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


class Foreign:
    """CPU used during a run by anything but the peer, the load generator and
    the backend (another job on the machine): busy time of all CPUs minus
    theirs, as a fraction of the run's CPU capacity."""

    def __init__(self, pids):
        self.pids = list(pids)
        self.b0 = all_busy()
        self.c0 = cpu_ticks(self.pids) + children_cpu()

    def done(self):
        b1 = all_busy()
        ours = cpu_ticks(self.pids) + children_cpu() - self.c0
        busy = (b1[0] - self.b0[0]) / CLK_TCK
        total = max(1e-9, (b1[1] - self.b0[1]) / CLK_TCK)
        return max(0.0, (busy - ours) / total)


def wait_quiet(opt):
    """Wait until the machine is idle (under 10 % of its CPUs busy over half a
    second) before a run, drawing on a budget of --quiet-wait seconds for the
    whole benchmark: a job that keeps the machine busy for long delays the
    first runs only, and every run records how busy it was (idle_before,
    foreign_busy). Returns the last figure."""
    frac = 0.0
    for _ in range(1000):
        t0 = time.monotonic()
        b0 = all_busy()
        time.sleep(0.5)
        b1 = all_busy()
        frac = (b1[0] - b0[0]) / max(1, b1[1] - b0[1])
        if frac < 0.10 or opt.quiet_left <= 0:
            return frac
        time.sleep(1.5)
        opt.quiet_left -= time.monotonic() - t0
    return frac


def pinned(cpu):
    def pre():
        os.sched_setaffinity(0, {cpu})
        resource.setrlimit(resource.RLIMIT_NOFILE, (NOFILE, NOFILE))
    return pre


# ---------------------------------------------------------------- backend

class Backend:
    """bench-backend on CPU 0, mode switched through its stdin; its UDP
    socket (-u, port udp_port) answers the QUIC workloads."""

    def __init__(self, limit_s):
        self.p = subprocess.Popen([os.path.join(BUILD, "bench-backend"), "-t", str(int(limit_s)),
                                   "-s", "-u", "reply"],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  preexec_fn=pinned(LOAD_CPU), text=True, bufsize=1)
        self.port, self.udp_port = (int(x) for x in self._line(5).split())

    def _line(self, timeout):
        r, _, _ = select.select([self.p.stdout], [], [], timeout)
        if not r:
            raise RuntimeError("bench-backend: no answer in %ss" % timeout)
        line = self.p.stdout.readline()
        if not line:
            raise RuntimeError("bench-backend exited")
        return line.strip()

    def cmd(self, c):
        self.p.stdin.write(c + "\n")
        self.p.stdin.flush()
        return json.loads(self._line(5))

    def stop(self):
        try:
            self.p.stdin.close()
        except OSError:
            pass
        try:
            self.p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait(timeout=5)


# ---------------------------------------------------------------- peers

class Peer:
    name = "?"
    listeners = 1   # LISTEN sockets to wait for
    table = "tcp"   # where to look for them: "udp" for the QUIC peers
    suffix = ""     # of its directory: "-quic" for the QUIC peers

    def __init__(self, tmp, backend_port):
        self.dir = os.path.join(tmp, self.name + self.suffix)
        os.makedirs(self.dir, exist_ok=True)
        os.chmod(self.dir, 0o755)
        self.backend_port = backend_port
        self.procs = []
        self.port = None

    def commands(self):
        raise NotImplementedError

    def start(self):
        """Start on a fresh port; a start that fails is tried again (at most
        3 times) on another port, in case the port was taken in between."""
        for attempt in range(3):
            try:
                return self._start_once()
            except RuntimeError as e:
                if attempt == 2:
                    raise
                log("bench: %s" % str(e)[:1500])
                log("bench: starting %s again on another port" % self.name)
        return None

    def _start_once(self):
        self.port = free_port(socket.SOCK_DGRAM if self.table == "udp" else socket.SOCK_STREAM)
        self.starts = getattr(self, "starts", 0) + 1
        for i, argv in enumerate(self.commands()):
            err = open(os.path.join(self.dir, "stderr-%d-%d.log" % (self.starts, i)), "ab")
            self.procs.append(subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=err,
                                               stderr=err, preexec_fn=pinned(PROXY_CPU),
                                               cwd=self.dir))
            err.close()
        for _ in range(200):
            if listeners_on(self.port, self.table) >= self.listeners:
                break
            if any(p.poll() is not None for p in self.procs):
                break
            time.sleep(0.05)
        else:
            self.stop()
            raise RuntimeError("%s: not listening on %d after 10 s%s" % (self.name, self.port, self.errors()))
        if any(p.poll() is not None for p in self.procs):
            time.sleep(0.2)
            rcs = [p.poll() for p in self.procs]
            self.stop()
            raise RuntimeError("%s exited at start (status %s)%s" % (self.name, rcs, self.errors()))
        time.sleep(0.3)  # workers forked / threads up
        return self.port

    def errors(self):
        out = []
        for f in sorted(os.listdir(self.dir)):
            if f.startswith("stderr-%d-" % getattr(self, "starts", 0)) or f.startswith("error"):
                with open(os.path.join(self.dir, f), errors="replace") as fh:
                    t = fh.read()[-1500:]
                if t.strip():
                    out.append("\n--- %s:\n%s" % (f, t))
        return "".join(out)

    def pids(self):
        return tree([p.pid for p in self.procs if p.poll() is None])

    def alive(self):
        return all(p.poll() is None for p in self.procs)

    def stop(self):
        everyone = self.pids()
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=5)
        # children of ours (nginx workers) left behind by a killed master
        for pid in everyone:
            if pid in [p.pid for p in self.procs]:
                continue
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.procs = []


class Halfpipe(Peer):
    name = "halfpipe"
    listeners = 2

    def commands(self):
        return [[HALFPIPE, "--listen", "127.0.0.1:%d" % self.port,
                 "--route", "%s=127.0.0.1:%d" % (SNI, self.backend_port),
                 "--workers", "2", "--access-log",
                 os.path.join(self.dir, "access.log") if ACCESS_LOG else "off"]]


class HalfpipeLog(Halfpipe):
    """halfpipe with its access log on, to a file (issue 14: the cost of a
    log line per connection)."""
    name = "halfpipe-log"

    def commands(self):
        cmd = Halfpipe.commands(self)
        cmd[0][-1] = os.path.join(self.dir, "access.log")
        return cmd


class HalfpipeBase(Halfpipe):
    """--base PATH: another halfpipe binary (an earlier build), same flags,
    measured in the same rounds: a before/after comparison in one run."""
    name = "halfpipe-base"

    workers = 2     # --base-workers

    def commands(self):
        cmd = Halfpipe.commands(self)
        cmd[0][0] = HALFPIPE_BASE
        cmd[0][cmd[0].index("--workers") + 1] = str(self.workers)
        self.listeners = self.workers   # one SO_REUSEPORT socket each
        return cmd


class Haproxy(Peer):
    name = "haproxy"
    splice = False

    def commands(self):
        with open(os.path.join(self.dir, "sni.map"), "w") as f:
            f.write("%s be_a\n" % SNI)
        cfg = """\
global
    nbthread 2
    maxconn 7500
    # no log line: logging off

defaults
    mode tcp
    timeout connect 5s
    timeout client 5m
    timeout server 5m
    timeout client-fin 30s
    timeout server-fin 30s
%(splice)s
frontend fe
    bind 127.0.0.1:%(port)d
    tcp-request inspect-delay 5s
    tcp-request content accept if { req.ssl_hello_type 1 }
    use_backend %%[req.ssl_sni,lower,map(%(map)s)]

backend be_a
    server s1 127.0.0.1:%(bport)d
""" % {"splice": "    option splice-auto\n" if self.splice else "", "port": self.port,
            "map": os.path.join(self.dir, "sni.map"), "bport": self.backend_port}
        path = os.path.join(self.dir, "haproxy.cfg")
        with open(path, "w") as f:
            f.write(cfg)
        return [["/usr/sbin/haproxy", "-db", "-f", path]]


class HaproxySplice(Haproxy):
    name = "haproxy-splice"
    splice = True


class Nginx(Peer):
    name = "nginx"
    listeners = 2
    connections = 10000     # per worker

    def server(self):
        """The stream block's servers: TCP, routed by ssl_preread's name."""
        return """\
    map $ssl_preread_server_name $be {
        %(sni)s be_a;
    }
    upstream be_a {
        server 127.0.0.1:%(bport)d;
    }
    server {
        listen 127.0.0.1:%(port)d reuseport;
        ssl_preread on;
        preread_timeout 5s;
        proxy_connect_timeout 5s;
        proxy_timeout 5m;
        proxy_pass $be;
    }
""" % {"sni": SNI, "bport": self.backend_port, "port": self.port}

    def commands(self):
        cfg = """\
load_module %(mod)s;
daemon off;
master_process on;
worker_processes 2;
worker_rlimit_nofile %(nofile)d;
user nobody nogroup;
pid %(dir)s/nginx.pid;
error_log %(dir)s/error.log crit;
events {
    worker_connections %(conns)d;
}
stream {
    access_log off;
%(server)s}
""" % {"mod": NGINX_STREAM, "nofile": NOFILE, "dir": self.dir, "conns": self.connections,
            "server": self.server()}
        path = os.path.join(self.dir, "nginx.conf")
        with open(path, "w") as f:
            f.write(cfg)
        return [["/usr/sbin/nginx", "-p", self.dir, "-e", os.path.join(self.dir, "error.log"),
                 "-c", path]]


class Sniproxy(Peer):
    """sniproxy is one process, one thread: two instances on SO_REUSEPORT
    (its documented way to use several cores) give it the same 2 workers."""
    name = "sniproxy"
    listeners = 2

    def commands(self):
        out = []
        for i in range(2):
            cfg = """\
user nobody
pidfile %(dir)s/sniproxy-%(i)d.pid
error_log {
    filename %(dir)s/error-%(i)d.log
    priority crit
}
listener 127.0.0.1:%(port)d {
    protocol tls
    table t
    reuseport yes
}
table t {
    ^a\\.example\\.test$ 127.0.0.1:%(bport)d
}
""" % {"dir": self.dir, "i": i, "port": self.port, "bport": self.backend_port}
            path = os.path.join(self.dir, "sniproxy-%d.conf" % i)
            with open(path, "w") as f:
                f.write(cfg)
            out.append(["/usr/sbin/sniproxy", "-f", "-c", path])
        return out


class Direct(Peer):
    """No proxy: the load generator talks to the backend."""
    name = "direct"

    def start(self):
        self.port = self.backend_port
        return self.port

    def pids(self):
        return []

    def alive(self):
        return True

    def stop(self):
        pass


PEER_CLASSES = {c.name: c for c in (Halfpipe, HalfpipeLog, HalfpipeBase, Haproxy, HaproxySplice, Nginx, Sniproxy, Direct)}


# ---------------------------------------------------------------- QUIC peers
#
# The quic-* workloads run on peers of their own, started fresh for them,
# whose backend_port is bench-backend's UDP port: halfpipe's listen-quic (and
# halfpipe-log, halfpipe-base), nginx's stream UDP proxy (no SNI: it
# forwards every datagram of a client address to one server) and direct.
# HAProxy 2.6 and sniproxy have no UDP passthrough: "-" in those columns.
#
# The flow table is set so that the flows workload measures the rate, not
# the bound: a flow that was answered goes idle at once, so the flows live
# at a time are the rate times the idle timeout; with QUIC_IDLE 250 ms,
# 20,000 flows/s keep 5,000 sockets, within the fd limit (NOFILE) and the
# ephemeral ports (net.ipv4.ip_local_port_range, 28,232 here), and
# quic-max-flows is set past the fd limit so that it never binds first.
QUIC_IDLE = "250ms"
QUIC_WINDOW = 64        # quic-bulk: datagrams out at a time


class HalfpipeQuic(Halfpipe):
    table = "udp"
    suffix = "-quic"

    def commands(self):
        cmd = Halfpipe.commands(self)
        cmd[0][1:5] = ["--listen-quic", "127.0.0.1:%d" % self.port,
                       "--route", "%s=127.0.0.1:%d" % (SNI, self.backend_port)]
        cmd[0] += ["--quic-idle-timeout", QUIC_IDLE, "--quic-max-flows", str(10 * NOFILE)]
        return cmd


class HalfpipeLogQuic(HalfpipeQuic, HalfpipeLog):
    def commands(self):
        cmd = HalfpipeQuic.commands(self)
        cmd[0][cmd[0].index("--access-log") + 1] = os.path.join(self.dir, "access.log")
        return cmd


class HalfpipeBaseQuic(HalfpipeQuic, HalfpipeBase):
    def commands(self):
        cmd = HalfpipeQuic.commands(self)
        cmd[0][0] = HALFPIPE_BASE
        cmd[0][cmd[0].index("--workers") + 1] = str(self.workers)
        self.listeners = self.workers
        return cmd


class NginxUdp(Nginx):
    """nginx's stream module as a UDP proxy: a session per client address,
    each with its socket to the server (one fd: a worker's connections must
    cover its sessions), ended after proxy_timeout without a datagram
    (halfpipe's quic-idle-timeout). It does not read the Initial."""
    table = "udp"
    suffix = "-quic"
    connections = NOFILE - 100

    def server(self):
        return """\
    server {
        listen 127.0.0.1:%(port)d udp reuseport;
        proxy_pass 127.0.0.1:%(bport)d;
        proxy_timeout %(idle)s;
    }
""" % {"bport": self.backend_port, "port": self.port, "idle": QUIC_IDLE}


QUIC_CLASSES = {"halfpipe": HalfpipeQuic, "halfpipe-log": HalfpipeLogQuic,
                "halfpipe-base": HalfpipeBaseQuic, "nginx": NginxUdp, "direct": Direct}


# ---------------------------------------------------------------- workloads

def loadgen(args, limit):
    argv = [os.path.join(BUILD, "bench-loadgen")] + args + ["-L", str(limit)]
    r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=limit + 30, preexec_fn=pinned(LOAD_CPU))
    lines = [line for line in r.stdout.splitlines() if line.startswith("{")]
    if r.returncode != 0 or not lines:
        raise RuntimeError("bench-loadgen %s: rc %d: %s" % (" ".join(args), r.returncode,
                                                            r.stderr.strip()[-500:]))
    return json.loads(lines[-1])


def hello_path(size):
    return os.path.join(VECTORS, HELLOS[size])


def warmup(peer, backend, opt):
    """A few connections before each measured run, the same for every peer:
    the measurement then starts on a proxy that is awake. Their errors are
    kept apart (warmup_errors) and reported under the table."""
    if opt.no_warmup:
        return 0
    backend.cmd("reply")
    r = loadgen(["cps", "-a", "127.0.0.1:%d" % peer.port, "-f", hello_path("517"),
                 "-c", "4", "-d", "0.2", "-r", "1024"], 10)
    time.sleep(0.1)
    return r["errors"]


def run_cps(peer, backend, size, opt):
    """cps-517, cps-2k: the client closes first (the backend waits for its
    FIN); cps-fin: 517-byte hello, the backend sends its 1 KiB and its FIN
    at once (a server that ends the connection)."""
    mode = "reply"
    if size == "fin":
        size, mode = "517", "source 1024"
    idle = wait_quiet(opt)
    w_err = warmup(peer, backend, opt)
    backend.cmd(mode)
    pids = peer.pids()
    fg = Foreign(pids + [backend.p.pid])
    b0 = backend.cmd("stats")
    c0 = cpu_ticks(pids)
    busy0, lbusy0 = cpu_busy(PROXY_CPU), cpu_busy(LOAD_CPU)
    perf = None
    if opt.perf and peer.name == opt.perf and pids and opt.perf_now:
        data = os.path.join(BUILD, "bench", "perf-%s-%s.data" % (peer.name, size))
        perf = subprocess.Popen(["perf", "record", "-g", "-o", data, "-p", ",".join(map(str, pids)),
                                 "--", "sleep", str(opt.seconds)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    r = loadgen(["cps", "-a", "127.0.0.1:%d" % peer.port, "-f", hello_path(size),
                 "-c", "64", "-d", str(opt.seconds), "-r", "1024"], opt.seconds + 20)
    time.sleep(0.2)  # let the proxy finish the connections the load generator cut
    c1 = cpu_ticks(pids)
    busy1, lbusy1 = cpu_busy(PROXY_CPU), cpu_busy(LOAD_CPU)
    b1 = backend.cmd("stats")
    if perf is not None:
        try:
            perf.wait(timeout=opt.seconds + 30)
        except subprocess.TimeoutExpired:
            perf.kill()
            perf.wait()
    r["warmup_errors"] = w_err
    r["idle_before"] = idle
    r["foreign_busy"] = fg.done()
    r["proxy_cpu_s"] = c1 - c0
    r["cpu_s_per_1000"] = (c1 - c0) / r["conns"] * 1000 if r["conns"] and pids else None
    r["proxy_core_busy"] = (busy1[0] - busy0[0]) / max(1, busy1[1] - busy0[1])
    r["load_core_busy"] = (lbusy1[0] - lbusy0[0]) / max(1, lbusy1[1] - lbusy0[1])
    r["backend_resets"] = b1["resets"] - b0["resets"]
    r["backend_errors"] = b1["errors"] - b0["errors"] + b1["hello_bad"] - b0["hello_bad"]
    backend.cmd("reply")
    return r


def traced(peer, run, settle=lambda: time.sleep(0.3)):
    """run() with strace -f -c attached to every process (and thread) of the
    peer, then settle() (by default 0.3 s: let the proxy finish what the load
    generator cut); (its result, {system call: count}). strace stops the
    proxy at each call, so nothing measured this way is timed."""
    pids = peer.pids()
    out = os.path.join(peer.dir, "strace-%d.txt" % time.monotonic_ns())
    argv = ["strace", "-f", "-c", "-o", out]
    for pid in pids:
        argv += ["-p", str(pid)]
    st = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True)
    # attached once it has said so for every process (threads come with -f)
    said, limit = 0, time.monotonic() + 10
    while said < len(pids) and time.monotonic() < limit:
        line = st.stderr.readline()
        if not line:
            break
        said += "attached" in line
    if said < len(pids):
        st.kill()
        st.wait()
        raise RuntimeError("strace: attached to %d of %d processes" % (said, len(pids)))
    try:
        r = run()
        settle()
    finally:
        st.send_signal(signal.SIGINT)
        try:
            st.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            st.kill()
            st.communicate()
    calls = {}
    with open(out) as f:
        for line in f:
            w = line.split()
            # "% time seconds usecs/call calls [errors] syscall"
            if len(w) >= 5 and w[0][0].isdigit() and w[-1] != "total":
                calls[w[-1]] = calls.get(w[-1], 0) + int(w[3])
    return r, calls


def per_unit(calls, n):
    """System calls per n (connections, flows, datagrams): in all, and by kind."""
    return sum(calls.values()) / n, {k: v / n for k, v in sorted(calls.items(), key=lambda kv: -kv[1])}


def run_sys(peer, backend, size, opt):
    """System calls per connection, by kind: strace (traced()) over a cps run
    of SYS_SECONDS at 8 at once; the counts are what a connection costs in
    kernel crossings."""
    if peer.name == "direct":
        return {"errors": 0}
    wait_quiet(opt)
    warmup(peer, backend, opt)
    backend.cmd("reply")
    r, calls = traced(peer, lambda: loadgen(["cps", "-a", "127.0.0.1:%d" % peer.port, "-f",
                                             hello_path(size), "-c", "8", "-d", str(SYS_SECONDS),
                                             "-r", "1024"], SYS_SECONDS + 30))
    if not r["conns"]:
        raise RuntimeError("strace run: no connection completed")
    r["syscalls_per_conn"], r["syscalls"] = per_unit(calls, r["conns"])
    return r


# ---------------------------------------------------------------- QUIC workloads

def quicload(peer, args, limit):
    """bench-quicload against the peer; its JSON line. peer.kstart: the next
    flow's source address index, so no run on the same proxy reuses one."""
    argv = [os.path.join(BUILD, "bench-quicload")] + args + [
        "-a", "127.0.0.1:%d" % peer.port, "-n", SNI, "-k", str(getattr(peer, "kstart", 0)),
        "-L", str(limit)]
    r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=limit + 30, preexec_fn=pinned(LOAD_CPU))
    lines = [line for line in r.stdout.splitlines() if line.startswith("{")]
    if r.returncode != 0 or not lines:
        raise RuntimeError("bench-quicload %s: rc %d: %s" % (" ".join(args), r.returncode,
                                                             r.stderr.strip()[-500:]))
    out = json.loads(lines[-1])
    if "next_start" in out:
        peer.kstart = out["next_start"] + 1000
    return out


def udp_flows_to(port):
    """UDP sockets connect()ed to 127.0.0.1:port (/proc/net/udp): a proxy's
    flows to the backend."""
    want = "0100007F:%04X" % port
    with open("/proc/net/udp") as f:
        return sum(1 for line in f if len(line.split()) > 2 and line.split()[2] == want)


def quic_warmup(peer, backend, opt):
    """As warmup(): a few flows first, their losses kept apart; then, as
    before every QUIC run, wait (at most 5 s) until the proxy has ended the
    flows of the runs before (quic-idle-timeout), so that their teardown is
    not billed to this run."""
    err = 0
    if not opt.no_warmup:
        err = quicload(peer, ["flows", "-c", "4", "-d", "0.2"], 10)["errors"]
    quic_settle(backend)
    return err


def quic_settle(backend):
    """Wait, at most 5 s, until no proxy flow to the backend is left."""
    limit = time.monotonic() + 5
    while udp_flows_to(backend.udp_port) and time.monotonic() < limit:
        time.sleep(0.05)


def run_quic(peer, backend, wl, opt):
    """quic-flows: new flows at 64 at once for --seconds (each one Initial,
    answered by the echo); quic-bulk: one flow, 1,200-byte datagrams echoed,
    QUIC_WINDOW out at a time; quic-blast: the same without a window. With
    the proxy's CPU per 1,000 flows or per GB echoed, and core busy."""
    idle = wait_quiet(opt)
    w_err = quic_warmup(peer, backend, opt)
    backend.cmd("udp echo")
    pids = peer.pids()
    fg = Foreign(pids + [backend.p.pid])
    b0 = backend.cmd("stats")
    c0 = cpu_ticks(pids)
    busy0, lbusy0 = cpu_busy(PROXY_CPU), cpu_busy(LOAD_CPU)
    if wl == "quic-flows":
        r = quicload(peer, ["flows", "-c", "64", "-d", str(opt.seconds)], opt.seconds + 20)
    else:
        r = quicload(peer, ["bulk", "-w", str(QUIC_WINDOW if wl == "quic-bulk" else 0),
                            "-d", str(opt.seconds)], opt.seconds + 20)
    busy1, lbusy1 = cpu_busy(PROXY_CPU), cpu_busy(LOAD_CPU)
    quic_settle(backend)    # the CPU of every flow, its end included
    c1 = cpu_ticks(pids)
    b1 = backend.cmd("stats")
    cpu = c1 - c0
    r["warmup_errors"] = w_err
    r["idle_before"] = idle
    r["foreign_busy"] = fg.done()
    r["proxy_cpu_s"] = cpu
    if wl == "quic-flows":
        r["cpu_s_per_1000"] = cpu / r["answered"] * 1000 if r.get("answered") and pids else None
    else:
        gb = r.get("echoed", 0) * 1200 * 2 / 1e9    # both ways
        r["cpu_s_per_gb"] = cpu / gb if gb and pids else None
    r["proxy_core_busy"] = (busy1[0] - busy0[0]) / max(1, busy1[1] - busy0[1])
    r["load_core_busy"] = (lbusy1[0] - lbusy0[0]) / max(1, lbusy1[1] - lbusy0[1])
    r["backend_udp_in"] = b1["udp_in"] - b0["udp_in"]
    r["backend_udp_errors"] = b1["udp_errors"] - b0["udp_errors"]
    return r


def run_sys_quic(peer, backend, opt):
    """sys-quic: system calls per flow (a flows run at 8 at once) and per
    datagram relayed (a windowed bulk run; each echoed datagram passes the
    proxy twice), under strace (traced(): not timed)."""
    if peer.name == "direct":
        return {"errors": 0}
    wait_quiet(opt)
    quic_warmup(peer, backend, opt)
    backend.cmd("udp echo")
    settle = lambda: quic_settle(backend)   # every flow's end inside the trace
    rf, calls = traced(peer, lambda: quicload(peer, ["flows", "-c", "8", "-d", str(SYS_SECONDS)],
                                              SYS_SECONDS + 30), settle)
    rb, bcalls = traced(peer, lambda: quicload(peer, ["bulk", "-w", str(QUIC_WINDOW), "-d",
                                                      str(SYS_SECONDS)], SYS_SECONDS + 30), settle)
    if not rf.get("answered") or not rb.get("echoed"):
        raise RuntimeError("strace run: no flow answered or no datagram echoed")
    r = {"errors": rf["errors"] + rb["errors"], "flows": rf, "bulk": rb}
    r["syscalls_per_flow"], r["syscalls_flow"] = per_unit(calls, rf["answered"])
    r["syscalls_per_dgram"], r["syscalls_dgram"] = per_unit(bcalls, 2 * rb["echoed"])
    return r


def run_bulk(peer, backend, kind, streams, opt):
    per = opt.bulk_mb * 1024 * 1024 // streams
    idle = wait_quiet(opt)
    w_err = warmup(peer, backend, opt)
    backend.cmd("source %d" % per if kind == "download" else "sink %d" % per)
    pids = peer.pids()
    fg = Foreign(pids + [backend.p.pid])
    c0 = cpu_ticks(pids)
    r = loadgen([kind, "-a", "127.0.0.1:%d" % peer.port, "-f", hello_path("517"),
                 "-s", str(streams), "-b", str(per)], opt.bulk_limit)
    r["proxy_cpu_s"] = cpu_ticks(pids) - c0
    r["warmup_errors"] = w_err
    r["idle_before"] = idle
    r["foreign_busy"] = fg.done()
    backend.cmd("reply")
    return r


def run_hold(peer, backend, opt):
    idle = wait_quiet(opt)
    backend.cmd("hold")
    pids = peer.pids()
    time.sleep(0.2)
    rss0, pss0 = rss_bytes(pids), pss_bytes(pids)
    mem0, slab0, ks0 = sockstat_tcp_mem(), slab_bytes(), kslab_bytes()
    argv = [os.path.join(BUILD, "bench-loadgen"), "hold", "-a", "127.0.0.1:%d" % peer.port,
            "-f", hello_path("517"), "-n", str(opt.hold), "-p", "128", "-L", "120"]
    p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                         stderr=subprocess.PIPE, preexec_fn=pinned(LOAD_CPU), bufsize=1)
    try:
        r, _, _ = select.select([p.stdout], [], [], 130)
        if not r:
            raise RuntimeError("hold: no ready line")
        ready = json.loads(p.stdout.readline())
        time.sleep(1.0)  # settle: the proxy has handled every hello and connect
        pids = peer.pids()
        rss1, pss1 = rss_bytes(pids), pss_bytes(pids)
        mem1, slab1, ks1 = sockstat_tcp_mem(), slab_bytes(), kslab_bytes()
        skm = skmem_bytes({peer.port, backend.port})
        st = backend.cmd("stats")
        p.stdin.write("\n")
        p.stdin.flush()
        r, _, _ = select.select([p.stdout], [], [], 30)
        done = json.loads(p.stdout.readline()) if r else {"errors": 1, "held": 0, "dropped": 0}
        p.wait(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    held = ready["held"]
    n = max(1, held)
    backend.cmd("reply")
    # memory coming back: RSS every AFTER_STEP s for AFTER_S s after the
    # connections end; the first time it is within 10 % of the start
    after, back_s, t0 = [], None, time.monotonic()
    for _ in range(int(AFTER_S / AFTER_STEP) + 1):
        el = time.monotonic() - t0
        rss = rss_bytes(peer.pids())
        after.append((round(el, 2), rss))
        if back_s is None and rss0 and rss <= rss0 * 1.10:
            back_s = el
        time.sleep(AFTER_STEP)
    return {"wanted": opt.hold, "idle_before": idle, "held": held, "backend_live": st["live"],
            "errors": ready["errors"] + done.get("errors", 0), "dropped": done.get("dropped", 0),
            "rss_before": rss0, "rss_after": rss1, "pss_before": pss0, "pss_after": pss1,
            "rss_per_conn": (rss1 - rss0) / n if pids else None,
            "pss_per_conn": (pss1 - pss0) / n if pids else None,
            "sock_mem_per_conn": (mem1 - mem0) / n, "slab_per_conn": (slab1 - slab0) / n,
            "ksock_slab_per_conn": (ks1 - ks0) / n,
            "skmem_per_conn": skm / n if skm is not None else None,
            "kernel_per_conn": (ks1 - ks0 + (skm or 0)) / n,
            "rss_after_end": after,
            "rss_end_ratio": after[-1][1] / rss0 if rss0 and pids else None,
            "rss_back_s": back_s if back_s is not None else (None if not rss0 else float("inf")),
            "ready": ready, "done": done}


# ---------------------------------------------------------------- table

METRICS = [  # key, label, unit format, better ("hi"/"lo"), haproxy reference
    ("cps-517.cps", "conn/s, 517 B hello", "%.0f", "hi", "plain"),
    ("cps-517.p50_us", "  p50 latency, us", "%.0f", "lo", "plain"),
    ("cps-517.p99_us", "  p99 latency, us", "%.0f", "lo", "plain"),
    ("cps-517.cpu_s_per_1000", "  proxy CPU s / 1000 conns", "%.3f", "lo", "plain"),
    ("cps-517.proxy_core_busy", "  proxy core busy", "%.2f", "", "plain"),
    ("cps-517.load_core_busy", "  load core busy", "%.2f", "", "plain"),
    ("cps-2k.cps", "conn/s, 1986 B PQ hello", "%.0f", "hi", "plain"),
    ("cps-2k.p50_us", "  p50 latency, us", "%.0f", "lo", "plain"),
    ("cps-2k.p99_us", "  p99 latency, us", "%.0f", "lo", "plain"),
    ("cps-2k.cpu_s_per_1000", "  proxy CPU s / 1000 conns", "%.3f", "lo", "plain"),
    ("cps-2k.proxy_core_busy", "  proxy core busy", "%.2f", "", "plain"),
    ("cps-2k.load_core_busy", "  load core busy", "%.2f", "", "plain"),
    ("cps-fin.cps", "conn/s, server sends FIN first", "%.0f", "hi", "plain"),
    ("cps-fin.p99_us", "  p99 latency, us", "%.0f", "lo", "plain"),
    ("cps-fin.cpu_s_per_1000", "  proxy CPU s / 1000 conns", "%.3f", "lo", "plain"),
    ("dl-1.mbps", "download 1 stream, MB/s", "%.0f", "hi", "best"),
    ("dl-16.mbps", "download 16 streams, MB/s", "%.0f", "hi", "best"),
    ("ul-1.mbps", "upload 1 stream, MB/s", "%.0f", "hi", "best"),
    ("ul-16.mbps", "upload 16 streams, MB/s", "%.0f", "hi", "best"),
    ("hold.rss_per_conn", "RSS / idle conn, bytes", "%.0f", "lo", "plain"),
    ("hold.kernel_per_conn", "kernel mem / conn (path), B", "%.0f", "lo", "plain"),
    ("hold.rss_end_ratio", "RSS %gs after they end / start" % AFTER_S, "%.2f", "", "plain"),
    ("hold.rss_back_s", "  s until within 10 % of start", "%.2f", "", "plain"),
    ("sys-517.syscalls_per_conn", "system calls / conn (strace)", "%.1f", "lo", "plain"),
    # QUIC (UDP): against nginx's UDP proxy, which does not route by SNI, and direct
    ("quic-flows.flows_per_s", "QUIC new flows/s (Initial+answer)", "%.0f", "hi", "udp"),
    ("quic-flows.p99_us", "  p99 to the answer, us", "%.0f", "lo", "udp"),
    ("quic-flows.cpu_s_per_1000", "  proxy CPU s / 1000 flows", "%.3f", "lo", "udp"),
    ("quic-flows.proxy_core_busy", "  proxy core busy", "%.2f", "", "udp"),
    ("quic-flows.load_core_busy", "  load core busy", "%.2f", "", "udp"),
    ("quic-bulk.mbps", "QUIC bulk, window %d, MB/s each way" % QUIC_WINDOW, "%.1f", "hi", "udp"),
    ("quic-bulk.loss", "  share lost", "%.4f", "", "udp"),
    ("quic-bulk.cpu_s_per_gb", "  proxy CPU s / GB relayed", "%.2f", "lo", "udp"),
    ("quic-blast.mbps", "QUIC blast, no window, MB/s back", "%.1f", "hi", "udp"),
    ("quic-blast.loss", "  share lost", "%.4f", "", "udp"),
    ("sys-quic.syscalls_per_flow", "system calls / QUIC flow", "%.1f", "lo", "udp"),
    ("sys-quic.syscalls_per_dgram", "system calls / datagram relayed", "%.2f", "lo", "udp"),
]


def median_of(results, peer, key):
    wl, field = key.split(".")
    vals, errs = [], 0
    for rnd in results:
        r = rnd.get(peer, {}).get(wl)
        if not r or "error" in r:
            errs += 1 if r else 0
            continue
        if r.get("errors"):
            errs += 1
        if r.get(field) is not None:
            vals.append(r[field])
    return (statistics.median(vals) if vals else None), errs


def nullcall_ns():
    """bench-nullcall on the proxy core: one system call's entry and exit, ns."""
    try:
        r = subprocess.run([os.path.join(BUILD, "bench-nullcall")], capture_output=True,
                           text=True, timeout=60, preexec_fn=pinned(PROXY_CPU))
        return json.loads(r.stdout)["ns_per_call"]
    except (OSError, ValueError, KeyError, subprocess.TimeoutExpired):
        return None


def table(results, peers, null_ns=None):
    col = 16
    lines = []
    head = "%-32s" % "median of rounds" + "".join("%*s" % (col, p) for p in peers)
    lines.append(head)
    lines.append("-" * len(head))
    marks = {}
    for key, label, fmt, better, ref in METRICS:
        if all(median_of(results, p, key)[0] is None and not median_of(results, p, key)[1]
               for p in peers):
            continue  # workload not run
        vals = {}
        row = "%-32s" % label
        for p in peers:
            v, errs = median_of(results, p, key)
            vals[p] = v
            cell = "-" if v is None else fmt % v
            if errs:
                cell += "!"
                marks[(p, key.split(".")[0])] = errs
            row += "%*s" % (col, cell)
        lines.append(row)
        if better == "":
            continue
        if ref == "udp":
            for rname, rv in (("  x nginx (UDP, no SNI)", vals.get("nginx")),
                              ("  x direct", vals.get("direct"))):
                if rv:
                    lines.append("%-32s" % rname + "".join(
                        "%*s" % (col, "-" if vals[p] is None else "%.2f" % (vals[p] / rv))
                        for p in peers))
            continue
        hap = vals.get("haproxy")
        refname = "haproxy"
        if ref == "best" and vals.get("haproxy-splice") is not None:
            if hap is None or vals["haproxy-splice"] > hap:
                hap, refname = vals["haproxy-splice"], "haproxy-splice"
        cmp = [vals[p] for p in PEERS_COMPARED if vals.get(p) is not None]
        best = (max(cmp) if better == "hi" else min(cmp)) if cmp else None
        for rname, rv in (("  x HAProxy" + (" (%s)" % refname if ref == "best" else ""), hap),
                          ("  x best peer", best if len(cmp) > 1 or "haproxy" not in vals
                           else None),
                          ("  x direct", vals.get("direct"))):
            if rv is None or not rv:
                continue
            row = "%-32s" % rname
            for p in peers:
                v = vals[p]
                row += "%*s" % (col, "-" if v is None else "%.2f" % (v / rv))
            if any(vals[p] is not None for p in peers):
                lines.append(row)
    for what, key in (("QUIC flow", "syscalls_flow"), ("datagram relayed", "syscalls_dgram")):
        qk = {}
        for p in peers:
            for rnd in results:
                r = rnd.get(p, {}).get("sys-quic")
                if r and r.get(key):
                    qk[p] = r[key]
        if qk:
            lines.append("")
            lines.append("system calls per %s by kind (sys-quic, the last round's):" % what)
            for p, k in qk.items():
                lines.append("  %-15s %s" % (p, ", ".join("%s %.2f" % kv for kv in list(k.items())[:10])))
    kinds = {}
    for p in peers:
        for rnd in results:
            r = rnd.get(p, {}).get("sys-517")
            if r and r.get("syscalls"):
                kinds[p] = r["syscalls"]
    if kinds:
        lines.append("")
        lines.append("system calls per connection by kind (sys-517, the last round's):")
        for p, k in kinds.items():
            lines.append("  %-15s %s" % (p, ", ".join("%s %.1f" % kv for kv in list(k.items())[:14])))
        if null_ns:
            lines.append("a system call's entry and exit costs %.0f ns on the proxy core "
                         "(bench-nullcall); per connection that is:" % null_ns)
            for p in kinds:
                calls = median_of(results, p, "sys-517.syscalls_per_conn")[0]
                cpu = median_of(results, p, "cps-517.cpu_s_per_1000")[0]
                if calls:
                    us = calls * null_ns / 1000
                    lines.append("  %-15s %.1f us%s" % (p, us, " = %.0f %% of its CPU per cps-517 "
                                 "connection" % (100 * us / (cpu * 1000)) if cpu else ""))
    warm = {}
    for rnd in results:
        for p in peers:
            for wl, r in rnd.get(p, {}).items():
                if r.get("warmup_errors"):
                    warm[p] = warm.get(p, 0) + r["warmup_errors"]
    busy = {}
    for rnd in results:
        for p in peers:
            for wl, r in rnd.get(p, {}).items():
                if r.get("foreign_busy", 0) > 0.10:
                    busy[p] = busy.get(p, 0) + 1
    if busy:
        lines.append("")
        lines.append("runs during which other jobs used >10% of the CPUs: " +
                     ", ".join("%s %d" % kv for kv in busy.items()))
    if warm:
        lines.append("")
        lines.append("warm-up connections (not measured) that failed: " +
                     ", ".join("%s %d" % kv for kv in warm.items()))
    if marks:
        lines.append("")
        lines.append("! = errors (resets, short replies, timeouts, failed start) in a run:")
        lines.extend("  %s %s: %d run(s)" % (p, wl, n) for (p, wl), n in marks.items())
    return "\n".join(lines)


# ---------------------------------------------------------------- main

def machine():
    model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    vers = {}
    for name, argv in (("haproxy", ["/usr/sbin/haproxy", "-v"]), ("nginx", ["/usr/sbin/nginx", "-v"]),
                       ("sniproxy", ["/usr/sbin/sniproxy", "-V"]),
                       ("halfpipe", [os.path.join(BUILD, "halfpipe"), "-V"])):
        try:
            r = subprocess.run(argv, capture_output=True, text=True, timeout=10)
            vers[name] = (r.stdout + r.stderr).strip().splitlines()[0]
        except (OSError, IndexError, subprocess.TimeoutExpired):
            vers[name] = "?"
    try:
        head = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "src"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        head, dirty = "?", ""
    return {"nproc": os.cpu_count(), "kernel": platform.release(), "cpu": model,
            "versions": vers, "git": head + ("+src-changes" if dirty else "")}


def main():
    ap = argparse.ArgumentParser(description="halfpipe benchmark (docs/benchmarks.md)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=5, help="length of each cps run")
    ap.add_argument("--bulk-mb", type=int, default=1024, help="MiB per bulk run (split over streams)")
    ap.add_argument("--bulk-limit", type=int, default=60, help="seconds a bulk run may take")
    ap.add_argument("--hold", type=int, default=5000, help="idle connections held")
    ap.add_argument("--only", default=",".join(ALL_PEERS), help="peers, comma-separated")
    ap.add_argument("--base", help="another halfpipe binary, measured beside build/halfpipe "
                    "as peer halfpipe-base (before/after a change, in one run)")
    ap.add_argument("--base-workers", type=int, default=2,
                    help="workers of halfpipe-base (halfpipe has 2): the cost of a second worker")
    ap.add_argument("--workloads", default=",".join(WORKLOADS))
    ap.add_argument("--max-minutes", type=float, default=30, help="hard limit for the whole run")
    ap.add_argument("--no-install", action="store_true")
    ap.add_argument("--quiet-wait", type=float, default=60,
                    help="seconds in all to wait, before runs, for other jobs to leave the CPUs idle")
    ap.add_argument("--no-warmup", action="store_true",
                    help="no warm-up connections before each measured run")
    ap.add_argument("--perf", default="", help="perf record -g this peer during its last-round cps runs")
    ap.add_argument("--out", default="")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory (configs, stderr)")
    ap.add_argument("--access-log", action="store_true",
                    help="halfpipe writes its access log into the temporary directory (use with --keep)")
    opt = ap.parse_args()
    opt.quiet_left = opt.quiet_wait
    global ACCESS_LOG, HALFPIPE, HALFPIPE_BASE
    ACCESS_LOG = opt.access_log
    peers = [p for p in opt.only.split(",") if p]
    HalfpipeBase.workers = opt.base_workers
    if opt.base:
        if not os.access(opt.base, os.X_OK):
            sys.exit("bench: --base %s: not an executable" % opt.base)
        if "halfpipe-base" not in peers:
            peers.insert(peers.index("halfpipe") + 1 if "halfpipe" in peers else 0,
                         "halfpipe-base")
    wls = [w for w in opt.workloads.split(",") if w]
    for p in peers:
        if p not in PEER_CLASSES:
            sys.exit("bench: unknown peer %r (known: %s)" % (p, ", ".join(ALL_PEERS)))
    for w in wls:
        if w not in WORKLOADS:
            sys.exit("bench: unknown workload %r (known: %s)" % (w, ", ".join(WORKLOADS)))
    if not (1 <= opt.rounds <= 20 and 0.5 <= opt.seconds <= 120 and 1 <= opt.hold <= 9000
            and 1 <= opt.bulk_mb <= 65536):
        sys.exit("bench: --rounds 1..20, --seconds 0.5..120, --hold 1..9000, --bulk-mb 1..65536")
    if os.cpu_count() < 2:
        sys.exit("bench: needs 2 CPUs (proxy on CPU 1, load on CPU 0)")
    for f in ("halfpipe", "bench-loadgen", "bench-backend", "bench-nullcall", "bench-quicload"):
        if not os.access(os.path.join(BUILD, f), os.X_OK):
            sys.exit("bench: build/%s missing: run `make bench`" % f)
    if not opt.no_install and (any(p not in ("halfpipe", "halfpipe-base", "direct") for p in peers)
                               or "sys-517" in wls or "sys-quic" in wls):
        install_packages()
    os.makedirs(os.path.join(BUILD, "bench"), exist_ok=True)
    resource.setrlimit(resource.RLIMIT_NOFILE, (NOFILE, NOFILE))

    def on_term(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_term)

    deadline = time.monotonic() + opt.max_minutes * 60
    t_start = time.time()
    results = []
    tmp = tempfile.mkdtemp(prefix="halfpipe-bench-")
    os.chmod(tmp, 0o755)
    # the binary this run measures, copied: a rebuild during the run cannot mix two
    os.makedirs(os.path.join(tmp, "bin"))
    HALFPIPE = os.path.join(tmp, "bin", "halfpipe")
    shutil.copy2(os.path.join(BUILD, "halfpipe"), HALFPIPE)
    if opt.base:
        HALFPIPE_BASE = os.path.join(tmp, "bin", "halfpipe-base")
        shutil.copy2(opt.base, HALFPIPE_BASE)
    with open(HALFPIPE, "rb") as f:
        info_bin = {"sha256": hashlib.sha256(f.read()).hexdigest(),
                    "mtime": datetime.datetime.fromtimestamp(
                        os.stat(os.path.join(BUILD, "halfpipe")).st_mtime).isoformat(timespec="seconds")}
    live = []      # peers and backends running, for cleanup
    info = machine()
    info["halfpipe_binary"] = info_bin
    if HALFPIPE_BASE:
        with open(HALFPIPE_BASE, "rb") as f:
            info["halfpipe_base_binary"] = {"path": opt.base,
                                            "sha256": hashlib.sha256(f.read()).hexdigest()}
    log("bench: %s, %d CPUs, kernel %s; proxy on CPU %d, load on CPU %d; peers %s; %d round(s)"
        % (info["cpu"], info["nproc"], info["kernel"], PROXY_CPU, LOAD_CPU, ",".join(peers), opt.rounds))
    interrupted = False
    try:
        for rnd in range(opt.rounds):
            opt.perf_now = rnd == opt.rounds - 1
            res = {p: {} for p in peers}
            results.append(res)
            backend = Backend(limit_s=opt.max_minutes * 60 + 60)
            live.append(backend)
            # cps and bulk: all peers up for the round, run one after the other
            running, failed = {}, {}
            for p in peers:
                peer = PEER_CLASSES[p](tmp, backend.port)
                try:
                    peer.start()
                    live.append(peer)
                    running[p] = peer
                except RuntimeError as e:
                    failed[p] = str(e)[:2000]
                    log("round %d: %s" % (rnd + 1, failed[p]))
            for wl in wls:
                if wl == "hold" or "quic" in wl:
                    continue
                for p in peers:
                    if time.monotonic() > deadline:
                        raise Deadline()
                    peer = running.get(p)
                    try:
                        if peer is None:
                            raise RuntimeError("did not start: " + failed[p])
                        if not peer.alive():
                            raise RuntimeError("%s died%s" % (p, peer.errors()))
                        if wl.startswith("cps-"):
                            r = run_cps(peer, backend, wl[4:], opt)
                        elif wl.startswith("sys-"):
                            r = run_sys(peer, backend, wl[4:], opt)
                        else:
                            kind = "download" if wl.startswith("dl") else "upload"
                            r = run_bulk(peer, backend, kind, int(wl.split("-")[1]), opt)
                    except (RuntimeError, subprocess.TimeoutExpired, ValueError) as e:
                        r = {"error": str(e)[:2000], "errors": 1}
                    res[p][wl] = r
                    brief = {k: r[k] for k in ("cps", "p99_us", "cpu_s_per_1000", "mbps", "errors",
                                               "error") if k in r}
                    log("round %d %-8s %-15s %s" % (rnd + 1, wl, p, json.dumps(brief)))
            for peer in running.values():
                peer.stop()
                live.remove(peer)
            # QUIC: every peer that has a QUIC form fresh, on the backend's UDP port
            qwls = [w for w in wls if "quic" in w]
            for p in peers if qwls else []:
                if p not in QUIC_CLASSES:
                    continue
                peer = QUIC_CLASSES[p](tmp, backend.udp_port)
                try:
                    peer.start()
                    live.append(peer)
                except RuntimeError as e:
                    peer = None
                    err = str(e)[:2000]
                    log("round %d: %s (quic)" % (rnd + 1, err))
                for wl in qwls:
                    if time.monotonic() > deadline:
                        raise Deadline()
                    try:
                        if peer is None:
                            raise RuntimeError("did not start: " + err)
                        if not peer.alive():
                            raise RuntimeError("%s died%s" % (p, peer.errors()))
                        if wl == "sys-quic":
                            r = run_sys_quic(peer, backend, opt)
                        else:
                            r = run_quic(peer, backend, wl, opt)
                    except (RuntimeError, subprocess.TimeoutExpired, ValueError) as e:
                        r = {"error": str(e)[:2000], "errors": 1}
                    res[p][wl] = r
                    brief = {k: r[k] for k in ("flows_per_s", "p99_us", "cpu_s_per_1000", "mbps",
                                               "loss", "syscalls_per_flow", "syscalls_per_dgram",
                                               "errors", "error") if k in r}
                    log("round %d %-10s %-13s %s" % (rnd + 1, wl, p, json.dumps(brief)))
                if peer is not None:
                    peer.stop()
                    live.remove(peer)
            # hold: every peer fresh, so RSS growth is the connections' alone
            if "hold" in wls:
                for p in peers:
                    if time.monotonic() > deadline:
                        raise Deadline()
                    peer = PEER_CLASSES[p](tmp, backend.port)
                    try:
                        peer.start()
                        live.append(peer)
                        r = run_hold(peer, backend, opt)
                    except (RuntimeError, subprocess.TimeoutExpired, ValueError) as e:
                        r = {"error": str(e)[:2000], "errors": 1}
                    finally:
                        peer.stop()
                        if peer in live:
                            live.remove(peer)
                    res[p]["hold"] = r
                    brief = {k: r[k] for k in ("held", "rss_per_conn", "ksock_slab_per_conn",
                                               "skmem_per_conn", "errors", "error") if k in r}
                    log("round %d hold     %-15s %s" % (rnd + 1, p, json.dumps(brief)))
            backend.stop()
            live.remove(backend)
    except Deadline:
        log("bench: --max-minutes reached; reporting what was measured")
        interrupted = True
    except KeyboardInterrupt:
        log("bench: interrupted; reporting what was measured")
        interrupted = True
    finally:
        for x in reversed(live):
            try:
                x.stop()
            except Exception as e:  # cleanup goes on whatever one stop does
                log("bench: stopping %s: %s" % (getattr(x, "name", "backend"), e))
        if opt.keep:
            log("bench: kept %s" % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    null_ns = nullcall_ns()
    info["nullcall_ns"] = null_ns
    out = table(results, peers, null_ns)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = opt.out or os.path.join(BUILD, "bench", "results-%s.json" % stamp)
    header = ("halfpipe bench %s (git %s, binary %s): %d round(s)%s, cps %gs x 64 conc, bulk %d MiB/run, hold %d; "
              "proxy on CPU %d, load+backend on CPU %d; %.0f s"
              % (stamp, info["git"], info["halfpipe_binary"]["sha256"][:12], len(results),
                 " (cut short)" if interrupted else "", opt.seconds,
                 opt.bulk_mb, opt.hold, PROXY_CPU, LOAD_CPU, time.time() - t_start))
    if any("quic" in w for w in wls):
        header += ("\nQUIC: %gs runs, flows 64 at once, 1,200-byte datagrams; halfpipe quic-idle-timeout "
                   "and nginx proxy_timeout %s; nginx's UDP proxy does not route by SNI"
                   % (opt.seconds, QUIC_IDLE))
    with open(path, "w") as f:
        json.dump({"when": stamp, "machine": info, "options": {k: v for k, v in vars(opt).items()},
                   "peers": peers, "interrupted": interrupted, "rounds": results,
                   "table": out}, f, indent=1)
    fb = [r["foreign_busy"] for rnd in results for pr in rnd.values() for r in pr.values()
          if isinstance(r, dict) and "foreign_busy" in r]
    if fb:
        header += "\nother jobs on the machine used %.0f%% of its CPUs during the median run (max %.0f%%)" % (
            100 * statistics.median(fb), 100 * max(fb))
    print(header)
    print(out)
    print("raw numbers: %s" % os.path.relpath(path, ROOT))
    return 1 if interrupted else 0


if __name__ == "__main__":
    sys.exit(main())
