from rest_framework.routers import SimpleRouter

from payments.webhooks.views import WebhookEndpointViewSet

router = SimpleRouter(trailing_slash=False)
router.register("webhook_endpoints", WebhookEndpointViewSet, basename="webhook-endpoint")

urlpatterns = router.urls
