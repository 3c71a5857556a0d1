"""Every shared ClientHello vector through `halfpipe --inspect`, plain and ASan builds.

Run from the repository root: /usr/bin/python3 -m pytest tests/test_vectors.py
Vectors: $HP_VECTORS, else tests/vectors/clienthello: the repository's copy of
../shared/vectors/clienthello, which test_copy_matches_shared checks file by
file whenever ../shared is beside the repository (refresh it with
`rm -r tests/vectors/clienthello && cp -r ../shared/vectors/clienthello tests/vectors/`).
"""
import importlib.util
import os
import pathlib
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
COPY = ROOT / "tests" / "vectors" / "clienthello"
SHARED = ROOT.parent / "shared" / "vectors" / "clienthello"
VECTORS = pathlib.Path(os.environ.get("HP_VECTORS") or COPY)
BUILDS = ["build", "build-asan"]


def halfpipe(build):
    path = ROOT / build / "halfpipe"
    assert path.is_file(), f"{path} is missing: `make test` builds it (make all asan)"
    return path


def expected_rows():
    lines = (VECTORS / "expected.tsv").read_text().splitlines()
    header = lines[0].split("\t")
    assert header[:3] == ["file", "expected", "alpn"], header
    return [dict(zip(header, line.split("\t"))) for line in lines[1:] if line]


def expected_line(row):
    """expected.tsv row -> the line --inspect prints: FILE VERDICT SNI ALPN."""
    exp = row["expected"]
    if exp.startswith("found:"):
        verdict, sni, alpn = "found", exp[len("found:"):], row["alpn"]
    elif exp == "no-sni":
        verdict, sni, alpn = "no-sni", "-", row["alpn"]
    else:
        verdict, sni, alpn = exp, "-", "-"
    return f"{row['file']}\t{verdict}\t{sni}\t{alpn}"


def inspect(build, files, cwd):
    return subprocess.run([str(halfpipe(build)), "--inspect", *files], cwd=cwd,
                          capture_output=True, timeout=300)


@pytest.mark.parametrize("build", BUILDS)
def test_inspect_every_vector(build):
    rows = expected_rows()
    assert len(rows) == len(list(VECTORS.glob("*/*.bin"))), "expected.tsv must list every vector"
    proc = inspect(build, [r["file"] for r in rows], VECTORS)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    assert proc.stderr == b""
    got = proc.stdout.decode("latin-1").splitlines()
    want = [expected_line(r) for r in rows]
    assert len(got) == len(want), f"{len(got)} lines for {len(want)} files"
    wrong = [f"  want {w!r}\n  got  {g!r}" for w, g in zip(want, got) if w != g]
    assert not wrong, f"{len(wrong)} of {len(want)} lines differ:\n" + "\n".join(wrong)


@pytest.mark.parametrize("build", BUILDS)
def test_inspect_unreadable_file(build, tmp_path):
    missing = tmp_path / "no-such-file.bin"
    good = "real/curl-h2.bin"
    proc = inspect(build, [str(missing), good, str(tmp_path)], VECTORS)
    assert proc.returncode == 1
    err = proc.stderr.decode(errors="replace")
    assert str(missing) in err and str(tmp_path) + ":" in err, err
    assert proc.stdout.decode().splitlines() == [f"{good}\tfound\ta.example.test\th2,http/1.1"]


