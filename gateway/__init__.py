"""The Django project package: settings, root URLs, the admin site, the Celery
app and the servers' entry points. It wires the apps; the apps build on the
ground beneath them (gateway.core), never on this package."""

from .celery import app as celery_app

__all__ = ("celery_app",)
