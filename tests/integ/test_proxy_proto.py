"""PROXY protocol (docs/config.md, `proxy=` and `accept-proxy`).

Sending: halfpipe in front of a real nginx whose stream server listens with
`proxy_protocol` and answers with the client address it was told
($proxy_protocol_addr:$proxy_protocol_port) and the SNI it read itself
(ssl_preread): v1 and v2 must both make nginx see the real client. The v2
authority TLV (PP2_TYPE_AUTHORITY, the SNI) is checked byte for byte on a raw
server, since this nginx has no TLV variables.

Accepting: an `accept-proxy` listener takes a v1 or v2 header from a trusted
source and logs the client the header names; a source outside the listed
networks is reset (term=proxy-refused), a broken header too (bad-proxy).
"""

import os
import shutil
import signal
import socket
import struct
import subprocess

import pytest

from harness import (CLIENT_ADDR, CLOSE, PROXY_CADDR, SERVER_ADDR, SNI, STRIP, WAIT_EOF,
                     DEFAULT_OPTS, assert_term, ended, hello, one, poll_until, rx_ended)
import netns

NGINX = "/usr/sbin/nginx"
STREAM_MODULE = "/usr/lib/nginx/modules/ngx_stream_module.so"
NGINX_PORT = 18443      # the server namespace is fresh: nothing else listens there

V2_SIG = bytes.fromhex("0d0a0d0a000d0a515549540a")


def v1_header(src, sport, dst, dport):
    return ("PROXY TCP4 %s %s %d %d\r\n" % (src, dst, sport, dport)).encode()


def v2_header(src, sport, dst, dport, tlvs=b"", cmd=0x21):
    body = (socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!HH", sport, dport)
            if cmd == 0x21 else b"") + tlvs
    return V2_SIG + bytes([cmd, 0x11 if cmd == 0x21 else 0x00]) + struct.pack("!H", len(body)) + body


