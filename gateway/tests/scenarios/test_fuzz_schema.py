"""Schemathesis against the project's own OpenAPI schema (/api/schema/).

Every operation is called, in-process through the WSGI app, with generated
valid and invalid requests and a valid API key, on the real services. Any 5xx,
or a response the schema does not describe, fails. `make test` runs a bounded
number of examples per operation (FUZZ_EXAMPLES, default 15); `make fuzz` a
longer run. Failures found are kept as regression tests in
test_hostile_input.py.
"""

from __future__ import annotations

import json
import os

import pytest
import schemathesis
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, settings
from schemathesis import checks

from gateway.wsgi import application

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "15"))


def _load_schema():
    # The same document /api/schema/ serves (test_api_schema checks that it is served).
    document = json.loads(json.dumps(SchemaGenerator().get_schema(request=None, public=True), default=str))
    loaded = schemathesis.openapi.from_dict(document)
    loaded.app = application
    return loaded


schema = _load_schema()


@pytest.fixture(autouse=True)
def _fuzzing(settings, localstripe):
    # The fuzzer sends far more than a client would: the limits would answer 429 to most of it.
    settings.RATE_LIMITS = {name: "100000/s" for name in settings.RATE_LIMITS}


@pytest.mark.django_db(transaction=True)  # autocommit, as in production
@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=os.environ.get("FUZZ_RANDOM") != "1",
)
def test_no_operation_answers_5xx_or_breaks_its_schema(case, merchant):
    case.call_and_validate(
        headers={"Authorization": f"Bearer {merchant.raw_key}"},
        # The bar: no 5xx, and every response as the schema describes it.
        # Not checked: that every schema-valid body is accepted, or every invalid
        # one refused; a payment API has rules the schema cannot express
        # (amount > 0, currencies, state), answered with documented 4xx.
        excluded_checks=[checks.positive_data_acceptance, checks.negative_data_rejection],
    )
