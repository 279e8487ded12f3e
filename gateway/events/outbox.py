"""Record events in the outbox (same transaction as the change) and relay them to Kafka."""

from __future__ import annotations

import contextlib
import contextvars
import functools
import json
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Min
from django.utils import timezone

from gateway.core.tracing import tracing_continue, tracing_span
from gateway.events.kafka import kafka_enabled
from gateway.events.models import OutboxEvent
from gateway.events.producer import kafka_producer, kafka_producer_reset
from gateway.events.signals import outbox_committed_send
from gateway.events.wake import outbox_shard_of, outbox_wake

logger = logging.getLogger("gateway.events")


def outbox_record(
    *,
    event_id: uuid.UUID,
    event_type: str,
    aggregate_type: str,
    aggregate_id: str,
    topics: list[str],
    payload: dict,
) -> OutboxEvent:
    """Writes one event to the outbox, in the caller's transaction, in the
    shard of its aggregate, and wakes that shard's relay once the transaction
    commits. What an event says is the app's business (payments.kafka_events);
    the outbox only keeps and relays it."""
    shard = outbox_shard_of(aggregate_id)
    with tracing_span("outbox record", {"event.type": event_type}) as traceparent:
        row = OutboxEvent.objects.create(
            event_id=event_id,
            type=event_type,
            aggregate_type=aggregate_type,
            aggregate_id=aggregate_id,
            topics=topics,
            payload=payload,
            shard=shard,
            traceparent=traceparent,
        )
    # robust: if Redis is down the change still commits; the relay polls, the sweeper publishes.
    transaction.on_commit(functools.partial(outbox_publish_soon, shards=(shard,)), robust=True)
    return row


# Inside outbox_publish_deferred() (one HTTP request): commits only note the
# shards they wrote, and their relays are woken when the request is done.
_deferred: contextvars.ContextVar[set | None] = contextvars.ContextVar("outbox_deferred", default=None)


@contextlib.contextmanager
def outbox_publish_deferred():
    """One wake-up per request, however many commits wrote events (a payment
    commits when it is recorded, and again when it is settled). Sent when the
    request ends, after its last commit, even when it ends in an error."""
    token = _deferred.set(set())
    try:
        yield
    finally:
        shards = _deferred.get()
        _deferred.reset(token)
        if shards:
            try:
                outbox_publish_soon(shards=shards)
            except Exception:  # Redis is down: the relays poll (as on_commit's robust=True)
                logger.warning("Could not wake the outbox relay; it polls", exc_info=True)


def outbox_publish_soon(*, shards) -> None:
    """After commit: wakes the relays of these shards (one Redis command,
    which pushes nothing for a relay already woken: gateway.events.wake; no
    Celery message), then tells the other receivers of committed events
    (webhooks to merchants), even when the wake-up failed. Within a request,
    once, when it ends (outbox_publish_deferred)."""
    deferred = _deferred.get()
    if deferred is not None:
        deferred.update(shards)
        return
    try:
        outbox_wake(shards)  # first: the relay is what an event's delay waits on
    finally:
        outbox_committed_send()


@dataclass(frozen=True)
class RelayResult:
    published: int
    pending: int | None  # None: not counted (count_pending=False)
    error: str = ""
    more: bool = False  # the batch was full: more rows may wait
    held_back: int = 0  # rows left for later: an older row of their payment waits elsewhere


def outbox_pending_count(*, shard: int | None = None) -> int:
    rows = OutboxEvent.objects.filter(published_at__isnull=True)
    return (rows if shard is None else rows.filter(shard=shard)).count()


def outbox_pending_by_shard() -> dict[int, int]:
    """Events waiting, per shard: every shard of OUTBOX_SHARDS (0 when empty),
    and any other shard that still holds rows (written before OUTBOX_SHARDS changed)."""
    counts = dict(
        OutboxEvent.objects.filter(published_at__isnull=True)
        .values("shard")
        .annotate(n=Count("id"))
        .values_list("shard", "n")
    )
    return {shard: counts.get(shard, 0) for shard in sorted(set(range(settings.OUTBOX_SHARDS)) | set(counts))}


