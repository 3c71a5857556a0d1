"""Backends given by name follow DNS (docs/config.md "Backend names"):
a real DNS server, dnsmasq, runs in a namespace of its own linked to
halfpipe's, answering from a hosts file the test rewrites (SIGHUP makes it
read the file again).  A name whose address changes is followed within one
interval (or the records' TTL), while a live transfer to the old address
goes on to its end byte-exact; a name with two addresses is a pool of two;
a silent DNS server leaves the last good addresses in use, said once, and
once again when it answers again; a reload with seccomp on takes a name."""

import os
import re
import shutil
import signal
import time

import pytest

import netns
import procs
from harness import (CLOSE, DEFAULT_OPTS, PROXY_CADDR, SERVER_ADDR, STRIP, WAIT_EOF,
                     assert_bytes, assert_term, hello, one, pattern, rx_end, send_pattern,
                     wait_tag, T)

ADDR2 = "198.18.2.21"           # a second server address on the server link
DNS_ADDR = "198.18.53.1"        # dnsmasq, in its own namespace
DNS_PEER = "198.18.53.2"        # halfpipe's end of that link
NAME = "web.hp.test"            # the backend's host name
SNI = "a.example.test"
SHORT = [STRIP, send_pattern(1000, 5), CLOSE]
DNSMASQ = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"


class Dnsmasq(procs.Proc):
    """dnsmasq answering from a hosts file; ended by its pid."""

    def finish(self):
        if self.running():
            self.kill(signal.SIGCONT)       # in case a test stopped it
            self.kill(signal.SIGTERM)
        if self.wait_exit(T(5)) is None:
            self.kill(signal.SIGKILL)
            self.wait_exit(T(5))
        self.join_readers()


class Dns:
    """A namespace with dnsmasq on DNS_ADDR:53, reachable from the proxy
    namespace over a veth (DNS_PEER); set(addrs) rewrites NAME's records."""

    def __init__(self, topo, addrs, ttl=0):
        assert os.path.exists(DNSMASQ), "dnsmasq is missing: run `make test-deps`"
        self.topo = topo
        ns = self.ns = topo.tag + "d"
        netns.run(["ip", "netns", "add", ns])
        topo.cleanups.append(lambda: netns.run(["ip", "netns", "del", ns], check=False))
        netns.run(["ip", "-n", ns, "link", "set", "lo", "up"])
        netns.run(["ip", "-n", ns, "link", "add", topo.tag + "d0", "type", "veth",
                   "peer", "name", topo.tag + "pd", "netns", topo.proxy])
        for n, ifn, addr in ((ns, topo.tag + "d0", DNS_ADDR),
                             (topo.proxy, topo.tag + "pd", DNS_PEER)):
            netns.run(["ip", "-n", n, "addr", "add", addr + "/24", "dev", ifn])
            netns.run(["ip", "-n", n, "link", "set", ifn, "up"])
        # dnsmasq reads the file as the user it drops to
        self.dir = os.path.join(topo.tmp, "dns")
        os.mkdir(self.dir)
        os.chmod(topo.tmp, 0o755)
        os.chmod(self.dir, 0o755)
        self.hosts = os.path.join(self.dir, "hosts")
        self._write(addrs)
        argv = ["ip", "netns", "exec", ns, DNSMASQ, "--no-daemon", "--conf-file=/dev/null",
                "--no-resolv", "--no-hosts", "--bind-interfaces",
                "--listen-address=" + DNS_ADDR, "--port=53", "--addn-hosts=" + self.hosts,
                "--local-ttl=%d" % ttl, "--pid-file=", "--log-facility=-", "--log-queries"]
        self.p = Dnsmasq(argv, "dnsmasq")
        topo._own(self.p)
        self._wait_read(1)

    def _write(self, addrs):
        with open(self.hosts + ".new", "w") as f:
            for a in addrs:
                f.write("%s %s\n" % (a, NAME))
        os.chmod(self.hosts + ".new", 0o644)
        os.rename(self.hosts + ".new", self.hosts)

    def _wait_read(self, n):
        """Until dnsmasq said n times that it read the hosts file."""
        rx = r"read %s - \d+ (names|addresses)" % re.escape(self.hosts)
        procs.poll_until(lambda: len(self.p.stderr_lines(rx)), 10,
                         "dnsmasq reading %s" % self.hosts, done=lambda k: k >= n)

    def set(self, addrs):
        k = len(self.p.stderr_lines(r"read %s - " % re.escape(self.hosts)))
        self._write(addrs)
        self.p.kill(signal.SIGHUP)
        self._wait_read(k + 1)


