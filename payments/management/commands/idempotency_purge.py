from django.core.management.base import BaseCommand

from payments.services.idempotency import idempotency_purge_expired


class Command(BaseCommand):
    help = "Deletes expired Idempotency-Key records (kept IDEMPOTENCY_KEY_TTL_HOURS, default 24)."

    def handle(self, *args, **options):
        deleted = idempotency_purge_expired()
        self.stdout.write(f"deleted {deleted} expired idempotency key(s)")
