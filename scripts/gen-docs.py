#!/usr/bin/env python3
"""Write the parts of the documentation that list directives from the
directive table, as `halfpipe --directives` prints it: the README's table
and, in docs/config.md and both man pages, the list of the directives a
reload does not apply (RELOAD "restart").

Each part sits between two marker lines, which stay:

    <!-- gen-docs: NAME ... -->        .\\" gen-docs: NAME ...
    ...                                ...
    <!-- /gen-docs -->                 .\\" /gen-docs

    scripts/gen-docs.py [--check] [--halfpipe build/halfpipe]

`make docs` runs it; with --check it writes nothing, prints what would
change and exits 1 if anything would (tests/test_docs.py).
"""
import argparse
import difflib
import os
import re
import subprocess
import sys
import textwrap

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROW = re.compile(r"^(\S+)\s+(.*?)\s+(global|listener)\s+(\S+)\s+(\S+)\s+(applies|restart)\s+(.*)$")

# file: (comment style, the parts it must have)
TARGETS = {
    "README.md": ("md", ["directives"]),
    "docs/config.md": ("md", ["restart"]),
    "man/halfpipe.conf.5": ("roff", ["restart"]),
    "man/halfpipe.8": ("roff", ["restart"]),
}
MARKERS = {
    "md": (re.compile(r"^<!-- gen-docs: (\S+).*-->$"), "<!-- /gen-docs -->"),
    "roff": (re.compile(r'^\.\\" gen-docs: (\S+)'), '.\\" /gen-docs'),
}


def directives(halfpipe):
    """[{name, args, scope, default, range, reload, doc}] in table order."""
    out = subprocess.run([halfpipe, "--directives"], capture_output=True, text=True,
                         check=True).stdout
    rows = []
    for line in out.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        m = ROW.match(line)
        if not m:
            sys.exit(f"gen-docs: --directives line not understood: {line!r}")
        rows.append(dict(zip(("name", "args", "scope", "default", "range", "reload", "doc"),
                             m.groups())))
    return rows


def md_cell(s):
    return s.replace("|", "\\|")


def md_directives(rows):
    lines = ["| directive | scope | default | reload | what |",
             "| --- | --- | --- | --- | --- |"]
    for r in rows:
        lines.append("| `%s` | %s | `%s` | %s | %s |" % (
            r["name"], r["scope"], r["default"],
            "on restart" if r["reload"] == "restart" else "applies", md_cell(r["doc"])))
    return lines


def restart_names(rows):
    names = [r["name"] for r in rows if r["reload"] == "restart"]
    if not names:
        sys.exit("gen-docs: no directive takes effect on restart: reword the documents")
    return names


def md_restart(rows):
    names = ["`%s`" % n for n in restart_names(rows)]
    text = (", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else names[0]) + "."
    return textwrap.wrap(text, 76, break_on_hyphens=False, break_long_words=False)


def roff_restart(rows):
    """One name a line, bold, commas and "and" in roman: a part of a sentence."""
    names = [n.replace("-", "\\-") for n in restart_names(rows)]
    lines = [".BR %s ," % n for n in names[:-1]]
    if len(names) > 1:
        lines[-1] = ".B " + names[-2]
        lines.append("and")
    lines.append(".B " + names[-1])
    return lines


GENERATORS = {
    ("md", "directives"): md_directives,
    ("md", "restart"): md_restart,
    ("roff", "restart"): roff_restart,
}


def regenerate(path, style, want, rows):
    """The text of path with every part written anew."""
    start, end = MARKERS[style]
    lines = open(os.path.join(ROOT, path)).read().split("\n")
    out, seen, i = [], [], 0
    while i < len(lines):
        m = start.match(lines[i])
        out.append(lines[i])
        i += 1
        if not m:
            continue
        name = m.group(1)
        gen = GENERATORS.get((style, name))
        if gen is None:
            sys.exit(f"gen-docs: {path}:{i}: no part named {name!r} for {style}")
        while i < len(lines) and lines[i] != end:
            i += 1
        if i == len(lines):
            sys.exit(f"gen-docs: {path}: part {name!r} has no end line {end!r}")
        out.extend(gen(rows))
        seen.append(name)
    if sorted(seen) != sorted(want):
        sys.exit(f"gen-docs: {path}: parts {seen}, want {want}")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true",
                    help="write nothing; exit 1 if a file is not what would be written")
    ap.add_argument("--halfpipe", default=os.path.join(ROOT, "build", "halfpipe"))
    args = ap.parse_args()
    rows = directives(args.halfpipe)
    stale = 0
    for path, (style, want) in TARGETS.items():
        old = open(os.path.join(ROOT, path)).read()
        new = regenerate(path, style, want, rows)
        if new == old:
            continue
        stale += 1
        if args.check:
            sys.stdout.writelines(difflib.unified_diff(
                old.splitlines(True), new.splitlines(True), path, path + " (generated)"))
        else:
            with open(os.path.join(ROOT, path), "w") as f:
                f.write(new)
            print(f"gen-docs: wrote {path}")
    if args.check and stale:
        print(f"gen-docs: {stale} file(s) differ from halfpipe --directives: run make docs")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
