"""The Django project package: settings, URLs, Celery, and cross-cutting API code."""

from .celery import app as celery_app

__all__ = ("celery_app",)
