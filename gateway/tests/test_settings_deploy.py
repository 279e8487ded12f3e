"""The production settings pass Django's deployment checks. Not in the fast
tier: with a MySQL DATABASE_URL, Django loads the MySQL driver, which
`make services` installs (it needs the client library from Debian)."""

import pytest

from gateway.tests.test_settings import PRODUCTION, _run


@pytest.mark.reliability(
    "Security",
    "Admin behind staff login with CSRF; security headers; check --deploy clean",
)
def test_production_settings_pass_check_deploy():
    result = _run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], PRODUCTION)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
