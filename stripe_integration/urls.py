from django.urls import path

from stripe_integration.views import StripeViewSet, StripeWebhookViewSet

urlpatterns = [
    path(
        "stripe/validate-card", StripeViewSet.as_view({"post": "validate_card"}), name="stripe-validate-card"
    ),
    path("stripe/payment", StripeViewSet.as_view({"post": "create_payment"}), name="stripe-payment"),
    path(
        "stripe/payment/<str:payment_id>",
        StripeViewSet.as_view({"get": "retrieve_payment"}),
        name="stripe-payment-detail",
    ),
    path("stripe/refund", StripeViewSet.as_view({"post": "refund"}), name="stripe-refund"),
    path("stripe/webhook", StripeWebhookViewSet.as_view({"post": "receive"}), name="stripe-webhook"),
]
