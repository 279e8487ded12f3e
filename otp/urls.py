from django.urls import path

from otp.views import OtpViewSet

# Listed before the payments router, whose payments/{id} would otherwise match "OTP".
urlpatterns = [
    path("payments/OTP", OtpViewSet.as_view({"post": "send"}), name="otp-send"),
    path("payments/validate", OtpViewSet.as_view({"post": "validate"}), name="otp-validate"),
]
