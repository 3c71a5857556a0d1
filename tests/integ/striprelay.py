"""A stripping relay: what a QUIC server that cannot read PROXY headers
needs in front of it behind a proxy=v2 route. Each datagram halfpipe sends
has its PROXY v2 header checked and cut off (quicgen.strip_proxy_v2); the
rest goes to the server from a socket of the relay's own per halfpipe flow
(so the server sees one peer per client), and the server's answers go back
to that flow's socket unchanged.

    python3 striprelay.py ADDR SERVER_ADDR SERVER_PORT

prints "relay PORT" once bound; on a line "report" (or EOF) on stdin it
prints "headers N clients ADDR:PORT..." (the headers read and the client
addresses they named) and exits."""

import os
import select
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from quicgen import strip_proxy_v2, udp_socket  # noqa: E402


def main():
    addr, server = sys.argv[1], (sys.argv[2], int(sys.argv[3]))
    down = udp_socket(addr)
    up = {}                 # halfpipe's flow socket -> the relay's socket toward the server
    back = {}               # the relay's socket -> halfpipe's flow socket
    headers, clients = 0, set()
    print("relay %d" % down.getsockname()[1], flush=True)
    while True:
        r, _, _ = select.select([sys.stdin, down] + list(back), [], [])
        if sys.stdin in r:
            line = sys.stdin.readline()
            if line.strip() == "report" or not line:
                break
        if down in r:
            d, frm = down.recvfrom(65536)
            src, _, payload = strip_proxy_v2(d)
            headers += 1
            clients.add("%s:%d" % src)
            if frm not in up:
                u = udp_socket(addr)
                u.connect(server)
                up[frm], back[u] = u, frm
            up[frm].send(payload)
        for u in r:
            if u in back:
                try:
                    down.sendto(u.recv(65536), back[u])
                except ConnectionRefusedError:
                    pass
    print("headers %d clients %s" % (headers, " ".join(sorted(clients))), flush=True)


if __name__ == "__main__":
    main()
