"""QUIC flows as the operator sees them (issue 17): the halfpipe_quic_* metrics
and the admin socket's conns rows (docs/metrics.md, docs/admin.md), driven by
the captured Initial of tests/vectors/quic replayed from a plain UDP socket
on loopback, with a UDP socket of the test as the route's server."""

import os
import socket
import subprocess
import urllib.request

from procs import T, poll_until

VECTOR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "vectors", "quic",
                      "ngtcp2-gtlsclient-v1-first.bin")
LO = "127.0.0.1"
# the captured Initial names "localhost"; an unknown version, refused
UNKNOWN = b"\xc0\x1a\x2a\x3a\x4a\x08" + bytes(range(8)) + b"\x00" + bytes(1185)
COLS = ["id", "client", "sni", "backend", "phase", "age_ms", "idle_ms", "c2s_bytes",
        "s2c_bytes", "client_tcp", "server_tcp", "proto", "c2s_datagrams", "s2c_datagrams"]


def udp(timeout=None):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((LO, 0))
    s.settimeout(T(timeout or 5))
    return s


def scrape(port):
    """{(name, labels...): value} of the halfpipe_quic_* samples."""
    with urllib.request.urlopen("http://%s:%d/metrics" % (LO, port), timeout=T(5)) as r:
        text = r.read().decode()
    out = {}
    for line in text.splitlines():
        if line.startswith("halfpipe_quic_"):
            key, value = line.rsplit(" ", 1)
            out[key] = int(value)
    return out


def wait_metrics(port, want, what, timeout=10):
    """Scrape until every sample named in want has its value; the samples."""
    return poll_until(lambda: scrape(port), timeout, what, step=0.05,
                      done=lambda m: all(m.get(k) == v for k, v in want.items()))


def flows(m):
    return {s: m['halfpipe_quic_flows{state="%s"}' % s] for s in ("pending", "refused", "relay")}


def conns(hp_bin, path):
    """The QUIC rows of the admin table."""
    r = subprocess.run([str(hp_bin), "-s", path, "conns"], capture_output=True, text=True,
                       timeout=T(10))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split("\t") == COLS, lines[0]
    rows = [dict(zip(COLS, line.split("\t"))) for line in lines[1:]]
    return [x for x in rows if x["proto"] == "quic"]


def wait_conns(hp_bin, path, pred, what):
    return poll_until(lambda: conns(hp_bin, path), 10, what, done=pred, step=0.05)


def start(loopback, hp_bin, tmp_path, *extra):
    path = str(tmp_path / "admin.sock")
    backend = udp()
    hp = loopback.halfpipe(hp_bin, [
        "--listen", LO + ":0", "--listen-quic", LO + ":0",
        "--route", "localhost=%s:%d" % (LO, backend.getsockname()[1]),
        "--metrics", LO + ":0", "--admin-socket", path] + list(extra), nlisten=2)
    line = hp.wait_stderr(r"serving metrics on 127\.0\.0\.1:\d+")
    return hp, hp.addrs[1][1], int(line.rsplit(":", 1)[1]), path, backend


