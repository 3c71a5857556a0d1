"""A real browser through halfpipe's QUIC passthrough (issue 17): Debian's
chromium, headless and forced onto QUIC for a.example.test, fetches a page
over HTTP/3 from Debian's ngtcp2 server (gtlsserver) behind listen-quic.

Between the browser and halfpipe sits a small UDP relay of the test's own,
which keeps the browser's datagrams up to halfpipe's first answer (its first
flight) and opens them with the Initial keys (RFC 9001 5.2, python3's
cryptography): the post-quantum ClientHello (X25519MLKEM768) must be spread
over at least two Initial packets in two datagrams, none holding it whole.
A TCP socket of the test on the relay's port number catches any fallback to
TCP (there must be none)."""

import base64
import errno
import hashlib
import os
import select
import shutil
import signal
import socket
import threading

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, hmac, serialization
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

import procs
from procs import T, poll_until
from test_quic import Server, udp_ports

CHROMIUM = "/usr/bin/chromium"
NAME = "a.example.test"
X25519MLKEM768 = 0x11ec

pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM),
                                reason="needs Debian's chromium (scripts/deps.sh test)")


# -- the client's Initials, opened (RFC 9000 17.2.2, RFC 9001 5) ---------------
def _varint(b, i):
    n = 1 << (b[i] >> 6)
    return int.from_bytes(bytes([b[i] & 0x3f]) + b[i + 1:i + n], "big"), i + n


def _label(secret, label, n):
    full = b"tls13 " + label
    info = n.to_bytes(2, "big") + bytes([len(full)]) + full + b"\x00"
    return HKDFExpand(hashes.SHA256(), n, info).derive(secret)


def initials(dgram):
    """The (DCID, payload) of each QUIC v1 Initial in a client datagram,
    header protection removed and payload decrypted."""
    out, i = [], 0
    while i < len(dgram) and dgram[i] & 0x80:
        first, version = dgram[i], int.from_bytes(dgram[i + 1:i + 5], "big")
        j = i + 5
        dcid = dgram[j + 1:j + 1 + dgram[j]]
        j += 1 + dgram[j]
        j += 1 + dgram[j]                       # SCID
        if (first >> 4) & 3 == 0:
            tlen, j = _varint(dgram, j)
            j += tlen                           # token
        length, j = _varint(dgram, j)
        end = j + length
        if version == 1 and (first >> 4) & 3 == 0:
            h = hmac.HMAC(bytes.fromhex("38762cf7f55934b34d179ae6a4c80cadccbb7f0a"),
                          hashes.SHA256())
            h.update(dcid)
            secret = _label(h.finalize(), b"client in", 32)
            key, iv, hp = (_label(secret, b"quic key", 16), _label(secret, b"quic iv", 12),
                           _label(secret, b"quic hp", 16))
            enc = Cipher(algorithms.AES(hp), modes.ECB()).encryptor()
            mask = enc.update(dgram[j + 4:j + 20]) + enc.finalize()
            first ^= mask[0] & 0x0f
            pnl = (first & 3) + 1
            pn = bytes(a ^ m for a, m in zip(dgram[j:j + pnl], mask[1:]))
            nonce = bytes(a ^ b for a, b in zip(iv, int.from_bytes(pn, "big").to_bytes(12, "big")))
            aad = bytes([first]) + dgram[i + 1:j] + pn
            out.append((dcid, AESGCM(key).decrypt(nonce, dgram[j + pnl:end], aad)))
        i = end
    return out


def crypto_frames(payload):
    """(offset, data) of each CRYPTO frame of an Initial's payload (Chromium
    puts only PADDING, PING and CRYPTO in its first flight)."""
    out, i = [], 0
    while i < len(payload):
        t = payload[i]
        i += 1
        if t in (0x00, 0x01):
            continue
        assert t == 0x06, "frame type %#x in the first flight" % t
        off, i = _varint(payload, i)
        n, i = _varint(payload, i)
        out.append((off, payload[i:i + n]))
        i += n
    return out


def extensions(msg):
    """A ClientHello message's extensions: {type: body}."""
    i = 4 + 2 + 32
    i += 1 + msg[i]                                         # session id
    i += 2 + int.from_bytes(msg[i:i + 2], "big")            # cipher suites
    i += 1 + msg[i]                                         # compression
    end = i + 2 + int.from_bytes(msg[i:i + 2], "big")
    i += 2
    out = {}
    while i < end:
        t, n = int.from_bytes(msg[i:i + 2], "big"), int.from_bytes(msg[i + 2:i + 4], "big")
        out[t] = msg[i + 4:i + 4 + n]
        i += 4 + n
    return out


