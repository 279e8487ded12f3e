from django.core.management.base import BaseCommand

from payments.services.api_clients import api_client_create, api_client_rotate


class Command(BaseCommand):
    help = "Creates an API client and prints its raw key, alone, on the last line."

    def add_arguments(self, parser):
        parser.add_argument("name", help="A name for the merchant back end.")
        parser.add_argument(
            "--rotate",
            action="store_true",
            help=(
                "Give the active client of this name a new key (the old key stops working at once); "
                "its payments and Idempotency-Keys stay its own. Used for the demo key."
            ),
        )

    def handle(self, *args, name: str, rotate: bool, **options):
        if rotate:
            client, raw_key = api_client_rotate(name=name)
        else:
            client, raw_key = api_client_create(name=name)
        self.stdout.write(f"Created API client {client.name!r} (prefix {client.key_prefix}).")
        self.stdout.write("The key is shown only now; store it safely:")
        self.stdout.write(raw_key)
