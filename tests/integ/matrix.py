"""The event matrix: how each of halfpipe's connections ends, as data.

Every phase a connection can be in (rows) meets every event one of its two
peers can cause (columns); each meeting is one cell of CELLS, either
`impossible` (with the reason) or an expected outcome:

    client, server   what that peer observes, "BYTES/END":
                       BYTES  all    every byte the other peer sent, exactly
                                     (count and sha256)
                              alert  exactly the TLS alert unrecognized_name,
                                     15 03 03 00 02 02 70
                              any    not checked (it stopped reading)
                       END    eof      a clean EOF, and no reset after it
                              rst      a reset (ECONNRESET / EPIPE on recv,
                                       send or SO_ERROR), no EOF before it
                              eof+rst  a clean EOF, later a reset
                              none     nothing: neither EOF nor reset
                     "-"      not checked: the peer reset itself, saw nothing
                              before it
                     "noconn" the server never accepts a connection
    term             the access-log term code
    when             the time bound, "now" (within NOW seconds of the event)
                     or "TIMEOUT@FROM": that timeout after FROM, where FROM
                     is accept (the client's connect), hello (the whole
                     ClientHello sent: the backend connect starts), phase
                     (the phase reached: the last byte moved), event (the
                     event itself) or sigterm
    alone            runs on a halfpipe of its own (a worker it hangs must
                     not take the other cells with it)

Every cell also requires that no socket of the connection in halfpipe's
namespace is in FIN-WAIT-1/2, CLOSE-WAIT, LAST-ACK or CLOSING past the bound,
and (except in DRAIN, where halfpipe is exiting) that halfpipe serves a new
connection afterwards.  tests/integ/test_matrix.py runs every cell;
`python3 tests/integ/matrix.py` rewrites docs/matrix.md from this table.

Where the specification left a choice open, the cell takes what a direct TCP
connection would show its peers, and its note says so.
"""

import os
import sys

PHASES = ["HELLO-0", "HELLO-partial", "CONNECT", "RELAY-open", "RELAY-cfin", "RELAY-sfin",
          "LINGER", "REJECT", "DRAIN"]
SIDES = ["client", "server"]
EVENTS = ["FIN", "RST", "data", "urgent", "silence", "stop-reading", "vanish"]

# The timeouts the matrix runs with (seconds).
TIMEOUTS = {"hello": 1.0, "connect": 1.0, "idle": 2.0, "half-closed": 1.0, "drain": 1.0}
NOW = 0.5               # "now": within this long of the event (scaled by T())
EARLY = 0.3             # a timeout may fire this much before its nominal time
LATE = 1.0              # ... and this much after it (scaled)
LATE_STALLED = 1.0      # more for stop-reading: the relay stalls a little later

PHASE_DOC = {
    "HELLO-0": "connected, no byte sent yet",
    "HELLO-partial": "the first 40 bytes of a real ClientHello sent",
    "CONNECT": "the whole ClientHello sent, halfpipe's connect to the backend pending "
               "(its SYNs dropped), or refused for the server-RST cell",
    "RELAY-open": "the hello relayed, some bytes both ways, both directions open",
    "RELAY-cfin": "as RELAY-open, then the client's FIN forwarded to the server (the "
                  "server saw EOF), the server still open",
    "RELAY-sfin": "the mirror: the server's FIN forwarded to the client, the client "
                  "still open",
    "LINGER": "both FINs forwarded, ours to the event's peer not acknowledged: its "
              "incoming packets are dropped (deaf), or for stop-reading it stopped "
              "reading with bytes still to come, or for vanish it vanished after "
              "sending its FIN",
    "REJECT": "a hello for a name with no route: halfpipe sent the alert and its FIN, "
              "and waits for the client's FIN",
    "DRAIN": "RELAY-open when halfpipe gets SIGTERM (a halfpipe of its own); the "
             "event comes right after the signal",
}

EVENT_DOC = {
    "FIN": "shutdown(SHUT_WR)",
    "RST": "SO_LINGER {1,0} + close()",
    "data": "20,000 bytes (HELLO: the rest of the ClientHello)",
    "urgent": "1,000 bytes, the last one with MSG_OOB (HELLO: the rest of the "
              "ClientHello, its last byte urgent)",
    "silence": "nothing more",
    "stop-reading": "the peer stops reading (its receive window closes) while the other "
                    "side sends 3 MiB",
    "vanish": "an nft rule in the peer's namespace drops every packet of the "
              "connection both ways; the socket stays open",
}