class Nginx:
    """nginx (one process, no daemon) in namespace ns, from a generated
    config in its own temporary directory; stopped by its pid."""

    def __init__(self, ns, addr, port):
        self.dir = __import__("tempfile").mkdtemp(prefix="hpnginx.")
        conf = os.path.join(self.dir, "nginx.conf")
        with open(conf, "w") as f:
            f.write("""load_module %s;
daemon off;
master_process off;
worker_processes 1;
pid %s/nginx.pid;
error_log %s/error.log info;
events { worker_connections 64; }
stream {
    server {
        listen %s:%d proxy_protocol;
        ssl_preread on;
        return "$proxy_protocol_addr:$proxy_protocol_port $ssl_preread_server_name\\n";
    }
}
""" % (STREAM_MODULE, self.dir, self.dir, addr, port))
        self.p = subprocess.Popen(["ip", "netns", "exec", ns, NGINX, "-p", self.dir,
                                   "-e", os.path.join(self.dir, "error.log"), "-c", conf],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

        def listening():
            if self.p.poll() is not None:
                raise AssertionError("nginx exited: %s\n%s" % (
                    self.p.stderr.read().decode(errors="replace"), self.log()))
            return any(s[0] == "LISTEN" and s[3][1] == port for s in netns.ss_sockets(ns))
        if not poll_until(listening, 10, "nginx listening", fail=False):
            self.close()
            raise AssertionError("nginx did not listen within 10 s:\n" + self.log())

    def log(self):
        try:
            with open(os.path.join(self.dir, "error.log")) as f:
                return f.read()[-3000:]
        except OSError:
            return ""

    def close(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def nginx(topo):
    if not (os.access(NGINX, os.X_OK) and os.path.exists(STREAM_MODULE)):
        pytest.skip("nginx with the stream module is not installed (apt-get install nginx)")
    n = Nginx(topo.server, SERVER_ADDR, NGINX_PORT)
    try:
        yield n
    finally:
        n.close()


def _opts(**over):
    out = []
    o = dict(DEFAULT_OPTS)
    o.update({k.replace("_", "-"): v for k, v in over.items()})
    for k, v in o.items():
        out += ["--" + k, v]
    return out


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_nginx_sees_the_client(topo, hp_bin, nginx, version):
    # route ... proxy=vN: nginx (listen ... proxy_protocol) reports the
    # client's own address and port, not halfpipe's, and still reads the
    # ClientHello (its SNI) that follows the header.
    hp = topo.halfpipe(hp_bin, ["--listen", "%s:0" % PROXY_CADDR,
                                "--route", "%s=%s:%d,proxy=%s" % (SNI, SERVER_ADDR, NGINX_PORT,
                                                                  version)] + _opts())
    cli = topo.peer(topo.client, "client")
    cli.connect(PROXY_CADDR, hp.port, [hello(SNI), WAIT_EOF, CLOSE])
    lport = cli.wait(ev="connected")[0]["lport"]
    end = one(cli.wait(pred=rx_ended))
    got = bytes.fromhex(end["head"]).decode(errors="replace")
    assert end["ev"] == "eof", (end, nginx.log())
    assert got == "%s:%d %s\n" % (CLIENT_ADDR, lport, SNI), (got, nginx.log())
    rec = one(hp.wait_log(n=1))
    assert rec["client"] == "%s:%d" % (CLIENT_ADDR, lport), rec
    assert_term([rec], "server-fin", "client-fin")


def test_v2_authority_tlv(topo, hp_bin):
    # proxy=v2: PROXY TCP4, client -> the address it reached, then the SNI
    # as a PP2_TYPE_AUTHORITY (0x02) TLV; the ClientHello follows untouched.
    srv = topo.peer(topo.server, "server")
    sport = srv.listen(SERVER_ADDR, [[WAIT_EOF, CLOSE]])
    hp = topo.halfpipe(hp_bin, ["--listen", "%s:0" % PROXY_CADDR,
                                "--route", "%s=%s:%d,proxy=v2" % (SNI, SERVER_ADDR, sport)]
                       + _opts())
    cli = topo.peer(topo.client, "client")
    cli.connect(PROXY_CADDR, hp.port, [hello(SNI), {"op": "shut_wr"}, WAIT_EOF, CLOSE])
    lport = cli.wait(ev="connected")[0]["lport"]
    end = one(srv.wait(ev="eof"))
    tlv = bytes([0x02]) + struct.pack("!H", len(SNI)) + SNI.encode()
    want = v2_header(CLIENT_ADDR, lport, PROXY_CADDR, hp.port, tlv)
    head = bytes.fromhex(end["head"])
    assert head[:len(want)] == want, (head.hex(), want.hex())
    assert head[len(want)] == 0x16, "the ClientHello follows the header: %s" % head.hex()


def _was_reset(cli):
    """The client saw a reset: on a read, on a write (the error taken by a
    send, the read then ends at EOF), or even as it completed its connect."""
    cli.wait(pred=ended)
    errs = cli.find(pred=lambda e: e["ev"] in ("rst", "rx_error", "send_error", "connect_error"))
    assert errs, "no reset seen: %s" % cli.events[-5:]


def _accepting(topo, hp_bin, nets, server_scripts, **opts):
    srv = topo.peer(topo.server, "server")
    sport = srv.listen(SERVER_ADDR, server_scripts)
    conf = os.path.join(topo.tmp, "hp.conf")
    with open(conf, "w") as f:
        f.write("listen %s:0\naccept-proxy %s\nroute %s %s:%d\n" % (
            PROXY_CADDR, " ".join(nets), SNI, SERVER_ADDR, sport))
    hp = topo.halfpipe(hp_bin, ["-c", conf] + _opts(**opts))
    return srv, hp, topo.peer(topo.client, "client")


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_accept_from_trusted(topo, hp_bin, version):
    # A trusted balancer (its network listed) sends a header then the
    # client's hello: routed; the backend gets the hello without the header;
    # the access log names the client the header gave.
    srv, hp, cli = _accepting(topo, hp_bin, ["10.9.0.0/16", "198.18.1.0/24", "2001:db8::/32"],
                              [[STRIP, {"op": "send", "hex": b"ok".hex()}, CLOSE]])
    hdr = (v1_header if version == "v1" else v2_header)("203.0.113.7", 40000, PROXY_CADDR, 443)
    cli.connect(PROXY_CADDR, hp.port, [hello(SNI, prefix_hex=hdr.hex()), WAIT_EOF, CLOSE])
    end = one(cli.wait(pred=rx_ended))
    assert end["ev"] == "eof" and bytes.fromhex(end["head"]) == b"ok", end
    assert srv.wait(ev="hello")
    rec = one(hp.wait_log(n=1))
    assert rec["client"] == "203.0.113.7:40000", rec
    assert rec["sni"] == SNI, rec
    assert_term([rec], "server-fin", "client-fin")


def test_accept_local_keeps_the_connection_address(topo, hp_bin):
    # v2 LOCAL (a balancer's health check): the header's addresses are not
    # used; the client stays the connection's own source.
    srv, hp, cli = _accepting(topo, hp_bin, ["198.18.1.1"],
                              [[STRIP, {"op": "send", "hex": b"ok".hex()}, CLOSE]])
    hdr = v2_header("203.0.113.7", 40000, PROXY_CADDR, 443, cmd=0x20)
    cli.connect(PROXY_CADDR, hp.port, [hello(SNI, prefix_hex=hdr.hex()), WAIT_EOF, CLOSE])
    lport = cli.wait(ev="connected")[0]["lport"]
    end = one(cli.wait(pred=rx_ended))
    assert end["ev"] == "eof", end
    rec = one(hp.wait_log(n=1))
    assert rec["client"] == "%s:%d" % (CLIENT_ADDR, lport), rec


def test_refuse_untrusted_source(topo, hp_bin):
    # The client's address is not in accept-proxy: reset at once, even with
    # a well-formed header; the backend is never contacted.
    srv, hp, cli = _accepting(topo, hp_bin, ["10.0.0.0/8", "198.18.1.128/25"], [[STRIP, CLOSE]])
    hdr = v1_header("203.0.113.7", 40000, PROXY_CADDR, 443)
    cli.connect(PROXY_CADDR, hp.port, [hello(SNI, prefix_hex=hdr.hex()), WAIT_EOF, CLOSE])
    _was_reset(cli)
    rec = one(hp.wait_log(n=1))
    assert_term([rec], "proxy-refused")
    assert rec["client"].startswith(CLIENT_ADDR + ":"), rec
    assert not srv.find(ev="accepted")


@pytest.mark.parametrize("what", ["no-header", "broken"])
def test_bad_header_from_trusted(topo, hp_bin, what):
    # A trusted source that sends a bare ClientHello, or a broken header, is
    # reset: term=bad-proxy.
    srv, hp, cli = _accepting(topo, hp_bin, ["198.18.1.0/24"], [[STRIP, CLOSE]])
    prefix = b"" if what == "no-header" else b"PROXY TCP4 1.2.3.4 nope 1 2\r\n"
    cli.connect(PROXY_CADDR, hp.port, [hello(SNI, prefix_hex=prefix.hex()), WAIT_EOF, CLOSE])
    _was_reset(cli)
    rec = one(hp.wait_log(n=1))
    assert_term([rec], "bad-proxy")
    assert not srv.find(ev="accepted")


def test_header_inside_hello_deadline(topo, hp_bin):
    # A trusted source that sends half a header and stops: the hello
    # deadline covers the header too.
    srv, hp, cli = _accepting(topo, hp_bin, ["198.18.1.0/24"], [[STRIP, CLOSE]],
                              hello_timeout="1s")
    cli.connect(PROXY_CADDR, hp.port, [{"op": "send", "hex": b"PROXY TCP4 1.2".hex()},
                                        WAIT_EOF, CLOSE])
    rec = one(hp.wait_log(n=1, timeout=10))
    assert not srv.find(ev="accepted")
    assert_term([rec], "hello-timeout")
