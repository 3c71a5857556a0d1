"""The parts of README.md, docs/config.md and the man pages that list
directives (the README's table, the directives a reload does not apply) are
what scripts/gen-docs.py writes from `halfpipe --directives`: after a change
to the directive table, `make docs` writes them again."""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_generated_docs_are_current():
    r = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "gen-docs.py"), "--check"],
                       cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, "run `make docs`:\n" + r.stdout[-4000:] + r.stderr[-2000:]
