"""access-log-interval (docs/logging.md, "Lines while a session lasts"): a
line with event=connect when the relay starts, one with event=progress and
the bytes so far every interval while the session lasts, and the final line
as without it (no event key, its term). Both formats. With it off (the
default) no line but the final one: every other access-log test checks
that each line has exactly the keys of docs/logging.md.
"""

import json

import pytest

from harness import CLOSE, SHUT, STRIP, WAIT_EOF, hello, send_pattern
from procs import ACCESS_LOG_KEYS, parse_logfmt, poll_until

LO = "127.0.0.1"
INTERVAL_MS = 300


def _records(path, fmt):
    try:
        with open(path) as f:
            text = f.read()
    except FileNotFoundError:
        return []
    lines = text.split("\n")[:-1]
    if fmt == "json":
        out = []
        for line in lines:
            obj = json.loads(line)
            out.append({k: "-" if v is None else str(v) for k, v in obj.items()})
        return out
    return [parse_logfmt(line) for line in lines]


@pytest.mark.parametrize("fmt", ["logfmt", "json"])
def test_connect_and_progress_lines(loopback, hp_bin, fmt):
    topo = loopback
    server = topo.peer(None, "server")
    sport = server.listen(LO, [[STRIP, {"op": "wait_rx", "n": 3000}, WAIT_EOF, CLOSE]])
    hp = topo.halfpipe(hp_bin, ["--listen", "%s:0" % LO,
                                "--route", "*.example.test=%s:%d" % (LO, sport),
                                "--access-log-format", fmt,
                                "--access-log-interval", "%dms" % INTERVAL_MS])
    client = topo.peer(None, "client")
    client.connect(LO, hp.port, [hello("long.example.test"), send_pattern(1000, 1),
                                 {"op": "wait", "tag": "a"}, send_pattern(2000, 2),
                                 {"op": "wait", "tag": "b"}, SHUT, WAIT_EOF, CLOSE])

    def wait(pred, what):
        return poll_until(lambda: [r for r in _records(hp.log_path, fmt) if pred(r)], 10,
                          what, done=bool)[0]

    conn = wait(lambda r: r.get("event") == "connect", "the connect line")
    assert list(conn) == ACCESS_LOG_KEYS + ["event"], list(conn)
    assert conn["term"] == "-" and conn["backend"] == "%s:%d" % (LO, sport)
    assert conn["sni"] == "long.example.test" and conn["connect_ms"] != "-"
    hb = int(conn["hello_bytes"])
    wait(lambda r: r.get("event") == "progress" and int(r["c2s_bytes"]) == hb + 1000,
         "a progress line with the first 1000 bytes")
    client.signal("a")
    wait(lambda r: r.get("event") == "progress" and int(r["c2s_bytes"]) == hb + 3000,
         "a progress line with 3000 bytes")
    client.signal("b")
    final = wait(lambda r: "event" not in r, "the final line")
    client.wait(ev="eof")
    recs = _records(hp.log_path, fmt)
    assert list(final) == ACCESS_LOG_KEYS and final["term"] == "client-fin", final
    assert int(final["c2s_bytes"]) == hb + 3000
    assert recs[0] == conn and recs[-1] == final
    progress = [r for r in recs if r.get("event") == "progress"]
    assert len(recs) == len(progress) + 2, recs
    assert {r["id"] for r in recs} == {conn["id"]}
    assert all(r["term"] == "-" and r["client_tcp"] == "-" for r in progress)
    # one every interval (the loop's clock: at least INTERVAL_MS apart, the
    # first one after the connect line), bytes never going back, and no
    # more lines than the session's length allows
    d = [int(conn["duration_ms"])] + [int(r["duration_ms"]) for r in progress]
    gaps = [b - a for a, b in zip(d, d[1:])]
    assert all(g >= INTERVAL_MS for g in gaps), gaps
    assert len(progress) <= int(final["duration_ms"]) // INTERVAL_MS, (d, final)
    c2s = [int(r["c2s_bytes"]) for r in progress]
    assert c2s == sorted(c2s)
