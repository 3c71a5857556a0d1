"""Fixtures for the halfpipe integration suite.

Every test runs once per halfpipe variant (ids plain: two workers, splice;
copy: one worker, no splice pipes; asan: the ASan+UBSan build, two workers); override the
list with HP_TEST_BINARIES="id=path,id=path".  Needs root (network
namespaces, nft).  Timeouts scale with HP_TEST_TIMEOUT_MULTIPLIER.
"""

import os
import shutil
import subprocess
import sys
import tempfile

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import netns  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class HpBin(str):
    """A halfpipe binary's path, with the flags this variant adds to every run."""

    def __new__(cls, path, extra=()):
        s = str.__new__(cls, path)
        s.extra = list(extra)
        return s


def _binaries():
    spec = os.environ.get("HP_TEST_BINARIES")
    if spec:
        out = []
        for item in spec.split(","):
            bid, _, path = item.partition("=")
            out.append((bid, HpBin(os.path.abspath(path))))
        return out
    plain = os.path.join(REPO, "build", "halfpipe")
    asan = os.path.join(REPO, "build-asan", "halfpipe")
    # splice on (the default) with two workers; the copy path alone on one
    # worker; the sanitizer build with two workers.
    return [("plain", HpBin(plain, ["--workers", "2"])),
            ("copy", HpBin(plain, ["--workers", "1", "--splice-pipes", "0"])),
            ("asan", HpBin(asan, ["--workers", "2"]))]


BINARIES = _binaries()


def pytest_collection_modifyitems(config, items):
    here = os.path.dirname(os.path.abspath(__file__))
    for item in items:
        if str(item.fspath).startswith(here):
            item.add_marker(pytest.mark.integ)


def pytest_configure(config):
    config.addinivalue_line("markers", "integ: end-to-end test in network namespaces")
    config.addinivalue_line("markers", "slow: takes several seconds per binary")


@pytest.fixture(params=[b[1] for b in BINARIES], ids=[b[0] for b in BINARIES])
def hp_bin(request):
    """Path of the halfpipe binary under test (an HpBin: .extra holds the
    flags of its variant, which Topology.halfpipe adds to every run)."""
    path = request.param
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        pytest.fail("%s is missing: build it first (make -C %s all asan)" % (
            os.path.relpath(path, REPO), "."))
    return path


@pytest.fixture(scope="session", autouse=True)
def _need_root():
    if os.geteuid() != 0:
        pytest.skip("integration tests need root (network namespaces, nft)")
    for tool in ("ip", "ss", "nft", "openssl"):
        if shutil.which(tool) is None:
            pytest.skip("integration tests need %s" % tool)


@pytest.fixture(scope="session")
def certs():
    """A throwaway CA and server certificates for a.example.test and
    b.example.test: dict with paths ca, a_cert, a_key, b_cert, b_key."""
    d = tempfile.mkdtemp(prefix="hpcerts.")
    try:
        def ossl(*args):
            subprocess.run(["openssl"] + list(args), cwd=d, check=True, capture_output=True,
                           timeout=60)
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
        ossl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
             "-subj", "/CN=halfpipe test CA")
        out = {"ca": os.path.join(d, "ca.pem"), "dir": d}
        for n in ("a", "b"):
            host = "%s.example.test" % n
            with open(os.path.join(d, n + ".ext"), "w") as f:
                f.write("basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\n"
                        "extendedKeyUsage=serverAuth\nsubjectAltName=DNS:%s\n" % host)
            ossl("req", *ec, "-keyout", n + ".key", "-out", n + ".csr", "-subj", "/CN=" + host)
            ossl("x509", "-req", "-in", n + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                 "-CAcreateserial", "-out", n + ".pem", "-days", "2", "-extfile", n + ".ext")
            out[n + "_cert"] = os.path.join(d, n + ".pem")
            out[n + "_key"] = os.path.join(d, n + ".key")
        yield out
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def topo():
    """Three fresh namespaces (client, proxy, server), removed afterwards."""
    t = netns.Topology()
    try:
        yield t
    finally:
        t.close()


@pytest.fixture
def loopback():
    """No namespaces: processes run here and talk over 127.0.0.1 / ::1."""
    t = netns.Topology(netns=False)
    try:
        yield t
    finally:
        t.close()