def _cell(phase, side, event, **kw):
    d = {"phase": phase, "side": side, "event": event}
    d.update(kw)
    return d


def R(phase, side, event, client, server, term, when, note=None, alone=False):
    d = _cell(phase, side, event, client=client, server=server, term=term, when=when)
    if note:
        d["note"] = note
    if alone:
        d["alone"] = True
    return d


def I(phase, side, event, why):
    return _cell(phase, side, event, impossible=why)


NO_SERVER_HELLO = "no server connection exists yet: the backend is chosen by the hello"
NOT_ACCEPTED = "the server has not accepted: its SYN is still unanswered"
BOTH_FINNED = "both peers already sent their FIN"
NO_SERVER_REJECT = "a rejected connection has no server side"

CELLS = []


def _hello_rows(ph):
    rest = "the whole hello" if ph == "HELLO-0" else "the rest of the hello"
    CELLS.extend([
        R(ph, "client", "FIN", "all/rst", "noconn", "hello-abort", "now"),
        R(ph, "client", "RST", "-", "noconn", "hello-abort", "now", alone=True,
          note="this used to hang a worker: its own halfpipe, then new clients on every "
               "worker must be served"),
        R(ph, "client", "data", "all/rst", "all/rst", "idle-timeout", "idle@event",
          note="data is %s: routed, the server gets it byte-exact; then both are silent "
               "in RELAY" % rest),
        R(ph, "client", "urgent", "all/rst", "all/rst", "idle-timeout", "idle@event",
          note="%s, its last byte urgent: delivered inline, byte-exact, no stall and no "
               "hello-timeout; then both silent" % rest),
        R(ph, "client", "silence", "all/rst", "noconn", "hello-timeout", "hello@accept"),
        R(ph, "client", "stop-reading", "any/rst", "noconn", "hello-timeout",
          "hello@accept", note="nothing can come for it to read: like silence"),
        R(ph, "client", "vanish", "all/none", "noconn", "hello-timeout", "hello@accept",
          note="the reset is lost; nothing is left in halfpipe's namespace"),
    ])
    for ev in EVENTS:
        CELLS.append(I(ph, "server", ev, NO_SERVER_HELLO))


_hello_rows("HELLO-0")
_hello_rows("HELLO-partial")

CELLS.extend([
    R("CONNECT", "client", "FIN", "all/rst", "noconn", "connect-timeout", "connect@hello",
      note="the FIN is kept for the server; the connect still times out"),
    R("CONNECT", "client", "RST", "-", "noconn", "client-rst", "now",
      note="ends at once, without waiting for the connect"),
    R("CONNECT", "client", "data", "all/rst", "noconn", "connect-timeout", "connect@hello"),
    R("CONNECT", "client", "urgent", "all/rst", "noconn", "connect-timeout",
      "connect@hello"),
    R("CONNECT", "client", "silence", "all/rst", "noconn", "connect-timeout",
      "connect@hello"),
    R("CONNECT", "client", "stop-reading", "any/rst", "noconn", "connect-timeout",
      "connect@hello"),
    R("CONNECT", "client", "vanish", "all/none", "noconn", "connect-timeout",
      "connect@hello"),
    I("CONNECT", "server", "FIN", NOT_ACCEPTED),
    R("CONNECT", "server", "RST", "all/rst", "noconn", "connect-refused", "now",
      note="the backend's port refuses: its RST answers the SYN"),
    I("CONNECT", "server", "data", NOT_ACCEPTED),
    I("CONNECT", "server", "urgent", NOT_ACCEPTED),
    R("CONNECT", "server", "silence", "all/rst", "noconn", "connect-timeout",
      "connect@hello", note="halfpipe's SYNs to it are dropped"),
    I("CONNECT", "server", "stop-reading", NOT_ACCEPTED),
    R("CONNECT", "server", "vanish", "all/rst", "noconn", "connect-timeout",
      "connect@hello", note="every packet to and from its address is dropped in its "
                            "namespace"),
])


