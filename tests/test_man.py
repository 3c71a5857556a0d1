"""The man pages against the live program: man/halfpipe.conf.5 has an entry
for every directive `halfpipe --directives` prints (in the section of its
scope, with its arguments, default and range) and none for a directive that
is gone; man/halfpipe.8 describes every flag of `halfpipe -h` and every
directive that is a command-line flag, and names no flag that does not
exist; groff renders both without a warning."""
import os
import re
import subprocess

import pytest

from test_packaging import apt_install

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HALFPIPE = os.path.join(ROOT, "build", "halfpipe")
CONF5 = os.path.join(ROOT, "man", "halfpipe.conf.5")
PAGE8 = os.path.join(ROOT, "man", "halfpipe.8")
SCOPE_SECTION = {"global": "GLOBAL DIRECTIVES", "listener": "LISTENER DIRECTIVES"}
ROW = re.compile(r"^(\S+)\s+(.*?)\s+(global|listener)\s+(\S+)\s+(\S+)\s+(.*)$")


def directives():
    """[(name, arguments, scope, default, range)] from `halfpipe --directives`."""
    out = subprocess.run([HALFPIPE, "--directives"], capture_output=True, text=True, check=True).stdout
    rows = []
    for line in out.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        m = ROW.match(line)
        assert m, f"--directives line not understood: {line!r}"
        rows.append(m.groups()[:5])
    assert len(rows) >= 10, out
    return rows


def deroff(s):
    """Text of a roff line: no font macro, font change or escape."""
    m = re.match(r"^\.(B|I|BI|IB|BR|RB|IR|RI)\s+(.*)$", s)
    if m:  # .B/.I: words; the alternating ones: arguments run together
        args = [q + w for q, w in re.findall(r'"([^"]*)"|(\S+)', m.group(2))]
        s = (" " if len(m.group(1)) == 1 else "").join(args)
    s = re.sub(r"\\f(\[[^]]*\]|.)", "", s)
    s = s.replace("\\-", "-").replace("\\&", "").replace("\\|", "").replace("\\e", "\\")
    s = re.sub(r"\\\((..)", lambda m: {"aq": "'", "lq": '"', "rq": '"'}.get(m.group(1), ""), s)
    return s


def conf5_entries():
    """{tag text: (section, body text)} of every .TP entry of halfpipe.conf.5."""
    entries, section, tag, body = {}, None, None, []

    def flush():
        if tag is not None:
            entries[tag] = (section, " ".join(" ".join(body).split()))

    lines = open(CONF5).read().splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith((".TP", ".SH", ".SS", ".PP", ".IP")):
            flush()
            tag, body = None, []
            if line.startswith(".SH"):
                section = deroff(line[3:]).strip()
            elif line.startswith(".TP"):
                i += 1
                tag = " ".join(deroff(lines[i]).split())
        elif tag is not None and not line.startswith(".\\\""):
            body.append(deroff(line))
        i += 1
    flush()
    return entries


def test_conf5_has_every_directive_with_its_default():
    entries = conf5_entries()
    problems = []
    for name, args, scope, default, rng in directives():
        tag = f"{name} {args}"
        if tag not in entries:
            problems.append(f"no '.TP' entry '{tag}' (under .SH {SCOPE_SECTION[scope]})")
            continue
        section, body = entries[tag]
        if section != SCOPE_SECTION[scope]:
            problems.append(f"{name}: under {section}, want {SCOPE_SECTION[scope]}")
        if not re.search(rf"Default: {re.escape(default)}(?=[.,;: ]|$)", body):
            problems.append(f"{name}: no 'Default: {default}' in: {body}")
        if rng != "-" and not re.search(rf"range {re.escape(rng)}(?=[.,;: ]|$)", body):
            problems.append(f"{name}: no 'range {rng}' in: {body}")
    assert not problems, "man/halfpipe.conf.5 vs halfpipe --directives:\n" + "\n".join(problems)


def test_conf5_has_no_stale_directive():
    names = {d[0] for d in directives()}
    stale = [tag for tag, (section, _) in conf5_entries().items()
             if section in SCOPE_SECTION.values() and tag.split()[0] not in names]
    assert not stale, f"man/halfpipe.conf.5 documents directives halfpipe does not have: {stale}"


def rendered(page):
    """The page as plain ASCII text, lines long enough never to break a word."""
    apt_install("groff-base")
    r = subprocess.run(["groff", "-man", "-Tascii", "-rLL=250n", "-P-cbou", page],
                       capture_output=True, text=True, check=True)
    return r.stdout


def is_flag(name):
    """Whether --NAME is a command-line option (getopt does not say
    "unrecognized option" about it)."""
    r = subprocess.run([HALFPIPE, "-t", "--listen", "127.0.0.1:0", f"--{name}", "x"],
                       capture_output=True, text=True, timeout=30)
    return "unrecognized option" not in r.stderr


def test_page8_has_every_flag():
    text = rendered(PAGE8)
    usage = subprocess.run([HALFPIPE, "-h"], capture_output=True, text=True, check=True).stdout
    flags = set(re.findall(r"(?<![\w-])(--?[A-Za-z][\w-]*)", usage))
    assert {"-c", "-t", "--listen", "--route", "--inspect", "--directives"} <= flags, flags
    problems = [f"{f} (from halfpipe -h)" for f in sorted(flags)
                if not re.search(rf"(?<![\w-]){re.escape(f)}(?![\w-])", text)]
    for name, *_ in directives():
        written = re.search(rf"(?<![\w-])--{re.escape(name)}(?![\w-])", text)
        if is_flag(name) and not written:
            problems.append(f"--{name} (directive {name} is a flag)")
        elif written and not is_flag(name):
            problems.append(f"--{name} is described but is no flag")
    assert not problems, "man/halfpipe.8 lacks:\n" + "\n".join(problems)


@pytest.mark.parametrize("page", [PAGE8, CONF5], ids=os.path.basename)
def test_page_renders_without_warnings(page):
    apt_install("groff-base")
    r = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z", page], capture_output=True, text=True)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    assert "halfpipe" in rendered(page)


@pytest.mark.parametrize("page", [PAGE8, CONF5], ids=os.path.basename)
def test_page_names_the_version(page):
    version = subprocess.run([HALFPIPE, "-V"], capture_output=True, text=True, check=True).stdout.split()[-1]
    th = next(l for l in open(page) if l.startswith(".TH "))
    assert f'"halfpipe {version}"' in th, f"{page}: .TH says {th.strip()!r}, halfpipe -V says {version}"
