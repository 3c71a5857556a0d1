"""Connection limits: max-conns (the process), listener-max-conns (one
listener block) and max-conns-per-source (one client address).  Clients
hold connections up to a limit; the ones beyond it are reset at accept,
promptly, counted by limit and logged at most once a second per worker;
the held ones complete byte-exact; once they end, new ones are served."""

import re
import time

from harness import (CLOSE, PROXY_CADDR, SERVER_ADDR, SHUT, SNI, STRIP, WAIT_EOF, assert_bytes,
                     ended, hello, pattern, poll_until, sha, send_pattern, wait_tag, workers_of,
                     T)

UP, DOWN = 32 * 1024, 64 * 1024
PROMPT = 1.0                # a refused client sees its reset within this, seconds
LIMIT_LINE = r"connection limit reached"
OPTS = ["--hello-timeout", "10s", "--connect-timeout", "10s", "--idle-timeout", "30s",
        "--half-closed-timeout", "5s", "--drain-timeout", "1s"]
CLIENT2 = "198.18.1.3"      # a second client source address


def _start(topo, hp_bin, args, nlisten=1):
    server = topo.peer(topo.server, "server")
    sport = server.listen(SERVER_ADDR, [[STRIP, WAIT_EOF, send_pattern(DOWN, 7), CLOSE]])
    route = ["--route", "%s=%s:%d" % (SNI, SERVER_ADDR, sport)]
    argv = []
    for a in args:                      # every --listen gets the route
        argv += route if a == "ROUTE" else [a]
    hp = topo.halfpipe(hp_bin, argv + OPTS, nlisten=nlisten)
    hp.wait_listeners(workers_of(hp_bin) * nlisten)
    return server, hp, topo.peer(topo.client, "client")


def _ask(client, port, script, count=1, src=None):
    """Connect count clients; their ids (the client peer numbers its
    connections 1, 2, ... in the order asked)."""
    first = getattr(client, "asked", 0) + 1
    client.asked = first - 1 + count
    client.connect(PROXY_CADDR, port, script, count=count, src=src)
    return list(range(first, first + count))


def _hold(client, port, n, seed, src=None):
    """n clients that send a hello, wait for "release", then send, half-close
    and read to the end; their ids."""
    ids = []
    for i in range(n):
        ids += _ask(client, port, [hello(), wait_tag("release"), send_pattern(UP, seed + i),
                                   SHUT, WAIT_EOF, CLOSE], src=src)
    return ids


def _refused(client, port, k, src=None):
    """k clients that only wait: each must be reset within PROMPT seconds
    (a served one would sit in the hello phase for 10 s)."""
    t0 = time.monotonic()
    ids = set(_ask(client, port, [WAIT_EOF], count=k, src=src))
    ends = poll_until(lambda: [e for e in client.find(pred=ended) if e["conn"] in ids], PROMPT,
                      "%d refused clients reset" % k, done=lambda es: len(es) == k, step=0.01,
                      since=t0, fail=False)
    elapsed = time.monotonic() - t0
    assert len(ends) == k, "%d of %d clients over the limit were not reset within %.1fs: %s" % (
        k - len(ends), k, T(PROMPT), client.events[-2 * k:])
    bad = [e for e in ends if e["ev"] != "rst" and e.get("err") != "ECONNRESET"]
    assert not bad, "clients over the limit saw %s, not a reset" % bad[:3]
    assert all(e.get("rx", 0) == 0 for e in ends), "a refused client got bytes"
    return elapsed


def _release_and_check(client, server, hp, held, seeds):
    """Let the held clients finish; each must be byte-exact both ways."""
    client.signal("release")
    evs = server.wait(ev="eof", n=len(held), timeout=20)
    assert sorted(e["sha256"] for e in evs) == sorted(sha(pattern(UP, s)) for s in seeds)
    for c in held:
        assert_bytes(client.wait(ev="eof", conn=c, timeout=20)[0], pattern(DOWN, 7),
                     "held conn %d" % c)
    hp.wait_log(pred=lambda r: r["term"] == "client-fin", n=len(held), timeout=10)


def _served(client, server, hp, port, n, seed, src=None, done=0):
    """n new clients, served byte-exact (done: client-fin lines so far)."""
    ids = []
    for i in range(n):
        ids += _ask(client, port, [hello(), send_pattern(UP, seed + i), SHUT, WAIT_EOF, CLOSE],
                    src=src)
    for c in ids:
        ev = client.wait(pred=ended, conn=c, timeout=20)[0]
        assert_bytes(ev, pattern(DOWN, 7), "conn %d after the limit" % c)
    hp.wait_log(pred=lambda r: r["term"] == "client-fin", n=done + n, timeout=10)


