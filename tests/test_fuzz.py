"""Short libFuzzer runs over copies of the committed corpora: build/fuzz_tls_hello
and build/fuzz_quic_initial (20 s), build/fuzz_conf and build/fuzz_proxy_proto
(10 s). Every input in fuzz/corpus/NAME, crashers found earlier included, is run
first, so the corpus doubles as regression set.

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


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_fuzz(tmp_path, name):
    seconds = int(os.environ.get("FUZZ_SECONDS", TARGETS[name]))
    fuzzer = ROOT / "build" / f"fuzz_{name}"
    assert fuzzer.is_file(), f"{fuzzer} is missing: `make build/fuzz_{name}`"
    corpus = tmp_path / "corpus"
    shutil.copytree(ROOT / "fuzz" / "corpus" / name, corpus)
    assert any(corpus.iterdir()), "empty seed corpus"
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    proc = subprocess.run(
        [str(fuzzer), f"-max_total_time={seconds}", "-max_len=20000",
         f"-artifact_prefix={artifacts}/", str(corpus)],
        cwd=tmp_path, capture_output=True, timeout=seconds + 120)
    found = sorted(p.name for p in artifacts.iterdir())
    tail = proc.stderr.decode(errors="replace")[-4000:]
    assert proc.returncode == 0 and not found, f"exit {proc.returncode}, artifacts {found}\n{tail}"
