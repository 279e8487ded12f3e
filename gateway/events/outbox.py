"""Record events in the outbox (same transaction as the change) and relay them to Kafka."""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import time
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.utils import timezone

from gateway.core.tracing import tracing_continue, tracing_span
from gateway.events.kafka import kafka_enabled
from gateway.events.models import OutboxEvent
from gateway.events.producer import kafka_producer, kafka_producer_reset
from gateway.events.signals import outbox_committed_send

logger = logging.getLogger("gateway.events")

_BACKOFF_KEY = "outbox:backoff"


def outbox_record(
    *,
    event_id: uuid.UUID,
    event_type: str,
    aggregate_type: str,
    aggregate_id: str,
    topics: list[str],
    payload: dict,
) -> OutboxEvent:
    """Writes one event to the outbox, in the caller's transaction, and asks for
    a publish once that transaction commits. What an event says is the app's
    business (payments.kafka_events); the outbox only keeps and relays it."""
    with tracing_span("outbox record", {"event.type": event_type}) as traceparent:
        row = OutboxEvent.objects.create(
            event_id=event_id,
            type=event_type,
            aggregate_type=aggregate_type,
            aggregate_id=aggregate_id,
            topics=topics,
            payload=payload,
            traceparent=traceparent,
        )
    # robust: if the broker of Celery is down the change still commits; the sweeper publishes.
    transaction.on_commit(outbox_publish_soon, robust=True)
    return row


_QUEUED_KEY = "outbox:publish-queued"
# Inside outbox_publish_deferred() (one HTTP request): commits only note that a
# publish is wanted, and one is asked for when the request is done.
_deferred: contextvars.ContextVar[list | None] = contextvars.ContextVar("outbox_deferred", default=None)


@contextlib.contextmanager
def outbox_publish_deferred():
    """One relay task per request, however many commits wrote events (a payment
    commits when it is recorded, and again when it is settled): each enqueue is
    a broker round trip and a message to decode. Asked for when the request
    ends, after its last commit, even when it ends in an error."""
    token = _deferred.set([])
    try:
        yield
    finally:
        wanted = bool(_deferred.get())
        _deferred.reset(token)
        if wanted:
            try:
                outbox_publish_soon()
            except Exception:  # the broker is down: the sweeper publishes (as on_commit's robust=True)
                logger.warning("Could not queue the outbox relay; the sweeper will publish", exc_info=True)


def outbox_publish_soon() -> None:
    """After commit: queues a relay task, unless one is queued and not started
    yet; that one will see this row (it clears the mark before reading rows),
    so a burst of payments costs one task, not one per event. The task starts
    OUTBOX_RELAY_GATHER_MS (100 ms) later, so that the commits of that window
    share it. Without the cache, one task per commit, as the sweeper would
    catch up anyway. Within a request, once, when it ends
    (outbox_publish_deferred)."""
    from gateway.events.tasks import outbox_publish_task

    deferred = _deferred.get()
    if deferred is not None:
        deferred.append(True)
        return

    # Before the relay's own dedupe below: other receivers (webhooks to
    # merchants) keep their own marks.
    outbox_committed_send()
    try:
        first = cache.add(_QUEUED_KEY, 1, timeout=settings.OUTBOX_QUEUED_MARK_SECONDS)
    except Exception:
        first = True
    if not first:
        return
    try:
        gather = settings.OUTBOX_RELAY_GATHER_MS / 1000
        outbox_publish_task.apply_async(countdown=gather) if gather > 0 else outbox_publish_task.delay()
    except Exception:
        outbox_publish_started()  # nothing is queued: let the next commit try
        raise


def outbox_publish_started() -> None:
    """Called by the relay task before it reads rows (see outbox_publish_soon)."""
    try:
        cache.delete(_QUEUED_KEY)
    except Exception:
        logger.debug("outbox queued mark not cleared (cache unavailable); it expires on its own")


@dataclass(frozen=True)
class RelayResult:
    published: int
    pending: int | None  # None: not counted (count_pending=False)
    error: str = ""


def outbox_pending_count() -> int:
    return OutboxEvent.objects.filter(published_at__isnull=True).count()


def outbox_relay(
    *, limit: int = 500, respect_backoff: bool = False, count_pending: bool = True
) -> RelayResult:
    """Publishes unpublished rows in id order, so one payment's events keep their order.

    The rows are locked while they are published, so two relays (the
    after-commit task and the sweeper, or two workers) never publish the same
    row twice. A row is marked published, with the partition and offset Kafka
    returned, only after every one of its topics acknowledged it (acks=all).
    Delivery is still at-least-once (a crash between Kafka's ack and our commit
    publishes again), and the event id is how consumers deduplicate.
    """
    pending = outbox_pending_count if count_pending else lambda: None
    if not kafka_enabled():
        return RelayResult(0, pending(), "KAFKA_BROKERS is not set")
    if respect_backoff and cache.get(_BACKOFF_KEY):
        return RelayResult(0, pending(), "backing off after a failed publish")
    published, error = 0, ""
    with transaction.atomic():
        rows = list(
            OutboxEvent.objects.select_for_update().filter(published_at__isnull=True).order_by("id")[:limit]
        )
        done, failure = _publish_in_rounds(rows)
        if failure is not None:
            failed, exc = failure
            error = f"{type(exc).__name__}: {exc}"[:500]
            failed.attempts += 1
            failed.last_error = error
            failed.save(update_fields=["attempts", "last_error"])
            cache.set(_BACKOFF_KEY, 1, settings.OUTBOX_BACKOFF_SECONDS)
            kafka_producer_reset()
            logger.warning(
                "Kafka publish failed; %s event(s) wait in the outbox: %s", len(rows) - len(done), error
            )
        if done:
            _mark_published(done)
        published = len(done)
        for row in done:
            logger.info(
                "Published %s %s for %s to %s (partition %s, offset %s)",
                row.type,
                row.event_id,
                row.aggregate_id,
                ",".join(row.topics),
                row.kafka_partition,
                row.kafka_offset,
            )
    if published and not error:
        cache.delete(_BACKOFF_KEY)
    return RelayResult(published, pending(), error)