def _relay_open_rows(ph):
    """RELAY-open, and DRAIN (the same after SIGTERM)."""
    drain = ph == "DRAIN"
    for x, y in (("client", "server"), ("server", "client")):
        def row(event, xs, ys, term, when, note=None):
            c, s = (xs, ys) if x == "client" else (ys, xs)
            CELLS.append(R(ph, x, event, c, s, term, when, note=note))

        if drain:
            row("FIN", "all/eof", "all/eof", x + "-fin", "now",
                note="the %s answers the EOF with its own FIN: both FINs before the "
                     "drain ends, a clean end" % y)
        else:
            row("FIN", "all/rst", "all/eof+rst", "half-closed-timeout", "half-closed@event",
                note="the %s keeps reading and never sends nor closes; both are reset "
                     "(it already saw the EOF)" % y)
        row("RST", "-", "all/rst", x + "-rst", "now")
        tmo = "drain@sigterm" if drain else "idle@event"
        term = "drain-timeout" if drain else "idle-timeout"
        row("data", "all/rst", "all/rst", term, tmo)
        row("urgent", "all/rst", "all/rst", term, tmo,
            note="the %s gets every byte, the urgent one inline" % y)
        row("silence", "all/rst", "all/rst", term, "drain@sigterm" if drain else "idle@phase")
        row("stop-reading", "any/rst", "all/rst", term,
            "drain@sigterm" if drain else "idle@event",
            note=None if drain else "no acknowledgement progress while the %s sends" % y)
        row("vanish", "all/none", "all/rst", term, "drain@sigterm" if drain else "idle@phase")


_relay_open_rows("RELAY-open")

def _half_rows(ph, f, o):
    """RELAY-cfin (f: the client, whose FIN was forwarded; o: the server)
    and RELAY-sfin, its mirror."""
    def row(side, event, fs, os_, term, when, note=None):
        c, s = (fs, os_) if f == "client" else (os_, fs)
        CELLS.append(R(ph, side, event, c, s, term, when, note=note))

    for ev in ("FIN", "data", "urgent"):
        CELLS.append(I(ph, f, ev, "the %s already sent its FIN" % f))
    row(f, "RST", "-", "all/eof+rst", f + "-rst", "now",
        note="the %s is reset at once (this used to be lost until half-closed-timeout)" % o)
    row(f, "silence", "all/rst", "all/eof+rst", "half-closed-timeout", "half-closed@phase")
    row(f, "stop-reading", "any/rst", "all/eof+rst", "half-closed-timeout",
        "half-closed@event", note="while the %s sends" % o)
    row(f, "vanish", "all/none", "all/eof+rst", "half-closed-timeout", "half-closed@phase")
    row(o, "FIN", "all/eof", "all/eof", f + "-fin", "now",
        note="a clean end: both sockets closed gracefully, nothing but TIME-WAIT left")
    row(o, "RST", "all/rst", "all/eof", o + "-rst", "now",
        note="the %s is reset at once" % f)
    row(o, "data", "all/rst", "all/eof+rst", "half-closed-timeout", "half-closed@event")
    row(o, "urgent", "all/rst", "all/eof+rst", "half-closed-timeout", "half-closed@event",
        note="the %s gets every byte, the urgent one inline" % f)
    row(o, "silence", "all/rst", "all/eof+rst", "half-closed-timeout", "half-closed@phase")
    CELLS.append(I(ph, o, "stop-reading",
                   "the %s already sent its FIN: nothing can come for the %s to leave unread "
                   "(stopping now is silence)" % (f, o)))
    row(o, "vanish", "all/rst", "all/eof", "half-closed-timeout", "half-closed@phase",
        note="the %s saw the EOF before it vanished; the reset to it is lost" % o)


_half_rows("RELAY-cfin", "client", "server")
_half_rows("RELAY-sfin", "server", "client")

