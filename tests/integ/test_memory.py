"""Bounded memory: 2,000 stalled clients (1,000 stopped 100 bytes into their
ClientHello, 1,000 not reading a 1 MiB download) cost a bounded number of
bytes each, measured from halfpipe's RSS, and all time out at their values.

The bounds come from docs/design.md "Memory per connection": a session is
about 1 KiB, a direction holds a 16 KiB buffer only while bytes are in
flight, and during HELLO the bytes received so far (at most 4 KiB for a real
hello).  So a stalled download is at most 1 + 2 x 16 KiB (asserted: under
40 KiB with the allocator's slack), a stalled hello 1 + 4 KiB (asserted:
under 8 KiB).  With splice the download's bytes sit in a kernel pipe, not
in halfpipe's RSS.  Run on the plain and copy variants: under ASan, RSS is
dominated by shadow memory and the free quarantine, not by halfpipe."""

import time

import pytest

import conftest
import netns
import peer as peerlib
from harness import (CLOSE, PROXY_CADDR, SERVER_ADDR, SNI, STRIP, WAIT_EOF, hello, poll_until,
                     send_pattern, workers_of, T)

N = 1000
BIG = 1024 * 1024
HELLO_TMO, IDLE_TMO = 8.0, 4.0
DOWNLOAD_MAX_KIB, HELLO_MAX_KIB = 40, 8

MEM_BINS = [b for b in conftest.BINARIES if b[0] in ("plain", "copy")]


@pytest.fixture(params=[b[1] for b in MEM_BINS], ids=[b[0] for b in MEM_BINS])
def mem_bin(request):
    return request.param


