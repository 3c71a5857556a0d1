"""workers auto follows the CPUs halfpipe may run on (its affinity mask), not
every CPU of the machine: pinned to one core it runs one worker, as HAProxy's
default nbthread does (docs/config.md, `workers`)."""

import os
import re

import procs

WORKERS_RE = re.compile(r"halfpipe: info: (\d+) workers?, splice-pipes")


def _auto(loopback, hp_bin, pin):
    """Start hp_bin with workers auto (the variant's --workers left out),
    under `taskset -c pin` if pin is not None: the worker count it logs."""
    extra = list(getattr(hp_bin, "extra", []))
    if "--workers" in extra:
        k = extra.index("--workers")
        del extra[k:k + 2]
    argv = [str(hp_bin)]
    if pin is not None:
        argv = ["taskset", "-c", str(pin)] + argv
    hp = procs.Halfpipe(argv, extra + ["--listen", "127.0.0.1:0", "--route",
                                       "a.example.test=127.0.0.1:9"], loopback.tmp)
    loopback._own(hp)
    hp.start()
    line = procs.poll_until(lambda: next((m for m in map(WORKERS_RE.search, list(hp.err))
                                          if m), None), 10, "the workers line")
    return int(line.group(1))


def test_auto_is_one_per_cpu_of_the_affinity_mask(loopback, hp_bin):
    cpus = sorted(os.sched_getaffinity(0))
    assert _auto(loopback, hp_bin, None) == min(len(cpus), 64)
    # one CPU allowed: one worker (the build before counted every online CPU)
    assert _auto(loopback, hp_bin, cpus[-1]) == 1
