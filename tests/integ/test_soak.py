"""Soak: a mix of well-behaved and hostile connections through halfpipe
while 5 % of the packets on the proxy-server link are dropped both ways.

Profiles: short (default, ~200 connections, part of `make test`) and long
(HP_SOAK=long, 1,000 connections, `make soak`).  Runs on the plain and ASan
variants only (the copy path is covered by the other scenarios; the soak is
about faults and leaks, and keeps `make test` short).

Kinds (one SNI and one backend listener each, so every log record and every
peer event belongs to a known kind):

  up       client sends N bytes, half-closes; server reads to EOF, answers
           M bytes, closes                                -> client-fin
  down     server sends M bytes, half-closes first; client sends N bytes,
           half-closes after the EOF                      -> server-fin
  nofin    client sends N bytes, half-closes; server answers M bytes and
           never FINs                                     -> half-closed-timeout
  vanish   client half-closes; its backend (a second address) streams 4 MiB,
           then every packet to or from that address is dropped
                                                          -> half-closed-timeout
  srst     server sends K bytes, resets when the client's first byte after
           them comes (the client keeps trickling)        -> server-rst
  crst     client reads K bytes, resets (the server keeps trickling)
                                                          -> client-rst
  stall    client sends 100 bytes of its ClientHello, then nothing
                                                          -> hello-timeout
  silent   client connects and sends nothing              -> hello-timeout
  zerowin  client never reads a 1 MiB download            -> idle-timeout

Pass: every transfer both ends completed is byte-exact (client-to-server
data differs per connection, so a cross-wired stream would show); every
record's term is its kind's; by the largest timeout + 2 s after the last
connection started nothing in the proxy namespace is in FIN-WAIT-1/2,
CLOSE-WAIT, LAST-ACK or CLOSING; halfpipe's sockets are back to its
listeners and its RSS near its start; the ASan build reports nothing (the
harness fails any run whose stderr holds a sanitizer report)."""

import os
import random
import time

import pytest

import netns
import peer as peerlib
from harness import (CLOSE, PROXY_CADDR, SERVER_ADDR, SHUT, STRIP, WAIT_EOF, hello, pattern,
                     send_pattern, sha, workers_of, T)

LONG = os.environ.get("HP_SOAK", "") == "long"
SCALE = 5 if LONG else 1
LOSS = 5                                    # percent, both ways, proxy-server link
VANISH_ADDR = "198.18.2.3"
TIMEOUTS = {"hello-timeout": "2s", "connect-timeout": "10s", "idle-timeout": "10s",
            "half-closed-timeout": "10s", "drain-timeout": "1s"}
LARGEST = 10.0
M = 128 * 1024                              # server replies
K = 32 * 1024                               # bytes before a reset
BIG = 1024 * 1024                           # zero-window download
VANISH_BYTES = 4 * 1024 * 1024
RATE = 100.0                                # connections started per second

MIX = {"up": 50, "down": 50, "nofin": 20, "vanish": 15, "srst": 15, "crst": 15,
       "stall": 12, "silent": 12, "zerowin": 11}
TERM = {"up": "client-fin", "down": "server-fin", "nofin": "half-closed-timeout",
        "vanish": "half-closed-timeout", "srst": "server-rst", "crst": "client-rst",
        "stall": "hello-timeout", "silent": "hello-timeout", "zerowin": "idle-timeout"}
TRICKLE = {"op": "send_slow", "hex": "2e" * 40, "interval": 0.2}
DOT = b"."

SOAK_BINS = [p for p in __import__("conftest").BINARIES if p[0] in ("plain", "asan")]


def sni(kind):
    return "%s.soak.test" % kind


def server_script(kind):
    return {
        "up": [STRIP, WAIT_EOF, send_pattern(M, 2), CLOSE],
        "down": [STRIP, send_pattern(M, 3), SHUT, WAIT_EOF, CLOSE],
        "nofin": [STRIP, WAIT_EOF, send_pattern(M, 4)],
        "vanish": [STRIP, send_pattern(VANISH_BYTES, 5), WAIT_EOF],
        "srst": [STRIP, send_pattern(K, 6), {"op": "wait_rx", "n": 1}, {"op": "rst"}],
        "crst": [STRIP, send_pattern(K, 7), {"op": "sleep", "s": 1.0}, TRICKLE],
        "zerowin": [STRIP, send_pattern(BIG, 8), WAIT_EOF],
    }[kind]


