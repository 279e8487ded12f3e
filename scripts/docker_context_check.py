"""`make lint`: no secret file reaches the Docker build context.

The image is built from the repository root (docker/compose.yaml: `context: ..`),
so every file not excluded by .dockerignore is sent to the builder and may be
copied into a layer. This walks the tree, applies .dockerignore as Docker does
(patterns relative to the root, `**` for any depth, `!` re-includes, the last
matching line wins, an excluded directory excludes what is under it), and fails
on any environment file (other than .env.example) or key file that would be sent.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SECRET_NAMES = re.compile(r"^(\.env(\..+)?|.+\.pem|.+\.key)$")
ALLOWED = {".env.example"}


def _regex(pattern: str) -> re.Pattern:
    pattern = pattern.strip("/")
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(f"^{out}(?:/.*)?$")  # a directory's pattern covers its contents


def rules(text: str) -> list[tuple[bool, re.Pattern]]:
    """(excludes?, pattern) per line of a .dockerignore."""
    parsed = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        parsed.append((not negated, _regex(line.lstrip("!"))))
    return parsed


def excluded(path: str, parsed: list[tuple[bool, re.Pattern]]) -> bool:
    verdict = False
    for excludes, pattern in parsed:
        if pattern.match(path):
            verdict = excludes
    return verdict


def secrets_in_context(root: Path = ROOT) -> list[str]:
    parsed = rules((root / ".dockerignore").read_text())
    found = []
    for directory, subdirectories, files in os.walk(root):
        relative = Path(directory).relative_to(root).as_posix()
        prefix = "" if relative == "." else f"{relative}/"
        subdirectories[:] = [d for d in subdirectories if not excluded(f"{prefix}{d}", parsed)]
        for name in files:
            path = f"{prefix}{name}"
            if SECRET_NAMES.match(name) and name not in ALLOWED and not excluded(path, parsed):
                found.append(path)
    return sorted(found)


if __name__ == "__main__":
    leaks = secrets_in_context()
    for path in leaks:
        print(f"docker build context: {path} would be sent to the builder (add it to .dockerignore)")
    print(f"docker build context: {len(leaks)} secret file(s)")
    sys.exit(1 if leaks else 0)
