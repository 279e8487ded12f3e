"""Rate limits are one mechanism with one table of scopes: docs/api.md's table,
the settings and the code that names a scope agree."""

import re

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import RequestFactory

from conftest import ROOT
from gateway.core.ratelimit import scope_consume

pytestmark = pytest.mark.fast

_TABLE = re.compile(r"<!-- rate-limit-scopes:begin -->(.*?)<!-- rate-limit-scopes:end -->", re.S)
_ROW = re.compile(r"^\| `(\w+)` \| `(RATE_LIMIT_\w+)` \| ([^|]+?) \|", re.M)


def _documented() -> dict[str, tuple[str, str]]:
    table = _TABLE.search((ROOT / "docs/api.md").read_text()).group(1)
    return {scope: (variable, default) for scope, variable, default in _ROW.findall(table)}


def _settings_source() -> str:
    return "".join(
        path.read_text() for path in sorted((ROOT / "gateway").glob("settings*/**/*.py"))
    ) + "".join(path.read_text() for path in (ROOT / "gateway").glob("settings.py"))


def test_docs_table_lists_every_scope_with_its_variable_and_default(settings):
    documented = _documented()

    assert set(documented) == set(settings.RATE_LIMITS)
    source = _settings_source()
    for scope, (variable, default) in documented.items():
        assert re.search(rf'"{scope}": env\.str\("{variable}", default="{re.escape(default)}"\)', source), (
            f"{scope}: settings read {variable} with a default other than {default}"
        )


def test_every_scope_the_code_names_is_a_configured_one(settings):
    named = set()
    for package in ("gateway", "payments", "otp", "stripe_integration"):
        for path in (ROOT / package).rglob("*.py"):
            if "tests" in path.parts:
                continue
            for line in path.read_text().splitlines():
                if "rate_limit_scope =" in line or "scope_consume(" in line:
                    line = re.sub(r'self\.action == "\w+"', "", line)  # an action's name, not a scope
                    named |= set(re.findall(r'"(\w+)"', line))

    assert {"health_ready", "otp_send", "psp_read", "payment_page"} <= named, (
        "the scan finds the views' scopes"
    )
    assert named <= set(settings.RATE_LIMITS), named - set(settings.RATE_LIMITS)


def test_a_misspelt_scope_is_an_error_not_unlimited():
    request = RequestFactory().get("/")

    with pytest.raises(ImproperlyConfigured, match="paymnt_page"):
        scope_consume(request, scope="paymnt_page")
