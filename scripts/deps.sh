#!/bin/sh
# Install the Debian packages halfpipe's build, `make run` and `make test` need,
# if any is missing: `apt-get update` once, then `apt-get install -y`.
set -e
PKGS="gcc make clang libclang-rt-14-dev libseccomp-dev python3 python3-pytest openssl curl iproute2 nftables"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
	echo "deps: missing Debian packages:$missing (run as root to install them)" >&2
	exit 1
fi
echo "deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q $missing
