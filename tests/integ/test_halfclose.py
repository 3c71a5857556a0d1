"""Half-close in each direction: the open direction keeps flowing, byte-exact,
and the session ends cleanly once both directions are done."""

import time

import netns
from harness import (CLOSE, MIB, SHUT, SNI, STRIP, WAIT_EOF, Relay, assert_bytes,
                     assert_term, hello, no_events, one, pattern, send_pattern, sha, wait_tag,
                     PROXY_CADDR, SERVER_ADDR, T)


def test_client_halfclose_then_download(topo, hp_bin):
    # client sends a request and shuts down writing; the server reads to EOF,
    # then streams 8 MiB and closes: the client gets every byte and a clean
    # EOF; term=client-fin.
    req, body = pattern(1000, 1), pattern(8 * MIB, 2)
    r = Relay(topo, hp_bin, [[STRIP, WAIT_EOF, send_pattern(len(body), 2), CLOSE]])
    r.connect([hello(), send_pattern(len(req), 1), SHUT, WAIT_EOF, CLOSE])

    assert_bytes(one(r.server.wait(ev="eof", timeout=10)), req, "server")
    assert_bytes(one(r.client.wait(ev="eof", timeout=30)), body, "client")
    no_events(r.client, "rst", "rx_error", "send_error")
    no_events(r.server, "rst", "rx_error", "send_error")

    rec = one(r.hp.wait_log(n=1))
    assert_term([rec], "client-fin")
    assert rec["sni"] == SNI and rec["backend"] == r.backend, rec
    assert rec["first_close"] == "client", rec
    assert int(rec["s2c_bytes"]) == len(body), rec
    assert int(rec["c2s_bytes"]) in (len(req), len(req) + int(rec["hello_bytes"])), rec


def test_server_halfclose_then_upload(topo, hp_bin):
    # the server sends a short banner and shuts down writing first; the client
    # reads it to EOF, then uploads 8 MiB and closes: the server gets every
    # byte and EOF; term=server-fin.
    banner = b"220 backend ready, send your data\r\n"
    up = pattern(8 * MIB, 3)
    r = Relay(topo, hp_bin, [[STRIP, {"op": "send", "hex": banner.hex()}, SHUT, WAIT_EOF,
                              CLOSE]])
    r.connect([hello(), WAIT_EOF, send_pattern(len(up), 3), CLOSE])

    assert_bytes(one(r.client.wait(ev="eof", timeout=10)), banner, "client")
    assert_bytes(one(r.server.wait(ev="eof", timeout=30)), up, "server")
    no_events(r.client, "rst", "rx_error", "send_error")
    no_events(r.server, "rst", "rx_error", "send_error")

    rec = one(r.hp.wait_log(n=1))
    assert_term([rec], "server-fin")
    assert rec["first_close"] == "server", rec
    assert int(rec["s2c_bytes"]) == len(banner), rec
    assert int(rec["c2s_bytes"]) in (len(up), len(up) + int(rec["hello_bytes"])), rec


def test_everything_sent_before_backend_connects(topo, hp_bin):
    # the client sends hello + request + FIN in one go while halfpipe's SYN to
    # the backend is being dropped; once the SYN gets through (the kernel
    # retransmits it) everything arrives both ways; term=client-fin.
    req, resp = pattern(3000, 4), pattern(100000, 5)
    r = Relay(topo, hp_bin, [[STRIP, WAIT_EOF, send_pattern(len(resp), 5), CLOSE]])
    syn_drop = topo.nft_drop_syn(topo.proxy, SERVER_ADDR)
    r.connect([hello(then_hex=req.hex()), SHUT, WAIT_EOF, CLOSE])

    # halfpipe has read the hello and is connecting; the client's FIN is in
    netns.wait_for_state(topo.proxy, "SYN-SENT", [(SERVER_ADDR, r.sport)], T(5))
    netns.wait_for_state(topo.proxy, "CLOSE-WAIT", [(PROXY_CADDR, r.port)], T(5))
    syn_drop.remove()

    assert_bytes(one(r.server.wait(ev="eof", timeout=10)), req, "server")
    assert_bytes(one(r.client.wait(ev="eof", timeout=10)), resp, "client")
    no_events(r.client, "rst", "rx_error", "send_error")
    rec = one(r.hp.wait_log(n=1))
    assert_term([rec], "client-fin")
    assert int(rec["s2c_bytes"]) == len(resp), rec


def test_both_halfclose_at_once(topo, hp_bin):
    # both sides shut down writing at the same moment (20 sessions): each sees
    # EOF, and 1 s later none of halfpipe's sockets lingers; term client-fin
    # or server-fin.
    n = 20
    r = Relay(topo, hp_bin, [[STRIP, wait_tag("go"), SHUT, WAIT_EOF]])
    r.connect([hello(), wait_tag("go"), SHUT, WAIT_EOF], count=n)
    r.server.wait(ev="hello", n=n)
    r.server.signal("go")
    r.client.signal("go")
    shuts = r.server.wait(ev="shut", n=n) + r.client.wait(ev="shut", n=n)
    r.server.wait(ev="eof", n=n)
    r.client.wait(ev="eof", n=n)
    r.assert_no_lingering(max(e["t"] for e in shuts) + T(1))
    recs = r.hp.wait_log(n=n)
    assert_term(recs, "client-fin", "server-fin")
    no_events(r.client, "rst", "rx_error", "send_error")
    no_events(r.server, "rst", "rx_error", "send_error")
