"""RST stays RST: a reset on one side is passed on as a reset to the other,
never turned into a clean EOF."""

from harness import (RST, STRIP, Relay, assert_term, hello, no_events, one, pattern, rx_ended,
                     send_pattern, sha, wait_tag)

N = 65536


def test_server_resets_midstream(topo, hp_bin):
    # the server sends 64 KiB, then resets (SO_LINGER {1,0} + close) while
    # the session is open both ways: the client sees ECONNRESET, not EOF;
    # term=server-rst.
    r = Relay(topo, hp_bin, [[STRIP, send_pattern(N, 7), wait_tag("rst"), RST]])
    r.connect([hello(), {"op": "wait_rx", "n": N}])
    got = one(r.client.wait(ev="rx"))
    assert got["sha256"] == sha(pattern(N, 7))
    r.server.signal("rst")
    r.server.wait(ev="rst_sent")
    one(r.client.wait(pred=rx_ended, timeout=5))
    no_events(r.client, "eof", "rx_error")
    rec = one(r.hp.wait_log(n=1))
    assert_term([rec], "server-rst")


def test_client_resets_midstream(topo, hp_bin):
    # mirror: the client sends 64 KiB, then resets: the server sees
    # ECONNRESET, not EOF; term=client-rst.
    r = Relay(topo, hp_bin, [[STRIP, {"op": "wait_rx", "n": N}]])
    r.connect([hello(), send_pattern(N, 8), wait_tag("rst"), RST])
    one(r.server.wait(ev="rx"))
    r.client.signal("rst")
    r.client.wait(ev="rst_sent")
    one(r.server.wait(pred=rx_ended, timeout=5))
    no_events(r.server, "eof", "rx_error")
    rec = one(r.hp.wait_log(n=1))
    assert_term([rec], "client-rst")


def test_server_resets_after_client_fin(topo, hp_bin):
    # the client half-closes, then the server resets instead of answering:
    # the client sees ECONNRESET, not EOF; term=server-rst.
    r = Relay(topo, hp_bin, [[STRIP, {"op": "wait_eof"}, wait_tag("rst"), RST]])
    r.connect([hello(), {"op": "shut_wr"}])
    r.server.wait(ev="eof")
    r.server.signal("rst")
    one(r.client.wait(pred=rx_ended, timeout=5))
    no_events(r.client, "eof", "rx_error")
    rec = one(r.hp.wait_log(n=1))
    assert_term([rec], "server-rst")
