"""Settings for the payment gateway: one module per concern.

Every knob comes from the environment (see .env.example, which documents each
variable). Production is the default: DEBUG is off unless DJANGO_DEBUG says
otherwise, and a missing or development secret stops start-up with
ImproperlyConfigured instead of falling back silently. With DJANGO_DEBUG=true
(`make run`, `make test` and `make services` set it), the project runs on the
embedded defaults: SQLite, local-memory cache, eager Celery, Kafka off and
localstripe as the PSP.

The modules are imported here in this order, and each takes what it uses from
the earlier ones by name (`from gateway.settings.environment import DEBUG, env`):

  environment  .env, empty means default, DEBUG, the role, the development
               secrets, and the helpers that read and check a variable
  project      secret key, hosts, apps, middleware, URLs, templates, i18n, static
  storage      the database, the cache and Redis
  psp          Stripe and localstripe's quirks, reconciliation, dj-stripe
  events       Kafka and the outbox relay
  payments     card data, idempotency, the hosted page, webhooks to merchants
  otp          one-time codes and e-mail
  tasks        Celery: broker, queues, routes and the whole beat schedule
  api          REST framework, OpenAPI, rate limits, the proxy, metrics, CORS
  security     production headers and cookies, operators' logins
  logging      the log format and levels
  tracing      OpenTelemetry, off unless OTEL_EXPORTER_OTLP_ENDPOINT is set
  checks       the start-up refusals that span modules; silenced system checks

Each variable is read once, in one module (gateway/tests/test_settings.py).
"""

# In the order above, not the alphabet's: each module runs its checks in turn.
# isort: off
from gateway.settings.environment import *  # noqa: F403
from gateway.settings.project import *  # noqa: F403
from gateway.settings.storage import *  # noqa: F403
from gateway.settings.psp import *  # noqa: F403
from gateway.settings.events import *  # noqa: F403
from gateway.settings.payments import *  # noqa: F403
from gateway.settings.otp import *  # noqa: F403
from gateway.settings.tasks import *  # noqa: F403
from gateway.settings.api import *  # noqa: F403
from gateway.settings.security import *  # noqa: F403
from gateway.settings.logging import *  # noqa: F403
from gateway.settings.tracing import *  # noqa: F403
from gateway.settings.checks import *  # noqa: F403
# isort: on
