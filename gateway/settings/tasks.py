"""Celery: the broker, how tasks run, the queues and routes, and the whole beat schedule."""

import ssl

from kombu import Queue

from gateway.settings.environment import env
from gateway.settings.events import OUTBOX_SWEEP_SECONDS
from gateway.settings.payments import PAYMENT_EXPIRY_SWEEP_SECONDS, WEBHOOK_SWEEP_SECONDS
from gateway.settings.psp import DJSTRIPE_MIRROR
from gateway.settings.storage import REDIS_SSL_CA_CERTS, REDIS_URL

# --- The broker, and how tasks run ----------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="") or REDIS_URL
if CELERY_BROKER_URL.startswith("rediss://"):
    CELERY_BROKER_USE_SSL = {
        "ssl_cert_reqs": ssl.CERT_REQUIRED,
        **({"ssl_ca_certs": REDIS_SSL_CA_CERTS} if REDIS_SSL_CA_CERTS else {}),
    }
# With no broker at all, tasks run in-process (eagerly) so nothing needs a worker.
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
# With eager tasks (no broker): run them on one background thread of the process,
# after the answer, instead of inside the request (gateway/celery.py). make run sets it.
EAGER_TASKS_IN_THREAD = env.bool("EAGER_TASKS_IN_THREAD", default=False)
# ...and these queues' tasks on a thread of their own: a dead merchant's
# webhook (WEBHOOK_TIMEOUT_SECONDS an attempt) does not hold up the others.
EAGER_TASK_OWN_THREAD_QUEUES = ("webhooks",)
# (memory:// with a host name: kombu warns "No hostname was supplied" without one.)
CELERY_BROKER_URL = CELERY_BROKER_URL or "memory://localhost/"
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

# --- Queues and routes ----------------------------------------------------------
# Three queues, so that no kind of work waits behind another (docs/operations.md):
# - "djstripe": the dj-stripe mirror, background bookkeeping that may lag;
# - "celery" (the default): work a payer waits for (OTP e-mail, async charges),
#   the periodic reconciliation and the outbox's sweeper;
# - "webhooks": deliveries to merchants' endpoints (payments.webhooks), whose
#   slow or dead receivers hold a task for up to WEBHOOK_TIMEOUT_SECONDS.
# The outbox relay is no Celery task: a process per shard (`manage.py
# outbox_relay`) waits for work, so an event never waits behind a task. (There
# was an "events" queue for it; a soak once left events 379 s behind dj-stripe
# syncs in one shared queue.)
# A worker started without -Q consumes all three (CELERY_TASK_QUEUES declares them).
CELERY_QUEUE_DEFAULT = "celery"
CELERY_QUEUE_DJSTRIPE = "djstripe"
CELERY_QUEUE_WEBHOOKS = "webhooks"
CELERY_TASK_DEFAULT_QUEUE = CELERY_QUEUE_DEFAULT
CELERY_TASK_QUEUES = tuple(
    Queue(name, routing_key=name)
    for name in (CELERY_QUEUE_DEFAULT, CELERY_QUEUE_DJSTRIPE, CELERY_QUEUE_WEBHOOKS)
)
CELERY_TASK_ROUTES = {
    "stripe_integration.mirror.tasks.djstripe_sync_task": {"queue": CELERY_QUEUE_DJSTRIPE},
    "stripe_integration.mirror.tasks.djstripe_sync_pending_task": {"queue": CELERY_QUEUE_DJSTRIPE},
    "stripe_integration.mirror.tasks.djstripe_mirror_sweep_task": {"queue": CELERY_QUEUE_DJSTRIPE},
    "payments.webhooks.tasks.webhooks_fan_out_task": {"queue": CELERY_QUEUE_WEBHOOKS},
    "payments.webhooks.tasks.webhook_endpoint_deliver_task": {"queue": CELERY_QUEUE_WEBHOOKS},
    "payments.webhooks.tasks.webhooks_sweep_task": {"queue": CELERY_QUEUE_WEBHOOKS},
}

# --- Beat: every periodic task ----------------------------------------------------
# The periods are the settings of each concern (OUTBOX_SWEEP_SECONDS, ...), read once there.
CELERY_BEAT_SCHEDULE = {
    "otp-expire-payments": {
        "task": "otp.tasks.otp_expire_payments_task",
        "schedule": 60,
    },
    "outbox-sweep": {
        "task": "gateway.events.tasks.outbox_sweep_task",
        "schedule": OUTBOX_SWEEP_SECONDS,
    },
    # Payments stuck in processing (RECONCILE_AFTER_MINUTES) are reconciled this often.
    "stripe-reconcile-stuck": {
        "task": "payments.tasks.reconcile_stuck_task",
        "schedule": env.int("RECONCILE_EVERY_SECONDS", default=300),
    },
    # Webhooks to merchants: retries when due, fan-outs an after-commit task missed.
    "webhooks-sweep": {
        "task": "payments.webhooks.tasks.webhooks_sweep_task",
        "schedule": WEBHOOK_SWEEP_SECONDS,
    },
    # Payments past their expires_at are canceled.
    "payments-expire": {
        "task": "payments.tasks.payments_expire_task",
        "schedule": PAYMENT_EXPIRY_SWEEP_SECONDS,
    },
}
if DJSTRIPE_MIRROR != "off":  # the mirror's app is installed (gateway/settings/psp.py)
    CELERY_BEAT_SCHEDULE["djstripe-mirror-sweep"] = {
        "task": "stripe_integration.mirror.tasks.djstripe_mirror_sweep_task",
        "schedule": 60,
    }
