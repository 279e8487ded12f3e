"""WSGI entry point, served by gunicorn (see gateway/gunicorn.conf.py)."""

import os

from django.core.wsgi import get_wsgi_application

from gateway.core.tracing import tracing_configure

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gateway.settings")

# Imported by each server worker after its fork (gunicorn without preload, Granian):
# tracing, when on, is installed in the process that serves, before the middleware loads.
tracing_configure()
application = get_wsgi_application()
