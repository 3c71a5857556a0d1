"""SIGUSR1 reopens the access log (src/logfile.c, docs/logging.md "Rotating
the access log"), under the seccomp filter (on: the default) and after
`user` has dropped root:

- traffic in a bounded loop while the test moves the file away and sends
  SIGUSR1 several times: the files together hold exactly one line per
  connection (each has an SNI of its own), no line split across two files;
  a moved file never grows once the reopen is logged; a connection made
  after the reopen is in the new file;
- the reopen failing (halfpipe runs as nobody, the directory is root's):
  an error naming the path and the reason, and lines go on to the old file;
  once the directory is writable, the next SIGUSR1 makes the new file as
  nobody, mode 0640;
- the access log off or on stdout: SIGUSR1 is logged and ignored;
- the shipped dist/halfpipe.logrotate, run by the real logrotate (its path
  and postrotate pointed at this test's halfpipe), rotates with no line
  lost.
"""

import collections
import os
import pwd
import shutil
import signal
import subprocess

import pytest

from harness import CLOSE, SHUT, STRIP, WAIT_EOF, hello
from procs import parse_logfmt, poll_until

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LO = "127.0.0.1"
ROUNDS = 5          # mv + SIGUSR1, each with connections in flight
PER_ROUND = 40


def _backend(topo):
    """A backend that takes the hello, closes its side and waits for the
    client's FIN (which the client sends right after its hello): every
    connection ends cleanly."""
    server = topo.peer(None, "server")
    port = server.listen(LO, [[STRIP, SHUT, WAIT_EOF, CLOSE]])
    return server, port


def _start(topo, hp_bin, log, extra=()):
    server, sport = _backend(topo)
    hp = topo.halfpipe(hp_bin, ["--listen", "%s:0" % LO,
                                "--route", "*.example.test=%s:%d" % (LO, sport),
                                "--access-log", log] + list(extra))
    return server, hp


def _lines(path, whole=False):
    """The lines of path, parsed. A line being written may be there in part
    (a full buffer is written as it is): left out, unless whole, when the
    file must end with a full line."""
    try:
        with open(path) as f:
            text = f.read()
    except FileNotFoundError:
        return []
    assert not whole or text == "" or text.endswith("\n"), (
        "%s ends with a partial line: %r" % (path, text[-200:]))
    return [parse_logfmt(line) for line in text.split("\n")[:-1]]


def _wait_sni(path, sni, timeout=5):
    """Wait until the line of the connection with this SNI is in path."""
    return poll_until(lambda: [r for r in _lines(path) if r["sni"] == sni], timeout,
                      "the line of %s in %s" % (sni, path), done=lambda h: len(h) == 1)


def _connect(client, port, sni):
    client.connect(LO, port, [hello(sni), SHUT, WAIT_EOF, CLOSE])


def test_reopen_under_traffic_loses_and_doubles_nothing(loopback, hp_bin):
    topo = loopback
    log = os.path.join(topo.tmp, "access.log")
    server, hp = _start(topo, hp_bin, log)
    client = topo.peer(None, "client")
    want, sizes, made = [], {}, 0
    for k in range(1, ROUNDS + 1):
        for i in range(PER_ROUND):
            want.append("r%dc%d.example.test" % (k, i))
            _connect(client, hp.port, want[-1])
        made += PER_ROUND
        # the file moves while those connections end
        moved = "%s.%d" % (log, k)
        os.rename(log, moved)
        hp.kill(signal.SIGUSR1)
        poll_until(lambda: hp.stderr_count(r"SIGUSR1: reopened the access log " + log), 10,
                   "reopen %d logged" % k, done=lambda n: n == k)
        sizes[moved] = os.path.getsize(moved)
        # a connection made now is logged in the new file
        want.append("m%d.example.test" % k)
        _connect(client, hp.port, want[-1])
        made += 1
        _wait_sni(log, want[-1])
    client.wait(ev="eof", n=made, timeout=30)
    paths = [log] + sorted(sizes)
    union = poll_until(lambda: [r for p in paths for r in _lines(p)], 10,
                       "every line in the files", done=lambda rs: len(rs) >= made)
    union = [r for p in paths for r in _lines(p, whole=True)]
    count = collections.Counter(r["sni"] for r in union)
    doubled = [s for s, n in count.items() if n > 1]
    lost = [s for s in want if s not in count]
    extra = [s for s in count if s not in want]
    assert not doubled and not lost and not extra, (
        "doubled %s, lost %s, not ours %s" % (doubled[:5], lost[:5], extra[:5]))
    assert len(union) == made
    assert {r["term"] for r in union} <= {"client-fin", "server-fin"}, collections.Counter(
        r["term"] for r in union)
    # nothing reached a moved file after its reopen was logged
    for p, size in sizes.items():
        assert os.path.getsize(p) == size, "%s grew after the reopen: %d -> %d" % (
            p, size, os.path.getsize(p))
    # the rotations really split the traffic: lines in several files
    assert sum(1 for p in paths if _lines(p)) >= 3, [len(_lines(p)) for p in paths]
    assert "seccomp on" in hp.stderr_text()


