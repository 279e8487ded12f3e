"""Health endpoints. They are public and take no key: load balancers call them."""

from __future__ import annotations

from django.conf import settings
from django.utils import timezone
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from gateway.core.health import readiness
from gateway.core.liveness import liveness_body
from gateway.core.metrics import internal_caller
from gateway.core.schema import error_responses


class HealthView(APIView):
    """Liveness: the process answers. Same body as the seed's /health."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes: list = []  # load balancers poll these

    @extend_schema(
        operation_id="health.live",
        summary="Liveness: the process answers",
        tags=["health"],
        responses=inline_serializer(
            "Health",
            {
                "status": serializers.CharField(),
                "service": serializers.CharField(),
                "version": serializers.CharField(),
                "timestamp": serializers.DateTimeField(),
            },
        ),
    )
    def get(self, request):
        # Served before Django by gateway.core.liveness (gateway/wsgi.py); this
        # view documents it in the schema and answers under Django's test client.
        return Response(liveness_body())


_CHECK = inline_serializer(
    "DependencyCheck",
    {
        "status": serializers.ChoiceField(choices=["ok", "down", "disabled"]),
        "required": serializers.BooleanField(),
        "latency_ms": serializers.FloatField(allow_null=True),
        "detail": serializers.CharField(),
    },
)
READINESS = inline_serializer(
    "Readiness",
    {
        "status": serializers.ChoiceField(choices=["ready", "not_ready"]),
        "service": serializers.CharField(),
        "version": serializers.CharField(),
        "timestamp": serializers.DateTimeField(),
        "checks": serializers.DictField(
            child=_CHECK,
            required=False,
            help_text="One entry per dependency: database, redis, …; for internal callers only.",
        ),
    },
)


class ReadinessView(APIView):
    """Readiness: every required dependency (the database, Redis) answers; 503
    otherwise. Kafka and the PSP are reported, not required. The per-dependency
    report (state, latency) goes to internal callers only. Public, but limited
    per client IP (RATE_LIMIT_HEALTH_READY), and its Kafka and PSP checks are
    cached for a few seconds (HEALTH_CHECK_CACHE_SECONDS): unlike /health it
    calls other services."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    rate_limit_scope = "health_ready"

    @extend_schema(
        operation_id="health.ready",
        summary="Readiness: every dependency answers",
        tags=["health"],
        responses={200: READINESS, 503: READINESS, **error_responses(429)},
    )
    def get(self, request):
        ready, checks = readiness()
        body = {
            "status": "ready" if ready else "not_ready",
            "service": settings.SERVICE_NAME,
            "version": settings.VERSION,
            "timestamp": timezone.now().isoformat(),
        }
        # Each dependency's state and latency only for internal callers
        # (INTERNAL_NETWORKS directly, or METRICS_TOKEN), never through the ingress.
        if internal_caller(request, settings.INTERNAL_NETWORKS):
            body["checks"] = checks
        return Response(body, status=200 if ready else 503)
