"""Payments tables. Only fields, constraints and small derived properties here;
logic lives in services.py and reads in selectors.py."""

from __future__ import annotations

from django.db import models


class ApiClient(models.Model):
    """A merchant back end allowed to call the API.

    The raw key is shown once, at creation. Only its prefix (for lookup and
    display) and a SHA-256 hash are stored.
    """

    name = models.CharField(max_length=100)
    key_prefix = models.CharField(max_length=16, unique=True)
    key_hash = models.CharField(max_length=64)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "API client"
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.key_prefix}…)"

    # DRF treats request.user as the principal; an ApiClient is one.
    is_authenticated = True
    is_anonymous = False