class Backends:
    """Two server peers on one port: s1 on SERVER_ADDR, s2 on ADDR2."""

    def __init__(self, topo, s1_scripts=(SHORT,), s2_scripts=(SHORT,), s2=True):
        topo.add_server_addr(ADDR2)
        self.s1 = topo.peer(topo.server, "s1")
        self.port = self.s1.listen(SERVER_ADDR, list(s1_scripts))
        self.s2 = None
        if s2:
            self.s2 = topo.peer(topo.server, "s2")
            self.s2.send(cmd="listen", addr=ADDR2, port=self.port, scripts=list(s2_scripts))
            assert self.s2.wait(ev="listening")[0]["port"] == self.port
        self.backend = "%s:%d" % (NAME, self.port)


def start(topo, hp_bin, be, opts=None, extra=()):
    o = dict(DEFAULT_OPTS)
    o.update({"resolvers": DNS_ADDR})
    o.update(opts or {})
    args = []
    for k, v in o.items():
        args += ["--" + k, v]
    args += ["--listen", "%s:0" % PROXY_CADDR, "--route", "%s=%s" % (SNI, be.backend)]
    return topo.halfpipe(hp_bin, args + list(extra))


def served(hp, client, n, timeout=10):
    """n short connections, one after the other; their access-log records."""
    base = len(hp.log())
    for i in range(n):
        client.connect(PROXY_CADDR, hp.port, [hello(SNI), WAIT_EOF, CLOSE])
        hp.wait_log(n=base + i + 1, timeout=timeout)
    recs = hp.log()[base:base + n]
    assert_term(recs, "server-fin", "client-fin")
    return recs


def now_has(hp, addrs):
    return r"%s now has %d address(es)?: %s$" % (re.escape(NAME), len(addrs),
                                                  re.escape(" ".join(addrs)))


def test_address_change_followed_live_transfer_finishes(topo, hp_bin):
    # NAME moves from s1 to s2; with resolve-interval 2s (and a TTL of a
    # minute) halfpipe sees it within the interval; new connections go to
    # s2, while a 512 KiB download from s1 opened before goes on to its end.
    body = pattern(256 * 1024, 1) + pattern(256 * 1024, 2)
    long_script = [STRIP, send_pattern(256 * 1024, 1), wait_tag("go"),
                   send_pattern(256 * 1024, 2), CLOSE]
    be = Backends(topo, s1_scripts=[long_script, SHORT])
    dns = Dns(topo, [SERVER_ADDR], ttl=60)
    hp = start(topo, hp_bin, be, {"resolve-interval": "2s"})
    cli = topo.peer(topo.client, "client")
    cli.connect(PROXY_CADDR, hp.port, [hello(SNI), WAIT_EOF, CLOSE])
    be.s1.wait(ev="hello")
    live = one(cli.wait(ev="connected"))["conn"]

    dns.set([ADDR2])
    t0 = time.monotonic()
    hp.wait_stderr(now_has(hp, [ADDR2]), timeout=2 + 2)
    assert time.monotonic() - t0 <= T(2 + 1.5), "not followed within one interval"
    recs = served(hp, cli, 3)
    assert all(r["backend"] == be.backend for r in recs), recs
    be.s2.wait(ev="hello", n=3)
    assert be.s1.count("hello") == 1, "a new connection went to the old address"

    be.s1.signal("go")                  # the old connection finishes
    ev = rx_end(cli, conn=live, timeout=15)
    assert_bytes(ev, body, "the transfer to the old address")
    assert ev["ev"] == "eof", ev


