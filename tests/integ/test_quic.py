"""QUIC flows (issue 17): real QUIC stacks (Debian's ngtcp2 example client and
server, gtlsclient and gtlsserver: HTTP/3 over GnuTLS) through halfpipe,
routed by the SNI of the client's Initial packets; flows ending at their
deadlines with nothing left; the flow table at its bound."""

import hashlib
import os
import re
import shutil
import signal
import socket

import pytest

import netns
from netns import CLIENT_ADDR, PROXY_CADDR, SERVER_ADDR, T
import procs
from procs import poll_until

pytestmark = pytest.mark.skipif(
    shutil.which("gtlsclient") is None or not os.path.exists("/usr/sbin/gtlsserver"),
    reason="needs ngtcp2-client and ngtcp2-server (scripts/deps.sh test)")

SIZE = 300 * 1024


def udp_ports(ns, pid):
    """The UDP ports process pid has bound in namespace ns."""
    out = netns.run(["ss", "-uanpH"], ns=ns).stdout.decode()
    ports = []
    for line in out.splitlines():
        if "pid=%d," % pid in line:
            ports.append(netns.split_hostport(line.split()[3])[1])
    return ports


def udp_peers(ns):
    """(local, peer) of every UDP socket in namespace ns."""
    out = netns.run(["ss", "-uanH"], ns=ns).stdout.decode()
    return [(netns.split_hostport(f[3]), netns.split_hostport(f[4]))
            for f in (line.split() for line in out.splitlines()) if len(f) >= 5]


class Server(procs.Proc):
    """A process the topology ends by its pid (SIGTERM, then SIGKILL)."""

    def finish(self):
        if self.running():
            self.kill(signal.SIGTERM)
            if self.wait_exit(T(5)) is None:
                self.kill(signal.SIGKILL)
                self.wait_exit(T(5))
        self.join_readers()


