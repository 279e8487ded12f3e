#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

import os
import sys

# Long-running commands whose work continues the traces of requests (the outbox
# relay): tracing, when on, is set up for them (docs/tracing.md). The web
# server's processes set it up in gateway/wsgi.py, Celery's in gateway/celery.py.
TRACED_COMMANDS = {"outbox_relay"}


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gateway.settings")
    from django.core.management import execute_from_command_line

    if sys.argv[1:2] and sys.argv[1] in TRACED_COMMANDS:
        from gateway.core.tracing import tracing_configure

        tracing_configure()
    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