@pytest.mark.slow
def test_stalled_clients_bounded(topo, mem_bin):
    # 1,000 clients stop mid-ClientHello, then 1,000 more never read a 1 MiB
    # download: RSS growth per connection under its bound (printed); every
    # hello one ends with hello-timeout 8 s (+1 s) after its start, every
    # download with idle-timeout 4 s after its last progress (at most
    # twice that: progress is sampled at the deadline).
    server = topo.peer(topo.server, "server")
    sport = server.listen(SERVER_ADDR, [[STRIP, send_pattern(BIG, 9), WAIT_EOF]])
    hp = topo.halfpipe(mem_bin, ["--listen", "%s:0" % PROXY_CADDR,
                                 "--route", "%s=%s:%d" % (SNI, SERVER_ADDR, sport),
                                 "--hello-timeout", "%ds" % HELLO_TMO,
                                 "--connect-timeout", "10s", "--idle-timeout", "%ds" % IDLE_TMO,
                                 "--half-closed-timeout", "10s", "--drain-timeout", "1s"])
    fds0 = hp.wait_listeners(workers_of(mem_bin))
    rss0 = hp.rss_kb()
    client = topo.peer(topo.client, "client")
    to_client = (PROXY_CADDR, hp.port)

    def rss_settled():
        """RSS once it stopped moving (buffers fill, pages are touched, a
        little after the sockets look stalled)."""
        last = hp.rss_kb()
        for _ in range(30):
            time.sleep(0.2)
            now = hp.rss_kb()
            if now == last:
                break
            last = now
        return last

    # -- 1,000 clients stop 100 bytes into their hello
    part = peerlib.client_hello(SNI)[:100].hex()
    t_h = time.monotonic()
    client.connect(PROXY_CADDR, hp.port, [{"op": "send", "hex": part}], count=N)
    client.wait(ev="sent", n=N, timeout=10)

    def hellos_read():
        socks = netns.ss_sockets(topo.proxy)
        est = [s for s in socks if s[3] == to_client and s[0] == "ESTAB"]
        return len(est) >= N and all(s[1] == 0 for s in est)
    poll_until(hellos_read, 5, "halfpipe reading the partial hellos", step=0.1)
    rss1, fds1 = rss_settled(), hp.fds()

    # -- 1,000 downloads that the clients never read
    t_dl = time.monotonic()
    client.connect(PROXY_CADDR, hp.port, [hello(), {"op": "pause_read"}], count=N)
    server.wait(ev="hello", n=N, timeout=20)

    def stalled():
        socks = netns.ss_sockets(topo.proxy)
        full = [s for s in socks if s[3] == to_client and s[2] > 0]
        return len(full) >= N
    poll_until(stalled, 10, "%d downloads stalled (send queue to the client full)" % N,
               step=0.1)
    t_stalled = time.monotonic()
    rss2, fds2 = rss_settled(), hp.fds()
    t_measured = time.monotonic()
    assert t_measured - t_h < HELLO_TMO, \
        "measured too late: some connections may have timed out already"

    per_hello = (rss1 - rss0) * 1024 / N
    per_dl = (rss2 - rss1) * 1024 / N
    print("\nmemory[%s]: RSS %d -> %d KiB (+%d hellos stalled) -> %d KiB (+%d downloads "
          "stalled): %.0f B per stalled download, %.0f B per stalled hello, %.0f B per "
          "connection overall; fds %d -> %d -> %d" % (
              mem_bin.extra, rss0, rss1, N, rss2, N, per_dl, per_hello,
              (rss2 - rss0) * 1024 / (2 * N), fds0["total"], fds1["total"], fds2["total"]))
    assert per_dl < DOWNLOAD_MAX_KIB * 1024, "%.0f B per stalled download" % per_dl
    assert per_hello < HELLO_MAX_KIB * 1024, "%.0f B per stalled hello" % per_hello

    # -- all of them time out at their values, with their codes
    recs = hp.wait_log(n=2 * N, timeout=IDLE_TMO + 10)
    hellos = [r for r in recs if r["sni"] == "-"]
    dls = [r for r in recs if r["sni"] == SNI]
    assert len(hellos) == N and len(dls) == N, (len(hellos), len(dls))
    bad = [r for r in hellos if r["term"] != "hello-timeout" or
           not HELLO_TMO * 1000 <= int(r["duration_ms"]) <= (HELLO_TMO + T(1)) * 1000]
    assert not bad, "hello: %d wrong, e.g. %s" % (len(bad), bad[:3])
    # idle counts from the last progress, which came between the connect and
    # the moment all were seen stalled; acknowledgement progress is sampled
    # when the deadline comes (docs/design.md "Deadlines"), so progress seen
    # at the first look re-arms it once more: at most twice the timeout
    hi = (t_stalled - t_dl + 2 * IDLE_TMO + T(1)) * 1000
    durs = sorted(int(r["duration_ms"]) for r in dls)
    print("memory[%s]: downloads ended after %d..%d ms (median %d), stalled %.1fs after start" % (
        mem_bin.extra, durs[0], durs[-1], durs[len(durs) // 2], t_stalled - t_dl))
    bad = [r for r in dls if r["term"] != "idle-timeout" or
           not IDLE_TMO * 1000 <= int(r["duration_ms"]) <= hi]
    assert not bad, "download: %d wrong (want idle-timeout, %d..%d ms), e.g. %s" % (
        len(bad), IDLE_TMO * 1000, hi, bad[:3])
    netns.assert_no_lingering(topo.proxy, [to_client, (SERVER_ADDR, sport)], within=T(2))
    fds3 = hp.fds()
    assert fds3["socket"] == fds0["socket"], (fds0, fds3)


TRIM_S = 1      # src/worker.h WORKER_TRIM_MS
WARM, BURST = 20, 1000


@pytest.mark.slow
def test_memory_comes_back_after_a_burst(topo, mem_bin):
    # After a warm-up (each worker has served, so its allocator arena
    # exists), 1,000 downloads stall at once (the clients do not read, so
    # buffers or pipes fill), then every client closes. Once the burst is
    # over, halfpipe frees what its buffer pool kept and hands the free pages
    # back (worker.c on_trim(), every second): RSS is back within 5 % of
    # the warm idle RSS within two intervals of the last connection's end;
    # the build before the memory timer stayed 50 % above it.
    server = topo.peer(topo.server, "server")
    sport = server.listen(SERVER_ADDR, [[STRIP, send_pattern(BIG, 9), WAIT_EOF]])
    hp = topo.halfpipe(mem_bin, ["--listen", "%s:0" % PROXY_CADDR,
                                 "--route", "%s=%s:%d" % (SNI, SERVER_ADDR, sport),
                                 "--idle-timeout", "60s", "--half-closed-timeout", "10s",
                                 "--drain-timeout", "1s"])
    hp.wait_listeners(workers_of(mem_bin))
    client = topo.peer(topo.client, "client")
    client.connect(PROXY_CADDR, hp.port, [hello(), {"op": "wait_rx", "n": BIG}, CLOSE],
                   count=WARM)
    hp.wait_log(n=WARM, timeout=20)

    def settled():
        """RSS once two looks 0.3 s apart agree."""
        return poll_until(lambda: (hp.rss_kb(), time.sleep(0.3), hp.rss_kb()), 10,
                          "RSS settled", done=lambda v: v[0] == v[2])[2]
    rss_idle = settled()

    to_client = (PROXY_CADDR, hp.port)
    client.connect(PROXY_CADDR, hp.port, [hello(), {"op": "pause_read"}], count=BURST)
    server.wait(ev="hello", n=WARM + BURST, timeout=30)

    def stalled():
        socks = netns.ss_sockets(topo.proxy)
        return len([s for s in socks if s[3] == to_client and s[2] > 0]) >= BURST
    poll_until(stalled, 20, "%d downloads stalled" % BURST, step=0.1)
    rss_burst = hp.rss_kb()
    client.send(cmd="close_all")
    hp.wait_log(n=WARM + BURST, timeout=30)
    t_end = time.monotonic()
    # the bound: 5 %, half the goal's 10 % (issue 14): the build before one
    # arena for all workers kept ~140 KiB at the top of each worker's
    # arena, +9.9 % here on two workers (2268 -> 2492 KiB); this one +0.6 %
    bound = rss_idle * 1.05
    rss_back = poll_until(hp.rss_kb, 2 * TRIM_S + 1,
                          "RSS back within 5 %% of the warm idle %d KiB" % rss_idle,
                          done=lambda r: r <= bound, step=0.1)
    print("\nmemory[%s]: RSS %d KiB warm idle, %d KiB in the burst, %d KiB %.1f s after "
          "its end" % (mem_bin.extra, rss_idle, rss_burst, rss_back, time.monotonic() - t_end))
    # that the burst held memory at all (else nothing was measured): at least
    # 1 MiB more, in absolute terms since the idle RSS includes libcrypto's
    # pages (QUIC), ~1.7 MiB of it, which no burst changes
    assert rss_burst - rss_idle > 1024, "the burst did not hold memory: nothing measured"
