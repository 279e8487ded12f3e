from django.core.management.base import BaseCommand, CommandError

from stripe_integration.models import StripeWebhookEvent
from stripe_integration.webhooks import webhook_reprocess


class Command(BaseCommand):
    help = "Retries stored Stripe webhook events: those that failed (--failed) or given ids."

    def add_arguments(self, parser):
        parser.add_argument("event_ids", nargs="*", help="Stripe event ids (evt_…).")
        parser.add_argument("--failed", action="store_true", help="Every valid event not processed yet.")

    def handle(self, *args, event_ids: list[str], failed: bool, **options):
        if not event_ids and not failed:
            raise CommandError("Give event ids or --failed.")
        records = StripeWebhookEvent.objects.order_by("id")
        records = records.filter(processed=False) if failed else records.filter(event_id__in=event_ids)
        done = still_failing = 0
        for record in records:
            record = webhook_reprocess(record=record)
            if record.processed:
                done += 1
                self.stdout.write(f"processed {record.event_id} ({record.type}): {record.error}")
            else:
                still_failing += 1
                self.stdout.write(f"FAILED    {record.event_id} ({record.type}): {record.error.strip()}")
        self.stdout.write(f"{done} processed, {still_failing} still failing")
        if still_failing:
            raise CommandError(f"{still_failing} event(s) still fail")
