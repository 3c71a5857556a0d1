"""Network namespaces, ss and nft helpers for the halfpipe integration tests.

A Topology is three namespaces made for one test and removed after it:

    client ns                proxy ns                       server ns
    198.18.1.1/24 <-veth-> 198.18.1.2/24   198.18.2.2/24 <-veth-> 198.18.2.1/24

Each side is on-link with its neighbour; the proxy does not forward, so the
client and the server cannot reach each other.  Everything the topology makes
(namespaces, nft tables, processes, temp files) is undone by close(), which
runs even when the test failed; processes are ended by their pid only.
"""

import itertools
import os
import shutil
import signal
import subprocess
import tempfile
import time

import procs

CLIENT_ADDR = "198.18.1.1"
PROXY_CADDR = "198.18.1.2"      # proxy, client-facing
PROXY_SADDR = "198.18.2.2"      # proxy, server-facing
SERVER_ADDR = "198.18.2.1"

# States in which a socket is waiting for a FIN or for the application: a
# proxy that forgets a half-closed connection leaves these behind.
LINGER_STATES = {"FIN-WAIT-1", "FIN-WAIT-2", "CLOSE-WAIT", "LAST-ACK", "CLOSING"}

_counter = itertools.count(1)


def mult():
    return float(os.environ.get("HP_TEST_TIMEOUT_MULTIPLIER", "1") or "1")


def T(seconds):
    """A timeout or tolerance scaled by HP_TEST_TIMEOUT_MULTIPLIER."""
    return seconds * mult()


def run(argv, ns=None, input=None, timeout=20, check=True):
    """Run a short command (in namespace ns), bounded in time."""
    if ns is not None:
        argv = ["ip", "netns", "exec", ns] + list(argv)
    r = subprocess.run(argv, input=input, capture_output=True, timeout=T(timeout))
    if check and r.returncode != 0:
        raise RuntimeError("%s failed (%d): %s" % (" ".join(argv), r.returncode,
                                                   r.stderr.decode(errors="replace")))
    return r


def split_hostport(s):
    host, _, port = s.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if host.startswith("::ffff:") and "." in host:
        host = host[7:]
    return host, int(port) if port.isdigit() else 0


def ss_sockets(ns=None):
    """TCP sockets of namespace ns (None: this one), orphans included, as a
    list of (state, recv-q, send-q, (local addr, port), (peer addr, port))."""
    out = run(["ss", "-tanH"], ns=ns).stdout.decode()
    socks = []
    for line in out.splitlines():
        f = line.split()
        if len(f) < 5:
            continue
        socks.append((f[0], int(f[1]), int(f[2]), split_hostport(f[3]), split_hostport(f[4])))
    return socks


def ss_states(ns=None):
    """TCP sockets of namespace ns as a list of (state, local, peer), where
    local and peer are (addr, port)."""
    return [(s[0], s[3], s[4]) for s in ss_sockets(ns)]


def _matches(sock, endpoints):
    _state, local, peer = sock
    for ep in endpoints:
        if local == ep or peer == ep or (ep[0] is None and ep[1] in (local[1], peer[1])):
            return True
    return False


def lingering(ns, endpoints, states=LINGER_STATES):
    """Sockets in ns in one of states whose local or peer end is in endpoints
    (a list of (addr, port); addr None matches any address)."""
    return [s for s in ss_states(ns) if s[0] in states and _matches(s, endpoints)]


def wait_no_lingering(ns, endpoints, deadline, states=LINGER_STATES):
    """Poll ss until no socket of endpoints is in states, or until deadline
    (time.monotonic()).  Returns the sockets still there ([] on success)."""
    return procs.poll_until(lambda: lingering(ns, endpoints, states), None,
                            "no socket lingering", done=lambda left: not left,
                            deadline=deadline, fail=False)


