"""QUIC routes with proxy=v2 (issue 17): every datagram toward the backend
starts with a PROXY v2 header, UDP4 (0x12) or UDP6 (0x22), whose source is
the client's address and port; the backend strips it (quicgen.strip_proxy_v2,
the reference docs/config.md shows) and answers as usual; nothing is added
on the way back. Synthetic Initials on loopback; at the end a real QUIC
stack (gtlsserver) behind a stripping relay still completes a download."""

import os
import shutil

import pytest

import netns
from netns import PROXY_CADDR, SERVER_ADDR, T
from procs import poll_until
import quicgen
from quicgen import ready, strip_proxy_v2, udp_socket

HERE = os.path.dirname(os.path.abspath(__file__))
CONFIG_MD = os.path.join(HERE, "..", "..", "docs", "config.md")


def doc_strip():
    """The backend's reference parser, as docs/config.md shows it (the one
    python block of its "Sending on QUIC" part), ready to call."""
    with open(CONFIG_MD) as f:
        text = f.read()
    part = text[text.index("### Sending on QUIC"):]
    code = part[part.index("```python\n") + 10:part.index("\n```", part.index("```python"))]
    env = {}
    exec(compile(code, CONFIG_MD, "exec"), env)     # noqa: S102 - our own docs
    return env["strip_proxy_v2"]


def start(loopback, hp_bin, host, bport):
    """halfpipe on host (TCP and QUIC): a.example.test -> host:bport with
    proxy=v2, b.example.test -> the same server without it."""
    def hp_(h, p):
        return "[%s]:%d" % (h, p) if ":" in h else "%s:%d" % (h, p)
    hp = loopback.halfpipe(hp_bin, [
        "--listen", hp_(host, 0), "--listen-quic", hp_(host, 0),
        "--route", "a.example.test=%s,proxy=v2" % hp_(host, bport),
        "--route", "b.example.test=%s" % hp_(host, bport),
        "--quic-idle-timeout", "500ms"], nlisten=2)
    ready(hp)
    return hp, hp.addrs[1][1]


@pytest.mark.parametrize("host,hlen,fam", [("127.0.0.1", 28, 0x12), ("::1", 52, 0x22)],
                         ids=["ipv4", "ipv6"])
def test_quic_proxy_v2_every_datagram(loopback, hp_bin, host, hlen, fam):
    """The hello in two Initials (the first queued until the second names
    the route), then two 0-RTT packets: each of the four reaches the backend
    after its own header, client address and port as the source, halfpipe's
    listen-quic address as the destination, the datagram unchanged after it
    (read by quicgen.strip_proxy_v2 and by the reference in docs/config.md);
    the backend's answer reaches the client without a header; c2s_bytes
    counts the headers. The route without proxy= (b.example.test) sends
    the datagram as it came: the header is the route's choice."""
    be, cl, cl2 = udp_socket(host), udp_socket(host), udp_socket(host)
    try:
        hp, qport = start(loopback, hp_bin, host, be.getsockname()[1])
        dcid, scid = os.urandom(8), b"\x0a\x0b\x0c\x0d"
        sent = quicgen.hello_initials("a.example.test", 2, dcid, scid) + \
            [quicgen.zero_rtt(dcid, scid, b"0rtt-%d" % i, 1300) for i in range(2)]
        for d in sent:
            cl.sendto(d, (host, qport))
        be.settimeout(T(5))
        got = []
        for _ in sent:
            d, hp_addr = be.recvfrom(4096)
            got.append(d)
        doc = doc_strip()
        for d, want in zip(got, sent):
            assert len(d) == hlen + len(want) and d[13] == fam, d[:hlen].hex()
            src, dst, payload = strip_proxy_v2(d)
            assert src == cl.getsockname()[:2], (src, cl.getsockname())
            assert dst == (host, qport), dst
            assert payload == want
            (dsrc, dsport), (ddst, ddport), dpayload = doc(d)
            assert ((str(dsrc), dsport), (str(ddst), ddport), dpayload) == (src, dst, want)
        be.sendto(b"\xc0server-answer", hp_addr)
        cl.settimeout(T(5))
        assert cl.recvfrom(4096)[0] == b"\xc0server-answer"
        # the route without proxy=: the datagram as sent
        plain = quicgen.hello_initials("b.example.test", 1)[0]
        cl2.sendto(plain, (host, qport))
        assert be.recvfrom(4096)[0] == plain
        recs = hp.wait_log(n=2, proto="quic", term="quic-idle-timeout", timeout=10)
        rec = [r for r in recs if r["sni"] == "a.example.test"][0]
        assert rec["c2s_datagrams"] == "4" and rec["dropped"] == "0", rec
        assert int(rec["c2s_bytes"]) == sum(len(d) + hlen for d in sent), rec
        assert rec["s2c_bytes"] == str(len(b"\xc0server-answer")), rec
        rec = [r for r in recs if r["sni"] == "b.example.test"][0]
        assert rec["c2s_bytes"] == str(len(plain)), rec
    finally:
        be.close()
        cl.close()
        cl2.close()


