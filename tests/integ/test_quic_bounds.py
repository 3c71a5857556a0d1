"""The bounds of a QUIC flow (src/quic.h), with synthetic datagrams on
loopback (quicgen.py): the pending queue (QUIC_QUEUE_DGRAMS, 32 datagrams
before the route is known: within it all reach the backend first and in
order; past it the flow is refused), the pending flows of a worker
(QUIC_PENDING_MAX, 1024: a new client past it is dropped), a datagram over
QUIC_DGRAM_MAX (2048 bytes: dropped), and a backend that vanished (its ICMP
port unreachable ends the flow)."""

import os
import re
import resource
import time

import netns
from netns import T
from procs import poll_until
import quicgen
from quicgen import ready, udp_socket

HOST = "127.0.0.1"


def start(loopback, hp_bin, bport, *extra):
    hp = loopback.halfpipe(hp_bin, [
        "--listen", HOST + ":0", "--listen-quic", HOST + ":0",
        "--route", "a.example.test=%s:%d" % (HOST, bport)] + list(extra), nlisten=2)
    ready(hp)
    return hp, hp.addrs[1][1]


def hello_then(n_zero_rtt, dcid=None, scid=b"\x05\x06\x07\x08"):
    """A flow's datagrams: the first half of the hello in an Initial, then
    n_zero_rtt 0-RTT packets (queued, skipped by the reader), then the
    Initial that completes the hello and names the route."""
    dcid = dcid or os.urandom(8)
    first, last = quicgen.hello_initials("a.example.test", 2, dcid, scid)
    return [first] + [quicgen.zero_rtt(dcid, scid, b"q%02d" % i) for i in range(n_zero_rtt)] + \
        [last]


def recv_all(sock, n):
    sock.settimeout(T(5))
    return [sock.recv(4096) for _ in range(n)]


def test_quic_queue_full_forwarded_in_order(loopback, hp_bin):
    """32 datagrams before the route is known (QUIC_QUEUE_DGRAMS): the
    route comes with the 32nd; all 32 reach the backend first, in the order
    sent, then the two the client sends after; nothing dropped. Then a
    datagram over QUIC_DGRAM_MAX (2049 bytes) is dropped unread, not
    counted, and the 2048-byte one after it goes through."""
    be, cl = udp_socket(HOST), udp_socket(HOST)
    try:
        hp, qport = start(loopback, hp_bin, be.getsockname()[1], "--quic-idle-timeout", "500ms")
        sent = hello_then(30)
        assert len(sent) == 32
        for d in sent:
            cl.sendto(d, (HOST, qport))
        got = recv_all(be, 32)
        after = [b"\x40after-%d" % i + bytes(100) for i in range(2)]
        for d in after:
            cl.sendto(d, (HOST, qport))
        got += recv_all(be, 2)
        assert got == sent + after, [g[:8].hex() for g in got]
        # over QUIC_DGRAM_MAX: dropped unread (not relayed, not counted)
        cl.sendto(b"\x40big" + bytes(2049 - 4), (HOST, qport))
        cl.sendto(b"\x40fits" + bytes(2048 - 5), (HOST, qport))
        got = recv_all(be, 1)[0]
        assert got.startswith(b"\x40fits") and len(got) == 2048, got[:8]
        rec = hp.wait_log(proto="quic", term="quic-idle-timeout", timeout=10)[0]
        assert rec["c2s_datagrams"] == "35" and rec["dropped"] == "0", rec
        assert int(rec["c2s_bytes"]) == sum(map(len, sent + after)) + 2048, rec
        assert rec["sni"] == "a.example.test", rec
    finally:
        be.close()
        cl.close()


def test_quic_queue_past_bound_refused(loopback, hp_bin):
    """33 datagrams before the hello would be complete: the 32nd fills the
    queue with the hello still incomplete, so the flow is refused then
    (term=malformed: it cannot fit), its 32 queued datagrams and the 33rd
    dropped and counted; the backend gets none."""
    be, cl = udp_socket(HOST), udp_socket(HOST)
    try:
        hp, qport = start(loopback, hp_bin, be.getsockname()[1], "--quic-hello-timeout", "500ms")
        for d in hello_then(31):
            cl.sendto(d, (HOST, qport))
        rec = hp.wait_log(proto="quic", timeout=10)[0]
        assert rec["term"] == "malformed" and rec["backend"] == "-", rec
        assert rec["dropped"] == "33" and rec["c2s_datagrams"] == "0", rec
        be.setblocking(False)
        try:
            got = be.recv(4096)
        except BlockingIOError:
            got = None
        assert got is None, got[:16].hex()
    finally:
        be.close()
        cl.close()


