"""Shared set-up for the namespace scenarios: a raw server peer behind
halfpipe, a raw client peer in front of it, and the checks every scenario
makes (bytes and hashes, access-log term codes, no lingering sockets)."""

import hashlib
import os

import netns
from netns import CLIENT_ADDR, PROXY_CADDR, SERVER_ADDR, T  # noqa: F401
import peer as peerlib
from procs import poll_until  # noqa: F401

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VECTORS = os.path.join(REPO, "tests", "vectors", "clienthello")   # ../shared's, copied

SNI = "a.example.test"
MIB = 1024 * 1024

ALERT_UNRECOGNIZED_NAME = bytes.fromhex("15030300020270")
ALERT_DECODE_ERROR = bytes.fromhex("15030300020232")

# Timeouts the scenarios run with unless they say otherwise: the half-closed
# timeout is the one under test most of the time; the others are long enough
# never to fire by accident.
DEFAULT_OPTS = {
    "hello-timeout": "10s",
    "connect-timeout": "10s",
    "idle-timeout": "60s",
    "half-closed-timeout": "2s",
    "drain-timeout": "1s",
}


def sha(data):
    return hashlib.sha256(data).hexdigest()


def pattern(n, seed):
    """The bytes a peer sends for {"op": "send", "pattern": n, "seed": seed}."""
    return peerlib.pattern(n, seed)


def hello(sni=SNI, **kw):
    d = {"op": "send", "hello": sni}
    d.update(kw)
    return d


def send_pattern(n, seed):
    return {"op": "send", "pattern": n, "seed": seed}


STRIP = {"op": "strip_hello"}
SHUT = {"op": "shut_wr"}
WAIT_EOF = {"op": "wait_eof"}
CLOSE = {"op": "close"}
RST = {"op": "rst"}


def wait_tag(tag):
    return {"op": "wait", "tag": tag}


class Relay:
    """server peer (server ns) <- halfpipe (proxy ns) <- client peer (client ns)."""

    def __init__(self, topo, hp_bin, server_scripts, opts=None, extra=(), routes=None):
        self.topo = topo
        self.server = topo.peer(topo.server, "server")
        self.sport = self.server.listen(SERVER_ADDR, server_scripts)
        o = dict(DEFAULT_OPTS)
        o.update(opts or {})
        args = ["--listen", "%s:0" % PROXY_CADDR]
        for name, be in (routes or {SNI: "%s:%d" % (SERVER_ADDR, self.sport)}).items():
            args += ["--route", "%s=%s" % (name, be)]
        for k, v in o.items():
            args += ["--" + k, v]
        args += list(extra)
        self.hp = topo.halfpipe(hp_bin, args)
        self.port = self.hp.port
        self.client = topo.peer(topo.client, "client")
        self.backend = "%s:%d" % (SERVER_ADDR, self.sport)

    def connect(self, script, count=1):
        self.client.connect(PROXY_CADDR, self.port, script, count)

    def endpoints(self):
        """The proxy's sockets: client-facing (listen port) and server-facing."""
        return [(PROXY_CADDR, self.port), (SERVER_ADDR, self.sport)]

    def assert_no_lingering(self, deadline, what=""):
        netns.assert_no_lingering(self.topo.proxy, self.endpoints(), deadline=deadline,
                                  what=what)


def workers_of(hp_bin):
    """How many workers the variant hp_bin runs (its --workers, else auto:
    one per CPU)."""
    extra = list(getattr(hp_bin, "extra", []))
    if "--workers" in extra:
        return int(extra[extra.index("--workers") + 1])
    return len(os.sched_getaffinity(0))


def one(events):
    assert len(events) == 1, events
    return events[0]


def assert_bytes(ev, data, what):
    """ev (an eof/rst/rx event) carries exactly data."""
    assert (ev["rx"], ev["sha256"]) == (len(data), sha(data)), (
        "%s: got %d bytes (sha256 %s, starting %s), want %d bytes (sha256 %s)" % (
            what, ev["rx"], ev["sha256"][:16], ev["head"][:32], len(data), sha(data)[:16]))


def assert_term(records, *terms):
    bad = [r for r in records if r.get("term") not in terms]
    assert not bad, "term not in %s: %s" % (terms, bad[:3])


def no_events(p, *evs):
    hits = [e for e in p.events if e.get("ev") in evs]
    assert not hits, "%s: unexpected %s" % (p.name, hits[:3])


# -- how a connection ends, as a peer (peer.py) reports it --------------------

RX_ENDS = ("eof", "rst", "rx_error")        # rx_ended()
ENDS = RX_ENDS + ("connect_error",)         # ended()


def rx_ended(e):
    """Peer event e ends what its connection receives: a clean EOF ("eof"),
    a reset ("rst": ECONNRESET from recv(), or a polled SO_ERROR after
    watch_rst) or another recv() error ("rx_error").  The first of these for
    a connection is where its stream ended (a polled "rst" may still follow
    an "eof"; a "short", wait_rx cut off, always comes after its "eof")."""
    return e.get("ev") in RX_ENDS


def _ends(send_error):
    return ENDS + (("send_error",) if send_error else ())


def ended(e, send_error=False):
    """Peer event e says its connection is over for that peer: rx_ended(e),
    or the connection never came up ("connect_error"); with send_error also
    a failed send ("send_error": the peer gives the connection up without
    reading on)."""
    return e.get("ev") in _ends(send_error)


def ended_conns(p, send_error=False):
    """The ids of peer p's connections that ended (ended(), send_error alike)."""
    return p.conns(*_ends(send_error))


def rx_end(p, conn=None, timeout=10):
    """The first rx_ended event of peer p (of its connection conn), waiting
    for it up to timeout (scaled) seconds."""
    kw = {"conn": conn} if conn is not None else {}
    return p.wait(pred=rx_ended, timeout=timeout, **kw)[0]


def wait_served_or_shed(server, clients, total, timeout, send_error=False):
    """Wait (poll_until, timeout scaled) until each of the `total`
    connections the client peers opened so far was either served (its hello
    reached the server: a "hello" event there) or shed (ended at its client,
    ended(send_error)).  Returns (served, shed) as last counted; the caller
    judges them (they fall short of total if the time ran out)."""
    return poll_until(lambda: (server.count("hello"),
                               sum(len(ended_conns(c, send_error)) for c in clients)),
                      timeout, "%d connections served or shed" % total,
                      done=lambda n: n[0] + n[1] >= total, fail=False)
