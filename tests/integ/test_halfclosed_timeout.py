"""The half-closed timeout: once one direction is finished and the other
carries nothing for half-closed-timeout (2 s here), halfpipe aborts both
sockets, so nothing lingers in FIN-WAIT-1/2, CLOSE-WAIT, LAST-ACK or CLOSING."""

import pytest

import netns
from harness import (CLIENT_ADDR, PROXY_CADDR, SERVER_ADDR, SHUT, STRIP, WAIT_EOF, Relay,
                     assert_term, hello, wait_tag, T)

N = 200
HALF = 2.0


def _check_not_early(shut_events, rst_events, what):
    """Every reset came at least half-closed - 1 s after that connection's
    half-close (the timer must not fire early)."""
    shut = {e["conn"]: e["t"] for e in shut_events}
    early = [(c, round(e["t"] - shut[c], 2)) for c, e in ((e["conn"], e) for e in rst_events)
             if c in shut and e["t"] - shut[c] < HALF - 1]
    assert not early, "%s: reset before half-closed-timeout - 1 s: %s" % (what, early[:10])


@pytest.mark.slow
def test_client_fin_server_silent(topo, hp_bin):
    # 200 clients half-close; the server reads to EOF but never answers nor
    # closes: within 2 s + 1 s of the last half-close no proxy socket lingers;
    # 200 log lines say term=half-closed-timeout; each client gets a reset.
    r = Relay(topo, hp_bin, [[STRIP, WAIT_EOF]])
    r.connect([hello(), SHUT, WAIT_EOF], count=N)
    shuts = r.client.wait(ev="shut", n=N, timeout=20)
    last = max(e["t"] for e in shuts)
    r.server.wait(ev="eof", n=N, timeout=10)
    r.assert_no_lingering(last + T(HALF + 1), "half-closed by the client")
    recs = r.hp.wait_log(n=N, timeout=10)
    assert_term(recs, "half-closed-timeout")
    rsts = r.client.wait(ev="rst", n=N, timeout=5)
    _check_not_early(shuts, rsts, "client")


@pytest.mark.slow
def test_server_fin_client_silent(topo, hp_bin):
    # mirror: the server half-closes each of 200 sessions, the clients read the
    # EOF and never close: same bound, same term.
    r = Relay(topo, hp_bin, [[STRIP, SHUT]])
    r.connect([hello(), WAIT_EOF], count=N)
    shuts = r.server.wait(ev="shut", n=N, timeout=20)
    last = max(e["t"] for e in shuts)
    r.client.wait(ev="eof", n=N, timeout=10)
    r.assert_no_lingering(last + T(HALF + 1), "half-closed by the server")
    recs = r.hp.wait_log(n=N, timeout=10)
    assert_term(recs, "half-closed-timeout")
    _check_not_early(shuts, r.server.wait(ev="rst", n=N, timeout=5), "server")


@pytest.mark.slow
def test_server_vanishes_after_acking_client_fin(topo, hp_bin):
    # 50 clients half-close; once the server has acknowledged the FINs
    # (halfpipe's server sockets in FIN-WAIT-2) every packet to or from the
    # server is dropped: same bound; term=half-closed-timeout.
    n = 50
    r = Relay(topo, hp_bin, [[STRIP, WAIT_EOF]])
    r.connect([hello(), SHUT, WAIT_EOF], count=n)
    shuts = r.client.wait(ev="shut", n=n, timeout=20)
    last = max(e["t"] for e in shuts)
    r.server.wait(ev="eof", n=n, timeout=10)
    netns.wait_for_state(topo.proxy, "FIN-WAIT-2", [(SERVER_ADDR, r.sport)], T(2), n=n)
    topo.nft_drop(topo.proxy, SERVER_ADDR)
    r.assert_no_lingering(last + T(HALF + 1), "server vanished")
    recs = r.hp.wait_log(n=n, timeout=10)
    assert_term(recs, "half-closed-timeout")
    _check_not_early(shuts, r.client.wait(ev="rst", n=n, timeout=5), "client")


@pytest.mark.slow
def test_server_vanishes_before_acking_client_fin(topo, hp_bin):
    # every packet to or from the server is dropped, then 50 clients
    # half-close: halfpipe's FINs to the server are never acknowledged (its
    # sockets stay in FIN-WAIT-1, retransmitting): same bound, same term.
    n = 50
    r = Relay(topo, hp_bin, [[STRIP, WAIT_EOF]])
    r.connect([hello(), wait_tag("fin"), SHUT, WAIT_EOF], count=n)
    r.server.wait(ev="hello", n=n, timeout=10)
    topo.nft_drop(topo.proxy, SERVER_ADDR)
    r.client.signal("fin")
    shuts = r.client.wait(ev="shut", n=n, timeout=20)
    last = max(e["t"] for e in shuts)
    netns.wait_for_state(topo.proxy, "FIN-WAIT-1", [(SERVER_ADDR, r.sport)], T(2), n=n)
    r.assert_no_lingering(last + T(HALF + 1), "server vanished before the FIN")
    recs = r.hp.wait_log(n=n, timeout=10)
    assert_term(recs, "half-closed-timeout")
    _check_not_early(shuts, r.client.wait(ev="rst", n=n, timeout=5), "client")


@pytest.mark.slow
def test_client_vanishes_after_acking_server_fin(topo, hp_bin):
    # the server half-closes 50 sessions; once the clients have acknowledged
    # the FINs (halfpipe's client sockets in FIN-WAIT-2) every packet to or
    # from the clients is dropped: same bound, same term.
    n = 50
    r = Relay(topo, hp_bin, [[STRIP, SHUT]])
    r.connect([hello(), WAIT_EOF], count=n)
    shuts = r.server.wait(ev="shut", n=n, timeout=20)
    last = max(e["t"] for e in shuts)
    r.client.wait(ev="eof", n=n, timeout=10)
    netns.wait_for_state(topo.proxy, "FIN-WAIT-2", [(PROXY_CADDR, r.port)], T(2), n=n)
    topo.nft_drop(topo.proxy, CLIENT_ADDR)
    r.assert_no_lingering(last + T(HALF + 1), "client vanished")
    recs = r.hp.wait_log(n=n, timeout=10)
    assert_term(recs, "half-closed-timeout")
    _check_not_early(shuts, r.server.wait(ev="rst", n=n, timeout=5), "server")


@pytest.mark.slow
def test_client_vanishes_before_acking_server_fin(topo, hp_bin):
    # every packet to or from the clients is dropped, then the server
    # half-closes 50 sessions: halfpipe's FINs to the clients stay
    # unacknowledged (FIN-WAIT-1): same bound, same term.
    n = 50
    r = Relay(topo, hp_bin, [[STRIP, wait_tag("fin"), SHUT]])
    r.connect([hello(), WAIT_EOF], count=n)
    r.server.wait(ev="hello", n=n, timeout=10)
    topo.nft_drop(topo.proxy, CLIENT_ADDR)
    r.server.signal("fin")
    shuts = r.server.wait(ev="shut", n=n, timeout=20)
    last = max(e["t"] for e in shuts)
    netns.wait_for_state(topo.proxy, "FIN-WAIT-1", [(PROXY_CADDR, r.port)], T(2), n=n)
    r.assert_no_lingering(last + T(HALF + 1), "client vanished before the FIN")
    recs = r.hp.wait_log(n=n, timeout=10)
    assert_term(recs, "half-closed-timeout")
    _check_not_early(shuts, r.server.wait(ev="rst", n=n, timeout=5), "server")
