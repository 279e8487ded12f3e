from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from gateway.core.errors import GatewayError
from stripe_integration.services import stripe_local_bootstrap


class Command(BaseCommand):
    help = (
        "For localstripe only: creates the dj-stripe Account, APIKey and WebhookEndpoint rows "
        "it cannot sync, and registers the gateway's webhook at localstripe. Idempotent."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--webhook-url",
            default=f"http://127.0.0.1:{settings.SERVER_PORT}/api/v1/stripe/webhook",
            help="Where localstripe should deliver events.",
        )
        parser.add_argument(
            "--no-register", action="store_true", help="Only make the local rows; do not call localstripe."
        )

    def handle(self, *args, webhook_url: str, no_register: bool, **options):
        try:
            result = stripe_local_bootstrap(webhook_url=webhook_url, register_at_psp=not no_register)
        except GatewayError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(
            f"account {'created' if result.account_created else 'exists'}, "
            f"api key {'created' if result.api_key_created else 'exists'}, "
            f"webhook endpoint {'created' if result.webhook_endpoint_created else 'updated'} "
            f"-> {result.webhook_url}"
        )