def test_flow_in_metrics_and_conns(loopback, hp_bin, tmp_path):
    """A client's Initial that does not open holds its flow pending (a conns
    row, the pending gauge); its good Initial routes it: both datagrams reach
    the server in order, the server's two reach the client, and the counters
    and the row say so; a refused client's second datagram, a too-large and
    an empty one are dropped by reason; once the flows end the gauges are 0,
    the totals by term and the access log agree, and the rows are gone."""
    good = open(VECTOR, "rb").read()
    bad = good[:-1] + bytes([good[-1] ^ 1])         # AEAD tag fails: ignored
    hp, qport, mport, path, backend = start(loopback, hp_bin, tmp_path,
                                            "--quic-idle-timeout", "3s",
                                            "--quic-hello-timeout", "3s")
    socks = [backend]
    try:
        m = scrape(mport)
        assert flows(m) == {"pending": 0, "refused": 0, "relay": 0}, m
        assert m['halfpipe_quic_datagrams_total{direction="c2s"}'] == 0, m

        client = udp()
        socks.append(client)
        caddr = "%s:%d" % client.getsockname()
        client.sendto(bad, (LO, qport))
        wait_metrics(mport, {'halfpipe_quic_flows{state="pending"}': 1}, "a pending flow")
        rows = wait_conns(hp_bin, path, lambda r: len(r) == 1, "the pending row")
        assert (rows[0]["client"], rows[0]["phase"], rows[0]["sni"], rows[0]["backend"],
                rows[0]["c2s_datagrams"], rows[0]["client_tcp"]) == (
                    caddr, "pending", "-", "-", "0", "-"), rows

        client.sendto(good, (LO, qport))
        got = [backend.recvfrom(4096) for _ in range(2)]
        assert [d for d, _ in got] == [bad, good]   # the queue first, in order
        for reply in (b"s" * 100, b"t" * 200):
            backend.sendto(reply, got[0][1])
        assert [client.recv(4096) for _ in range(2)] == [b"s" * 100, b"t" * 200]
        m = wait_metrics(mport, {
            'halfpipe_quic_flows{state="relay"}': 1,
            'halfpipe_quic_flows{state="pending"}': 0,
            'halfpipe_quic_datagrams_total{direction="c2s"}': 2,
            'halfpipe_quic_bytes_total{direction="c2s"}': 2 * len(good),
            'halfpipe_quic_datagrams_total{direction="s2c"}': 2,
            'halfpipe_quic_bytes_total{direction="s2c"}': 300,
            'halfpipe_quic_hellos_total{verdict="found"}': 1}, "the relay counted")
        row = wait_conns(hp_bin, path, lambda r: len(r) == 1 and r[0]["s2c_datagrams"] == "2",
                         "the relay row")[0]
        be = "%s:%d" % (LO, backend.getsockname()[1])
        assert (row["client"], row["phase"], row["sni"], row["backend"], row["c2s_bytes"],
                row["s2c_bytes"], row["c2s_datagrams"], row["server_tcp"]) == (
                    caddr, "relay", "localhost", be, str(2 * len(good)), "300", "2", "-"), row
        assert int(row["age_ms"]) >= int(row["idle_ms"]) >= 0, row

        other = udp()
        socks.append(other)
        other.sendto(UNKNOWN, (LO, qport))
        wait_metrics(mport, {'halfpipe_quic_flows{state="refused"}': 1}, "a refused flow")
        other.sendto(UNKNOWN, (LO, qport))      # dropped: the flow is refused
        other.sendto(b"x" * 3000, (LO, qport))  # over 2048 bytes
        other.sendto(b"", (LO, qport))
        wait_metrics(mport, {
            # the queued first one, when the flow was refused, and the second
            'halfpipe_quic_dropped_total{reason="refused"}': 2,
            'halfpipe_quic_dropped_total{reason="too-large"}': 1,
            'halfpipe_quic_dropped_total{reason="empty"}': 1,
            'halfpipe_quic_hellos_total{verdict="version"}': 1}, "the drops by reason")
        rows = conns(hp_bin, path)
        assert sorted(r["phase"] for r in rows) == ["refused", "relay"], rows

        m = wait_metrics(mport, {
            'halfpipe_quic_flows{state="relay"}': 0,
            'halfpipe_quic_flows{state="refused"}': 0,
            'halfpipe_quic_flows_total{term="quic-idle-timeout"}': 1,
            'halfpipe_quic_flows_total{term="quic-version"}': 1}, "both flows ended",
            timeout=15)
        assert sum(v for k, v in m.items() if k.startswith("halfpipe_quic_flows_total")) == 2
        assert conns(hp_bin, path) == []
        recs = {r["term"]: r for r in hp.wait_log(n=2, proto="quic", timeout=10)}
        relay = recs["quic-idle-timeout"]
        assert (relay["c2s_datagrams"], relay["c2s_bytes"], relay["s2c_datagrams"],
                relay["s2c_bytes"]) == ("2", str(2 * len(good)), "2", "300"), relay
        assert recs["quic-version"]["dropped"] == "2", recs
    finally:
        for s in socks:
            s.close()


