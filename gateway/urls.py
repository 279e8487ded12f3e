from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from gateway.core.metrics import metrics_view
from gateway.core.views import HealthView, ReadinessView

urlpatterns = [
    path("health", HealthView.as_view(), name="health"),
    path("health/ready", ReadinessView.as_view(), name="health-ready"),
    path("metrics", metrics_view, name="metrics"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("api/v1/", include("otp.urls")),
    path("api/v1/", include("payments.urls")),
    path("api/v1/", include("payments.webhooks.urls")),
    path("api/v1/", include("stripe_integration.urls")),
    path("pay/", include("payments.hosted_urls")),
    path("admin/mfa/", include("gateway.mfa.urls")),
    path("admin/", admin.site.urls),
]

# dj-stripe's own webhook route is not mounted: it stores a body before it
# checks its signature, and Stripe's events come to /api/v1/stripe/webhook.

handler400 = "gateway.core.errors.handler400"
handler403 = "gateway.core.errors.handler403"
handler404 = "gateway.core.errors.handler404"
handler500 = "gateway.core.errors.handler500"
