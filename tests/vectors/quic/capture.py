"""Capture the first UDP datagrams a QUIC client sends: bind 127.0.0.1 port 0,
start the client, keep its first N datagrams (2 unless -n N: the first
flight, then its retransmissions after no answer), kill it and its
children (its process group).

  python3 tests/vectors/quic/capture.py OUT gtlsclient -q --timeout=2s

starts the client with HOST PORT URI after its own arguments (SNI
"localhost"). If an argument holds "{port}", it is replaced by the port and
nothing is added; "{tmp}" becomes a directory made for the run and removed
after it (a browser profile; the client's HOME and TMPDIR too):

  python3 tests/vectors/quic/capture.py -n 4 OUT /usr/bin/chromium --headless=new \\
      --no-sandbox --user-data-dir={tmp} --enable-quic \\
      --origin-to-force-quic-on=a.example.test:443 \\
      '--host-resolver-rules=MAP a.example.test 127.0.0.1:{port}' \\
      --dump-dom https://a.example.test/

writes OUT-0.bin, OUT-1.bin, ...
"""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

args = sys.argv[1:]
keep = 2
if args[0] == "-n":
    keep, args = int(args[1]), args[2:]
out, client = args[0], args[1:]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
port = s.getsockname()[1]
s.settimeout(0.3)
tmp = tempfile.mkdtemp(prefix="capture.")
if any("{port}" in a for a in client):
    client = [a.replace("{port}", str(port)).replace("{tmp}", tmp) for a in client]
else:
    client = client + ["localhost", str(port), "https://localhost/"]
p = subprocess.Popen(client, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                     env=dict(os.environ, HOME=tmp, TMPDIR=tmp), start_new_session=True)
got = []
end = time.time() + 10
while time.time() < end and len(got) < keep:
    try:
        got.append(s.recvfrom(65535)[0])
    except socket.timeout:
        pass
os.killpg(p.pid, signal.SIGKILL)     # the client and its children (a browser's)
p.wait()
s.close()
shutil.rmtree(tmp, ignore_errors=True)
for i, d in enumerate(got):
    with open(f"{out}-{i}.bin", "wb") as f:
        f.write(d)
print(port, [len(d) for d in got])