def grease(v):
    """A GREASE value (RFC 8701): 0x0a0a, 0x1a1a, ... 0xfafa."""
    return v & 0x0f0f == 0x0a0a and v >> 8 == v & 0xff


# -- the relay ------------------------------------------------------------------
class FirstFlight:
    """UDP relay: the browser sends to self.port, the relay to halfpipe's
    QUIC address from a socket of its own (halfpipe's client); the browser's
    datagrams until halfpipe's first answer are kept in self.flight."""

    def __init__(self, target):
        self.front = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.front.bind(("127.0.0.1", 0))
        self.port = self.front.getsockname()[1]
        self.back = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.back.bind(("127.0.0.1", 0))
        self.back.connect(target)
        self.flight, self.answered, self.browser = [], False, None
        self.stop = threading.Event()
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        while not self.stop.is_set():
            ready = select.select([self.front, self.back], [], [], 0.1)[0]
            if self.front in ready:
                d, self.browser = self.front.recvfrom(65535)
                if not self.answered:
                    self.flight.append(d)
                self.back.send(d)
            if self.back in ready:
                try:
                    d = self.back.recv(65535)
                except ConnectionRefusedError:
                    continue
                self.answered = True
                if self.browser is not None:
                    self.front.sendto(d, self.browser)

    def close(self):
        self.stop.set()
        self.t.join(T(5))
        self.front.close()
        self.back.close()


