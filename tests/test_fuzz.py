"""Short libFuzzer runs over copies of the committed corpora: build/fuzz_tls_hello
and build/fuzz_quic_initial (20 s), build/fuzz_conf and build/fuzz_proxy_proto
(10 s). Every input in fuzz/corpus/NAME, crashers found earlier included, is run
first, so the corpus doubles as regression set.

The four run at once (one fixture starts them all; each test waits for its
own), so the smoke run costs the longest duration, not their sum.

Fails on a non-zero exit or any artifact (crash-, leak-, timeout-, oom-).
FUZZ_SECONDS overrides both durations.
"""
import os
import pathlib
import shutil
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
TARGETS = {"tls_hello": 20, "conf": 10, "proxy_proto": 10, "quic_initial": 20}


class Run:
    def __init__(self, name, base):
        self.seconds = int(os.environ.get("FUZZ_SECONDS", TARGETS[name]))
        self.fuzzer = ROOT / "build" / f"fuzz_{name}"
        self.dir = base / name
        self.corpus = self.dir / "corpus"
        self.artifacts = self.dir / "artifacts"
        self.proc = None
        if not self.fuzzer.is_file():
            return
        shutil.copytree(ROOT / "fuzz" / "corpus" / name, self.corpus)
        self.seeds = len(list(self.corpus.iterdir()))
        self.artifacts.mkdir()
        self.stderr = open(self.dir / "stderr", "w+b")
        self.proc = subprocess.Popen(
            [str(self.fuzzer), f"-max_total_time={self.seconds}", "-max_len=20000",
             f"-artifact_prefix={self.artifacts}/", str(self.corpus)],
            cwd=self.dir, stdout=subprocess.DEVNULL, stderr=self.stderr)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("fuzz")
    started = {name: Run(name, base) for name in sorted(TARGETS)}
    yield started
    for r in started.values():
        if r.proc is not None and r.proc.poll() is None:
            r.proc.kill()
            r.proc.wait()


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_fuzz(runs, name):
    r = runs[name]
    assert r.proc is not None, f"{r.fuzzer} is missing: `make build/fuzz_{name}`"
    assert r.seeds > 0, "empty seed corpus"
    rc = r.proc.wait(timeout=r.seconds + 120)
    found = sorted(p.name for p in r.artifacts.iterdir())
    r.stderr.seek(0)
    tail = r.stderr.read().decode(errors="replace")[-4000:]
    r.stderr.close()
    assert rc == 0 and not found, f"exit {rc}, artifacts {found}\n{tail}"
