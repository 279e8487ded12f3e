"""ASGI entry point, for servers that speak ASGI."""

import os

from django.core.asgi import get_asgi_application

from gateway.core.tracing import tracing_configure

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gateway.settings")

# As in gateway/wsgi.py: tracing, when on, in the process that serves.
tracing_configure()
application = get_asgi_application()