def tcp_trap(port):
    """A listening TCP socket on 127.0.0.1:port, or None if it is taken."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", port))
    except OSError as e:
        s.close()
        if e.errno == errno.EADDRINUSE:
            return None
        raise
    s.listen(8)
    s.setblocking(False)
    return s


def browser_procs(sid, home):
    """The pids of live (not zombie) processes in session sid, or whose
    command line names home (the crash handlers, which leave the session)."""
    out = []
    for d in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read().rsplit(")", 1)[1].split()
            with open("/proc/%s/cmdline" % d, "rb") as f:
                cmd = f.read()
        except (OSError, IndexError):
            continue
        if st[0] != "Z" and (int(st[3]) == sid or home.encode() in cmd):
            out.append(int(d))
    return out


class Browser(procs.Proc):
    """chromium in a session of its own (its pid), HOME and TMPDIR in home:
    ended with its children by that process group, then waited for until
    none of its processes is left."""

    def __init__(self, argv, home):
        self.home = home
        env = dict(os.environ, HOME=home, TMPDIR=home)
        env.pop("XDG_CONFIG_HOME", None)
        env.pop("XDG_CACHE_HOME", None)
        super().__init__(argv, "chromium", env=env, popen_kw={"start_new_session": True})

    def finish(self):
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.wait_exit(T(5))
        self.join_readers()
        poll_until(lambda: browser_procs(self.pid, self.home), 10,
                   "chromium's processes gone", done=lambda v: v == [])


def spki_sha256(cert):
    with open(cert, "rb") as f:
        key = x509.load_pem_x509_certificate(f.read()).public_key()
    der = key.public_bytes(serialization.Encoding.DER,
                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


def test_chromium_h3_through_halfpipe(loopback, hp_bin, certs):
    """The page's token comes back over HTTP/3 through halfpipe; its flow
    line names the SNI, h3 and the server; no TCP connection was tried; the
    browser's first flight holds an X25519MLKEM768 hello over two or more
    Initials in two or more datagrams, none of them holding it whole."""
    topo = loopback
    token = "halfpipe-h3-" + os.urandom(8).hex()
    root = os.path.join(topo.tmp, "htdocs")
    os.mkdir(root)
    with open(os.path.join(root, "page.html"), "w") as f:
        f.write("<html><body><p id=t>%s</p></body></html>\n" % token)
    srv = Server(["/usr/sbin/gtlsserver", "-q", "-d", root, "127.0.0.1", "0",
                  certs["a_key"], certs["a_cert"]], "h3-server")
    topo._own(srv)
    sport = poll_until(lambda: udp_ports(None, srv.p.pid), 10, "gtlsserver bound",
                       step=0.05)[0]
    hp = topo.halfpipe(hp_bin, ["--listen", "127.0.0.1:0", "--listen-quic", "127.0.0.1:0",
                                "--route", "%s=127.0.0.1:%d" % (NAME, sport),
                                "--quic-idle-timeout", "1s"], nlisten=2)
    qport = hp.addrs[1][1]

    relay = trap = None
    for _ in range(20):                 # a relay port whose TCP twin is free
        relay = FirstFlight(("127.0.0.1", qport))
        trap = tcp_trap(relay.port)
        if trap is not None:
            break
        relay.close()
    assert trap is not None, "no UDP port with its TCP twin free in 20 tries"
    topo.cleanups.append(relay.close)
    topo.cleanups.append(trap.close)

    home = os.path.join(topo.tmp, "chromium")           # its HOME, TMPDIR, profile
    os.mkdir(home)
    b = Browser([CHROMIUM, "--headless=new", "--no-sandbox",
                 "--user-data-dir=" + os.path.join(home, "profile"),
                 "--no-first-run", "--disable-gpu", "--disable-extensions",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-proxy-server", "--enable-quic",
                 "--origin-to-force-quic-on=%s:443" % NAME,
                 "--host-resolver-rules=MAP %s 127.0.0.1:%d, MAP * ~NOTFOUND" % (NAME, relay.port),
                 "--ignore-certificate-errors-spki-list=" + spki_sha256(certs["a_cert"]),
                 "--dump-dom", "https://%s/page.html" % NAME], home)
    topo._own(b)
    rc = b.wait_exit(T(40))
    b.finish()                          # its children too
    shutil.rmtree(home, ignore_errors=True)
    page = "\n".join(b.out)
    assert rc == 0 and token in page, (rc, page[-2000:], b.tail(30), hp.tail())

    # HTTP/3, not TCP: nobody connected to the TCP twin of the browser's port
    with pytest.raises(BlockingIOError):
        trap.accept()
    rec = hp.wait_log(proto="quic", term="quic-idle-timeout", timeout=10)[0]
    assert rec["sni"] == NAME and rec["alpn"] == "h3", rec
    assert rec["backend"] == "127.0.0.1:%d" % sport, rec
    assert rec["client"] == "127.0.0.1:%d" % relay.back.getsockname()[1], rec
    assert int(rec["s2c_bytes"]) > len(token) and int(rec["c2s_datagrams"]) >= 2, rec

    # the first flight, opened
    flight = list(relay.flight)
    assert flight, "the relay kept no datagram"
    have, per_dgram, npkts, dcids = {}, [], 0, set()
    for d in flight:
        got = set()
        for dcid, payload in initials(d):
            npkts += 1
            dcids.add(dcid)
            for off, data in crypto_frames(payload):
                for k, x in enumerate(data):
                    assert have.setdefault(off + k, x) == x, "CRYPTO overlap disagrees"
                    got.add(off + k)
        per_dgram.append(got)
    n = 0
    while n in have:
        n += 1
    msg = bytes(have[k] for k in range(n))
    assert n > 4 and msg[0] == 1 and n >= 4 + int.from_bytes(msg[1:4], "big"), \
        "the first flight (%d datagrams) holds no whole ClientHello (%d bytes in)" % (
            len(flight), n)
    size = 4 + int.from_bytes(msg[1:4], "big")
    msg = msg[:size]
    carriers = [g for g in per_dgram if any(k < size for k in g)]
    assert len(dcids) == 1 and npkts >= 2 and len(carriers) >= 2, (len(flight), npkts, dcids)
    assert all(len([k for k in g if k < size]) < size for g in carriers), \
        "one datagram held the whole %d-byte hello" % size

    assert size > 1200, "a %d-byte hello would fit one Initial" % size
    ext = extensions(msg)
    assert ext[0][5:] == NAME.encode() and ext[16] == b"\x00\x03\x02h3", ext.get(16)
    groups = [int.from_bytes(ext[10][k:k + 2], "big") for k in range(2, len(ext[10]), 2)]
    shares, i, ks = {}, 2, ext[51]
    while i < len(ks):
        g, ln = int.from_bytes(ks[i:i + 2], "big"), int.from_bytes(ks[i + 2:i + 4], "big")
        shares[g] = ln
        i += 4 + ln
    groups = [g for g in groups if not grease(g)]
    assert groups[0] == X25519MLKEM768 and shares.get(X25519MLKEM768) == 1184 + 32, (
        [hex(g) for g in groups], shares)
