#!/usr/bin/env python3
"""Replace each `<!-- ct: testdata/NAME.ct -->` line in a README (and the
console block after it, if any) with the transcript's body, so the README
shows exactly what the tests run. Usage: embed.py DIR/README.md ..."""
import re, sys, os

def body(path):
    lines = open(path).read().splitlines(keepends=True)
    for i, l in enumerate(lines):
        if l.startswith("$"):
            return "".join(lines[i:]).rstrip("\n") + "\n"
    return ""

for readme in sys.argv[1:]:
    d = os.path.dirname(readme)
    s = open(readme).read()
    pat = re.compile(r"(<!-- ct: (\S+) -->\n)(```console\n.*?```\n)?", re.S)
    s = pat.sub(lambda m: m.group(1) + "```console\n" + body(os.path.join(d, m.group(2))) + "```\n", s)
    open(readme, "w").write(s)
