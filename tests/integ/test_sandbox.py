"""Least privilege: after binding, halfpipe drops to the configured user and
group, then installs a seccomp filter; a system call outside the allow-list
(here execve) kills the process with SIGSYS instead of running anything.

The execve comes from the test-only switch HALFPIPE_TEST_EXECVE_AFTER_SANDBOX
(src/sandbox.h): its value is the program to run, called right after the
filter is installed.  The program here is a script that leaves a marker file,
so "it did not run" is checked, not assumed."""

import os
import signal
import subprocess
import tempfile

import pytest

from harness import (CLOSE, SHUT, STRIP, WAIT_EOF, Relay, assert_bytes, assert_term, hello, one,
                     pattern, send_pattern)
from netns import T

SWITCH = "HALFPIPE_TEST_EXECVE_AFTER_SANDBOX"
ARGS = ["--listen", "127.0.0.1:0", "--route", "a.example.test=127.0.0.1:9",
        "--access-log", "off"]


def _run(hp_bin, extra, env_extra, timeout=20):
    """Run halfpipe here (loopback, port 0) until it exits on its own."""
    env = dict(os.environ)
    env.setdefault("ASAN_OPTIONS", "abort_on_error=0:detect_leaks=1")
    env.update(env_extra)
    argv = [str(hp_bin)] + list(getattr(hp_bin, "extra", [])) + ARGS + list(extra)
    return subprocess.run(argv, env=env, capture_output=True, text=True,
                          timeout=T(timeout))


@pytest.fixture
def marker_prog():
    """A program that writes a marker file: (program path, marker path)."""
    d = tempfile.mkdtemp(prefix="hpsandbox.")
    marker = os.path.join(d, "ran")
    prog = os.path.join(d, "prog.sh")
    with open(prog, "w") as f:
        f.write("#!/bin/sh\necho ran > %s\n" % marker)
    os.chmod(prog, 0o755)
    try:
        yield prog, marker
    finally:
        for p in (marker, prog):
            if os.path.exists(p):
                os.unlink(p)
        os.rmdir(d)


def test_execve_after_filter_kills_by_sigsys(hp_bin, marker_prog):
    # default settings (seccomp on): the execve is refused by killing the
    # whole process with SIGSYS; the program never runs.
    prog, marker = marker_prog
    r = _run(hp_bin, [], {SWITCH: prog})
    assert "seccomp on" in r.stderr, r.stderr
    assert "test: %s is set: execve" % SWITCH in r.stderr, r.stderr
    assert r.returncode == -signal.SIGSYS, (
        "want death by SIGSYS (-%d), got %s:\n%s" % (signal.SIGSYS, r.returncode, r.stderr))
    assert not os.path.exists(marker), "the forbidden program ran"


def test_execve_without_filter_runs(hp_bin, marker_prog):
    # seccomp off: the same call goes through, the program runs and its
    # exit status (0) becomes the process's.
    prog, marker = marker_prog
    r = _run(hp_bin, ["--seccomp", "off"], {SWITCH: prog})
    assert "seccomp off" in r.stderr, r.stderr
    assert r.returncode == 0, "exit %s:\n%s" % (r.returncode, r.stderr)
    with open(marker) as f:
        assert f.read() == "ran\n"


def test_without_switch_no_execve(hp_bin, marker_prog):
    # the switch is off unless the variable is set: halfpipe serves and
    # exits 0 on SIGTERM (the filter allows what the drain and exit need).
    prog, marker = marker_prog
    env = dict(os.environ)
    env.pop(SWITCH, None)
    env.setdefault("ASAN_OPTIONS", "abort_on_error=0:detect_leaks=1")
    argv = [str(hp_bin)] + list(getattr(hp_bin, "extra", [])) + ARGS
    p = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    try:
        for line in p.stderr:
            if "worker" in line and "splice-pipes" in line:
                break
        p.send_signal(signal.SIGTERM)
        _, err = p.communicate(timeout=T(20))
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 0, "exit %s:\n%s" % (p.returncode, err)
    assert "execve" not in err and not os.path.exists(marker)


