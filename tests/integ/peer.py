#!/usr/bin/python3
"""Scriptable TCP/TLS test peer for the halfpipe integration tests.

Runs inside a network namespace (started as `ip netns exec NS python3 peer.py
MODE ...`) and is driven by JSON commands, one per line, on stdin.  Everything
it observes is reported as JSON lines on stdout, each carrying "t", the
CLOCK_MONOTONIC time of the observation (system-wide, so the harness can
compare times across processes and namespaces).

Mode "raw" (default): a selectors loop that runs one script per connection.
  commands:
    {"cmd": "listen", "addr": A, "port": 0, "scripts": [S0, S1, ...]}
        -> {"ev": "listening", "port": P}; the i-th accepted connection runs
           scripts[min(i, len-1)] -> {"ev": "accepted", "conn": C, ...}
    {"cmd": "connect", "addr": A, "port": P, "count": N, "script": S[, "src": ADDR]}
        -> per connection {"ev": "connected", "conn": C, "lport": L}
           or {"ev": "connect_error", "conn": C, "err": "ECONNREFUSED"}
    {"cmd": "signal", "tag": T}   releases every {"op": "wait", "tag": T}
    {"cmd": "close_all"}          close every connection (FIN)
    {"cmd": "exit"}
  script steps (run in order; receiving is always on unless paused, so an
  EOF or a reset is noticed whenever it comes):
    {"op": "send", "hello": SNI | null, "alpn": [...]}  a real ClientHello
    {"op": "send", "hex": H} / {"op": "send", "file": F, "start": A, "end": B}
    {"op": "send", "pattern": N, "seed": S}   N pseudo-random bytes
      (any send may add "then_hex": H after its bytes, "prefix_hex": H before)
    {"op": "send_slow", "hello": SNI, "interval": SEC}  one byte per SEC
    {"op": "shut_wr"}              shutdown(SHUT_WR)       -> "shut"
    {"op": "wait_eof"}             until EOF or reset seen
    {"op": "wait_rx", "n": N}      until N payload bytes received -> "rx"
    {"op": "wait", "tag": T}       until signalled
    {"op": "pause_read"} / {"op": "resume_read"}
    {"op": "rst"}                  SO_LINGER {1,0} + close -> "rst_sent"
    {"op": "close"}                close()                 -> "closed"
    {"op": "urgent", "hex": H | "pattern": N, "seed": S}
                                   the bytes, the last one sent with MSG_OOB
                                   -> "sent" (with "urgent": 1)
    {"op": "watch_rst"}            from now on, while reading is over (EOF
                                   seen) or stopped, poll SO_ERROR so that a
                                   reset is still noticed -> "rst" ("polled": 1)
    {"op": "stop_read"}            stop reading for good (the receive window
                                   closes) but keep noticing a reset, as
                                   watch_rst                -> "stop_read"
    {"op": "vanish", "table": T}   in this namespace, `nft add rule inet T`
                                   drops every packet of this connection's
                                   4-tuple both ways (table T with chains
                                   input and output made beforehand); the
                                   socket is left open      -> "vanished"
    {"op": "deaf", "table": T}     the same for incoming packets only -> "deaf"
    {"op": "send_shut", "hex": H}  the bytes and the FIN in one segment
                                   (TCP_CORK around send + shutdown(SHUT_WR))
                                   -> "sent", "shut"
    {"op": "mark", "name": M}      -> "mark" with "name": M, once every send
                                   before it has drained into the socket
  listen and connect also take "label": L (every event of their connections
  then carries "label": L) and "rcvbuf": N (SO_RCVBUF set before listen or
  connect: a small one keeps the receive window small).
  A server script may begin with {"op": "strip_hello"}: the ClientHello at the
  start of the stream is consumed (-> "hello" with its size) and not counted
  as payload; the rest of the script starts once it is in (or at EOF).
  Events about received data: "eof" / "rst" / "rx_error" carry "rx" (payload
  bytes), "sha256" and "head" (hex of the first 64 payload bytes).  "shut",
  "closed", "rst_sent" and "sent" carry "tx" and "tx_sha256".

Mode "tls-http": a TLS server answering each HTTP/1.1 request with a body
naming itself.  argv: --addr A --cert F --key F --name NAME.
    -> {"ev": "listening", "port": P}, per connection {"ev": "served", ...}.
"""

