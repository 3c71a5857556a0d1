"""A short libFuzzer run of build/fuzz_tls_hello over a copy of the committed corpus.

Fails on a non-zero exit or any artifact (crash-, leak-, timeout-, oom-).
FUZZ_SECONDS overrides the 20 s run.
"""
import os
import pathlib
import shutil
import subprocess

ROOT = pathlib.Path(__file__).resolve().parent.parent
SECONDS = int(os.environ.get("FUZZ_SECONDS", "20"))


def test_fuzz_tls_hello(tmp_path):
    fuzzer = ROOT / "build" / "fuzz_tls_hello"
    assert fuzzer.is_file(), f"{fuzzer} is missing: `make build/fuzz_tls_hello`"
    corpus = tmp_path / "corpus"
    shutil.copytree(ROOT / "fuzz" / "corpus" / "tls_hello", corpus)
    assert any(corpus.iterdir()), "empty seed corpus"
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    proc = subprocess.run(
        [str(fuzzer), f"-max_total_time={SECONDS}", "-max_len=20000",
         f"-artifact_prefix={artifacts}/", str(corpus)],
        cwd=tmp_path, capture_output=True, timeout=SECONDS + 120)
    found = sorted(p.name for p in artifacts.iterdir())
    tail = proc.stderr.decode(errors="replace")[-4000:]
    assert proc.returncode == 0 and not found, f"exit {proc.returncode}, artifacts {found}\n{tail}"