def test_ttl_shorter_than_interval_is_followed(topo, hp_bin):
    # resolve-interval 1h but the records' TTL is 1 s: the change is seen
    # within a couple of seconds, not an hour.
    be = Backends(topo)
    dns = Dns(topo, [SERVER_ADDR], ttl=1)
    hp = start(topo, hp_bin, be, {"resolve-interval": "1h"})
    cli = topo.peer(topo.client, "client")
    served(hp, cli, 1)
    dns.set([ADDR2])
    hp.wait_stderr(now_has(hp, [ADDR2]), timeout=1 + 2)
    served(hp, cli, 2)
    be.s2.wait(ev="hello", n=2)
    assert be.s1.count("hello") == 1


def test_two_addresses_are_a_pool_of_two(topo, hp_bin, tmp_path):
    # NAME has both addresses: 10 connections at once, 5 to each (round
    # robin over the addresses), each served on the first attempt; the
    # admin socket's `servers` lists both under the one name.
    be = Backends(topo)
    Dns(topo, [SERVER_ADDR, ADDR2])
    sock = str(tmp_path / "admin.sock")
    hp = start(topo, hp_bin, be, {"admin-socket": sock})

    def listed():
        r = netns.run([str(hp_bin), "-s", sock, "servers"], ns=topo.proxy, check=False)
        assert r.returncode == 0, r
        lines = [ln.split("\t") for ln in r.stdout.decode().splitlines()]
        rows = {row[0]: dict(zip(lines[0], row)) for row in lines[1:]}
        return sorted(rows[be.backend]["addresses"].split())
    procs.poll_until(listed, 5, "`servers` listing both addresses",
                     done=lambda a: a == sorted([SERVER_ADDR, ADDR2]))
    cli = topo.peer(topo.client, "client")
    cli.connect(PROXY_CADDR, hp.port, [hello(SNI), WAIT_EOF, CLOSE], count=10)
    recs = hp.wait_log(n=10, timeout=15)
    assert_term(recs, "server-fin", "client-fin")
    assert all(r["attempts"] == "1" for r in recs), recs
    be.s1.wait(ev="hello", n=5)
    be.s2.wait(ev="hello", n=5)
    assert (be.s1.count("hello"), be.s2.count("hello")) == (5, 5)


def test_refusing_address_the_other_is_tried(topo, hp_bin):
    # NAME has two addresses, nothing listens on the second: every
    # connection is served by s1. The one that tries ADDR2 first is served
    # on its second attempt (the other address, before any other server);
    # ADDR2 then cools down (backend-fails 1, backend-cooldown 60s), so the
    # connections after it start on s1 at once.
    be = Backends(topo, s2=False)
    Dns(topo, [SERVER_ADDR, ADDR2])
    hp = start(topo, hp_bin, be, {"backend-fails": "1", "backend-cooldown": "60s"})
    cli = topo.peer(topo.client, "client")
    recs = served(hp, cli, 6)
    attempts = [r["attempts"] for r in recs]
    # ADDR2 starts the first or the second walk (the answer's order), then no other
    assert attempts.count("2") == 1 and attempts.index("2") <= 1, recs
    assert set(attempts) == {"1", "2"}, recs
    be.s1.wait(ev="hello", n=6)


def _dropped(table):
    out = netns.run(["nft", "list", "table", "inet", table.name], ns=table.ns).stdout.decode()
    return sum(int(m) for m in re.findall(r"counter packets (\d+)", out))


