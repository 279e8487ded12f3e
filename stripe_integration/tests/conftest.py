# The payments API fixtures (merchant, api, other_api, pay) serve these tests too.
from payments.tests.conftest import api, merchant, other_api, pay  # noqa: F401
