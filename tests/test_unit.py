"""Runs every C unit test binary (TAP) in both builds: plain and ASan+UBSan."""
import glob
import os
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
UNITS = sorted(os.path.basename(p)[:-2] for p in glob.glob(os.path.join(ROOT, "tests/unit/t_*.c")))


@pytest.mark.parametrize("build", ["build", "build-asan"])
@pytest.mark.parametrize("unit", UNITS)
def test_unit(unit, build):
    exe = os.path.join(ROOT, build, unit)
    assert os.path.exists(exe), f"{exe} missing: run make units"
    r = subprocess.run([exe], cwd=ROOT, capture_output=True, text=True, timeout=300)
    failed = [l for l in r.stdout.splitlines() if l.startswith("not ok")]
    plan = [l for l in r.stdout.splitlines() if l.startswith("1..")]
    assert r.returncode == 0 and not failed and plan, (
        f"{unit} ({build}) exit {r.returncode}\n" + "\n".join(failed[:20]) + "\n" + r.stderr[-3000:])
    assert "ERROR: AddressSanitizer" not in r.stderr and "runtime error:" not in r.stderr, r.stderr[-3000:]