def _log_checks(hp, hp_bin, refused, seconds, directive):
    """Rate-limited lines that name the limit and carry the process-wide
    count, the last one the whole of it."""
    workers = workers_of(hp_bin)
    want = "(%d so far" % refused
    hp.wait_stderr(re.escape(want), timeout=3)
    lines = [ln for ln in hp.stderr_text().splitlines() if re.search(LIMIT_LINE, ln)]
    print("limits[%s]: %d refused in %.2fs, %d lines, last: %s" % (
        hp_bin.extra, refused, seconds, len(lines), lines[-1:]))
    assert lines, "no connection-limit line on stderr"
    assert any(want in ln for ln in lines), "no line says %r: %s" % (want, lines[-3:])
    assert any("(%s " % directive in ln for ln in lines), "no line names %s: %s" % (
        directive, lines[:3])
    # the workers write their lines apart, so the fullest count may not be
    # the last line printed: look at the line that carries it
    full = [ln for ln in lines if want in ln]
    assert re.search(r"%d %s\b" % (refused, re.escape(directive)), full[-1]), (
        "the fullest line does not count %d by %s: %s" % (refused, directive, full[-1]))
    # at most one immediate line and one summing-up line per worker and second
    limit = 2 * workers * (int(seconds) + 2)
    assert len(lines) <= limit, "%d limit lines (at most %d): once per second and worker" % (
        len(lines), limit)
    counts = [int(m.group(1)) for m in map(re.compile(r"\((\d+) so far").search, lines) if m]
    assert max(counts) == refused and all(0 < c <= refused for c in counts), counts


def test_max_conns(topo, hp_bin):
    # max-conns 4: 4 clients hold, 12 more are reset within 1 s (over two
    # bursts), logged a few times rather than 12, with a count of 12; the
    # held ones finish byte-exact; then new ones are served again.
    n, k = 4, 12
    server, hp, client = _start(topo, hp_bin, ["--max-conns", str(n), "--listen",
                                               "%s:0" % PROXY_CADDR, "ROUTE"])
    held = _hold(client, hp.port, n, 100)
    server.wait(ev="hello", n=n, timeout=10)
    t0 = time.monotonic()
    e1 = _refused(client, hp.port, k // 2)
    e2 = _refused(client, hp.port, k // 2)
    print("limits[%s]: resets after %.3fs and %.3fs" % (hp_bin.extra, e1, e2))
    assert len(server.find(ev="accepted")) == n, "a refused client reached the server"
    _log_checks(hp, hp_bin, k, time.monotonic() - t0, "max-conns")
    _release_and_check(client, server, hp, held, range(100, 100 + n))
    _served(client, server, hp, hp.port, n, 500, done=n)


def test_listener_max_conns(topo, hp_bin):
    # two listeners, the first with listener-max-conns 2: its third client is
    # reset, while the second listener takes 4 at once; the first serves
    # again once its clients are done.
    server, hp, client = _start(topo, hp_bin, [
        "--listen", "%s:0" % PROXY_CADDR, "ROUTE", "--listener-max-conns", "2",
        "--listen", "%s:0" % PROXY_CADDR, "ROUTE"], nlisten=2)
    p1, p2 = hp.addrs[0][1], hp.addrs[1][1]
    held = _hold(client, p1, 2, 200)
    server.wait(ev="hello", n=2, timeout=10)
    held += _hold(client, p2, 4, 202)
    server.wait(ev="hello", n=6, timeout=10)
    t0 = time.monotonic()
    _refused(client, p1, 3)
    _log_checks(hp, hp_bin, 3, time.monotonic() - t0, "listener-max-conns")
    _release_and_check(client, server, hp, held, range(200, 206))
    _served(client, server, hp, p1, 2, 600, done=6)


def test_max_conns_per_source(topo, hp_bin):
    # max-conns-per-source 2: a third client from 198.18.1.1 is reset, while
    # 198.18.1.3 gets its own 2; then 198.18.1.1 is served again.
    topo.add_client_addr(CLIENT2)
    server, hp, client = _start(topo, hp_bin, ["--max-conns-per-source", "2", "--listen",
                                               "%s:0" % PROXY_CADDR, "ROUTE"])
    held = _hold(client, hp.port, 2, 300)
    server.wait(ev="hello", n=2, timeout=10)
    t0 = time.monotonic()
    _refused(client, hp.port, 3)
    held += _hold(client, hp.port, 2, 302, src=CLIENT2)
    server.wait(ev="hello", n=4, timeout=10)
    assert len(server.find(ev="accepted")) == 4
    _refused(client, hp.port, 1, src=CLIENT2)
    _log_checks(hp, hp_bin, 4, time.monotonic() - t0, "max-conns-per-source")
    _release_and_check(client, server, hp, held, range(300, 304))
    srcs = sorted(r["client"].rsplit(":", 1)[0] for r in hp.log())
    assert srcs == ["198.18.1.1"] * 2 + [CLIENT2] * 2, srcs
    _served(client, server, hp, hp.port, 2, 700, done=4)
    _served(client, server, hp, hp.port, 2, 800, src=CLIENT2, done=6)
