"""The periodic tasks without a beat: every entry of CELERY_BEAT_SCHEDULE run
in this process at its own interval. For the embedded default (`make run`:
eager Celery, no broker, so no beat), where it is what retries merchant
webhooks, expires payments, sweeps the outbox and expires OTP holds. With a
broker, run Celery beat instead (one definition: the same schedule)."""

from __future__ import annotations

import logging
import time

from celery import current_app
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

logger = logging.getLogger("gateway.core.periodic")


class Command(BaseCommand):
    help = "Runs every CELERY_BEAT_SCHEDULE task in this process at its interval (make run's beat)."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="Run each task once, then exit.")

    def handle(self, *args, once: bool, **options):
        # The Celery app is the project package's (gateway/__init__.py imports it).

        # A line per task run every few seconds says nothing; failures still do.
        logging.getLogger("celery.app.trace").setLevel(logging.WARNING)

        current_app.loader.import_default_modules()
        schedule = []
        for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
            interval = entry["schedule"]
            if not isinstance(interval, (int, float)):
                raise CommandError(f"{name}: only schedules in seconds run here, not {interval!r}.")
            if entry["task"] not in current_app.tasks:
                raise CommandError(f"{name}: no task {entry['task']!r} is registered.")
            schedule.append([0.0, float(interval), name, current_app.tasks[entry["task"]]])
        self.stdout.write(
            "periodic: " + ", ".join(f"{name} every {every:g} s" for _, every, name, _ in schedule)
        )
        while True:
            now = time.monotonic()
            for entry in schedule:
                due, every, name, task = entry
                if due > now:
                    continue
                entry[0] = now + every
                try:
                    task.apply()  # in this process, as a worker runs it
                except Exception:  # one task's failure never stops the others
                    logger.exception("Periodic task %s failed", name)
            if once:
                return
            time.sleep(max(min(entry[0] for entry in schedule) - time.monotonic(), 0.2))