import errno
import hashlib
import json
import os
import random
import selectors
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time

MAX_LIFE = float(os.environ.get("HP_PEER_MAX_LIFE", "300"))
CHUNK = 65536


def now():
    return time.monotonic()


_out_lock = threading.Lock()
_labels = {}            # connection id -> label given by listen/connect


def emit(ev, **kw):
    if "conn" in kw and kw["conn"] in _labels:
        kw["label"] = _labels[kw["conn"]]
    kw["ev"] = ev
    kw["t"] = now()
    line = json.dumps(kw, sort_keys=True)
    with _out_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def client_hello(sni, alpn=None):
    """The bytes of a real ClientHello from Python's ssl for SNI sni."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if alpn:
        ctx.set_alpn_protocols(alpn)
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_side=False, server_hostname=sni)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    data = out.read()
    assert data and data[0] == 0x16, "no ClientHello produced"
    return data


def pattern(n, seed):
    return random.Random(seed).randbytes(n)


_pattern_cache = {}


def pattern_shared(n, seed):
    """pattern(n, seed), kept for reuse when large: a thousand connections
    sending the same 1 MiB share one bytes object instead of a GiB."""
    if n < 256 * 1024:
        return pattern(n, seed)
    key = (n, seed)
    if key not in _pattern_cache:
        if len(_pattern_cache) >= 8:
            _pattern_cache.clear()
        _pattern_cache[key] = pattern(n, seed)
    return _pattern_cache[key]


def hello_len(buf):
    """Length of the TLS records holding the ClientHello at the start of buf,
    None if more bytes are needed, -1 if buf does not start with a hello."""
    if len(buf) < 1:
        return None
    if buf[0] != 0x16:
        return -1
    off, hs, need = 0, b"", None
    for _ in range(100000):
        if len(buf) < off + 5:
            return None
        typ, _ver, rlen = struct.unpack("!BHH", buf[off:off + 5])
        if typ != 0x16:
            return -1
        if len(buf) < off + 5 + rlen:
            return None
        hs += buf[off + 5:off + 5 + rlen]
        off += 5 + rlen
        if need is None and len(hs) >= 4:
            need = 4 + int.from_bytes(hs[1:4], "big")
        if need is not None and len(hs) >= need:
            return off
    return -1


def errname(e):
    return errno.errorcode.get(e.errno, str(e.errno)) if e.errno else type(e).__name__


class Conn:
    def __init__(self, peer, cid, sock, script, connecting):
        self.peer, self.id, self.sock = peer, cid, sock
        self.script, self.pc = list(script), 0
        self.connecting = connecting
        self.strip = bool(script and script[0].get("op") == "strip_hello")
        if self.strip:
            self.pc = 1
        self.hello_buf = b""
        self.rx, self.rx_hash, self.head = 0, hashlib.sha256(), b""
        self.tx, self.tx_hash = 0, hashlib.sha256()
        self.eof = self.dead = self.closed = False
        self.read_paused = False
        self.outbuf = memoryview(b"")
        self.slow = None          # (bytes, interval) for send_slow
        self.next_time = 0.0
        self.mask = 0
        self.watch = False        # watch_rst / stop_read: poll SO_ERROR
        self.poll_at = 0.0

    # -- bookkeeping ------------------------------------------------------
    def rxinfo(self):
        return dict(conn=self.id, rx=self.rx, sha256=self.rx_hash.hexdigest(),
                    head=self.head.hex())

    def txinfo(self):
        return dict(conn=self.id, tx=self.tx, tx_sha256=self.tx_hash.hexdigest())

    def want(self):
        m = 0
        if self.closed:
            return 0
        if self.connecting:
            return selectors.EVENT_WRITE
        if not self.eof and not self.dead and not self.read_paused:
            m |= selectors.EVENT_READ
        if len(self.outbuf) and not self.dead:
            m |= selectors.EVENT_WRITE
        return m

    def update(self):
        m = self.want()
        sel = self.peer.sel
        if m == self.mask:
            return
        if self.mask and m:
            sel.modify(self.sock, m, self)
        elif m:
            sel.register(self.sock, m, self)
        else:
            sel.unregister(self.sock)
        self.mask = m

    def finish(self):
        if not self.closed:
            self.closed = True
            if self.mask:
                self.peer.sel.unregister(self.sock)
                self.mask = 0
            self.sock.close()

    # -- I/O --------------------------------------------------------------
    def on_readable(self):
        try:
            data = self.sock.recv(CHUNK)
        except (BlockingIOError, InterruptedError):
            return
        except ConnectionResetError:
            self.dead = True
            emit("rst", **self.rxinfo())
            return
        except OSError as e:
            self.dead = True
            emit("rx_error", err=errname(e), **self.rxinfo())
            return
        if not data:
            self.eof = True
            if self.strip and self.hello_buf:
                emit("hello_partial", conn=self.id, bytes=len(self.hello_buf))
            emit("eof", **self.rxinfo())
            return
        if self.strip:
            self.hello_buf += data
            n = hello_len(self.hello_buf)
            if n is None:
                return
            self.strip = False
            if n == -1:
                emit("not_hello", conn=self.id)
                n = 0
            emit("hello", conn=self.id, bytes=n)
            data, self.hello_buf = self.hello_buf[n:], b""
        if data:
            self.rx += len(data)
            self.rx_hash.update(data)
            if len(self.head) < 64:
                self.head += data[:64 - len(self.head)]

    def on_writable(self):
        if self.connecting:
            err = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            self.connecting = False
            if err:
                self.dead = True
                emit("connect_error", conn=self.id, err=errno.errorcode.get(err, str(err)))
                self.finish()
                return
            emit("connected", conn=self.id, lport=self.sock.getsockname()[1])
            return
        try:
            n = self.sock.send(self.outbuf[:CHUNK * 4])
        except (BlockingIOError, InterruptedError):
            return
        except OSError as e:
            self.dead = True
            self.outbuf = memoryview(b"")
            emit("send_error", err=errname(e), **self.txinfo())
            return
        self.tx_hash.update(self.outbuf[:n])
        self.tx += n
        self.outbuf = self.outbuf[n:]

    # -- script -----------------------------------------------------------
    WATCH_PERIOD = 0.02

    def step(self):
        """Advance the script as far as possible; return a wake-up time or None."""
        if not self.watch:
            return self._step()
        if not (self.closed or self.dead) and (self.eof or self.read_paused):
            t = now()
            if t >= self.poll_at:
                self.poll_at = t + self.WATCH_PERIOD
                err = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    self.dead = True
                    self.outbuf = memoryview(b"")
                    emit("rst", polled=1, err=errno.errorcode.get(err, str(err)),
                         after_eof=int(self.eof), **self.rxinfo())
        w = self._step()
        if not (self.closed or self.dead) and (self.eof or self.read_paused):
            w = self.poll_at if w is None else min(w, self.poll_at)
        return w

    def _oob(self, byte):
        """Send one byte with MSG_OOB; True once sent (False: try again)."""
        try:
            n = self.sock.send(byte, socket.MSG_OOB)
        except (BlockingIOError, InterruptedError):
            return False
        except OSError as e:
            self.dead = True
            emit("send_error", err=errname(e), **self.txinfo())
            return True
        if n == 1:
            self.tx_hash.update(byte)
            self.tx += 1
            return True
        return False

    def _nft(self, table, both):
        """Rules in this namespace's table `table` dropping this connection's
        packets: incoming ones, and with both outgoing ones too."""
        (la, lp), (ra, rp) = self.sock.getsockname()[:2], self.sock.getpeername()[:2]
        fam = "ip6" if ":" in la else "ip"
        rules = ["add rule inet %s input %s saddr %s tcp sport %d %s daddr %s tcp dport %d drop"
                 % (table, fam, ra, rp, fam, la, lp)]
        if both:
            rules.append("add rule inet %s output %s saddr %s tcp sport %d %s daddr %s "
                         "tcp dport %d drop" % (table, fam, la, lp, fam, ra, rp))
        r = subprocess.run(["nft", "-f", "-"], input=("\n".join(rules) + "\n").encode(),
                           capture_output=True, timeout=20)
        return r.returncode, r.stderr.decode(errors="replace")[-300:]

    def _step(self):
        for _ in range(1000):
            if self.closed or self.connecting:
                return None
            if self.dead:
                if self.pc < len(self.script):
                    emit("aborted", conn=self.id, step=self.pc,
                         op=self.script[self.pc].get("op"))
                    self.pc = len(self.script)
                self.finish()
                return None
            if self.pc >= len(self.script):
                return None
            if self.strip and not self.eof:
                return None                      # the rest waits for the hello
            st = self.script[self.pc]
            op = st["op"]
            if len(self.outbuf) and op not in ("wait_eof", "wait_rx", "wait",
                                                "pause_read", "resume_read",
                                                "watch_rst", "stop_read"):
                return None                      # previous send still draining
            if self.slow is not None:
                data, interval = self.slow
                t = now()
                if t < self.next_time:
                    return self.next_time
                if not data:
                    self.slow = None
                    emit("sent", **self.txinfo())
                    self.pc += 1
                    continue
                self.outbuf = memoryview(data[:1])
                self.slow = (data[1:], interval)
                self.next_time = t + interval
                return self.next_time
            if op == "send":
                if "hello" in st:
                    data = client_hello(st["hello"], st.get("alpn"))
                elif "hex" in st:
                    data = bytes.fromhex(st["hex"])
                elif "file" in st:
                    with open(st["file"], "rb") as f:
                        data = f.read()[st.get("start", 0):st.get("end")]
                else:
                    data = pattern_shared(st["pattern"], st.get("seed", 0))
                if "then_hex" in st:
                    data += bytes.fromhex(st["then_hex"])
                if "prefix_hex" in st:
                    data = bytes.fromhex(st["prefix_hex"]) + data
                self.outbuf = memoryview(data)
                self.pc += 1
                self.script.insert(self.pc, {"op": "_sent"})
                continue
            if op == "urgent":
                if "hex" in st:
                    data = bytes.fromhex(st["hex"])
                else:
                    data = pattern_shared(st["pattern"], st.get("seed", 0))
                self.outbuf = memoryview(data[:-1])
                self.pc += 1
                self.script.insert(self.pc, {"op": "_oob", "byte": data[-1:].hex()})
                continue
            if op == "_oob":
                if not self._oob(bytes.fromhex(st["byte"])):
                    return now() + 0.005
                if self.dead:
                    continue
                emit("sent", urgent=1, **self.txinfo())
                self.pc += 1
                continue
            if op in ("watch_rst", "stop_read"):
                self.watch = True
                if op == "stop_read":
                    self.read_paused = True
                    emit("stop_read", **self.rxinfo())
                self.pc += 1
                continue
            if op in ("vanish", "deaf"):
                rc, err = self._nft(st["table"], op == "vanish")
                if rc:
                    emit(op + "_error", conn=self.id, err=err)
                else:
                    emit("vanished" if op == "vanish" else "deaf", conn=self.id)
                self.pc += 1
                continue
            if op == "send_shut":
                data = bytes.fromhex(st["hex"])
                try:
                    self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
                    n = self.sock.send(data)
                except OSError as e:
                    n, err = 0, errname(e)
                if n != len(data):
                    emit("send_error", err=err if not n else "short", **self.txinfo())
                    self.dead = True
                    continue
                self.tx_hash.update(data)
                self.tx += n
                emit("sent", **self.txinfo())
                op = "shut_wr"          # the FIN joins the corked segment
            if op == "mark":
                emit("mark", conn=self.id, name=st["name"])
                self.pc += 1
                continue
            if op == "_sent":
                emit("sent", **self.txinfo())
                self.pc += 1
                continue
            if op == "send_slow":
                data = client_hello(st["hello"]) if "hello" in st else bytes.fromhex(st["hex"])
                self.slow = (data, float(st["interval"]))
                self.next_time = 0.0
                continue
            if op == "shut_wr":
                try:
                    self.sock.shutdown(socket.SHUT_WR)
                    if st["op"] == "send_shut":
                        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 0)
                except OSError as e:
                    emit("shut_error", conn=self.id, err=errname(e))
                    self.dead = True
                    continue
                emit("shut", **self.txinfo())
                self.pc += 1
                continue
            if op == "wait_eof":
                if not self.eof:
                    return None
                self.pc += 1
                continue
            if op == "wait_rx":
                if self.rx < st["n"]:
                    if self.eof:
                        emit("short", **self.rxinfo())
                        self.pc = len(self.script)
                    return None
                emit("rx", **self.rxinfo())
                self.pc += 1
                continue
            if op == "wait":
                if st["tag"] not in self.peer.tags:
                    return None
                self.pc += 1
                continue
            if op == "pause_read":
                self.read_paused = True
                self.pc += 1
                continue
            if op == "resume_read":
                self.read_paused = False
                self.pc += 1
                continue
            if op == "rst":
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                     struct.pack("ii", 1, 0))
                emit("rst_sent", **self.txinfo())
                self.pc += 1
                self.finish()
                return None
            if op == "close":
                emit("closed", **self.txinfo())
                self.pc += 1
                self.finish()
                return None
            if op == "sleep":
                if self.next_time == 0.0:
                    self.next_time = now() + float(st["s"])
                if now() < self.next_time:
                    return self.next_time
                self.next_time = 0.0
                self.pc += 1
                continue
            raise ValueError("unknown op %r" % op)
        return None


class RawPeer:
    def __init__(self):
        self.sel = selectors.DefaultSelector()
        self.conns = {}
        self.listeners = {}
        self.tags = set()
        self.next_id = 0
        self.stdin_buf = b""
        self.running = True
        self.deadline = now() + MAX_LIFE

    def new_id(self):
        self.next_id += 1
        return self.next_id

    def command(self, c):
        cmd = c["cmd"]
        if cmd == "listen":
            fam = socket.AF_INET6 if ":" in c["addr"] else socket.AF_INET
            ls = socket.socket(fam, socket.SOCK_STREAM)
            ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if c.get("rcvbuf"):
                ls.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, int(c["rcvbuf"]))
            ls.bind((c["addr"], c.get("port", 0)))
            ls.listen(c.get("backlog", 1024))
            ls.setblocking(False)
            lid = self.new_id()
            self.listeners[ls] = {"id": lid, "scripts": c["scripts"], "n": 0,
                                  "label": c.get("label")}
            self.sel.register(ls, selectors.EVENT_READ, ("listen", ls))
            kw = {"label": c["label"]} if c.get("label") is not None else {}
            emit("listening", listener=lid, port=ls.getsockname()[1], **kw)
        elif cmd == "connect":
            fam = socket.AF_INET6 if ":" in c["addr"] else socket.AF_INET
            for _ in range(int(c.get("count", 1))):
                s = socket.socket(fam, socket.SOCK_STREAM)
                if c.get("src"):            # a source address of its own
                    s.bind((c["src"], 0))
                if c.get("rcvbuf"):
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, int(c["rcvbuf"]))
                s.setblocking(False)
                cid = self.new_id()
                if c.get("label") is not None:
                    _labels[cid] = c["label"]
                conn = Conn(self, cid, s, c["script"], connecting=True)
                self.conns[cid] = conn
                try:
                    s.connect((c["addr"], c["port"]))
                    conn.connecting = False
                    emit("connected", conn=cid, lport=s.getsockname()[1])
                except BlockingIOError:
                    pass
                except OSError as e:
                    conn.connecting = False
                    conn.dead = True
                    emit("connect_error", conn=cid, err=errname(e))
                    conn.finish()
                conn.update()
        elif cmd == "signal":
            self.tags.add(c["tag"])
        elif cmd == "close_all":
            for conn in self.conns.values():
                conn.finish()
        elif cmd == "exit":
            self.running = False
        else:
            raise ValueError("unknown command %r" % cmd)

    def on_stdin(self):
        data = os.read(0, 65536)
        if not data:
            self.running = False
            return
        self.stdin_buf += data
        while b"\n" in self.stdin_buf:
            line, self.stdin_buf = self.stdin_buf.split(b"\n", 1)
            if line.strip():
                self.command(json.loads(line))

    def on_accept(self, ls):
        info = self.listeners[ls]
        for _ in range(256):
            try:
                s, addr = ls.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                emit("accept_error", err=errname(e))
                return
            s.setblocking(False)
            scripts = info["scripts"]
            script = scripts[min(info["n"], len(scripts) - 1)]
            info["n"] += 1
            cid = self.new_id()
            if info["label"] is not None:
                _labels[cid] = info["label"]
            conn = Conn(self, cid, s, script, connecting=False)
            self.conns[cid] = conn
            emit("accepted", conn=cid, listener=info["id"], peer="%s:%d" % addr[:2])
            conn.update()

    def run(self):
        os.set_blocking(0, False)
        self.sel.register(0, selectors.EVENT_READ, ("stdin", None))
        while self.running and now() < self.deadline:
            wake = self.deadline
            for conn in list(self.conns.values()):
                w = conn.step()
                if w is not None:
                    wake = min(wake, w)
                conn.update()
            timeout = max(0.0, min(wake - now(), 1.0))
            for key, mask in self.sel.select(timeout):
                d = key.data
                if isinstance(d, tuple):
                    if d[0] == "stdin":
                        self.on_stdin()
                    else:
                        self.on_accept(d[1])
                    continue
                if mask & selectors.EVENT_WRITE:
                    d.on_writable()
                if mask & selectors.EVENT_READ and not d.closed:
                    d.on_readable()
            # drop finished connections from the scan
            for cid in [c.id for c in self.conns.values() if c.closed]:
                del self.conns[cid]
        for conn in list(self.conns.values()):
            conn.finish()
        emit("exiting")


def tls_http(argv):
    opts = dict(zip(argv[0::2], argv[1::2]))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(opts["--cert"], opts["--key"])
    ctx.set_alpn_protocols(["http/1.1"])
    name = opts["--name"]
    addr = opts.get("--addr", "127.0.0.1")
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    ls = socket.socket(fam, socket.SOCK_STREAM)
    ls.bind((addr, 0))
    ls.listen(128)
    ls.settimeout(1.0)
    emit("listening", port=ls.getsockname()[1])

    def serve(s, peer):
        s.settimeout(10)
        try:
            ts = ctx.wrap_socket(s, server_side=True)
            req = b""
            while b"\r\n\r\n" not in req and len(req) < 65536:
                d = ts.recv(4096)
                if not d:
                    break
                req += d
            if b"\r\n\r\n" in req:
                body = (name + "\n").encode()
                ts.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                           b"Content-Length: %d\r\nConnection: close\r\n\r\n%s"
                           % (len(body), body))
            emit("served", name=name, request=bool(req), peer=str(peer))
            try:
                ts.unwrap()
            except (OSError, ValueError):
                pass
            ts.close()
        except (OSError, ssl.SSLError) as e:
            emit("serve_error", name=name, err=str(e)[:200])
            s.close()

    stop = threading.Event()

    def stdin_watch():
        while sys.stdin.buffer.read(4096):
            pass
        stop.set()

    threading.Thread(target=stdin_watch, daemon=True).start()
    end = now() + MAX_LIFE
    while not stop.is_set() and now() < end:
        try:
            s, peer = ls.accept()
        except socket.timeout:
            continue
        threading.Thread(target=serve, args=(s, peer), daemon=True).start()
    emit("exiting")


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else "raw"
    if mode == "raw":
        RawPeer().run()
    elif mode == "tls-http":
        tls_http(sys.argv[2:])
    else:
        sys.exit("peer.py: unknown mode %r" % mode)


if __name__ == "__main__":
    main()