def test_quic_backend_gone_ends_flow(loopback, hp_bin):
    """The backend's socket closes: the next client datagram halfpipe relays
    draws an ICMP port unreachable, which ends the flow at once
    (term=connect-refused, long before quic-idle-timeout); the client's
    next datagram is a new flow (a short header: refused)."""
    be, cl = udp_socket(HOST), udp_socket(HOST)
    bport = be.getsockname()[1]
    try:
        hp, qport = start(loopback, hp_bin, bport, "--quic-idle-timeout", "30s",
                          "--quic-hello-timeout", "500ms")
        sent = quicgen.hello_initials("a.example.test", 1)
        cl.sendto(sent[0], (HOST, qport))
        assert recv_all(be, 1) == sent
        be.close()
        cl.sendto(b"\x40after" + bytes(100), (HOST, qport))
        rec = hp.wait_log(proto="quic", timeout=T(5))[0]
        assert rec["term"] == "connect-refused", rec
        assert rec["backend"] == "%s:%d" % (HOST, bport), rec
        assert int(rec["duration_ms"]) < 30000, rec
        cl.sendto(b"\x40later" + bytes(100), (HOST, qport))
        recs = hp.wait_log(n=2, proto="quic", timeout=10)
        assert recs[1]["term"] == "quic-not-initial", recs
    finally:
        be.close()
        cl.close()


def _recv_q(port):
    """The receive queue of the UDP socket bound to HOST:port, in bytes."""
    out = netns.run(["ss", "-uanH", "src", "%s:%d" % (HOST, port)]).stdout.decode()
    return sum(int(line.split()[1]) for line in out.splitlines() if line.split())


def test_quic_pending_bound(loopback, hp_bin):
    """One worker, 1024 clients waiting for their hello (QUIC_PENDING_MAX):
    a 1025th client is dropped (no flow, no log line) and said once; after
    the 1024 end at quic-hello-timeout, a new client has a flow again."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 1200:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 2048), hard))
    socks = []
    try:
        hp, qport = start(loopback, hp_bin, 9, "--workers", "1",
                          "--quic-hello-timeout", "%dms" % int(T(1.5) * 1000))
        first = quicgen.hello_initials("a.example.test", 2)[0]   # the hello incomplete
        t0 = time.monotonic()
        for i in range(1025):
            s = udp_socket(HOST)
            socks.append(s)
            s.sendto(first, (HOST, qport))
            if i % 64 == 63:    # paced by halfpipe's reading: its queue emptied
                poll_until(lambda: _recv_q(qport), 5, "quic socket read", done=lambda v: v == 0,
                           step=0.01)
        hp.wait_stderr(r"quic flow table full \(quic-max-flows 10000, 1024 pending\): "
                       r"dropping new clients \(1 so far\)")
        assert time.monotonic() - t0 < T(1.5), "the 1025 clients took longer than the timeout"
        recs = hp.wait_log(n=1024, proto="quic", timeout=15)
        assert all(r["term"] == "quic-hello-timeout" for r in recs), recs[:3]
        ports = {int(r["client"].rpartition(":")[2]) for r in recs}
        want = {s.getsockname()[1] for s in socks}
        assert len(ports) == 1024 and ports <= want, len(ports)
        assert (want - ports) == {socks[-1].getsockname()[1]}, want - ports
        s = udp_socket(HOST)
        socks.append(s)
        s.sendto(first, (HOST, qport))
        rec = hp.wait_log(n=1025, proto="quic", timeout=10)[-1]
        assert rec["client"] == "%s:%d" % (HOST, s.getsockname()[1]), rec
        assert hp.stderr_count(r"quic flow table full") == 1
        assert not [ln for ln in hp.err if re.search(r"flow table full.*\(2 so far", ln)]
    finally:
        for s in socks:
            s.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
