"""The metrics endpoint (docs/metrics.md), scraped from inside the proxy
namespace during the close scenarios: the phase gauges and the TCP state
census follow half-closed connections, the totals count how they ended, the
byte counters match a transfer, the histograms count every connection; a
path other than /metrics gets 404; and with no `metrics` line nothing more
listens."""

import re

import pytest

import netns
from harness import (CLOSE, SERVER_ADDR, SHUT, SNI, STRIP, WAIT_EOF, Relay, assert_term,
                     hello, one, pattern, poll_until, send_pattern, workers_of)

N = 20
# The half-closed timeout of the two half-closed scenarios: long enough that
# a slow machine still sees the 20 connections half-closed before it fires
# (at 2 s a CI run once scraped only after it had fired).
HALF = 5.0
HALF_OPTS = {"half-closed-timeout": "%ds" % HALF}
METRICS = ["--metrics", "127.0.0.1:0"]

SCRAPE = r"""
import sys, urllib.request, urllib.error
try:
    r = urllib.request.urlopen("http://127.0.0.1:%s%s" % (sys.argv[1], sys.argv[2]), timeout=5)
    sys.stdout.write("%d\n" % r.status + r.read().decode())
except urllib.error.HTTPError as e:
    sys.stdout.write("%d\n" % e.code + e.read().decode())
"""

SAMPLE = re.compile(r'^([a-z_]+)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-z_]+)="((?:[^"\\]|\\.)*)"')


def metrics_port(r):
    line = r.hp.wait_stderr(r"serving metrics on 127\.0\.0\.1:\d+")
    return int(line.rsplit(":", 1)[1])


def scrape(topo, port, path="/metrics"):
    """(status, body) of GET path, asked from inside the proxy namespace."""
    out = netns.run(["python3", "-c", SCRAPE, str(port), path], ns=topo.proxy).stdout.decode()
    status, _, body = out.partition("\n")
    return int(status), body


def parse(body):
    """{(name, ((label, value), ...)): float}, checking the HELP/TYPE lines:
    every sample's family is declared once, before its samples."""
    samples, typed = {}, {}
    for line in body.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            assert name not in typed, "family %s declared twice" % name
            typed[name] = kind
            continue
        if line.startswith("# HELP "):
            continue
        m = SAMPLE.match(line)
        assert m, "not a sample line: %r" % line
        name, labels, value = m.groups()
        family = re.sub(r"_(bucket|sum|count)$", "", name) if name not in typed else name
        assert family in typed, "%s has no TYPE line before it" % name
        key = (name, tuple(sorted(LABEL.findall(labels or ""))))
        assert key not in samples, "duplicate sample %s" % (key,)
        samples[key] = float(value)
    return samples


def get(samples, name, **labels):
    return samples[(name, tuple(sorted(labels.items())))]


def wait_metrics(topo, port, pred, timeout, what):
    """Scrape until pred(samples) holds; return the samples."""
    def body():
        status, text = scrape(topo, port)
        assert status == 200, (status, text)
        return text
    return parse(poll_until(body, timeout, what, done=lambda text: pred(parse(text)), step=0.1))


def hist_count(s, name):
    inf = get(s, name + "_bucket", le="+Inf")
    assert inf == get(s, name + "_count"), name
    return get(s, name + "_count")


@pytest.mark.slow
def test_client_half_closed_server_silent(topo, hp_bin):
    # 20 clients half-close, the server reads to EOF and stays silent: the
    # gauge says 20 half-closed client->server, and within ~2 s the census
    # says 20 of halfpipe's sockets in FIN_WAIT_2 (server side) and 20 in
    # CLOSE_WAIT (client side); after half-closed-timeout (HALF) all of them
    # are 0 and 20 connections ended with term=half-closed-timeout; the
    # histograms counted 20 hellos, 20 connects and 20 durations (>= HALF).
    r = Relay(topo, hp_bin, [[STRIP, WAIT_EOF]], opts=HALF_OPTS, extra=METRICS)
    port = metrics_port(r)
    r.connect([hello(), SHUT, WAIT_EOF], count=N)
    r.client.wait(ev="shut", n=N, timeout=20)
    r.server.wait(ev="eof", n=N, timeout=10)
    s = wait_metrics(
        topo, port, lambda s: (
            get(s, "halfpipe_connections", phase="half-closed-c2s") == N and
            get(s, "halfpipe_tcp_sockets", state="FIN_WAIT_2") == N and
            get(s, "halfpipe_tcp_sockets", state="CLOSE_WAIT") == N),
        HALF - 1, "20 half-closed, 20 FIN_WAIT_2, 20 CLOSE_WAIT")
    for phase in ("hello", "connecting", "open", "half-closed-s2c", "closing"):
        assert get(s, "halfpipe_connections", phase=phase) == 0, phase
    assert get(s, "halfpipe_tcp_oldest_seconds", state="FIN_WAIT_2") <= HALF + 1
    assert get(s, "halfpipe_connections_total", term="half-closed-timeout") == 0
    assert hist_count(s, "halfpipe_hello_size_bytes") == N
    assert hist_count(s, "halfpipe_backend_connect_seconds") == N
    assert hist_count(s, "halfpipe_connection_duration_seconds") == 0

    recs = r.hp.wait_log(n=N, timeout=10)
    assert_term(recs, "half-closed-timeout")
    s = wait_metrics(
        topo, port, lambda s: (
            get(s, "halfpipe_tcp_sockets", state="FIN_WAIT_2") == 0 and
            get(s, "halfpipe_tcp_sockets", state="CLOSE_WAIT") == 0),
        2.5, "census back to 0 after the half-closed timeout")
    assert sum(v for (n, _), v in s.items() if n == "halfpipe_connections") == 0
    assert get(s, "halfpipe_connections_total", term="half-closed-timeout") == N
    assert sum(v for (n, _), v in s.items() if n == "halfpipe_connections_total") == N
    assert get(s, "halfpipe_tcp_oldest_seconds", state="FIN_WAIT_2") == 0
    assert hist_count(s, "halfpipe_connection_duration_seconds") == N
    assert get(s, "halfpipe_connection_duration_seconds_bucket", le="1") == 0
    assert get(s, "halfpipe_connection_duration_seconds_sum") >= N * HALF
    hello_sum = sum(int(rec["hello_bytes"]) for rec in recs)
    assert get(s, "halfpipe_hello_size_bytes_sum") == hello_sum