_MARK_CHUNK = 500  # 5 parameters a row: well under SQLite's limit on variables


def _mark_published(rows: list[OutboxEvent]) -> None:
    """Marks the acknowledged rows published, in statements of at most 500
    rows (a replay relays everything it marked unpublished at once)."""
    for start in range(0, len(rows), _MARK_CHUNK):
        _mark_published_chunk(rows[start : start + _MARK_CHUNK])


def _mark_published_chunk(rows: list[OutboxEvent]) -> None:
    """Marks the acknowledged rows published in one UPDATE, each with its own
    partition and offset (a CASE on the id).

    It was bulk_update(), which builds a CASE expression of ORM objects per
    field and row and resolves each: 70% of the relay's CPU, about 1 ms per
    event (issue #16). The statement is the same; its text is built here, with
    every value a parameter. The rows are locked (select_for_update), so
    `attempts + 1` is what row.attempts says."""
    ops = connection.ops
    table, pk = ops.quote_name(OutboxEvent._meta.db_table), ops.quote_name(OutboxEvent._meta.pk.column)
    column = {name: ops.quote_name(OutboxEvent._meta.get_field(name).column) for name in _PUBLISH_FIELDS}
    whens = " ".join(["WHEN %s THEN %s"] * len(rows))
    # Names from the model's metadata, quoted; every value a parameter.
    attempts = column["attempts"]
    sql = (
        f"UPDATE {table} SET {column['published_at']} = %s, {attempts} = {attempts} + 1, "  # noqa: S608  # nosec B608
        f"{column['last_error']} = '', "
        f"{column['kafka_partition']} = CASE {pk} {whens} END, "
        f"{column['kafka_offset']} = CASE {pk} {whens} END "
        f"WHERE {pk} IN ({', '.join(['%s'] * len(rows))})"
    )
    published_at = OutboxEvent._meta.get_field("published_at").get_db_prep_value(
        rows[0].published_at, connection
    )
    params = [published_at]
    params += [value for row in rows for value in (row.pk, row.kafka_partition)]
    params += [value for row in rows for value in (row.pk, row.kafka_offset)]
    params += [row.pk for row in rows]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


_PUBLISH_FIELDS = ("published_at", "attempts", "last_error", "kafka_partition", "kafka_offset")


def _publish_in_rounds(rows: list[OutboxEvent]):
    """Sends the rows in rounds: each round holds the oldest waiting row of
    each payment, sent together and then acknowledged, so one round trip
    serves many payments while a payment's next event is sent only once the
    previous one is acknowledged. After a failed round nothing more is sent:
    a payment's events are never reordered, and a row is never sent twice
    except when a crash comes between Kafka's ack and our commit.

    Returns (rows acknowledged, (a failed row, its error) or None).
    """
    timeout = settings.KAFKA_REQUEST_TIMEOUT_MS / 1000
    published_at = timezone.now()  # one time for the call: the rows share one UPDATE
    done: list[OutboxEvent] = []
    failure = None
    waiting = rows
    while waiting and failure is None:
        this_round, later, seen = [], [], set()
        for row in waiting:
            (later if row.aggregate_id in seen else this_round).append(row)
            seen.add(row.aggregate_id)
        try:
            producer = kafka_producer()
            sent = [(row, [_send(producer, row, topic) for topic in row.topics]) for row in this_round]
        except Exception as exc:  # kafka-python raises many types; all mean "not now"
            return done, (this_round[0], exc)
        # One deadline for the whole round: after a failure, the rows still
        # unacknowledged are not waited on one timeout each.
        deadline = time.monotonic() + timeout
        for row, futures in sent:
            try:
                acks = [future.get(timeout=max(deadline - time.monotonic(), 0.001)) for future in futures]
            except Exception as exc:
                failure = failure or (row, exc)
                continue
            row.published_at = published_at
            row.attempts += 1
            row.last_error = ""
            row.kafka_partition, row.kafka_offset = acks[0].partition, acks[0].offset
            done.append(row)
        waiting = later
    return done, failure


def _send(producer, row: OutboxEvent, topic: str):
    headers = [
        ("event_type", row.type.encode()),
        ("event_id", str(row.event_id).encode()),
        ("version", str(row.version).encode()),
    ]
    value = json.dumps(row.payload, separators=(",", ":")).encode()
    # The trace of the request that wrote the row goes on (W3C traceparent, tracestate).
    span = f"{topic} publish"
    with tracing_continue(row.traceparent, span, attributes={"messaging.destination.name": topic}) as carry:
        headers += [(name, carried.encode()) for name, carried in carry.items()]
        return producer.send(topic, key=row.aggregate_id.encode(), value=value, headers=headers)


def outbox_replay(*, payment_id: str | None = None, since=None) -> int:
    """Publishes stored events again (same event ids: consumers deduplicate).
    Marks them unpublished and relays them in their original order."""
    rows = OutboxEvent.objects.all()
    if payment_id:
        rows = rows.filter(aggregate_id=payment_id)
    if since:
        rows = rows.filter(created_at__gte=since)
    count = rows.update(published_at=None)
    outbox_relay(limit=max(count, 1))
    return count
