#!/bin/sh
# Install the Debian packages halfpipe's build, `make run` and `make test` need,
# if any is missing: `apt-get update` once, then `apt-get install -y`.
# `deps.sh test` adds the real components the integration tests run (nginx
# with its stream module, as a PROXY-protocol backend; dnsmasq, the DNS server
# of test_dns; keepalived and ipvsadm, the IPVS balancer of test_fleet;
# logrotate, run on the shipped dist/halfpipe.logrotate by test_logrotate;
# ngtcp2-client and ngtcp2-server, the QUIC stacks of test_quic; chromium,
# the browser of test_quic_chromium; python3-cryptography, with which that
# test opens the browser's Initials and tests/integ/quicgen.py builds
# synthetic ones); their
# services are kept from starting by a /usr/sbin/policy-rc.d that exits 101,
# removed afterwards if this script wrote it.
set -e
PKGS="gcc make clang libclang-rt-14-dev libseccomp-dev libc-ares-dev libssl-dev pkg-config python3 python3-pytest openssl curl iproute2 nftables"
[ "$1" = test ] && PKGS="$PKGS nginx libnginx-mod-stream dnsmasq keepalived ipvsadm logrotate ngtcp2-client ngtcp2-server chromium python3-cryptography"
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
policy=/usr/sbin/policy-rc.d
wrote=""
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\n# written by halfpipe scripts/deps.sh: start no service\nexit 101\n' >"$policy"
	chmod 755 "$policy"
	wrote=1
fi
trap 'if [ -n "$wrote" ]; then rm -f "$policy"; fi' EXIT
apt-get update -q
apt-get install -y -q $missing