def assert_no_lingering(ns, endpoints, within=None, deadline=None, what=""):
    """Fail unless, by deadline (or within seconds from now), none of the
    sockets of endpoints is in FIN-WAIT-1/2, CLOSE-WAIT, LAST-ACK or CLOSING."""
    if deadline is None:
        deadline = time.monotonic() + within
    left = wait_no_lingering(ns, endpoints, deadline)
    assert not left, "%s%d socket(s) still lingering at the deadline: %s" % (
        what + ": " if what else "", len(left), left[:20])


def wait_for_state(ns, state, endpoints, timeout, n=1):
    """Poll ss until at least n sockets of endpoints are in state (timeout:
    seconds, not scaled here)."""
    hits = procs.poll_until(lambda: [s for s in ss_states(ns)
                                     if s[0] == state and _matches(s, endpoints)],
                            None, "%d socket(s) in %s" % (n, state),
                            done=lambda h: len(h) >= n, step=0.02,
                            deadline=time.monotonic() + timeout, fail=False)
    if len(hits) < n:
        raise AssertionError("no %d socket(s) in %s for %s within %.1fs; saw %s" % (
            n, state, endpoints, timeout, ss_states(ns)[:20]))
    return hits


class NftTable:
    """An nft table `inet hptest<id>` in one namespace; remove() deletes it."""

    def __init__(self, topo, ns, rules_in, rules_out):
        self.topo, self.ns = topo, ns
        self.name = "hptest%d_%d" % (os.getpid(), next(_counter))
        script = ("table inet %s {\n"
                  " chain input { type filter hook input priority 0; policy accept;\n%s }\n"
                  " chain output { type filter hook output priority 0; policy accept;\n%s }\n"
                  "}\n") % (self.name,
                            "".join("  %s\n" % r for r in rules_in),
                            "".join("  %s\n" % r for r in rules_out))
        run(["nft", "-f", "-"], ns=ns, input=script.encode())
        self.live = True
        topo.cleanups.append(self.remove)

    def remove(self):
        if self.live:
            self.live = False
            run(["nft", "delete", "table", "inet", self.name], ns=self.ns)


def _fam(addr):
    return "ip6" if ":" in addr else "ip"


