#!/bin/sh
# `make run`: two local demo HTTPS backends (a.example.test on 127.0.0.1:9001,
# b.example.test on 127.0.0.1:9002) and halfpipe on examples/halfpipe.conf
# (127.0.0.1:8443), routing by SNI. Ctrl-C stops everything.
set -eu
cd "$(dirname "$0")/.."
demo=build/demo
mkdir -p "$demo"
if [ ! -f "$demo/ca.pem" ]; then
	openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=halfpipe demo CA" \
	    -keyout "$demo/ca.key" -out "$demo/ca.pem" 2>/dev/null
	for n in a b; do
		openssl req -newkey rsa:2048 -nodes -subj "/CN=$n.example.test" \
		    -keyout "$demo/$n.key" -out "$demo/$n.csr" 2>/dev/null
		printf 'subjectAltName=DNS:%s.example.test\n' "$n" > "$demo/$n.ext"
		openssl x509 -req -in "$demo/$n.csr" -CA "$demo/ca.pem" -CAkey "$demo/ca.key" \
		    -CAcreateserial -days 30 -extfile "$demo/$n.ext" -out "$demo/$n.pem" 2>/dev/null
	done
fi
/usr/bin/python3 examples/demo_backend.py a 9001 "$demo/a.pem" "$demo/a.key" &
pa=$!
/usr/bin/python3 examples/demo_backend.py b 9002 "$demo/b.pem" "$demo/b.key" &
pb=$!
trap 'kill $pa $pb 2>/dev/null' EXIT INT TERM
cat <<TXT

halfpipe listens on 127.0.0.1:8443. In another terminal:

  curl --cacert $demo/ca.pem --resolve a.example.test:8443:127.0.0.1 https://a.example.test:8443/
  curl --cacert $demo/ca.pem --resolve b.example.test:8443:127.0.0.1 https://b.example.test:8443/
  curl --cacert $demo/ca.pem --resolve c.example.test:8443:127.0.0.1 https://c.example.test:8443/   # no route: rejected

The first answers "hello from backend a", the second "hello from backend b";
the third fails with a TLS "unrecognized name" alert. One access-log line per
connection appears below. Ctrl-C stops halfpipe and the backends.

TXT
build/halfpipe -c examples/halfpipe.conf