def test_reopen_failing_keeps_the_old_file(loopback, hp_bin):
    topo = loopback
    nobody = pwd.getpwnam("nobody")
    os.chmod(topo.tmp, 0o711)       # nobody may pass through to logs/
    d = os.path.join(topo.tmp, "logs")
    os.mkdir(d, 0o755)              # root's: nobody cannot make a file here
    log = os.path.join(d, "access.log")
    server, hp = _start(topo, hp_bin, log, ["--user", "nobody", "--group", "nogroup"])
    hp.wait_stderr(r"running as uid %d gid %d, seccomp on" % (nobody.pw_uid, nobody.pw_gid))
    client = topo.peer(None, "client")
    _connect(client, hp.port, "before.example.test")
    _wait_sni(log, "before.example.test")
    os.rename(log, log + ".1")
    hp.kill(signal.SIGUSR1)
    hp.wait_stderr(r"warn: SIGUSR1: access-log %s: cannot reopen: Permission denied "
                   r"\(errno 13\); still writing to the file it had open" % log)
    _connect(client, hp.port, "failed.example.test")
    _wait_sni(log + ".1", "failed.example.test")
    assert not os.path.exists(log)
    # the directory made writable for nobody: the next SIGUSR1 reopens
    os.chown(d, nobody.pw_uid, nobody.pw_gid)
    hp.kill(signal.SIGUSR1)
    hp.wait_stderr(r"SIGUSR1: reopened the access log " + log)
    _connect(client, hp.port, "after.example.test")
    _wait_sni(log, "after.example.test")
    st = os.stat(log)
    assert (st.st_uid, st.st_mode & 0o777) == (nobody.pw_uid, 0o640), (st.st_uid, oct(st.st_mode))
    assert [r["sni"] for r in _lines(log + ".1")] == ["before.example.test", "failed.example.test"]
    assert [r["sni"] for r in _lines(log)] == ["after.example.test"]


@pytest.mark.parametrize("where", ["off", "-"])
def test_reopen_without_a_file_is_ignored(loopback, hp_bin, where):
    topo = loopback
    server, sport = _backend(topo)
    hp = topo.halfpipe(hp_bin, ["--listen", "%s:0" % LO, "--default", "reject",
                                "--access-log", where], log=False)
    hp.kill(signal.SIGUSR1)
    what = "off" if where == "off" else "standard output"
    hp.wait_stderr(r"info: SIGUSR1: the access log is %s: nothing to reopen" % what)
    assert hp.running()