for _x, _y in (("client", "server"), ("server", "client")):
    def _lrow(event, xs, ys, term, when, note=None, x=_x):
        c, s = (xs, ys) if x == "client" else (ys, xs)
        CELLS.append(R("LINGER", x, event, c, s, term, when, note=note))

    # The other peer's directions are both complete (it sent its FIN, got
    # ours, both acknowledged): its socket on halfpipe's side is closed
    # already, so, as on a direct connection, it sees a clean end and no reset.
    OTHER_DONE = ("the %s has both FINs, both acknowledged: a clean end for it, "
                  "as on a direct connection, and nothing to reset" % _y)
    for _ev in ("FIN", "data", "urgent"):
        CELLS.append(I("LINGER", _x, _ev, BOTH_FINNED))
    _lrow("RST", "-", "all/eof", _x + "-rst", "now",
          note="the deaf %s resets: its RST reaches halfpipe, which must not log a clean "
               "*-fin; " % _x + OTHER_DONE)
    _lrow("silence", "all/none", "all/eof", "half-closed-timeout", "half-closed@phase",
          note="the %s is deaf: our FIN stays unacknowledged; " % _x + OTHER_DONE)
    _lrow("stop-reading", "any/rst", "all/eof", "half-closed-timeout", "half-closed@phase",
          note="the %s (a 4 KiB receive buffer) stopped reading and sent its FIN; the %s "
               "then sent 16 KiB and its FIN: our last bytes and FIN to the %s stay "
               "unacknowledged; " % (_x, _y, _x) + OTHER_DONE)
    _lrow("vanish", "all/none", "all/eof", "half-closed-timeout", "half-closed@phase",
          note="the %s vanished after its FIN reached halfpipe, before the %s's FIN was "
               "forwarded; " % (_x, _y) + OTHER_DONE)

CELLS.extend([
    R("REJECT", "client", "FIN", "alert/eof", "noconn", "no-route", "now",
      note="the FIN comes right behind the hello, as from a client that sends and "
           "half-closes (it is in before the alert goes out): still the alert, then a "
           "graceful close, no LAST-ACK left.  A FIN after the alert is in the data cell"),
    R("REJECT", "client", "RST", "alert/eof", "noconn", "no-route", "now"),
    R("REJECT", "client", "data", "alert/eof", "noconn", "no-route", "now",
      note="after the alert and EOF the client sends data, then its FIN: the data is "
           "read and discarded (no reset for unread data), the FIN ends it cleanly"),
    R("REJECT", "client", "urgent", "alert/eof", "noconn", "no-route", "now",
      note="as data, its last byte urgent"),
    R("REJECT", "client", "silence", "alert/eof+rst", "noconn", "no-route",
      "half-closed@phase"),
    R("REJECT", "client", "stop-reading", "any/rst", "noconn", "no-route",
      "half-closed@event", note="it stops reading right after the hello: the alert stays "
                                "unread; like silence"),
    R("REJECT", "client", "vanish", "any/none", "noconn", "no-route", "half-closed@event",
      note="it goes deaf, sends the hello and its FIN in one segment, then vanishes: our "
           "alert and FIN are never acknowledged, so halfpipe keeps its socket (no orphan "
           "in LAST-ACK) until half-closed-timeout resets it (a vanish after the alert "
           "was acknowledged would be silence)"),
])
for _ev in EVENTS:
    CELLS.append(I("REJECT", "server", _ev, NO_SERVER_REJECT))

_relay_open_rows("DRAIN")


def key(c):
    return (c["phase"], c["side"], c["event"])


def cell_id(c):
    return "%s/%s/%s" % key(c)


def check_complete(cells=None):
    """Problems with the table: a phase x side x event missing or twice, a
    row neither impossible nor complete.  [] when it is whole."""
    cells = CELLS if cells is None else cells
    errs = []
    seen = {}
    for c in cells:
        k = key(c)
        if c["phase"] not in PHASES or c["side"] not in SIDES or c["event"] not in EVENTS:
            errs.append("unknown cell %s" % (k,))
        if k in seen:
            errs.append("cell %s twice" % (k,))
        seen[k] = c
        if "impossible" in c:
            if not c["impossible"] or set(c) - {"phase", "side", "event", "impossible"}:
                errs.append("impossible cell %s: a reason and nothing else" % (k,))
            continue
        for f in ("client", "server", "term", "when"):
            if not c.get(f):
                errs.append("cell %s has no %s" % (k, f))
        for f in ("client", "server"):
            v = c.get(f, "")
            if v in ("-", "noconn"):
                continue
            b, _, e = v.partition("/")
            if b not in ("all", "alert", "any") or e not in ("eof", "rst", "eof+rst", "none"):
                errs.append("cell %s: bad %s outcome %r" % (k, f, v))
        w = c.get("when", "")
        if w != "now":
            t, _, frm = w.partition("@")
            if t not in TIMEOUTS or frm not in ("accept", "hello", "phase", "event", "sigterm"):
                errs.append("cell %s: bad time bound %r" % (k, w))
    for ph in PHASES:
        for sd in SIDES:
            for ev in EVENTS:
                if (ph, sd, ev) not in seen:
                    errs.append("cell %s missing" % ((ph, sd, ev),))
    return errs


