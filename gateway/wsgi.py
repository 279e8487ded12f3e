"""WSGI entry point, served by Granian (gateway/server.py).

GET /health is answered here, before Django (gateway.core.liveness), and so
is the plain GET of one payment (payments.read_route); every other request
goes through Django.
"""

import os

from django.core.wsgi import get_wsgi_application

from gateway.core.tracing import tracing_configure

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gateway.settings")

# Imported by each server worker after its fork (Granian): tracing, when on,
# is installed in the process that serves, before the middleware loads.
tracing_configure()
django_application = get_wsgi_application()

from gateway.core.liveness import LivenessRoute  # noqa: E402  (after Django is set up)
from gateway.core.metrics import metrics_dead_workers_forget  # noqa: E402
from payments.read_route import PaymentReadRoute  # noqa: E402

# Each server worker imports this module when it starts: a worker that died
# and was replaced leaves Prometheus files that must stop counting as live.
metrics_dead_workers_forget()

application = LivenessRoute(PaymentReadRoute(django_application))