def test_shipped_logrotate_config(loopback, hp_bin):
    logrotate = shutil.which("logrotate") or "/usr/sbin/logrotate"
    if not os.path.exists(logrotate):
        pytest.fail("logrotate is missing: `make test-deps` installs it (scripts/deps.sh)")
    topo = loopback
    d = os.path.join(topo.tmp, "logs")
    os.mkdir(d, 0o755)
    log = os.path.join(d, "access.log")
    server, hp = _start(topo, hp_bin, log)
    client = topo.peer(None, "client")
    _connect(client, hp.port, "one.example.test")
    _wait_sni(log, "one.example.test")
    # the shipped stanza, for this directory and this halfpipe
    text = open(os.path.join(REPO, "dist", "halfpipe.logrotate")).read()
    assert "/var/log/halfpipe/*.log {" in text and "systemctl kill" in text
    text = text.replace("/var/log/halfpipe/*.log", os.path.join(d, "*.log"))
    text = "\n".join("\t\tkill -USR1 %d" % hp.check_pid() if "systemctl kill" in line else line
                     for line in text.splitlines()) + "\n"
    conf = os.path.join(topo.tmp, "logrotate.conf")
    with open(conf, "w") as f:
        f.write(text)
    r = subprocess.run([logrotate, "-f", "-s", os.path.join(topo.tmp, "state"), conf],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    hp.wait_stderr(r"SIGUSR1: reopened the access log " + log)
    _connect(client, hp.port, "two.example.test")
    _wait_sni(log, "two.example.test")
    assert [r["sni"] for r in _lines(log + ".1")] == ["one.example.test"]
    assert [r["sni"] for r in _lines(log)] == ["two.example.test"]


def test_reopen_while_draining(loopback, hp_bin):
    # SIGTERM first, a connection still live: the reopen works in the
    # drain too, and that connection's line lands in the new file
    topo = loopback
    log = os.path.join(topo.tmp, "access.log")
    server, hp = _start(topo, hp_bin, log, ["--drain-timeout", "30s"])
    client = topo.peer(None, "client")
    client.connect(LO, hp.port, [hello("long.example.test"), {"op": "wait", "tag": "go"},
                                 SHUT, WAIT_EOF, CLOSE])
    server.wait(ev="hello")
    hp.kill(signal.SIGTERM)
    hp.wait_stderr(r"draining: no new connections")
    os.rename(log, log + ".1")
    hp.kill(signal.SIGUSR1)
    hp.wait_stderr(r"SIGUSR1: reopened the access log " + log)
    client.signal("go")
    client.wait(ev="eof")
    rc = hp.wait_exit(15)
    hp.join_readers()
    hp.exit_code = rc
    assert rc == 0, hp.tail()
    assert [r["sni"] for r in _lines(log, whole=True)] == ["long.example.test"]
    assert _lines(log + ".1", whole=True) == []


def test_two_processes_appending_never_cut_lines(loopback, hp_bin):
    # Two halfpipes append to one file (as the old and the new process do
    # during a hand-over). Every write() of each ends a line (a line that
    # does not fit in the buffer waits for the next write), so a burst that
    # fills the 32 KiB buffer many times still leaves only whole lines:
    # each instance's ids 1..N once each, every line parses.
    topo = loopback
    n = 400
    log = os.path.join(topo.tmp, "shared.log")
    server, sport = _backend(topo)
    hps = [topo.halfpipe(hp_bin, ["--listen", "%s:0" % LO,
                                  "--route", "*.example.test=%s:%d" % (LO, sport),
                                  "--access-log", log]) for _ in range(2)]
    client = topo.peer(None, "client")
    for hp in hps:
        client.connect(LO, hp.port, [hello("burst.example.test"), SHUT, WAIT_EOF, CLOSE],
                       count=n)
    client.wait(ev="eof", n=2 * n, timeout=60)
    text = poll_until(lambda: open(log).read(), 10, "%d lines in %s" % (2 * n, log),
                      done=lambda t: t.count("\n") >= 2 * n)
    assert text.endswith("\n")
    recs = [parse_logfmt(line) for line in text.split("\n")[:-1]]
    for hp in hps:
        ids = sorted(int(r["id"]) for r in recs if r["listener"].endswith(":%d" % hp.port))
        assert ids == list(range(1, n + 1)), (len(ids), ids[:5])
    assert len(recs) == 2 * n
    assert os.path.getsize(log) > 4 * 32 * 1024, "the burst must fill the buffer several times"