# -- the human form -----------------------------------------------------------

OUTCOME_DOC = {
    "all": "every byte", "alert": "the alert", "any": "(not read)",
    "eof": "EOF", "rst": "reset", "eof+rst": "EOF, then reset", "none": "nothing",
}


def _outcome(v):
    if v == "-":
        return "— (it reset)"
    if v == "noconn":
        return "no connection"
    b, _, e = v.partition("/")
    return "%s, %s" % (OUTCOME_DOC[b], OUTCOME_DOC[e])


def _when(w):
    if w == "now":
        return "at once (%.1f s)" % NOW
    t, _, frm = w.partition("@")
    return "%s (%g s) after %s" % (t, TIMEOUTS[t], {"accept": "the accept",
                                                     "hello": "the hello",
                                                     "phase": "the last byte",
                                                     "event": "the event",
                                                     "sigterm": "SIGTERM"}[frm])


def markdown(cells=None):
    cells = CELLS if cells is None else cells
    by = {key(c): c for c in cells}
    out = [
        "# How connections end: the event matrix",
        "",
        "This is the specification of how halfpipe's connections end: every phase a",
        "connection can be in, met by every event either peer can cause, with what",
        "each peer observes, the access-log `term` code and the time bound.",
        "`tests/integ/test_matrix.py` runs every cell, in network namespaces, with",
        "splice on and off and in the ASan build; it also checks that this file is",
        "exactly what the table in `tests/integ/matrix.py` generates (rewrite it",
        "with `python3 tests/integ/matrix.py`).",
        "",
        "In every cell, past its bound no socket of the connection in halfpipe's",
        "namespace is in FIN-WAIT-1/2, CLOSE-WAIT, LAST-ACK or CLOSING, and",
        "(except in DRAIN) halfpipe serves a new connection afterwards.",
        "\"every byte\" means every byte the other peer sent, checked by count and",
        "sha256 (where no server connection exists, the client's share is none);",
        "\"reset\" is ECONNRESET or EPIPE on a read, a write or SO_ERROR; \"nothing\"",
        "is neither EOF nor reset; \"(not read)\": the peer had stopped reading.",
        "A cell whose choice the specification left open takes what a direct TCP",
        "connection would show its peers; its note says so.",
        "Timeouts in the run: %s; \"at once\" is within %.1f s." % (
            ", ".join("%s %g s" % kv for kv in TIMEOUTS.items()), NOW),
        "",
        "Events: " + "; ".join("**%s** %s" % (e, EVENT_DOC[e]) for e in EVENTS) + ".",
        "",
    ]
    for ph in PHASES:
        out += ["## %s" % ph, "", PHASE_DOC[ph] + ".", "",
                "| side | event | client sees | server sees | term | when | note |",
                "| --- | --- | --- | --- | --- | --- | --- |"]
        for sd in SIDES:
            for ev in EVENTS:
                c = by.get((ph, sd, ev))
                if c is None:
                    continue
                if "impossible" in c:
                    out.append("| %s | %s | impossible | | | | %s |" % (sd, ev,
                                                                       c["impossible"]))
                    continue
                note = c.get("note", "")
                if c.get("alone"):
                    note = (note + "; " if note else "") + "runs on a halfpipe of its own"
                out.append("| %s | %s | %s | %s | `%s` | %s | %s |" % (
                    sd, ev, _outcome(c["client"]), _outcome(c["server"]), c["term"],
                    _when(c["when"]), note))
        out.append("")
    return "\n".join(out)


DOC = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "docs", "matrix.md")


if __name__ == "__main__":
    errs = check_complete()
    if errs:
        sys.exit("\n".join(errs))
    with open(DOC, "w") as f:
        f.write(markdown())
    print("wrote %s (%d cells)" % (DOC, len(CELLS)))
