#!/usr/bin/env python3
"""Extracts the King James Bible from Debian's bible-kjv-text as plain text, one verse a line."""
import re
import subprocess
import sys


def main() -> None:
    out = sys.argv[1]
    text = subprocess.run(["bible", "-l1000", "gen1:1-rev22:21"], capture_output=True,
                          text=True, check=True).stdout
    lines = []
    for line in text.splitlines():
        line = line.strip()
        m = re.match(r"^\d+\s+(.*)$", line)  # "  3 And God said, ..."
        if m:
            lines.append(m.group(1))
        elif line:  # book/chapter headings
            lines.append(line)
    with open(out, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    print(f"{len(lines)} lines, {sum(len(l) for l in lines)} characters -> {out}")


if __name__ == "__main__":
    main()