def test_silent_dns_keeps_the_last_addresses(topo, hp_bin):
    # dnsmasq goes silent (every packet to it dropped): halfpipe says once
    # that it keeps NAME's two addresses, however many questions go
    # unanswered, and both still serve; when DNS answers again it says so.
    be = Backends(topo)
    Dns(topo, [SERVER_ADDR, ADDR2])
    hp = start(topo, hp_bin, be, {"resolve-interval": "1s"})
    cli = topo.peer(topo.client, "client")
    served(hp, cli, 2)
    drop = netns.NftTable(topo, topo.proxy, [], ["ip daddr %s counter drop" % DNS_ADDR])
    keeping = r"keeping 2 addresses of %s: " % re.escape(NAME)
    hp.wait_stderr(keeping, timeout=1 + 3 + 2)
    # two whole rounds of unanswered questions (A and AAAA, two tries each)
    procs.poll_until(lambda: _dropped(drop), 20, "16 questions dropped",
                     done=lambda n: n >= 16)
    assert hp.stderr_count(keeping) == 1, hp.tail()
    recs = served(hp, cli, 4)
    assert all(r["attempts"] == "1" for r in recs), recs
    assert (be.s1.count("hello"), be.s2.count("hello")) == (3, 3)
    drop.remove()
    hp.wait_stderr(r"%s resolves again: 2 addresses" % re.escape(NAME), timeout=1 + 3 + 2)
    assert hp.stderr_count(keeping) == 1, hp.tail()


def test_reload_under_seccomp_takes_a_name(topo, hp_bin):
    # seccomp on (the default): a reload whose route names NAME is accepted
    # (the main thread asks dnsmasq through c-ares, under the filter) and
    # new connections go to NAME's address.
    be = Backends(topo)
    Dns(topo, [ADDR2])
    conf = os.path.join(topo.tmp, "halfpipe.conf")

    def write(backend):
        with open(conf + ".new", "w") as f:
            f.write("resolvers %s\nhello-timeout 10s\nconnect-timeout 10s\n"
                    "half-closed-timeout 2s\ndrain-timeout 1s\nlisten %s:0\n"
                    "route %s %s\n" % (DNS_ADDR, PROXY_CADDR, SNI, backend))
        os.rename(conf + ".new", conf)

    write("%s:%d" % (SERVER_ADDR, be.port))
    hp = topo.halfpipe(hp_bin, ["-c", conf])
    hp.wait_stderr("seccomp on")
    cli = topo.peer(topo.client, "client")
    served(hp, cli, 1)
    write(be.backend)
    hp.kill(signal.SIGHUP)
    hp.wait_stderr(r"reloaded: 1 listener")
    assert hp.stderr_count("reload refused") == 0, hp.tail()
    served(hp, cli, 2)
    be.s2.wait(ev="hello", n=2)
    assert be.s1.count("hello") == 1


@pytest.mark.parametrize("bad", ["nosuch.hp.test"])
def test_reload_with_an_unknown_name_is_refused(topo, hp_bin, bad):
    # a name DNS does not know: the reload is refused with FILE:LINE, the
    # old route keeps serving.
    be = Backends(topo, s2=False)
    Dns(topo, [SERVER_ADDR])
    conf = os.path.join(topo.tmp, "halfpipe.conf")
    text = ("resolvers %s\nlisten %s:0\nroute %s %%s\n" % (DNS_ADDR, PROXY_CADDR, SNI))
    with open(conf, "w") as f:
        f.write(text % be.backend)
    hp = topo.halfpipe(hp_bin, ["-c", conf])
    with open(conf + ".new", "w") as f:
        f.write(text % ("%s:%d" % (bad, be.port)))
    os.rename(conf + ".new", conf)
    hp.kill(signal.SIGHUP)
    hp.wait_stderr(r"%s:3: route: cannot resolve \"%s\": " % (re.escape(conf), re.escape(bad)))
    hp.wait_stderr("reload refused")
    cli = topo.peer(topo.client, "client")
    served(hp, cli, 1)
