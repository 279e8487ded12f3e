"""The mirror's tests need dj-stripe's tables, installed unless DJSTRIPE_MIRROR=off
(the fast tier runs so, and collects none of these). A run against the real
services (REQUIRE_SERVICES=1) without the mirror is an error, not a skip."""

import os

from django.apps import apps

if not apps.is_installed("stripe_integration.mirror"):
    if os.environ.get("REQUIRE_SERVICES") == "1":
        raise RuntimeError("make test runs with the dj-stripe mirror installed: DJSTRIPE_MIRROR is off.")
    collect_ignore_glob = ["test_*.py"]
