"""/pay/{token}: the hosted payment page (payments.hosted_page), mounted at the site's root."""

from django.urls import path

from payments.hosted_page import payment_page, payment_page_complete, payment_page_confirm

urlpatterns = [
    path("<str:token>", payment_page, name="payment-page"),
    path("<str:token>/confirm", payment_page_confirm, name="payment-page-confirm"),
    path("<str:token>/complete", payment_page_complete, name="payment-page-complete"),
]
