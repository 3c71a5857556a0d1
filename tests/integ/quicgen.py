"""Synthetic QUIC v1 client datagrams for the integration tests: Initials
(RFC 9001 5: keys from the DCID, AES-128-GCM, AES-128-ECB header protection)
carrying a ClientHello, whole or cut into CRYPTO pieces so the route is not
known before the last one; 0-RTT packets (opaque to halfpipe, skipped by its
reader but queued with the flow); the PROXY v2 header a backend strips.
The Python twin of tests/unit/quic_build.h, on Debian's python3-cryptography."""

import ipaddress
import os
import socket
import struct

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand
from cryptography.hazmat.primitives import hmac

from peer import client_hello

V1_SALT = bytes.fromhex("38762cf7f55934b34d179ae6a4c80cadccbb7f0a")
PP2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def _expand_label(secret, label, length):
    full = b"tls13 " + label
    info = struct.pack("!HB", length, len(full)) + full + b"\x00"
    return HKDFExpand(hashes.SHA256(), length, info).derive(secret)


def initial_keys(dcid):
    """The client's Initial key, IV and header-protection key (RFC 9001 5.2)."""
    h = hmac.HMAC(V1_SALT, hashes.SHA256())
    h.update(dcid)
    secret = _expand_label(h.finalize(), b"client in", 32)
    return (_expand_label(secret, b"quic key", 16), _expand_label(secret, b"quic iv", 12),
            _expand_label(secret, b"quic hp", 16))


def crypto_frame(off, data):
    """A CRYPTO frame, offset and length as 4-byte varints."""
    return b"\x06" + struct.pack("!II", 0x80000000 | off, 0x80000000 | len(data)) + data


def initial(dcid, scid, pn, payload, pad_to=1200):
    """One protected Initial (no token, 4-byte packet number), padded with
    PADDING frames to a pad_to-byte datagram."""
    key, iv, hp = initial_keys(dcid)
    head = bytes([0xc3]) + struct.pack("!I", 1) + bytes([len(dcid)]) + dcid + \
        bytes([len(scid)]) + scid + b"\x00"
    body = payload + bytes(max(0, pad_to - (len(head) + 2 + 4 + len(payload) + 16)))
    head += struct.pack("!H", 0x4000 | (4 + len(body) + 16))
    pn_off = len(head)
    head += struct.pack("!I", pn)
    nonce = iv[:8] + bytes(a ^ b for a, b in zip(iv[8:], struct.pack("!I", pn)))
    sealed = AESGCM(key).encrypt(nonce, body, head)
    enc = Cipher(algorithms.AES(hp), modes.ECB()).encryptor()
    mask = enc.update(sealed[:16]) + enc.finalize()
    pkt = bytearray(head + sealed)
    pkt[0] ^= mask[0] & 0x0f
    for i in range(4):
        pkt[pn_off + i] ^= mask[1 + i]
    return bytes(pkt)


def zero_rtt(dcid, scid, tag, size=1200):
    """A 0-RTT long-header packet of size bytes whose opaque payload starts
    with tag (what a test recognises it by)."""
    head = bytes([0xd3]) + struct.pack("!I", 1) + bytes([len(dcid)]) + dcid + \
        bytes([len(scid)]) + scid
    n = size - len(head) - 2
    body = (tag + os.urandom(n))[:n]
    return head + struct.pack("!H", 0x4000 | n) + body


def hello_message(sni, alpn=("h3",)):
    """A ClientHello handshake message (Python's ssl, its record header cut)."""
    rec = client_hello(sni, list(alpn))
    return rec[5:5 + struct.unpack("!H", rec[3:5])[0]]


def hello_initials(sni, pieces=1, dcid=None, scid=b"\x01\x02\x03\x04"):
    """The ClientHello for sni cut into pieces CRYPTO pieces, one Initial
    datagram each (1200 bytes), in order: the reader knows the name only
    once the last one is in."""
    dcid = dcid or os.urandom(8)
    msg = hello_message(sni)
    cut = [len(msg) * i // pieces for i in range(pieces + 1)]
    return [initial(dcid, scid, i, crypto_frame(cut[i], msg[cut[i]:cut[i + 1]]))
            for i in range(pieces)]


def strip_proxy_v2(dgram):
    """What a backend behind proxy=v2 does with each datagram: check the
    PROXY v2 header, take the client's address from it, cut it off.
    Returns ((src_ip, src_port), (dst_ip, dst_port), payload); raises
    ValueError if the datagram does not start with a v2 PROXY UDP header."""
    if len(dgram) < 16 or dgram[:12] != PP2_SIG:
        raise ValueError("no PROXY v2 signature")
    ver_cmd, fam, n = dgram[12], dgram[13], struct.unpack("!H", dgram[14:16])[0]
    if ver_cmd != 0x21 or len(dgram) < 16 + n:
        raise ValueError("not a v2 PROXY command, or truncated")
    a = dgram[16:16 + n]
    if fam == 0x12 and n >= 12:          # UDP over IPv4
        alen = 4
    elif fam == 0x22 and n >= 36:        # UDP over IPv6
        alen = 16
    else:
        raise ValueError("family 0x%02x is not UDP4 or UDP6" % fam)
    src = str(ipaddress.ip_address(a[:alen]))
    dst = str(ipaddress.ip_address(a[alen:2 * alen]))
    sport, dport = struct.unpack("!HH", a[2 * alen:2 * alen + 4])
    return (src, sport), (dst, dport), dgram[16 + n:]


def ready(hp):
    """Wait until every worker of halfpipe hp has bound its listen-quic
    sockets ("N workers, ..." comes after the last): a client's datagrams
    sent before that may land on a socket of the first worker and later
    ones on another's, once the kernel's SO_REUSEPORT group has grown."""
    hp.wait_stderr(r"\d+ workers?, splice-pipes")


def udp_socket(host, port=0):
    """A UDP socket bound to host:port (port 0: any), of host's family."""
    s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((host, port))
    return s