@pytest.mark.slow
def test_server_half_closed_client_silent(topo, hp_bin):
    # the mirror: the server half-closes, the clients read the EOF and stay
    # silent: half-closed s2c; FIN_WAIT_2 now on the client side, CLOSE_WAIT
    # on the server side; then 0 and 20 half-closed-timeout.
    r = Relay(topo, hp_bin, [[STRIP, SHUT]], opts=HALF_OPTS, extra=METRICS)
    port = metrics_port(r)
    r.connect([hello(), WAIT_EOF], count=N)
    r.client.wait(ev="eof", n=N, timeout=10)
    wait_metrics(
        topo, port, lambda s: (
            get(s, "halfpipe_connections", phase="half-closed-s2c") == N and
            get(s, "halfpipe_tcp_sockets", state="FIN_WAIT_2") == N and
            get(s, "halfpipe_tcp_sockets", state="CLOSE_WAIT") == N),
        HALF - 1, "20 half-closed s2c, 20 FIN_WAIT_2, 20 CLOSE_WAIT")
    r.hp.wait_log(n=N, timeout=10)
    s = wait_metrics(
        topo, port, lambda s: get(s, "halfpipe_tcp_sockets", state="FIN_WAIT_2") == 0,
        2.5, "census back to 0")
    assert get(s, "halfpipe_connections", phase="half-closed-s2c") == 0
    assert get(s, "halfpipe_connections_total", term="half-closed-timeout") == N


def test_bytes_per_route_and_backend(topo, hp_bin):
    # 300 KB up and 200 KB down through one route, both closing cleanly:
    # the byte counters of the backend and of the route say what the access
    # log says, and what the peers received; the connection is counted once.
    up, down = pattern(300000, 41), pattern(200000, 42)
    r = Relay(topo, hp_bin, [[STRIP, send_pattern(len(down), 42), SHUT, WAIT_EOF, CLOSE]],
              extra=METRICS)
    port = metrics_port(r)
    r.connect([hello(), send_pattern(len(up), 41), SHUT, WAIT_EOF, CLOSE])
    rec = one(r.hp.wait_log(n=1, timeout=20))
    assert_term([rec], "client-fin", "server-fin")
    assert int(rec["s2c_bytes"]) == len(down)
    c2s = int(rec["c2s_bytes"])
    assert c2s == len(up) + int(rec["hello_bytes"])
    status, body = scrape(topo, port)
    assert status == 200
    s = parse(body)
    be = "%s:%d" % (SERVER_ADDR, r.sport)
    assert get(s, "halfpipe_backend_bytes_total", backend=be, direction="c2s") == c2s
    assert get(s, "halfpipe_backend_bytes_total", backend=be, direction="s2c") == len(down)
    lst = [k for k in s if k[0] == "halfpipe_route_bytes_total"]
    assert len(lst) == 2, lst
    labels = dict(lst[0][1])
    assert labels["route"] == SNI and labels["backend"] == be and labels["alpn"] == ""
    base = {k: v for k, v in labels.items() if k != "direction"}
    assert get(s, "halfpipe_route_bytes_total", direction="c2s", **base) == c2s
    assert get(s, "halfpipe_route_bytes_total", direction="s2c", **base) == len(down)
    assert sum(v for (n, _), v in s.items() if n == "halfpipe_connections_total") == 1
    assert hist_count(s, "halfpipe_backend_connect_seconds") == 1
    assert hist_count(s, "halfpipe_connection_duration_seconds") == 1


def test_not_found_and_bad_requests(topo, hp_bin):
    # only GET /metrics is served: another path gets 404, a query string is
    # ignored; the process keeps serving afterwards.
    r = Relay(topo, hp_bin, [[STRIP, WAIT_EOF]], extra=METRICS)
    port = metrics_port(r)
    assert scrape(topo, port, "/")[0] == 404
    assert scrape(topo, port, "/metrics/x")[0] == 404
    assert scrape(topo, port, "/metricsx")[0] == 404
    status, body = scrape(topo, port, "/metrics?name=x")
    assert status == 200 and "halfpipe_connections_total" in body
    assert scrape(topo, port)[0] == 200


def test_off_by_default(topo, hp_bin):
    # without --metrics nothing but the relay's listeners listens, and no
    # `serving metrics` line is printed.
    r = Relay(topo, hp_bin, [[STRIP, WAIT_EOF]])
    r.hp.wait_listeners(workers_of(hp_bin))     # exactly one socket per worker
    listening = [l for l in netns.run(["ss", "-tlnH"], ns=topo.proxy).stdout.decode()
                 .splitlines() if l.strip()]
    ports = {int(l.split()[3].rsplit(":", 1)[1]) for l in listening}
    assert ports == {r.port}, listening
    assert r.hp.stderr_count(r"metrics") == 0