def reference():
    spec = importlib.util.spec_from_file_location("hello_reference", VECTORS / "tools" / "hello.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("build", BUILDS)
def test_inspect_prefixes_match_reference(build, tmp_path):
    """Early verdicts as in tools/hello.py: every prefix of every vector up to
    600 bytes gets the reference's verdict, SNI and ALPN."""
    ref = reference()
    names, want = [], []
    for row in expected_rows():
        data = (VECTORS / row["file"]).read_bytes()
        if len(data) > 600:
            continue
        for k in range(len(data) + 1):
            name = f"{len(names):06d}"
            (tmp_path / name).write_bytes(data[:k])
            r = ref.classify(data[:k])
            sni = r.sni if r.kind == "found" else "-"
            alpn = ",".join(r.alpn) if r.kind in ("found", "no-sni") and r.alpn else "-"
            names.append(name)
            want.append(f"{name}\t{r.kind}\t{sni}\t{alpn}\t({row['file']} cut at {k})")
    got = []
    for i in range(0, len(names), 4000):
        proc = inspect(build, names[i:i + 4000], tmp_path)
        assert proc.returncode == 0, proc.stderr.decode(errors="replace")
        got += proc.stdout.decode("latin-1").splitlines()
    assert len(got) == len(names)
    wrong = [w for w, g in zip(want, got) if w.rsplit("\t", 1)[0] != g]
    assert not wrong, f"{len(wrong)} of {len(names)} prefixes differ, first: {wrong[:5]}"


def _files(d):
    return {p.relative_to(d).as_posix(): p for p in d.rglob("*") if p.is_file()}


@pytest.mark.skipif(not SHARED.is_dir(), reason="no ../shared beside the repository")
def test_copy_matches_shared():
    # The tests read the repository's copy (a tree without ../shared, such
    # as a package build, still has them); it must be ../shared's, exactly.
    mine, theirs = _files(COPY), _files(SHARED)
    assert sorted(mine) == sorted(theirs), "files differ: only here %s, only in ../shared %s" % (
        sorted(set(mine) - set(theirs))[:5], sorted(set(theirs) - set(mine))[:5])
    differ = [f for f in mine if mine[f].read_bytes() != theirs[f].read_bytes()]
    assert not differ, "contents differ from ../shared: %s" % differ[:5]


QUIC = ROOT / "tests" / "vectors" / "quic"
DCID = "e87f1018c2bd7df82d929551cda4f0bef816"       # the ngtcp2 v1 capture's


def quic_line(name, verdict, sni="-", alpn="-", version="0x00000001", dcid=DCID, reason="-"):
    return "\t".join([name, verdict, sni, alpn, "quic", version, dcid, reason])


@pytest.mark.parametrize("build", BUILDS)
def test_inspect_quic_vectors(build):
    """A captured client datagram (its first byte a QUIC long header) goes to
    the QUIC Initial reader: version, DCID, SNI and ALPN as
    tests/vectors/quic/README.md says."""
    names = ["ngtcp2-gtlsclient-v1-first.bin", "ngtcp2-gtlsclient-v1-resent.bin",
             "ngtcp2-gtlsclient-v2draft-first.bin"]
    proc = inspect(build, names, QUIC)
    assert proc.returncode == 0 and proc.stderr == b"", proc.stderr
    assert proc.stdout.decode().splitlines() == [
        quic_line(names[0], "found", "localhost", "h3"),
        quic_line(names[1], "found", "localhost", "h3"),
        quic_line(names[2], "not-initial", version="0x6b3343cf",
                  dcid="8d3d03411d70cf8954de25dfbdbc08cde4ba",
                  reason="no Initial packet in the first datagram")]


@pytest.mark.parametrize("build", BUILDS)
def test_inspect_quic_datagrams(build, tmp_path):
    """Hex lines are a client's datagrams in order: an Initial whose tag does
    not verify is ignored (incomplete alone), the good one after it is read
    (found); an unknown version, a datagram cut short, a TCP stream next to
    them as before; a line that is not hex and a payload over 65527 bytes
    are errors naming the file (and line), the other files still done."""
    good = (QUIC / "ngtcp2-gtlsclient-v1-first.bin").read_bytes()
    bad = good[:-1] + bytes([good[-1] ^ 1])        # its AEAD tag no longer verifies
    files = {
        "bad.bin": bad,
        "two.hex": (bad.hex() + "\n\n" + ":".join("%02x" % b for b in good) + "\r\n").encode(),
        "badonly.hex": (bad.hex().upper() + "\n").encode(),
        "version.bin": b"\xc0\x1a\x2a\x3a\x4a\x08" + bytes(range(8)) + b"\x00" + bytes(1185),
        "cut.bin": good[:1100],
        "notahex.hex": (bad.hex() + "\nc0f\n").encode(),
        "big.bin": b"\xc0" + bytes(65527),
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    tcp = VECTORS / "real" / "curl-h2.bin"
    proc = inspect(build, list(files) + [str(tcp)], tmp_path)
    assert proc.returncode == 1
    assert proc.stdout.decode().splitlines() == [
        quic_line("bad.bin", "incomplete"),
        quic_line("two.hex", "found", "localhost", "h3"),
        quic_line("badonly.hex", "incomplete"),
        quic_line("version.bin", "version", version="0x1a2a3a4a", dcid="0001020304050607",
                  reason="QUIC version not supported"),
        quic_line("cut.bin", "malformed", reason="packet Length runs past the datagram"),
        "%s\tfound\ta.example.test\th2,http/1.1" % tcp]
    assert proc.stderr.decode().splitlines() == [
        "halfpipe: --inspect: notahex.hex:2: not a hex byte",
        "halfpipe: --inspect: big.bin: 65528 bytes, more than a UDP datagram holds (65527)"]