def client_script(kind, n, seed):
    h = hello(sni(kind))
    return {
        "up": [h, send_pattern(n, seed), SHUT, WAIT_EOF, CLOSE],
        "down": [h, send_pattern(n, seed), WAIT_EOF, SHUT, CLOSE],
        "nofin": [h, send_pattern(n, seed), SHUT, WAIT_EOF],
        "vanish": [h, send_pattern(n, seed), SHUT, WAIT_EOF],
        "srst": [h, {"op": "wait_rx", "n": K}, TRICKLE],
        "crst": [h, {"op": "wait_rx", "n": K}, {"op": "rst"}],
        "stall": [{"op": "send", "hex": peerlib.client_hello(sni(kind))[:100].hex()}],
        "silent": [],
        "zerowin": [h, {"op": "pause_read"}],
    }[kind]


def _rx_ok(ev, data):
    return (ev["rx"], ev["sha256"]) == (len(data), sha(data))


@pytest.fixture(params=[b[1] for b in SOAK_BINS], ids=[b[0] for b in SOAK_BINS])
def soak_bin(request):
    return request.param


@pytest.mark.slow
def test_soak(topo, soak_bin):
    rng = random.Random(20240601)
    kinds = [k for k, n in MIX.items() for _ in range(n * SCALE)]
    rng.shuffle(kinds)
    # the vanishing backend is cut once all its connections are streaming:
    # start those among the first fifth of the run
    vanish = [k for k in kinds if k == "vanish"]
    rest = [k for k in kinds if k != "vanish"]
    head = len(kinds) // 5
    order = rest[:head - len(vanish)] + vanish
    rng.shuffle(order)
    order += rest[head - len(vanish):]
    total = len(order)

    topo.add_server_addr(VANISH_ADDR)
    server = topo.peer(topo.server, "server")
    ports = {}
    for kind in TERM:
        if kind in ("stall", "silent"):
            continue
        addr = VANISH_ADDR if kind == "vanish" else SERVER_ADDR
        ports[kind] = (addr, server.listen(addr, [server_script(kind)]))
    args = ["--listen", "%s:0" % PROXY_CADDR]
    for kind, (addr, port) in ports.items():
        args += ["--route", "%s=%s:%d" % (sni(kind), addr, port)]
    for k, v in TIMEOUTS.items():
        args += ["--" + k, v]
    hp = topo.halfpipe(soak_bin, args)
    start_fds, start_rss = hp.wait_listeners(workers_of(soak_bin)), hp.rss_kb()
    client = topo.peer(topo.client, "client")
    topo.nft_loss(topo.proxy, "198.18.2.0/24", LOSS)

    plan = {}                               # client conn id -> (kind, n, seed)
    t_start = time.monotonic()
    peak_rss = start_rss
    for i, kind in enumerate(order):
        n, seed = rng.randint(1024, 256 * 1024), 100000 + i
        plan[i + 1] = (kind, n, seed)       # the client numbers connections 1, 2, ...
        client.connect(PROXY_CADDR, hp.port, client_script(kind, n, seed))
        if i + 1 == head:
            server.wait(ev="hello", n=MIX["vanish"] * SCALE,
                        pred=lambda e: e.get("conn") in vanish_conns(server, ports), timeout=20)
            topo.nft_drop(topo.proxy, VANISH_ADDR)
        if i % 50 == 0:
            peak_rss = max(peak_rss, hp.rss_kb())
        time.sleep(max(0.0, t_start + (i + 1) / RATE - time.monotonic()))   # pacing
    t_last = time.monotonic()

    # every connection ends by the largest timeout (+ the time its transfer
    # took under loss); then nothing lingers
    recs = hp.wait_log(n=total, timeout=LARGEST + 30)
    netns.assert_no_lingering(topo.proxy, [(PROXY_CADDR, hp.port)] +
                              [ports[k] for k in ports],
                              deadline=max(time.monotonic(), t_last + T(LARGEST + 2)),
                              what="soak")
    t_end = time.monotonic()

    # -- terms: each record's kind from its SNI (stall and silent have none)
    by_kind = {}
    for r in recs:
        kind = r["sni"].split(".")[0] if r["sni"] != "-" else "hello"
        by_kind.setdefault(kind, []).append(r)
    wrong = []
    for kind, rs in by_kind.items():
        want = "hello-timeout" if kind == "hello" else TERM.get(kind)
        wrong += [(kind, r["term"], r["id"]) for r in rs if r["term"] != want]
    counts = {k: len(v) for k, v in by_kind.items()}
    want_counts = {k: MIX[k] * SCALE for k in MIX if k not in ("stall", "silent")}
    want_counts["hello"] = (MIX["stall"] + MIX["silent"]) * SCALE
    assert not wrong, "wrong term for its kind (%d): %s" % (len(wrong), wrong[:20])
    assert counts == want_counts, (counts, want_counts)

    # -- bytes: client side, per connection
    checked, bad = 0, []
    ends = {}
    for e in client.find(pred=lambda e: e["ev"] in ("eof", "rst", "rx_error", "rx",
                                                      "send_error")):
        ends.setdefault(e["conn"], []).append(e)
    for cid, (kind, n, seed) in plan.items():
        evs = ends.get(cid, [])
        if kind in ("up", "down"):
            eof = [e for e in evs if e["ev"] == "eof"]
            body = pattern(M, 2 if kind == "up" else 3)
            if not (eof and _rx_ok(eof[0], body)):
                bad.append((cid, kind, evs[:2]))
            checked += M
        elif kind == "nofin":
            rst = [e for e in evs if e["ev"] == "rst"]
            if not (rst and _rx_ok(rst[0], pattern(M, 4))):
                bad.append((cid, kind, evs[:2]))
            checked += M
        elif kind in ("srst", "crst"):
            rx = [e for e in evs if e["ev"] == "rx"]
            got = rx[0]["rx"] if rx else 0
            body = pattern(K, 6 if kind == "srst" else 7) + DOT * max(0, got - K)
            if not (rx and _rx_ok(rx[0], body)):
                bad.append((cid, kind, evs[:2]))
            checked += K
            # the reset shows on the next recv, or on the next send (the
            # client is trickling)
            if kind == "srst" and not [e for e in evs if e["ev"] == "rst" or (
                    e["ev"] in ("send_error", "rx_error") and
                    e.get("err") in ("ECONNRESET", "EPIPE"))]:
                bad.append((cid, kind, "no reset seen"))
        elif kind in ("stall", "silent"):
            if not [e for e in evs if e["ev"] == "rst"]:
                bad.append((cid, kind, "no reset", evs[:2]))
    assert not bad, "%d connection(s) with wrong bytes or ends: %s" % (len(bad), bad[:10])

    # -- bytes: server side, client-to-server data of the completed transfers
    want = {}
    for cid, (kind, n, seed) in plan.items():
        if kind in ("up", "down", "nofin"):
            want.setdefault(kind, []).append(sha(pattern(n, seed)))
            checked += n
    for kind in ("up", "down", "nofin"):
        port = ports[kind][1]
        got = sorted(e["sha256"] for e in server.find(ev="eof")
                     if e["conn"] in conns_of(server, port))
        assert got == sorted(want[kind]), "%s: the server got other bytes than the clients " \
            "sent (%d streams, %d expected)" % (kind, len(got), len(want[kind]))

    # -- resources back near the start
    end_fds, end_rss = hp.fds(), hp.rss_kb()
    print("\nsoak[%s%s]: %d connections, %d%% loss both ways on the server link, "
          "%d bytes checked, run %.1fs + %.1fs to clean, lingering 0; "
          "fds %d -> %d (sockets %d -> %d, pipes %d -> %d), RSS %d -> %d KiB (peak seen %d)" % (
              "long " if LONG else "", soak_bin.extra, total, LOSS, checked, t_last - t_start,
              t_end - t_last, start_fds["total"], end_fds["total"], start_fds["socket"],
              end_fds["socket"], start_fds["pipe"], end_fds["pipe"], start_rss, end_rss,
              peak_rss))
    assert end_fds["socket"] == start_fds["socket"], ("sockets left open", start_fds, end_fds)
    assert end_fds["other"] == start_fds["other"], (start_fds, end_fds)
    # pipes only from the splice pool (at most 2 per pooled pipe, 1000 per worker)
    assert end_fds["total"] - end_fds["pipe"] == start_fds["total"] - start_fds["pipe"]
    # buffers kept in the per-worker pools and malloc's arenas stay; a leak of
    # a session (~1 KiB) or a buffer (16 KiB) per connection would not fit
    limit = 16 * 1024 if "asan" not in str(soak_bin) else 256 * 1024
    assert end_rss - start_rss < limit, "RSS %d -> %d KiB" % (start_rss, end_rss)


def conns_of(server, port):
    """Connection ids the server peer accepted on its listener at port."""
    lid = [e["listener"] for e in server.find(ev="listening") if e["port"] == port][0]
    return {e["conn"] for e in server.find(ev="accepted") if e["listener"] == lid}


def vanish_conns(server, ports):
    return conns_of(server, ports["vanish"][1])