def test_quic_proxy_v1_refused(loopback, hp_bin):
    """proxy=v1 on a route of a listen-quic block: a configuration error
    naming the line (v1 has no UDP), halfpipe -t exits 1."""
    conf = os.path.join(loopback.tmp, "q.conf")
    with open(conf, "w") as f:
        f.write("listen 127.0.0.1:0\nlisten-quic 127.0.0.1:0\n"
                "route a.example.test 127.0.0.1:9 proxy=v1\n")
    r = netns.run([str(hp_bin), "-t", "-c", conf], check=False)
    assert r.returncode == 1
    assert ("%s:3: route: proxy=v1 on a route of a listen-quic block: PROXY v1 has no UDP "
            "(want proxy=v2)" % conf) in r.stderr.decode(), r.stderr.decode()


@pytest.mark.skipif(shutil.which("gtlsclient") is None or
                    not os.path.exists("/usr/sbin/gtlsserver"),
                    reason="needs ngtcp2-client and ngtcp2-server (scripts/deps.sh test)")
def test_quic_proxy_v2_real_stack(topo, hp_bin, certs):
    """gtlsclient -> halfpipe (proxy=v2) -> a stripping relay (striprelay.py)
    -> gtlsserver: the download completes, checksummed; every datagram the
    relay got had a header, naming the client's address and port."""
    import test_quic
    pa, sha_a = test_quic.h3_server(topo, "h3-a", certs, "a")
    relay = test_quic.Server(topo._argv(topo.server, [
        "/usr/bin/python3", os.path.join(HERE, "striprelay.py"), SERVER_ADDR, SERVER_ADDR,
        str(pa)]), "relay")
    topo._own(relay)
    rport = int(poll_until(lambda: [ln for ln in relay.out if ln.startswith("relay ")], 10,
                           "relay bound")[0].split()[1])
    hp = topo.halfpipe(hp_bin, [
        "--listen", PROXY_CADDR + ":0", "--listen-quic", PROXY_CADDR + ":0",
        "--route", "a.example.test=%s:%d,proxy=v2" % (SERVER_ADDR, rport),
        "--quic-idle-timeout", "1s"], nlisten=2)
    got, r = test_quic.fetch(topo, hp.addrs[1][1], "a.example.test")
    assert got == sha_a, (r.stderr.decode(errors="replace")[-2000:], relay.tail())
    rec = hp.wait_log(proto="quic", term="quic-idle-timeout", timeout=10)[0]
    relay.p.stdin.write(b"report\n")
    relay.p.stdin.flush()
    line = poll_until(lambda: [ln for ln in relay.out if ln.startswith("headers ")], 10,
                      "relay report")[0].split()
    assert int(line[1]) == int(rec["c2s_datagrams"]) > 0, (line, rec)
    assert line[3:] == [rec["client"]], (line, rec)