def h3_server(topo, name, certs, tag):
    """gtlsserver in the server namespace on a port of its own (port 0),
    serving one file whose bytes say which server it is."""
    root = os.path.join(topo.tmp, "htdocs-" + tag)
    os.mkdir(root)
    data = (("server %s " % tag).encode() * (SIZE // 9 + 1))[:SIZE]
    with open(os.path.join(root, "file"), "wb") as f:
        f.write(data)
    p = Server(topo._argv(topo.server, [
        "/usr/sbin/gtlsserver", "-q", "-d", root, SERVER_ADDR, "0",
        certs[tag + "_key"], certs[tag + "_cert"]]), name)
    topo._own(p)
    ports = poll_until(lambda: udp_ports(topo.server, p.p.pid), 10, name + " bound",
                       step=0.05)
    return ports[0], hashlib.sha256(data).hexdigest()


def client_hosts(topo):
    """The test names as halfpipe's client-side address, in the client
    namespace only (`ip netns exec` mounts /etc/netns/NS/hosts over
    /etc/hosts): gtlsclient sends "localhost" as the SNI of a numeric host,
    whatever --sni says, so it is given a name."""
    d = "/etc/netns/" + topo.client
    if os.path.exists(d + "/hosts"):
        return
    os.makedirs(d)
    topo.cleanups.append(lambda: shutil.rmtree(d, ignore_errors=True))
    with open(d + "/hosts", "w") as f:
        f.write("127.0.0.1 localhost\n%s a.example.test b.example.test c.example.test\n"
                % PROXY_CADDR)


def fetch(topo, port, sni, loss=None, timeout=30):
    """gtlsclient from the client namespace to halfpipe's QUIC port, the
    host named sni: the sha256 of the file it downloaded, or None."""
    client_hosts(topo)
    d = os.path.join(topo.tmp, "dl-%s-%d" % (sni, len(os.listdir(topo.tmp))))
    os.mkdir(d)
    argv = ["gtlsclient", "-q", "--exit-on-all-streams-close", "--download", d,
            "--timeout", "%ds" % int(T(timeout)),
            "--handshake-timeout", "%ds" % int(T(5))]
    if loss is not None:
        argv += ["--tx-loss", str(loss), "--rx-loss", str(loss)]
    argv += [sni, str(port), "https://%s/file" % sni]
    r = netns.run(argv, ns=topo.client, timeout=timeout + 10, check=False)
    path = os.path.join(d, "file")
    if not os.path.exists(path):
        return None, r
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest(), r


def start(topo, hp_bin, certs, *extra):
    pa, sha_a = h3_server(topo, "h3-a", certs, "a")
    pb, sha_b = h3_server(topo, "h3-b", certs, "b")
    hp = topo.halfpipe(hp_bin, [
        "--listen", PROXY_CADDR + ":0", "--listen-quic", PROXY_CADDR + ":0",
        "--route", "a.example.test=%s:%d" % (SERVER_ADDR, pa),
        "--route", "b.example.test=%s:%d" % (SERVER_ADDR, pb)] + list(extra), nlisten=2)
    assert hp.err and any("(quic)" in line for line in hp.err)
    return hp, hp.addrs[1][1], (pa, sha_a), (pb, sha_b)


def test_quic_routes_by_sni(topo, hp_bin, certs):
    """Each name reaches its own server (the bytes say which), checksummed;
    each flow's access-log line names the SNI, the ALPN and the backend."""
    hp, qport, (pa, sha_a), (pb, sha_b) = start(topo, hp_bin, certs,
                                                "--quic-idle-timeout", "1s")
    got_a, r = fetch(topo, qport, "a.example.test")
    assert got_a == sha_a, (r.stderr.decode(errors="replace")[-2000:], hp.log(), hp.tail())
    got_b, r = fetch(topo, qport, "b.example.test")
    assert got_b == sha_b, r.stderr.decode(errors="replace")[-2000:]
    recs = hp.wait_log(n=2, proto="quic", term="quic-idle-timeout", timeout=10)
    by_sni = {r["sni"]: r for r in recs}
    assert by_sni["a.example.test"]["backend"] == "%s:%d" % (SERVER_ADDR, pa)
    assert by_sni["b.example.test"]["backend"] == "%s:%d" % (SERVER_ADDR, pb)
    for r in recs:
        assert "h3" in r["alpn"].split(","), r
        assert r["client"].startswith(CLIENT_ADDR + ":"), r
        assert int(r["s2c_bytes"]) > SIZE and int(r["s2c_datagrams"]) > SIZE // 1500, r
        assert int(r["c2s_datagrams"]) > 0 and int(r["c2s_bytes"]) > 1200, r
        assert int(r["duration_ms"]) >= 1000, r
    # nothing left: no UDP socket of halfpipe's toward a server
    poll_until(lambda: [s for s in udp_peers(topo.proxy) if s[1][0] == SERVER_ADDR], 5,
               "backend sockets closed", done=lambda v: v == [])


def test_quic_download_with_loss(topo, hp_bin, certs):
    """5 % loss each way at the client: the download still completes."""
    hp, qport, (pa, sha_a), _ = start(topo, hp_bin, certs, "--quic-idle-timeout", "1s")
    got, r = fetch(topo, qport, "a.example.test", loss=0.05, timeout=60)
    assert got == sha_a, r.stderr.decode(errors="replace")[-2000:]


def test_quic_no_route_dropped(topo, hp_bin, certs):
    """An unknown name gets no answer: the client's handshake times out, the
    flow holds no backend socket and ends at quic-hello-timeout, term=no-route."""
    hp, qport, _, _ = start(topo, hp_bin, certs, "--quic-hello-timeout", "1s")
    got, r = fetch(topo, qport, "c.example.test", timeout=4)
    assert got is None
    rec = hp.wait_log(proto="quic", sni="c.example.test", timeout=10)[0]
    assert rec["term"] == "no-route" and rec["backend"] == "-", rec
    assert rec["s2c_datagrams"] == "0" and int(rec["dropped"]) >= 1, rec
    assert int(rec["duration_ms"]) >= 1000, rec


def test_quic_flow_table_bound(topo, hp_bin, certs):
    """quic-max-flows 2 (one worker): two clients hold the table (refused
    flows, remembered until quic-hello-timeout), a third one's datagram is
    dropped and counted; once the two end, a new client has a flow again."""
    hp, qport, _, _ = start(topo, hp_bin, certs, "--workers", "1", "--quic-max-flows", "2",
                            "--quic-hello-timeout", "2s")
    code = ("import socket,sys\n"
            "s=[socket.socket(socket.AF_INET,socket.SOCK_DGRAM) for _ in range(3)]\n"
            "[x.bind(('%s',0)) for x in s]\n"
            "print(' '.join(str(x.getsockname()[1]) for x in s))\n"
            "[x.sendto(b'\\x40'+bytes(1199),('%s',%d)) for x in s]\n" % (
                CLIENT_ADDR, PROXY_CADDR, qport))
    ports = netns.run(["python3", "-c", code], ns=topo.client).stdout.decode().split()
    hp.wait_stderr(r"quic flow table full \(quic-max-flows 2, 0 pending\): dropping new "
                   r"clients \(1 so far\)")
    recs = hp.wait_log(n=2, proto="quic", timeout=10)
    seen = sorted(netns.split_hostport(r["client"])[1] for r in recs)
    assert seen == sorted(int(p) for p in ports[:2]), (seen, ports)
    assert all(r["term"] == "quic-not-initial" for r in recs), recs
    # the table has room again
    netns.run(["python3", "-c", "import socket;s=socket.socket(socket.AF_INET,"
               "socket.SOCK_DGRAM);s.sendto(b'\\x40'+bytes(1199),('%s',%d))" % (
                   PROXY_CADDR, qport)], ns=topo.client)
    assert len(hp.wait_log(n=3, proto="quic", timeout=10)) == 3
    assert hp.stderr_count(r"quic flow table full") == 1
    assert not [line for line in hp.err if re.search(r"quic flow table full.*\(2 so far", line)]


def test_listen_quic_in_a_file(topo, hp_bin, certs):
    """listen-quic right after listen joins its block: the block's routes
    apply to QUIC; a listen-quic after a route opens a block of its own."""
    pa, sha_a = h3_server(topo, "h3-a", certs, "a")
    pb, sha_b = h3_server(topo, "h3-b", certs, "b")
    conf = os.path.join(topo.tmp, "q.conf")
    with open(conf, "w") as f:
        f.write("quic-idle-timeout 1s\nlisten %s:0\nlisten-quic %s:0\nroute a.example.test %s:%d\n"
                "listen-quic %s:0\nroute a.example.test %s:%d\n" % (
                    PROXY_CADDR, PROXY_CADDR, SERVER_ADDR, pa, PROXY_CADDR, SERVER_ADDR, pb))
    hp = topo.halfpipe(hp_bin, ["-c", conf], nlisten=3)
    q1, q2 = hp.addrs[1][1], hp.addrs[2][1]
    assert fetch(topo, q1, "a.example.test")[0] == sha_a
    assert fetch(topo, q2, "a.example.test")[0] == sha_b


def test_quic_unknown_version_refused(topo, hp_bin, certs):
    """An Initial of a version halfpipe cannot read gets no answer and one
    line, term=quic-version, at quic-hello-timeout."""
    hp, qport, _, _ = start(topo, hp_bin, certs, "--quic-hello-timeout", "1s")
    dgram = b"\xc0\x1a\x2a\x3a\x4a\x08" + bytes(range(8)) + b"\x00" + bytes(1185)
    code = ("import socket;s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);"
            "s.sendto(bytes.fromhex('%s'),('%s',%d));s.settimeout(%f)\n"
            "try:\n  s.recv(2048); print('answered')\nexcept socket.timeout: print('silent')\n"
            % (dgram.hex(), PROXY_CADDR, qport, T(2)))
    out = netns.run(["python3", "-c", code], ns=topo.client).stdout.decode().strip()
    assert out == "silent"
    rec = hp.wait_log(proto="quic", timeout=10)[0]
    assert rec["term"] == "quic-version" and rec["backend"] == "-", rec
    assert int(rec["duration_ms"]) >= 1000, rec


def test_quic_drain(topo, hp_bin, certs):
    """SIGTERM: a live flow (its idle deadline far off) ends at drain-timeout,
    term=drain, and halfpipe exits; a new client meanwhile gets no flow."""
    hp, qport, (pa, sha_a), _ = start(topo, hp_bin, certs, "--drain-timeout", "2s")
    assert fetch(topo, qport, "a.example.test")[0] == sha_a
    hp.kill(signal.SIGTERM)
    hp.wait_stderr(r"draining")
    netns.run(["python3", "-c", "import socket;s=socket.socket(socket.AF_INET,"
               "socket.SOCK_DGRAM);s.sendto(b'\\x40'+bytes(1199),('%s',%d))" % (
                   PROXY_CADDR, qport)], ns=topo.client)
    assert hp.wait_exit(T(10)) == 0
    hp.join_readers()
    hp.exit_code = 0
    recs = [r for r in hp.log() if r.get("proto") == "quic"]
    assert len(recs) == 1 and recs[0]["term"] == "drain", recs
    assert recs[0]["sni"] == "a.example.test" and int(recs[0]["duration_ms"]) >= 2000, recs


def test_quic_reload_routes(topo, hp_bin, certs):
    """SIGHUP: the QUIC socket stays (same port), new flows follow the new
    route; a flow's log line comes from the configuration it started with."""
    pa, sha_a = h3_server(topo, "h3-a", certs, "a")
    pb, sha_b = h3_server(topo, "h3-b", certs, "b")
    conf = os.path.join(topo.tmp, "q.conf")

    def write(port):
        with open(conf, "w") as f:
            f.write("quic-idle-timeout 1s\nlisten %s:0\nlisten-quic %s:0\n"
                    "route a.example.test %s:%d\n" % (PROXY_CADDR, PROXY_CADDR, SERVER_ADDR,
                                                      port))
    write(pa)
    hp = topo.halfpipe(hp_bin, ["-c", conf], nlisten=2)
    qport = hp.addrs[1][1]
    assert fetch(topo, qport, "a.example.test")[0] == sha_a
    write(pb)       # the same addresses as written: both sockets are kept
    hp.kill(signal.SIGHUP)
    hp.wait_stderr(r"reloaded: ")
    assert fetch(topo, qport, "a.example.test")[0] == sha_b
    recs = hp.wait_log(n=2, proto="quic", term="quic-idle-timeout", timeout=10)
    assert [r["backend"] for r in recs] == ["%s:%d" % (SERVER_ADDR, p) for p in (pa, pb)], recs


def test_quic_ipv6(loopback, hp_bin):
    """listen-quic on [::1]: a client's flow is keyed and logged by its IPv6
    address and port (here refused, an unknown version)."""
    hp = loopback.halfpipe(hp_bin, ["--listen", "[::1]:0", "--listen-quic", "[::1]:0",
                                    "--route", "a.example.test=[::1]:9",
                                    "--quic-hello-timeout", "500ms"], nlisten=2)
    qport = hp.addrs[1][1]
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    try:
        s.bind(("::1", 0))
        s.sendto(b"\xc0\x1a\x2a\x3a\x4a\x08" + bytes(8) + b"\x00" + bytes(1185), ("::1", qport))
        rec = hp.wait_log(proto="quic", timeout=10)[0]
        assert rec["client"] == "[::1]:%d" % s.getsockname()[1], rec
        assert rec["listener"] == "[::1]:%d" % qport and rec["term"] == "quic-version", rec
    finally:
        s.close()
