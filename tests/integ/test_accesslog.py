"""The access log is written in batches (src/accesslog.h ACCESS_FLUSH_MS,
ACCESS_BUF): many lines per write(), each line within its bound, every line
before halfpipe exits (docs/logging.md)."""

import time

from harness import (CLOSE, PROXY_CADDR, SERVER_ADDR, SHUT, SNI, STRIP, WAIT_EOF, assert_term,
                     hello, send_pattern, workers_of)

N = 300
FLUSH_S = 0.1           # src/accesslog.h ACCESS_FLUSH_MS
BUF = 32 * 1024         # src/accesslog.h ACCESS_BUF


def _syscw(pid):
    """write()-family system calls the process has made (/proc/PID/io;
    send() and splice() are not counted there, the log's write() is)."""
    with open("/proc/%d/io" % pid) as f:
        for line in f:
            if line.startswith("syscw:"):
                return int(line.split()[1])
    raise AssertionError("no syscw in /proc/%d/io" % pid)


def _serve(topo, hp_bin):
    server = topo.peer(topo.server, "server")
    sport = server.listen(SERVER_ADDR, [[STRIP, send_pattern(1024, 3), WAIT_EOF, CLOSE]])
    hp = topo.halfpipe(hp_bin, ["--listen", "%s:0" % PROXY_CADDR,
                                "--route", "%s=%s:%d" % (SNI, SERVER_ADDR, sport),
                                "--drain-timeout", "2s"])
    return server, hp


def test_access_log_lines_are_written_in_batches(topo, hp_bin):
    # 300 short connections: all 300 lines, each once, in at most one
    # write() per worker and flush interval, plus one per full buffer (the
    # build that flushed after every turn that wrote a line made 83 for
    # 300 lines in about a second on two workers, where this bound is ~27)
    server, hp = _serve(topo, hp_bin)
    pid = hp.check_pid()
    w0, t0 = _syscw(pid), time.monotonic()
    client = topo.peer(topo.client, "client")
    client.connect(PROXY_CADDR, hp.port, [hello(), {"op": "wait_rx", "n": 1024}, SHUT,
                                          WAIT_EOF, CLOSE], count=N)
    recs = hp.wait_log(n=N, timeout=30)
    writes, took = _syscw(pid) - w0, time.monotonic() - t0
    assert len(recs) == N and len({r["id"] for r in recs}) == N, "lines lost or doubled"
    assert_term(recs, "client-fin")
    size = sum(len(line) for line in open(hp.log_path)) + 1
    bound = workers_of(hp_bin) * (int(took / FLUSH_S) + 2) + size // BUF + 1
    print("\naccesslog[%s]: %d lines in %d write()s over %.2f s (bound %d)" % (
        hp_bin.extra, N, writes, took, bound))
    assert writes <= bound, "%d write() calls for %d lines in %.2f s (at most %d): not batched" % (
        writes, N, took, bound)


def test_access_log_is_complete_at_exit(topo, hp_bin):
    # connections end and halfpipe is stopped at once, inside the flush
    # interval: every line is in the file when it has exited
    server, hp = _serve(topo, hp_bin)
    client = topo.peer(topo.client, "client")
    n = 50
    client.connect(PROXY_CADDR, hp.port, [hello(), {"op": "wait_rx", "n": 1024}, SHUT,
                                          WAIT_EOF, CLOSE], count=n)
    client.wait(ev="eof", n=n, timeout=30)
    hp.stop()
    recs = hp.log()
    assert len(recs) == n, "%d of %d lines in the log after exit" % (len(recs), n)