def outbox_relay(
    *,
    shard: int | None = None,
    limit: int = 500,
    count_pending: bool = True,
    created_before: datetime | None = None,
) -> RelayResult:
    """Publishes unpublished rows in id order, so one payment's events keep their order.

    With a shard, only that shard's rows, and rows another relay holds are
    skipped (SKIP LOCKED): relays of different shards never wait for each
    other. With created_before (the sweeper, outbox_sweep), only rows older
    than that, of every shard, also skipping rows another relay holds. With
    neither (the admin's action, --once, a replay), every shard, waiting for
    rows another relay holds. Either way a row is published only
    when no older unpublished row of its payment is outside the batch (in
    another shard after OUTBOX_SHARDS changed, held by another relay, or too
    young for the sweeper): it is left for a later pass (held_back), and
    whoever publishes that older row wakes the shard where it waits.

    The rows are locked while they are published, so two relays never
    publish the same row twice. A row is marked published, with the partition
    and offset Kafka returned, only after every one of its topics acknowledged
    it (acks=all). Delivery is still at-least-once (a crash between Kafka's
    ack and our commit publishes again), and the event id is how consumers
    deduplicate.
    """
    pending = (lambda: outbox_pending_count(shard=shard)) if count_pending else lambda: None
    if not kafka_enabled():
        return RelayResult(0, pending(), "KAFKA_BROKERS is not set")
    published, error = 0, ""
    with transaction.atomic():
        waiting = OutboxEvent.objects.filter(published_at__isnull=True)
        if shard is not None:
            waiting = waiting.filter(shard=shard)
        if created_before is not None:
            # The old rows' ids first, without a lock: the locking read below
            # then never touches a young row (a relay's), not even in passing.
            old = waiting.filter(created_at__lt=created_before).order_by("id").values_list("id", flat=True)
            waiting = waiting.filter(id__in=list(old[:limit]))
        # A relay and the sweeper skip what another holds (a no-op where there
        # are no row locks, SQLite); a pass by hand waits for it.
        skip_locked = shard is not None or created_before is not None
        selected = list(waiting.select_for_update(skip_locked=skip_locked).order_by("id")[:limit])
        rows = outbox_in_payment_order(selected)
        done, failure = _publish_in_rounds(rows)
        if failure is not None:
            failed, exc = failure
            error = f"{type(exc).__name__}: {exc}"[:500]
            failed.attempts += 1
            failed.last_error = error
            failed.save(update_fields=["attempts", "last_error"])
            kafka_producer_reset()
            logger.warning(
                "Kafka publish failed; %s event(s) wait in the outbox: %s", len(rows) - len(done), error
            )
        if done:
            _mark_published(done)
            later = functools.partial(_wake_where_later_rows_wait, {row.aggregate_id for row in done})
            transaction.on_commit(later, robust=True)
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
    held_back = len(selected) - len(rows)
    return RelayResult(published, pending(), error, more=len(selected) >= limit, held_back=held_back)


# The sweeper leaves a row to its shard's relay for this many of the relay's
# polls (OUTBOX_RELAY_POLL_SECONDS) after it was written.
SWEEP_AFTER_POLLS = 5


def outbox_sweep() -> RelayResult:
    """Celery beat's safety net (outbox_sweep_task): every shard in id order,
    but only rows older than SWEEP_AFTER_POLLS polls of the relays, and none
    that a relay holds (SKIP LOCKED). A younger row is its relay's job: the
    sweeper never waits for a relay and never makes one wait. (A relay that
    held a payment's younger row back while the sweeper published an older
    one is woken when the sweeper commits.)"""
    min_age = timedelta(seconds=SWEEP_AFTER_POLLS * settings.OUTBOX_RELAY_POLL_SECONDS)
    return outbox_relay(created_before=timezone.now() - min_age)


def _wake_where_later_rows_wait(aggregate_ids: set[str]) -> None:
    """After a pass commits: wakes the shards where rows of the payments it
    published still wait. A relay holds a row back while an older one of its
    payment is outside its batch (in another shard, or in this pass); woken,
    it publishes the row now instead of at its next poll. Read after commit,
    so that the relay woken finds the older rows published."""
    shards = set(
        OutboxEvent.objects.filter(published_at__isnull=True, aggregate_id__in=aggregate_ids)
        .values_list("shard", flat=True)
        .distinct()
    )
    if not shards:
        return
    try:
        outbox_wake(shards)
    except Exception:  # Redis is down: the relays poll
        logger.warning("Could not wake the outbox relay; it polls", exc_info=True)


def outbox_in_payment_order(rows: list[OutboxEvent]) -> list[OutboxEvent]:
    """The rows (in id order) that may be published now: those with no older
    unpublished row of the same aggregate outside `rows`. One query (the
    (aggregate_id, id) index), not locking: a row it does not see as waiting
    is published or not yet committed, and a payment's rows commit in order
    (its row lock)."""
    if not rows:
        return rows
    ids = [row.pk for row in rows]
    older = (
        OutboxEvent.objects.filter(
            published_at__isnull=True, aggregate_id__in={row.aggregate_id for row in rows}, id__lt=max(ids)
        )
        .exclude(id__in=ids)
        .values("aggregate_id")
        .annotate(first=Min("id"))
    )
    first_elsewhere = {each["aggregate_id"]: each["first"] for each in older}
    kept = [row for row in rows if row.pk < first_elsewhere.get(row.aggregate_id, row.pk + 1)]
    if len(kept) < len(rows):
        logger.info(
            "%s outbox row(s) wait for an older event of their payment in another shard or relay",
            len(rows) - len(kept),
        )
    return kept


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
