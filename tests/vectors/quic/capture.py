"""Capture the first UDP datagrams a QUIC client sends: bind 127.0.0.1 port 0,
start the client at localhost:PORT (SNI "localhost"), keep the first two
datagrams (the Initial, then its retransmission after no answer), kill it.

  python3 tests/vectors/quic/capture.py OUT gtlsclient -q --timeout=2s

writes OUT-0.bin, OUT-1.bin. The client is started with HOST PORT URI after
its own arguments.
"""
import socket
import subprocess
import sys
import time

out, client = sys.argv[1], sys.argv[2:]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
port = s.getsockname()[1]
s.settimeout(0.3)
p = subprocess.Popen(client + ["localhost", str(port), "https://localhost/"],
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
got = []
end = time.time() + 1.5
while time.time() < end and len(got) < 2:
    try:
        got.append(s.recvfrom(65535)[0])
    except socket.timeout:
        pass
p.kill()
p.wait()
s.close()
for i, d in enumerate(got):
    with open(f"{out}-{i}.bin", "wb") as f:
        f.write(d)
print(port, [len(d) for d in got])