def test_table_full_counted(loopback, hp_bin, tmp_path):
    """quic-max-flows 1: of four new clients each worker takes one; every
    other is dropped with no flow and no log line, and table-full counts it."""
    extra = getattr(hp_bin, "extra", [])
    workers = int(extra[extra.index("--workers") + 1]) if "--workers" in extra else 4
    hp, qport, mport, path, backend = start(loopback, hp_bin, tmp_path,
                                            "--quic-max-flows", "1",
                                            "--quic-hello-timeout", "1s")
    socks = [backend] + [udp() for _ in range(4)]
    try:
        for s in socks[1:]:
            s.sendto(UNKNOWN, (LO, qport))
        m = poll_until(lambda: scrape(mport), 10, "four clients seen", step=0.05,
                       done=lambda m: sum(flows(m).values()) +
                       m['halfpipe_quic_dropped_total{reason="table-full"}'] == 4)
        full = m['halfpipe_quic_dropped_total{reason="table-full"}']
        assert 4 - workers <= full <= 3, m
        m = wait_metrics(mport, {'halfpipe_quic_flows{state="refused"}': 0,
                                 'halfpipe_quic_flows_total{term="quic-version"}': 4 - full},
                         "the flows ended")
        assert len(hp.wait_log(n=4 - full, proto="quic", timeout=5)) == 4 - full
        assert len([r for r in hp.log() if r.get("proto") == "quic"]) == 4 - full
    finally:
        for s in socks:
            s.close()


def admin(hp_bin, path, *cmd):
    r = subprocess.run([str(hp_bin), "-s", path] + list(cmd), capture_output=True, text=True,
                       timeout=T(10))
    return (r.stdout + r.stderr).strip()


def test_kill_a_flow(loopback, hp_bin, tmp_path):
    """kill ID ends a relaying flow (term=killed, its row gone, nothing more
    reaches the server from it); kill route=NAME ends every flow of the
    route and counts them; an ID nobody has is an error."""
    good = open(VECTOR, "rb").read()
    hp, qport, mport, path, backend = start(loopback, hp_bin, tmp_path,
                                            "--quic-idle-timeout", "30s")
    socks = [backend]
    try:
        clients = [udp(), udp()]
        socks += clients
        for c in clients:
            c.sendto(good, (LO, qport))
            assert backend.recvfrom(4096)[0] == good
        rows = wait_conns(hp_bin, path, lambda r: len(r) == 2 and
                          all(x["phase"] == "relay" for x in r), "two relaying flows")
        first = "%s:%d" % clients[0].getsockname()
        victim = [r for r in rows if r["client"] == first][0]
        assert admin(hp_bin, path, "kill", victim["id"]) == "killed %s" % victim["id"]
        rec = hp.wait_log(n=1, proto="quic", timeout=5)[0]
        assert (rec["client"], rec["term"]) == (first, "killed"), rec
        assert [r["client"] for r in conns(hp_bin, path)] == ["%s:%d" % clients[1].getsockname()]
        assert "no such connection %s" % victim["id"] in admin(hp_bin, path, "kill", victim["id"])
        assert admin(hp_bin, path, "kill", "route=localhost") == "killed 1 connection"
        recs = hp.wait_log(n=2, proto="quic", timeout=5)
        assert [r["term"] for r in recs] == ["killed", "killed"], recs
        assert conns(hp_bin, path) == []
        wait_metrics(mport, {'halfpipe_quic_flows_total{term="killed"}': 2,
                             'halfpipe_quic_flows{state="relay"}': 0}, "two flows killed")
    finally:
        for s in socks:
            s.close()
