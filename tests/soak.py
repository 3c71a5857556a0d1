#!/usr/bin/python3
"""`make soak`: the long soak profile (HP_SOAK=long: 1,000 connections under
5 % loss, tests/integ/test_soak.py) on the plain and ASan variants, and
halfpipe at the machine's real fd cap (tests/integ/test_fdcap.py, plain),
printing their figures.  Extra arguments go to pytest (e.g. -k plain)."""

import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    env = dict(os.environ, HP_SOAK="long")
    argv = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-s",
            os.path.join(HERE, "integ", "test_soak.py"),
            os.path.join(HERE, "integ", "test_fdcap.py")] + sys.argv[1:]
    return subprocess.run(argv, env=env, timeout=1800).returncode


if __name__ == "__main__":
    sys.exit(main())
