"""The settings package's sources: .env.example lists every variable read from
the environment, and each is read in one place.
"""

import re

import pytest

from conftest import ROOT

pytestmark = pytest.mark.fast


ENV_READ = re.compile(
    r"(?:\benv\.\w+|\bos\.environ(?:\.get)?|\b_(?:int|str)_setting|\b_?currency_thresholds|\b_?seconds_list)"
    r'[\[(]\s*"([A-Z][A-Z0-9_]*)"'
)
SETTINGS_SOURCES = sorted((ROOT / "gateway" / "settings").glob("*.py"))


def _reads(path) -> list[str]:
    return ENV_READ.findall(path.read_text())


def test_env_example_lists_every_setting_read_from_the_environment():
    """.env.example documents every variable the settings and the server read,
    and names none that nothing reads (a stale one would mislead)."""
    read = {name for path in [*SETTINGS_SOURCES, ROOT / "gateway" / "server.py"] for name in _reads(path)}
    listed = set(re.findall(r"^([A-Z][A-Z0-9_]*)=", (ROOT / ".env.example").read_text(), re.M))
    assert read - listed == set(), "read but not in .env.example"
    assert listed - read == set(), "in .env.example but read by nothing"


def test_each_variable_is_read_from_the_environment_in_one_place():
    """Each value is parsed (and checked) once, where its setting is defined; every
    other use takes that setting, so that two reads cannot disagree."""
    places = {}
    for path in SETTINGS_SOURCES:
        for name in _reads(path):
            places.setdefault(name, []).append(path.relative_to(ROOT).as_posix())

    assert len(places) > 100  # the pattern still finds the reads
    assert {name: where for name, where in places.items() if len(where) > 1} == {}


def test_the_read_check_sees_a_second_read_of_a_variable(tmp_path):
    source = tmp_path / "settings.py"
    source.write_text(
        'A = env.int("OUTBOX_SWEEP_SECONDS", default=15)\n'
        'B = {"schedule": env.int(\n    "OUTBOX_SWEEP_SECONDS", default=15)}\n'
        'C = env.str("DJANGO_SECRET_KEY", default="") or required_in_production("DJANGO_SECRET_KEY", "")\n'
    )

    assert _reads(source) == ["OUTBOX_SWEEP_SECONDS", "OUTBOX_SWEEP_SECONDS", "DJANGO_SECRET_KEY"]
