"""End to end with real TLS clients (openssl s_client, curl, Python ssl) and
two real TLS servers on loopback: each name reaches its own backend through
halfpipe; an unknown name gets the documented rejection."""

import socket
import ssl
import subprocess

import pytest

from netns import T


class Backends:
    def __init__(self, topo, hp_bin, certs, listen="127.0.0.1:0"):
        self.a = topo.tls_server(None, "127.0.0.1", certs["a_cert"], certs["a_key"], "backend-a")
        self.b = topo.tls_server(None, "127.0.0.1", certs["b_cert"], certs["b_key"], "backend-b")
        self.hp = topo.halfpipe(hp_bin, [
            "--listen", listen,
            "--route", "a.example.test=127.0.0.1:%d" % self.a.port,
            "--route", "b.example.test=127.0.0.1:%d" % self.b.port,
            "--half-closed-timeout", "2s", "--drain-timeout", "1s"], ns=None)
        self.host, self.port = self.hp.addrs[0]
        self.ca = certs["ca"]


@pytest.fixture
def be(loopback, hp_bin, certs):
    return Backends(loopback, hp_bin, certs)


def _run(argv, timeout=20):
    return subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                          timeout=T(timeout))


@pytest.mark.parametrize("name", ["a", "b"])
def test_openssl_s_client(be, name):
    # s_client (stdin closed) verifies the certificate of the backend its
    # SNI names.
    host = "%s.example.test" % name
    r = _run(["openssl", "s_client", "-connect", "%s:%d" % (be.host, be.port),
              "-servername", host, "-CAfile", be.ca, "-verify_return_error",
              "-verify_hostname", host])
    out = r.stdout.decode(errors="replace")
    assert r.returncode == 0, out + r.stderr.decode(errors="replace")
    assert "Verify return code: 0 (ok)" in out, out
    assert "CN = %s" % host in out, out
    rec = be.hp.wait_log(n=1)[0]
    assert rec["sni"] == host and rec["term"] in ("client-fin", "server-fin"), rec


@pytest.mark.parametrize("name", ["a", "b"])
def test_curl(be, name):
    host = "%s.example.test" % name
    r = _run(["curl", "-sS", "--max-time", str(int(T(10))), "--resolve",
              "%s:%d:%s" % (host, be.port, be.host), "--cacert", be.ca,
              "https://%s:%d/" % (host, be.port)])
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    assert r.stdout == b"backend-%s\n" % name.encode(), r.stdout
    rec = be.hp.wait_log(n=1)[0]
    port = (be.a if name == "a" else be.b).port
    assert rec["sni"] == host and rec["backend"] == "127.0.0.1:%d" % port, rec
    assert rec["term"] in ("client-fin", "server-fin"), rec


def _https_get(ca, addr, host, timeout=10):
    ctx = ssl.create_default_context(cafile=ca)
    fam = socket.AF_INET6 if ":" in addr[0] else socket.AF_INET
    with socket.create_connection(addr, timeout=T(timeout)) as raw:
        assert raw.family == fam
        with ctx.wrap_socket(raw, server_hostname=host) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n"
                      % host.encode())
            resp = b""
            for _ in range(1000):
                try:
                    d = s.recv(65536)
                except ssl.SSLZeroReturnError:
                    break
                if not d:
                    break
                resp += d
    return resp


def test_python_ssl(be):
    for name in ("a", "b"):
        resp = _https_get(be.ca, (be.host, be.port), "%s.example.test" % name)
        assert resp.startswith(b"HTTP/1.1 200 ") and resp.endswith(
            b"\r\n\r\nbackend-%s\n" % name.encode()), resp
    recs = be.hp.wait_log(n=2)
    assert sorted(r["sni"] for r in recs) == ["a.example.test", "b.example.test"], recs


def test_unknown_name_curl(be):
    # curl fails with an "unrecognized name" alert; term=no-route.
    host = "c.example.test"
    r = _run(["curl", "-sS", "--max-time", str(int(T(10))), "--resolve",
              "%s:%d:%s" % (host, be.port, be.host), "--cacert", be.ca,
              "https://%s:%d/" % (host, be.port)])
    err = r.stderr.decode(errors="replace")
    assert r.returncode != 0 and "unrecognized name" in err, (r.returncode, err)
    rec = be.hp.wait_log(n=1)[0]
    assert rec["sni"] == host and rec["term"] == "no-route", rec


def test_unknown_name_python_ssl(be):
    with pytest.raises(ssl.SSLError) as ei:
        _https_get(be.ca, (be.host, be.port), "c.example.test")
    assert "UNRECOGNIZED_NAME" in str(ei.value).upper(), ei.value
    assert be.hp.wait_log(n=1)[0]["term"] == "no-route"


def test_ipv6_listener(loopback, hp_bin, certs):
    # --listen [::1]:0 prints `listening on [::1]:PORT` and relays the same.
    be = Backends(loopback, hp_bin, certs, listen="[::1]:0")
    assert be.host == "::1", be.hp.addrs
    assert any("listening on [::1]:%d" % be.port in l for l in be.hp.err), be.hp.err
    resp = _https_get(be.ca, ("::1", be.port), "a.example.test")
    assert resp.endswith(b"backend-a\n"), resp
    rec = be.hp.wait_log(n=1)[0]
    assert rec["term"] in ("client-fin", "server-fin"), rec


def test_config_file(loopback, hp_bin, certs):
    # the same set-up from `halfpipe -c FILE`.
    a = loopback.tls_server(None, "127.0.0.1", certs["a_cert"], certs["a_key"], "backend-a")
    conf = "%s/halfpipe.conf" % loopback.tmp
    with open(conf, "w") as f:
        f.write("# integration test\nhalf-closed-timeout 2s\ndrain-timeout 1s\n"
                "listen 127.0.0.1:0\nroute a.example.test 127.0.0.1:%d\n"
                "default reject\n" % a.port)
    hp = loopback.halfpipe(hp_bin, ["-c", conf], ns=None)
    resp = _https_get(certs["ca"], hp.addrs[0], "a.example.test")
    assert resp.endswith(b"backend-a\n"), resp
    assert hp.wait_log(n=1)[0]["sni"] == "a.example.test"
