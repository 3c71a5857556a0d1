"""The README's configuration reference lists every directive halfpipe has
(read from `halfpipe --directives`, so a new directive fails here until the
README names it) with its default."""
import pathlib
import re
import subprocess

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_readme_lists_every_directive_with_its_default():
    out = subprocess.run([str(ROOT / "build" / "halfpipe"), "--directives"],
                         capture_output=True, text=True, timeout=30, check=True).stdout
    readme = (ROOT / "README.md").read_text()
    missing = []
    for line in out.splitlines()[1:]:
        m = re.match(r"(\S+)\s+.*?\s+(global|listener)\s+(\S+)\s", line)
        assert m, line
        name, scope, default = m.groups()
        row = "| `%s` | %s | `%s` |" % (name, scope, default)
        if row not in readme:
            missing.append(row)
    assert not missing, "README.md lacks these directive rows: %s" % missing
