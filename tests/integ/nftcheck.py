#!/usr/bin/python3
"""The health checker of the nftables balancer (tests/integ/test_fleet.py,
docs/deploy.md): it plays keepalived's part where the kernel has no IPVS.

Run in the balancer's namespace:

    nftcheck.py --table T --vip ADDR --port P --interval S --timeout S \
                --inst ADDR:PORT:METRICSPORT ...

It makes `table ip T` with a prerouting nat chain, then every --interval
asks each instance's GET /ready (on ADDR:METRICSPORT, a connect and the
answer within --timeout): an instance is in the set if the answer is
`HTTP/1.x 200`, out otherwise (refused, timed out, 503), one check is
enough either way (keepalived's retry 0, fast_recovery).  Whenever the set
changes it replaces the chain's rule in one nft transaction:

    ip daddr VIP tcp dport P dnat ip to numgen inc mod N map { 0 : ADDR . PORT, ... }

so new connections go round robin to the ready instances only, while
conntrack keeps every established one on the instance it went to.  With no
instance ready there is no rule (the VIP is the balancer's own address:
the kernel refuses).  Events are JSON lines on stdout, as peer.py's:
{"ev": "set", "ready": [indexes], "t": CLOCK_MONOTONIC}, and "error" with
nft's message.  It stops at a line or EOF on stdin, or after HP_PEER_MAX_LIFE
seconds (default 300).
"""

import argparse
import json
import os
import select
import socket
import subprocess
import sys
import time

MAX_LIFE = float(os.environ.get("HP_PEER_MAX_LIFE", "300"))


def emit(ev, **kw):
    kw["ev"] = ev
    kw["t"] = time.clock_gettime(time.CLOCK_MONOTONIC)
    sys.stdout.write(json.dumps(kw) + "\n")
    sys.stdout.flush()


def is_ready(addr, mport, timeout):
    """GET /ready: True on a 200 within timeout, False otherwise."""
    deadline = time.monotonic() + timeout
    try:
        with socket.create_connection((addr, mport), timeout=timeout) as s:
            s.sendall(b"GET /ready HTTP/1.0\r\nHost: %s\r\n\r\n" % addr.encode())
            buf = b""
            while b"\r\n" not in buf and len(buf) < 4096:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                s.settimeout(left)
                chunk = s.recv(4096)
                if not chunk:
                    break
                buf += chunk
    except OSError:
        return False
    line = buf.split(b"\r\n", 1)[0].split()
    return len(line) >= 2 and line[0].startswith(b"HTTP/1.") and line[1] == b"200"


def rule(a, ready, insts):
    if not ready:
        return ""
    targets = ", ".join("%d : %s . %d" % (k, insts[i][0], insts[i][1])
                        for k, i in enumerate(ready))
    return ("add rule ip %s pre ip daddr %s tcp dport %d dnat ip to numgen inc mod %d "
            "map { %s }\n" % (a.table, a.vip, a.port, len(ready), targets))


def nft(script):
    r = subprocess.run(["nft", "-f", "-"], input=script.encode(), capture_output=True,
                       timeout=20)
    if r.returncode != 0:
        emit("error", err=r.stderr.decode(errors="replace")[-500:])
    return r.returncode == 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--table", required=True)
    ap.add_argument("--vip", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--interval", type=float, default=0.1)
    ap.add_argument("--timeout", type=float, default=0.25)
    ap.add_argument("--inst", action="append", required=True)
    a = ap.parse_args()
    insts = []
    for spec in a.inst:
        addr, port, mport = spec.rsplit(":", 2)
        insts.append((addr, int(port), int(mport)))
    if not nft("table ip %s {\n chain pre { type nat hook prerouting priority dstnat; "
               "policy accept; }\n}\n" % a.table):
        return 1
    current = None
    end = time.monotonic() + MAX_LIFE
    for _ in range(int(MAX_LIFE / a.interval) + 1):
        t0 = time.monotonic()
        if t0 >= end:
            break
        ready = [i for i, (addr, _, mport) in enumerate(insts)
                 if is_ready(addr, mport, a.timeout)]
        if ready != current and nft("flush chain ip %s pre\n%s" % (a.table, rule(a, ready, insts))):
            current = ready
            emit("set", ready=ready)
        wait = max(0.0, a.interval - (time.monotonic() - t0))
        if select.select([0], [], [], wait)[0]:
            break                       # a command or EOF on stdin: stop
    emit("exiting")
    return 0


if __name__ == "__main__":
    sys.exit(main())
