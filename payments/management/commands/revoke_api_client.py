from django.core.management.base import BaseCommand, CommandError

from payments.models import ApiClient
from payments.services.api_clients import api_client_revoke


class Command(BaseCommand):
    help = (
        "Revokes an API client's key by its prefix (as `list_api_clients` shows it). With Redis the "
        "key stops working everywhere at once; under `make run`'s local-memory cache, the server's "
        "own process may keep it until API_CLIENT_CACHE_SECONDS (30 there) runs out."
    )

    def add_arguments(self, parser):
        parser.add_argument("key_prefix", help="The key's prefix: gw_<prefix>_…")

    def handle(self, *args, key_prefix: str, **options):
        client = ApiClient.objects.filter(key_prefix=key_prefix.removeprefix("gw_")).first()
        if client is None:
            raise CommandError(f"No API client with the prefix {key_prefix!r}.")
        if not client.is_active:
            self.stdout.write(f"{client.name} ({client.key_prefix}) was already revoked.")
            return
        api_client_revoke(client=client)
        self.stdout.write(f"Revoked {client.name} ({client.key_prefix}).")