class Topology:
    """Three fresh namespaces (client, proxy, server), or with netns=False
    none at all: everything then runs here, on loopback."""

    def __init__(self, netns=True):
        self.cleanups = []          # run in reverse order by close()
        self.procs = []
        self.tmp = tempfile.mkdtemp(prefix="hpinteg.")
        self.cleanups.append(lambda: shutil.rmtree(self.tmp, ignore_errors=True))
        self.netns = netns
        if not netns:
            self.client = self.proxy = self.server = None
            return
        tag = "hp%d%d" % (os.getpid() % 10000000, next(_counter))
        self.tag = tag
        self.client, self.proxy, self.server = tag + "c", tag + "p", tag + "s"
        try:
            self._build(tag)
        except BaseException:
            self.close()
            raise

    def _build(self, tag):
        for ns in (self.client, self.proxy, self.server):
            run(["ip", "netns", "add", ns])
            self.cleanups.append(lambda ns=ns: run(["ip", "netns", "del", ns], check=False))
            run(["ip", "-n", ns, "link", "set", "lo", "up"])
        # veth names are unique even though each end lives in its own namespace
        links = [(self.client, tag + "c0", CLIENT_ADDR, self.proxy, tag + "pc", PROXY_CADDR),
                 (self.server, tag + "s0", SERVER_ADDR, self.proxy, tag + "ps", PROXY_SADDR)]
        for ns_a, if_a, addr_a, ns_b, if_b, addr_b in links:
            assert len(if_a) <= 15 and len(if_b) <= 15
            run(["ip", "-n", ns_a, "link", "add", if_a, "type", "veth",
                 "peer", "name", if_b, "netns", ns_b])
            for ns, ifn, addr in ((ns_a, if_a, addr_a), (ns_b, if_b, addr_b)):
                run(["ip", "-n", ns, "addr", "add", addr + "/24", "dev", ifn])
                run(["ip", "-n", ns, "link", "set", ifn, "up"])
        # explicit host routes (on-link already, but say it)
        run(["ip", "-n", self.client, "route", "replace", PROXY_CADDR + "/32", "dev", tag + "c0"])
        run(["ip", "-n", self.server, "route", "replace", PROXY_SADDR + "/32", "dev", tag + "s0"])

    def add_server_addr(self, addr):
        """A second address on the server's link (server namespace side), for
        a backend that can vanish on its own: nft_drop(proxy, addr) cuts it
        and leaves SERVER_ADDR alone."""
        run(["ip", "-n", self.server, "addr", "add", addr + "/24", "dev", self.tag + "s0"])

    def add_client_addr(self, addr):
        """A second address on the client's link (client namespace side), for
        a client that connects from another source (peer connect src=)."""
        run(["ip", "-n", self.client, "addr", "add", addr + "/24", "dev", self.tag + "c0"])

    # -- processes ------------------------------------------------------------
    def peer(self, ns, name="peer"):
        """Start a raw test peer (see peer.py) in namespace ns."""
        p = procs.Peer(self._argv(ns, procs.peer_argv("raw")), name=name)
        self._own(p)
        return p

    def tls_server(self, ns, addr, cert, key, name):
        p = procs.Peer(self._argv(ns, procs.peer_argv(
            "tls-http", "--addr", addr, "--cert", cert, "--key", key, "--name", name)),
            name=name)
        self._own(p)
        p.port = p.wait(ev="listening")[0]["port"]
        return p

    def halfpipe(self, binary, args, nlisten=1, ns="proxy", log=True):
        """Start halfpipe (binary) with args in the proxy namespace; returns
        once it printed its `listening on` lines."""
        ns = self.proxy if ns == "proxy" else ns
        args = list(getattr(binary, "extra", [])) + list(args)
        h = procs.Halfpipe(self._argv(ns, [str(binary)]), args, self.tmp,
                           nlisten=nlisten, log=log)
        h.ns = ns
        self._own(h)
        h.start()
        return h

    def _argv(self, ns, argv):
        if ns is None:
            return list(argv)
        return ["ip", "netns", "exec", ns] + list(argv)

    def _own(self, p):
        self.procs.append(p)

    # -- nft --------------------------------------------------------------------
    def nft_drop(self, ns, addr):
        """Drop every packet to or from addr in namespace ns."""
        f = _fam(addr)
        return NftTable(self, ns, ["%s saddr %s drop" % (f, addr)],
                        ["%s daddr %s drop" % (f, addr)])

    def nft_loss(self, ns, addr, percent):
        """Drop about percent % of the packets to and from addr in ns."""
        f = _fam(addr)
        return NftTable(self, ns,
                        ["%s saddr %s numgen random mod 100 < %d drop" % (f, addr, percent)],
                        ["%s daddr %s numgen random mod 100 < %d drop" % (f, addr, percent)])

    def nft_drop_syn(self, ns, addr):
        """Drop the SYNs ns sends to addr (the connect stays in SYN-SENT)."""
        f = _fam(addr)
        return NftTable(self, ns, [],
                        ["%s daddr %s tcp flags & (syn | ack) == syn drop" % (f, addr)])

    # -- teardown ---------------------------------------------------------------
    def close(self):
        errors = []
        # peers first (their sockets close), then halfpipe (it may drain)
        order = ([p for p in self.procs if not isinstance(p, procs.Halfpipe)] +
                 [p for p in self.procs if isinstance(p, procs.Halfpipe)])
        for p in order:
            if isinstance(p, procs.Halfpipe):       # still serving, and idle?
                try:
                    p.watchdog(getattr(p, "ns", None))
                except AssertionError as e:
                    errors.append(e)
            try:
                p.finish()
            except AssertionError as e:
                errors.append(e)
            except Exception as e:  # noqa: BLE001 - keep tearing down
                errors.append(e)
        self.procs = []
        for fn in reversed(self.cleanups):
            try:
                fn()
            except Exception as e:  # noqa: BLE001
                errors.append(e)
        self.cleanups = []
        if errors:
            raise errors[0]
