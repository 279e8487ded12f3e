"""Every relative link in the README and docs/ resolves to a file of the repository."""

import re

from conftest import ROOT

LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def _documents():
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def test_every_relative_link_resolves():
    broken = []
    for document in _documents():
        for target in LINK.findall(document.read_text()):
            if re.match(r"^[a-z]+:", target) or target.startswith("#"):
                continue  # a URL, or a heading of the same page
            path = (document.parent / target.split("#")[0]).resolve()
            if not path.exists() or ROOT.resolve() not in path.parents:
                broken.append(f"{document.relative_to(ROOT)}: {target}")
    assert broken == []


def test_the_readme_stays_short_and_points_into_docs():
    readme = (ROOT / "README.md").read_text()

    assert len(readme.splitlines()) <= 200
    for name in ("api", "stripe", "events", "otp", "operations"):
        assert f"docs/{name}.md" in readme
