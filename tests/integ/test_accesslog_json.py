"""access-log-format json (src/accesslog.c, docs/logging.md): one JSON
object per line with the keys of the logfmt line, in the same order, with
the same values (a number as a JSON number, none, logfmt's "-", as null).

Two halfpipes, one per format, serve the same connections one after the
other (so the ids agree): relayed with ALPN, rejected for no route, without
SNI, with an SNI holding a quote and a backslash (a shared vector with its
name replaced, same length), and the shared vectors whose SNI is hostile
(NUL, CR LF, raw UTF-8, DEL, space: malformed). Every JSON line parses with
Python's json module; the values that do not depend on the instance or the
clock are equal; the others are null exactly where logfmt has "-".
"""

import json
import os

from harness import CLOSE, SHUT, STRIP, VECTORS, WAIT_EOF, hello, send_pattern
from procs import ACCESS_LOG_KEYS, parse_logfmt, poll_until

LO = "127.0.0.1"
NUMBERS = {"id", "hello_bytes", "hello_reads", "c2s_bytes", "s2c_bytes", "connect_ms",
           "duration_ms", "close_lag_ms", "attempts"}
# the listen port, the client's port, times: differ between the instances
PER_INSTANCE = {"ts", "listener", "client", "connect_ms", "duration_ms", "close_lag_ms"}
HOSTILE = ["sni-bad-byte-nul-inside", "sni-bad-byte-nul-terminated", "sni-bad-byte-newline",
           "sni-bad-byte-space", "sni-bad-byte-utf8-raw", "sni-bad-byte-del-byte"]
QUOTED_SNI = 'a"b\\cd.example'     # 14 bytes of printable ASCII: legal, byte-wise


def _vector(name):
    with open(os.path.join(VECTORS, "crafted", name + ".bin"), "rb") as f:
        return f.read()


def _quoted_hello():
    """The shared base vector (SNI a.example.test) with the name replaced by
    QUOTED_SNI, of the same length: no length field changes."""
    raw = _vector("base-tls13-sni-alpn")
    old, new = b"a.example.test", QUOTED_SNI.encode()
    assert len(new) == len(old) and raw.count(old) == 1
    return raw.replace(old, new)


def _scripts():
    """(what, client script) of each connection, in order."""
    out = [("relayed", [hello("j1.example.test", alpn=["h2", "http/1.1"]),
                        send_pattern(3000, 7), {"op": "wait_rx", "n": 500}, SHUT,
                        WAIT_EOF, CLOSE]),
           ("no-route", [hello("nowhere.test"), SHUT, WAIT_EOF, CLOSE]),
           ("no-sni", [{"op": "send", "hex": _vector("sni-absent").hex()}, SHUT, WAIT_EOF,
                       CLOSE]),
           ("quoted", [{"op": "send", "hex": _quoted_hello().hex()}, SHUT, WAIT_EOF, CLOSE])]
    for name in HOSTILE:
        out.append((name, [{"op": "send", "hex": _vector(name).hex()}, SHUT, WAIT_EOF,
                           CLOSE]))
    return out


def _read(path):
    with open(path) as f:
        text = f.read()
    return text.split("\n")[:-1]


def test_json_lines_have_the_logfmt_keys_and_values(loopback, hp_bin):
    topo = loopback
    server = topo.peer(None, "server")
    # the client's FIN first, always: first_close is the same in both
    sport = server.listen(LO, [[STRIP, {"op": "wait_rx", "n": 3000}, send_pattern(500, 8),
                                WAIT_EOF, CLOSE]])
    hps = {}
    for fmt in ("logfmt", "json"):
        hps[fmt] = topo.halfpipe(hp_bin, ["--listen", "%s:0" % LO,
                                          "--route", "*.example.test=%s:%d" % (LO, sport),
                                          "--access-log-format", fmt])
    scripts = _scripts()
    client = topo.peer(None, "client")
    for fmt, hp in hps.items():
        for i, (_, script) in enumerate(scripts):
            client.connect(LO, hp.port, script)     # one at a time: ids in order
            poll_until(lambda: len(_read(hp.log_path)), 10,
                       "%s line %d" % (fmt, i + 1), done=lambda n: n == i + 1)
    text = _read(hps["logfmt"].log_path)
    objs = [json.loads(line) for line in _read(hps["json"].log_path)]
    recs = [parse_logfmt(line) for line in text]
    assert len(objs) == len(recs) == len(scripts)
    for (what, _), rec, obj in zip(scripts, recs, objs):
        assert list(rec) == ACCESS_LOG_KEYS, what
        assert list(obj) == ACCESS_LOG_KEYS, (what, obj)
        for k in ACCESS_LOG_KEYS:
            v = obj[k]
            if rec[k] == "-":
                assert v is None, (what, k, v)
                continue
            assert v is not None, (what, k)
            if k in NUMBERS:
                assert type(v) is int and v >= 0, (what, k, v)
            else:
                assert isinstance(v, str), (what, k, v)
            if k not in PER_INSTANCE:
                assert str(v) == rec[k], (what, k, v, rec[k])
    by = {what: obj for (what, _), obj in zip(scripts, objs)}
    assert by["relayed"]["sni"] == "j1.example.test"
    assert by["relayed"]["alpn"] == "h2,http/1.1"
    assert by["relayed"]["c2s_bytes"] > 3000 and by["relayed"]["s2c_bytes"] == 500
    assert by["relayed"]["backend"] == "%s:%d" % (LO, sport)
    assert by["no-route"]["term"] == "no-route" and by["no-route"]["backend"] is None
    assert by["no-sni"]["sni"] is None
    assert by["quoted"]["sni"] == QUOTED_SNI and by["quoted"]["term"] == "no-route"
    raw = _read(hps["json"].log_path)[3]
    assert '"sni":"a\\"b\\\\cd.example"' in raw, raw
    for name in HOSTILE:
        assert by[name]["term"] == "malformed" and by[name]["sni"] is None, by[name]
    # nothing but printable ASCII in the file
    data = open(hps["json"].log_path, "rb").read()
    assert all(0x20 <= b < 0x7f or b == 0x0a for b in data)