def _status_ids(pid):
    ids = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            key, _, val = line.partition(":")
            if key in ("Uid", "Gid", "Groups"):
                ids[key] = val.split()
    return ids


def test_user_group_drop_and_relay(topo, hp_bin):
    # --user nobody --group nogroup: once started, every uid and gid
    # (real, effective, saved, fs) is nobody's / nogroup's, root's groups
    # are gone, and a relay still works end to end, both ways.
    req, body = pattern(1000, 1), pattern(1024 * 1024, 2)
    r = Relay(topo, hp_bin, [[STRIP, WAIT_EOF, send_pattern(len(body), 2), CLOSE]],
              extra=["--user", "nobody", "--group", "nogroup"])
    r.hp.wait_stderr(r"running as uid 65534 gid 65534, seccomp on")
    ids = _status_ids(r.hp.pid)
    assert ids["Uid"] == ["65534"] * 4, ids
    assert ids["Gid"] == ["65534"] * 4, ids
    assert ids["Groups"] == ["65534"], ids
    r.connect([hello(), send_pattern(len(req), 1), SHUT, WAIT_EOF, CLOSE])
    assert_bytes(one(r.server.wait(ev="eof", timeout=10)), req, "server")
    assert_bytes(one(r.client.wait(ev="eof", timeout=30)), body, "client")
    rec = one(r.hp.wait_log(n=1))
    assert_term([rec], "client-fin")
    assert int(rec["s2c_bytes"]) == len(body), rec
    assert _status_ids(r.hp.pid)["Uid"] == ["65534"] * 4


def test_user_default_group_is_users(topo, hp_bin):
    # --user alone: the user's own group, from the password database.
    r = Relay(topo, hp_bin, [[STRIP]], extra=["--user", "nobody"])
    r.hp.wait_stderr(r"running as uid 65534 gid 65534")
    ids = _status_ids(r.hp.pid)
    assert ids["Gid"] == ["65534"] * 4 and ids["Groups"] == ["65534"], ids


def test_drop_impossible_fails_clearly(hp_bin):
    # started unprivileged (as nobody), switching to root cannot work:
    # a clear message naming the user and the call, exit status 1.
    argv = ["setpriv", "--reuid", "nobody", "--regid", "nogroup", "--clear-groups",
            str(hp_bin)] + list(getattr(hp_bin, "extra", [])) + ARGS + ["--user", "root"]
    env = dict(os.environ)
    env.setdefault("ASAN_OPTIONS", "abort_on_error=0:detect_leaks=1")
    r = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=T(20))
    assert r.returncode == 1, "exit %s:\n%s" % (r.returncode, r.stderr)
    assert 'user "root": setgroups(0): Operation not permitted' in r.stderr, r.stderr


@pytest.mark.parametrize("directive,value,what", [
    ("user", "no-such-user-hp", "user"),
    ("group", "no-such-group-hp", "group"),
])
def test_check_unknown_user_or_group(hp_bin, directive, value, what, tmp_path):
    # -t resolves the names: an unknown one is a FILE:LINE: error, exit 1.
    conf = tmp_path / "hp.conf"
    conf.write_text("listen 127.0.0.1:0\nroute a.example.test 127.0.0.1:9\n"
                    "%s %s\nseccomp on\n" % (directive, value))
    r = subprocess.run([str(hp_bin), "-t", "-c", str(conf)], capture_output=True,
                       text=True, timeout=T(20))
    assert r.returncode == 1, r.stdout + r.stderr
    assert '%s:3: %s: no such %s "%s"' % (conf, directive, what, value) in r.stderr, r.stderr


def test_check_bad_seccomp_value(hp_bin, tmp_path):
    conf = tmp_path / "hp.conf"
    conf.write_text("listen 127.0.0.1:0\nseccomp yes\nuser nobody\ngroup nogroup\n")
    r = subprocess.run([str(hp_bin), "-t", "-c", str(conf)], capture_output=True,
                       text=True, timeout=T(20))
    assert r.returncode == 1, r.stdout + r.stderr
    assert '%s:2: seccomp: bad value "yes" (want on or off)' % conf in r.stderr, r.stderr
    assert ":3:" not in r.stderr and ":4:" not in r.stderr, r.stderr
