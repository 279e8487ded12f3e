from django.core.management.base import BaseCommand

from payments.models import ApiClient


class Command(BaseCommand):
    help = "Lists the API clients: name, key prefix, active or revoked, created. Never a key."

    def add_arguments(self, parser):
        parser.add_argument("--active", action="store_true", help="Only the clients whose key works.")

    def handle(self, *args, active: bool, **options):
        clients = ApiClient.objects.order_by("name", "id")
        if active:
            clients = clients.filter(is_active=True)
        self.stdout.write(f"{'name':<30} {'prefix':<12} {'state':<8} created")
        for client in clients:
            state = "active" if client.is_active else "revoked"
            created = f"{client.created_at:%Y-%m-%d %H:%M}"
            self.stdout.write(f"{client.name[:30]:<30} {client.key_prefix:<12} {state:<8} {created}")
