"""The randomized peer fuzzer's short run (tests/integ/peerfuzz.py): 150
connections whose peers draw random sends, pauses, urgent bytes, read stalls,
FINs, RSTs and vanishings, over 8 s per variant, checked against invariants
I1-I6 (see peerfuzz.py) rather than expected values.

The seed is fixed (HP_PEERFUZZ_SEED overrides it); a failure prints the run
seed, each failing connection's seed, plans and action logs, and the command
line that replays the run or one connection alone.  `make fuzz-peers` runs
the same engine for longer."""

import os

import pytest

import peerfuzz

SEED = int(os.environ.get("HP_PEERFUZZ_SEED", "20261202"))
CONNS = 150
SECONDS = 8.0


@pytest.mark.slow
def test_peerfuzz(topo, hp_bin):
    res = peerfuzz.run(topo, hp_bin, SEED, conns=CONNS, seconds=SECONDS)
    print("\n" + res.summary())
    assert not res.failures, "\n" + res.report()
    assert res.stats["conns"] == CONNS
