"""Events: Kafka, and the outbox relay that publishes to it (gateway.events)."""

from django.core.exceptions import ImproperlyConfigured

from gateway.settings.environment import env

# --- Kafka ----------------------------------------------------------------------
# Comma-separated host:port list, as in the seed. Empty: events wait in the
# outbox and nothing is lost.
KAFKA_BROKERS = env.list("KAFKA_BROKERS", default=[])
KAFKA_TOPICS = {
    "events": env.str("KAFKA_TOPIC_EVENTS", default="payment-events"),
    "success": env.str("KAFKA_TOPIC_SUCCESS", default="payment-success"),
    "failed": env.str("KAFKA_TOPIC_FAILED", default="payment-failed"),
    "refunded": env.str("KAFKA_TOPIC_REFUNDED", default="payment-refunded"),
}
KAFKA_TOPIC_PARTITIONS = env.int("KAFKA_TOPIC_PARTITIONS", default=3)
KAFKA_REPLICATION_FACTOR = env.int("KAFKA_REPLICATION_FACTOR", default=1)
# Topics created by kafka_create_topics get this min.insync.replicas: with
# acks=all, a write is acknowledged once this many replicas have it (a cluster
# of 3 keeps accepting writes with one broker down, and loses nothing acknowledged).
# Unset: the topic takes the broker's own default.
KAFKA_MIN_INSYNC_REPLICAS = env.int("KAFKA_MIN_INSYNC_REPLICAS", default=None)
# How long one publish may wait for the broker before the outbox keeps the event for later.
KAFKA_REQUEST_TIMEOUT_MS = env.int("KAFKA_REQUEST_TIMEOUT_MS", default=5000)
# TLS and SASL to the brokers (a managed Kafka): PLAINTEXT, SSL, SASL_PLAINTEXT or
# SASL_SSL; PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512; the CA bundle for SSL (empty:
# the system's). Only the relay and the commands that read Kafka need the credentials.
KAFKA_SECURITY_PROTOCOL = env.str("KAFKA_SECURITY_PROTOCOL", default="PLAINTEXT").strip().upper()
KAFKA_SASL_MECHANISM = env.str("KAFKA_SASL_MECHANISM", default="SCRAM-SHA-512").strip().upper()
KAFKA_SASL_USERNAME = env.str("KAFKA_SASL_USERNAME", default="")
KAFKA_SASL_PASSWORD = env.str("KAFKA_SASL_PASSWORD", default="")
KAFKA_SSL_CAFILE = env.str("KAFKA_SSL_CAFILE", default="")
if KAFKA_SECURITY_PROTOCOL not in ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"):
    raise ImproperlyConfigured("KAFKA_SECURITY_PROTOCOL must be PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL.")
if KAFKA_SECURITY_PROTOCOL.startswith("SASL_") and not (KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD):
    raise ImproperlyConfigured(
        f"KAFKA_SECURITY_PROTOCOL={KAFKA_SECURITY_PROTOCOL} needs KAFKA_SASL_USERNAME and _PASSWORD."
    )

# --- The outbox relay -----------------------------------------------------------
# The sweeper publishes what the after-commit task could not, this often.
OUTBOX_SWEEP_SECONDS = env.int("OUTBOX_SWEEP_SECONDS", default=15)
# After a failed publish, after-commit tasks leave the outbox to the sweeper this long.
OUTBOX_BACKOFF_SECONDS = env.int("OUTBOX_BACKOFF_SECONDS", default=10)
# A queued relay task is marked for this long at most (outbox_publish_soon).
OUTBOX_QUEUED_MARK_SECONDS = env.int("OUTBOX_QUEUED_MARK_SECONDS", default=10)
# A relay task starts this long after the commit that asks for it, and the
# commits meanwhile ride on it: one task, with its fixed cost (~5-7 ms of CPU:
# the broker message, a transaction, a Kafka round trip), serves every payment
# of the window instead of one each (issue #16). It adds as much to the event
# delay. 0: at once.
OUTBOX_RELAY_GATHER_MS = env.int("OUTBOX_RELAY_GATHER_MS", default=100)
