"""Packaging: sd_notify, `make install`, the systemd unit and the Debian package.

- sd_notify: halfpipe sends READY=1 to $NOTIFY_SOCKET (a path or an '@'
  abstract name) once it listens, with the seccomp filter on, and STOPPING=1
  when SIGTERM starts the drain.
- `make install DESTDIR=... PREFIX=...` installs exactly the expected files,
  and never overwrites an existing /etc/halfpipe/halfpipe.conf.
- The Debian package: the working tree (committed or not) is copied to a
  temporary directory with no ../shared beside it, `dpkg-buildpackage -us
  -uc -b` builds it and runs its unit tests, the .deb is installed with `dpkg -i` (a
  policy-rc.d keeps any service from starting), `halfpipe -t` passes on the
  shipped /etc/halfpipe/halfpipe.conf, the man pages and the unit are in
  place (the logrotate file too), `systemd-analyze verify` accepts the unit, then `dpkg --purge`
  removes it all. Needs root; installs dpkg-dev, debhelper and the
  Build-Depends when missing.
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HALFPIPE = os.path.join(ROOT, "build", "halfpipe")
IS_ROOT = os.geteuid() == 0
_apt_updated = False


def missing_packages(pkgs):
    """The Debian packages of pkgs that are not installed."""
    out = []
    for p in pkgs:
        r = subprocess.run(["dpkg-query", "-W", "-f=${Status}", p], capture_output=True, text=True)
        if "install ok installed" not in r.stdout:
            out.append(p)
    return out


def apt_install(*pkgs):
    """Install the Debian packages of pkgs that are missing (root: apt-get
    update once, then apt-get install -y), or skip the test when not root."""
    global _apt_updated
    need = missing_packages(pkgs)
    if not need:
        return
    if not IS_ROOT:
        pytest.skip("needs root to install " + " ".join(need))
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    if not _apt_updated:
        subprocess.run(["apt-get", "update", "-q"], env=env, check=True, capture_output=True, timeout=600)
        _apt_updated = True
    r = subprocess.run(["apt-get", "install", "-y", "-q", "--no-install-recommends", *need],
                       env=env, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, f"apt-get install {' '.join(need)}:\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}"


def halfpipe_version():
    r = subprocess.run([HALFPIPE, "-V"], capture_output=True, text=True, check=True)
    return r.stdout.split()[-1]


def directive_names():
    r = subprocess.run([HALFPIPE, "--directives"], capture_output=True, text=True, check=True)
    return {l.split()[0] for l in r.stdout.splitlines() if l.strip() and not l.startswith("#")}


# --- sd_notify --------------------------------------------------------------

def start_halfpipe(tmp_path, conf_text, notify_socket):
    conf = tmp_path / "h.conf"
    conf.write_text(conf_text)
    return subprocess.Popen([HALFPIPE, "-c", str(conf)], env=dict(os.environ, NOTIFY_SOCKET=notify_socket),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def stop(p):
    if p.poll() is None:
        p.kill()
        p.wait()


@pytest.mark.parametrize("kind", ["path", "abstract"])
def test_sd_notify_ready_and_stopping(kind, tmp_path):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    if kind == "path":
        addr = str(tmp_path / "notify")
        sock.bind(addr)
    else:
        addr = f"@halfpipe-test-notify-{os.getpid()}"
        sock.bind("\0" + addr[1:])
    sock.settimeout(10)
    # The seccomp filter (when this build has it) forbids creating an
    # AF_UNIX socket once serving: STOPPING=1 must still get through.
    seccomp = "seccomp on\n" if "seccomp" in directive_names() else ""
    p = start_halfpipe(tmp_path, seccomp + "workers 2\naccess-log off\nlisten 127.0.0.1:0\ndefault reject\n", addr)
    try:
        try:
            ready = sock.recv(256)
        except socket.timeout:
            p.kill()
            pytest.fail("no READY=1 within 10 s:\n" + p.communicate()[1])
        assert ready == b"READY=1"
        # Already serving: the listening line came first, and a client that
        # sends no TLS is answered (closed: on-not-tls reject) by a worker.
        err = ""
        while "listening on" not in err:
            err += p.stderr.readline()
        port = int(re.search(r"listening on 127\.0\.0\.1:(\d+)", err).group(1))
        with socket.create_connection(("127.0.0.1", port), timeout=10) as c:
            c.sendall(b"GET / HTTP/1.0\r\n\r\n")
            try:
                assert c.recv(100) == b""
            except ConnectionResetError:
                pass
        sock.settimeout(0.3)
        with pytest.raises(socket.timeout):
            sock.recv(256)  # nothing more until the drain
        sock.settimeout(10)
        p.send_signal(signal.SIGTERM)
        assert sock.recv(256) == b"STOPPING=1"
        _, rest = p.communicate(timeout=30)
        assert p.returncode == 0, err + rest
        assert "NOTIFY_SOCKET" not in err + rest, err + rest
    finally:
        stop(p)
        sock.close()


def test_sd_notify_bad_address_is_logged_not_fatal(tmp_path):
    p = start_halfpipe(tmp_path, "workers 1\naccess-log off\nlisten 127.0.0.1:0\ndefault reject\n", "relative/x")
    try:
        err = ""
        while "splice-pipes" not in err:  # the last start-up line: signals are handled
            line = p.stderr.readline()
            assert line, err
            err += line
        p.send_signal(signal.SIGTERM)
        err += p.communicate(timeout=30)[1]
        assert p.returncode == 0, err
        assert 'NOTIFY_SOCKET "relative/x": not a unix socket path or @name' in err, err
    finally:
        stop(p)


# --- make install -----------------------------------------------------------

def installed_files(root):
    out = set()
    for d, _, files in os.walk(root):
        for f in files:
            out.add(os.path.relpath(os.path.join(d, f), root))
    return out


@pytest.mark.parametrize("prefix", ["/usr/local", "/usr"])
def test_make_install_destdir(prefix, tmp_path):
    dest = tmp_path / "root"
    args = ["make", "-s", "-C", ROOT, "install", f"DESTDIR={dest}"]
    if prefix != "/usr/local":
        args.append(f"PREFIX={prefix}")  # /usr/local is the default
    r = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    p = prefix.lstrip("/")
    assert installed_files(dest) == {
        f"{p}/sbin/halfpipe",
        f"{p}/share/man/man8/halfpipe.8",
        f"{p}/share/man/man5/halfpipe.conf.5",
        f"{p}/lib/systemd/system/halfpipe.service",
        f"{p}/lib/systemd/system/halfpipe.socket",
        f"{p}/share/doc/halfpipe/examples/halfpipe.conf",
        "etc/halfpipe/halfpipe.conf",
    }
    assert os.access(dest / p / "sbin/halfpipe", os.X_OK)
    assert (dest / "etc/halfpipe/halfpipe.conf").read_bytes() == open(os.path.join(ROOT, "examples/halfpipe.conf"), "rb").read()
    unit = (dest / p / "lib/systemd/system/halfpipe.service").read_text()
    assert f"ExecStart={prefix}/sbin/halfpipe -c /etc/halfpipe/halfpipe.conf" in unit
    assert f"ExecStartPre={prefix}/sbin/halfpipe -t -c /etc/halfpipe/halfpipe.conf" in unit
    # A second install keeps the operator's configuration.
    (dest / "etc/halfpipe/halfpipe.conf").write_text("# mine\n")
    r = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert (dest / "etc/halfpipe/halfpipe.conf").read_text() == "# mine\n"


def test_unit_file_options():
    """The options the unit promises (the issue's list); systemd checks the
    syntax below, in the package test, with `systemd-analyze verify`."""
    unit = open(os.path.join(ROOT, "dist/halfpipe.service")).read()
    opts = {}
    for line in unit.splitlines():
        if "=" in line and not line.startswith("#"):
            k, v = line.split("=", 1)
            opts.setdefault(k, v)
    want = {
        "Type": "notify", "DynamicUser": "yes",
        "AmbientCapabilities": "CAP_NET_BIND_SERVICE", "CapabilityBoundingSet": "CAP_NET_BIND_SERVICE",
        "NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes",
        "PrivateDevices": "yes", "ProtectKernelTunables": "yes", "ProtectKernelModules": "yes",
        "ProtectKernelLogs": "yes", "ProtectControlGroups": "yes",
        "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX", "RestrictNamespaces": "yes",
        "LockPersonality": "yes", "MemoryDenyWriteExecute": "yes", "SystemCallArchitectures": "native",
        "LimitNOFILE": "20000", "LogsDirectory": "halfpipe",
    }
    assert {k: opts.get(k) for k in want} == want
    # ExecReload only with a reload to call: halfpipe handles SIGHUP or not.
    main_c = open(os.path.join(ROOT, "src/main.c")).read()
    handles_hup = "SIGHUP" in main_c and "SIGHUP ignored" not in main_c
    assert ("ExecReload" in opts) == handles_hup, "ExecReload= must match SIGHUP handling in src/main.c"


# --- the Debian package -----------------------------------------------------

def copy_tree(dst):
    """The working tree as git sees it (tracked and untracked, not ignored),
    uncommitted changes included, without build directories."""
    r = subprocess.run(["git", "-C", ROOT, "ls-files", "-co", "--exclude-standard", "-z"],
                       capture_output=True, check=True)
    for f in r.stdout.decode().split("\0"):
        src = os.path.join(ROOT, f)
        if not f or f.split("/")[0].startswith("build") or not os.path.isfile(src):
            continue  # deleted but still tracked, or a build output
        os.makedirs(os.path.dirname(os.path.join(dst, f)), exist_ok=True)
        shutil.copy2(src, os.path.join(dst, f))


def build_depends():
    """Build-Depends of debian/control as package names to install."""
    text = open(os.path.join(ROOT, "debian/control")).read()
    m = re.search(r"^Build-Depends:(.*(?:\n[ \t].*)*)", text, re.M)
    names = [re.sub(r"\(.*?\)|\[.*?\]", "", d).strip() for d in m.group(1).split(",")]
    return ["debhelper" if n == "debhelper-compat" else n for n in names if n]


def dpkg_installed(pkg):
    return not missing_packages([pkg])


@pytest.mark.skipif(not IS_ROOT, reason="installs a package: needs root")
def test_deb_builds_installs_checks_purges(tmp_path):
    if dpkg_installed("halfpipe"):
        pytest.skip("a halfpipe package is installed on this machine: not touching it")
    if os.path.exists("/etc/halfpipe"):
        pytest.skip("/etc/halfpipe exists (a `make install`?): not touching it")
    apt_install("dpkg-dev", "build-essential", "man-db", "systemd", *build_depends())
    src = tmp_path / "halfpipe"
    copy_tree(src)
    # With its unit tests (dh_auto_test), from a tree with no ../shared
    # beside it: the repository is self-contained.
    assert not (tmp_path / "shared").exists()
    env = dict(os.environ, DEB_BUILD_OPTIONS=f"parallel={os.cpu_count() or 1}", LC_ALL="C.UTF-8")
    r = subprocess.run(["dpkg-buildpackage", "-us", "-uc", "-b"], cwd=src, env=env,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    version = halfpipe_version()
    debs = [f for f in os.listdir(tmp_path) if re.fullmatch(r"halfpipe_[^_]+_[^_]+\.deb", f)]
    assert len(debs) == 1, os.listdir(tmp_path)
    assert debs[0].startswith(f"halfpipe_{version}_"), f"debian/changelog is not at halfpipe -V {version}: {debs}"
    deb = str(tmp_path / debs[0])

    policy = "/usr/sbin/policy-rc.d"
    made_policy = not os.path.exists(policy)
    if made_policy:
        with open(policy, "w") as f:
            f.write("#!/bin/sh\n# halfpipe tests/test_packaging.py: start no service\nexit 101\n")
        os.chmod(policy, 0o755)
    try:
        r = subprocess.run(["dpkg", "-i", deb], capture_output=True, text=True, timeout=300,
                           env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
        assert r.returncode == 0, r.stdout + r.stderr
        r = subprocess.run(["/usr/sbin/halfpipe", "-t", "-c", "/etc/halfpipe/halfpipe.conf"],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0 and "configuration OK" in r.stdout, r.stdout + r.stderr
        r = subprocess.run(["/usr/sbin/halfpipe", "-V"], capture_output=True, text=True)
        assert r.stdout.strip() == f"halfpipe {version}"
        for page in (["8", "halfpipe"], ["5", "halfpipe.conf"]):
            r = subprocess.run(["man", "-w", *page], capture_output=True, text=True)
            assert r.returncode == 0 and r.stdout.strip().startswith("/usr/share/man/"), r.stdout + r.stderr
        unit = "/lib/systemd/system/halfpipe.service"
        assert os.path.exists(unit)
        # the shipped logrotate file (debian/halfpipe.logrotate links it)
        with open("/etc/logrotate.d/halfpipe") as f:
            assert f.read() == open(os.path.join(ROOT, "dist/halfpipe.logrotate")).read()
        assert "/etc/halfpipe/halfpipe.conf" in subprocess.run(
            ["dpkg-query", "--showformat=${Conffiles}", "-W", "halfpipe"], capture_output=True, text=True).stdout
        r = subprocess.run(["systemd-analyze", "verify", unit], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0 and "halfpipe" not in r.stderr, r.stdout + r.stderr
        r = subprocess.run(["systemd-analyze", "verify", "/lib/systemd/system/halfpipe.socket"],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0 and "halfpipe" not in r.stderr, r.stdout + r.stderr
        # Installed, not enabled: the shipped configuration is an example.
        assert not os.path.exists("/etc/systemd/system/multi-user.target.wants/halfpipe.service")
    finally:
        r = subprocess.run(["dpkg", "--purge", "halfpipe"], capture_output=True, text=True, timeout=300)
        if made_policy:
            os.unlink(policy)
    assert r.returncode == 0, r.stdout + r.stderr
    assert not dpkg_installed("halfpipe")
    for path in ("/usr/sbin/halfpipe", "/etc/halfpipe", "/lib/systemd/system/halfpipe.service",
                 "/etc/logrotate.d/halfpipe",
                 "/lib/systemd/system/halfpipe.socket",
                 "/usr/share/man/man8/halfpipe.8.gz"):
        assert not os.path.exists(path), f"{path} left after dpkg --purge"
