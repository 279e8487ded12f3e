"""The simulation's invariants: over each answer the merchant got, over the whole
state after every step (the database, the answers and the fake PSP's books),
and at rest after the run, when every payment must be at rest or parked for an
operator with a reason."""

from __future__ import annotations

import json
from collections import Counter

from django.conf import settings

from gateway.tests.simulation.engine.world import (
    AT_REST,
    CHARGING_CONTEXTS,
    FINAL,
    Answer,
    InvariantViolated,
)
from payments.enums import ALLOWED_TRANSITIONS, PaymentStatus, RefundStatus
from payments.kafka_events import event_type_for
from payments.models import IdempotencyKey, Payment, PaymentEvent


class Invariants:
    """A part of Simulation (gateway.tests.simulation.engine.runner), which holds
    the state they compare."""

    def _check_answer(self, answer: Answer, key: str) -> None:
        self.stats["invariants checked"] += 1
        body = answer.body
        named = [body.get("payment_id"), (body.get("payment") or {}).get("payment_id")]
        named.append((body.get("error") or {}).get("payment_id"))
        for payment_id in filter(None, named):
            if not Payment.objects.filter(client=self.client, public_id=payment_id).exists():
                raise InvariantViolated("answer_names_no_payment", f"{answer.status} names {payment_id}")
        if answer.status >= 500 and answer.status not in (502, 503):
            raise InvariantViolated("unexpected_5xx", f"{answer.status} {body}")
        error = body.get("error") or {}
        if answer.status == 402 and error.get("code") != "not_charged":
            payment = Payment.objects.get(client=self.client, public_id=error.get("payment_id"))
            if not any(i.declines for i in self.psp.intents_of(str(payment.uuid))):
                raise InvariantViolated(
                    "decline_without_psp_decline", f"{payment.public_id} answered 402 {error.get('code')}"
                )
        if key and error.get("code") == "duplicate_payment_id":
            # "Already exists" about the payment this very key made (its retry
            # recorded it while this request's lease ran out): the merchant is
            # told its own payment is someone else's.
            record = IdempotencyKey.objects.filter(client=self.client, key=key).first()
            if record is not None and Payment.objects.filter(uuid=record.operation_uuid).exists():
                raise InvariantViolated("duplicate_of_own_payment", f"key {key}: 409 for its own payment")
        if not key or not answer.definite:
            return
        comparable = {k: v for k, v in body.items() if k != "client_secret"}
        ttl = settings.IDEMPOTENCY_KEY_TTL_HOURS * 3600
        first = self.answers.get(key)
        if first is None or (self.clock.now() - first.at).total_seconds() >= ttl:
            # A key's answer is kept IDEMPOTENCY_KEY_TTL_HOURS; past that it is a new request.
            first = self.answers[key] = Answer(answer.status, comparable, at=self.clock.now())
        if (first.status, first.body) != (answer.status, comparable):
            raise InvariantViolated(
                "replay_differs",
                f"key {key}: first {first.status} {first.body}, now {answer.status} {comparable}",
            )

    def check(self) -> None:
        """The invariants over the whole state, after a step."""
        self.stats["invariant checks"] += 1
        for record in IdempotencyKey.objects.filter(state=IdempotencyKey.State.COMPLETED):
            stored = (record.response_status, json.dumps(record.response_body, sort_keys=True))
            if self.stored.setdefault(record.pk, stored) != stored:
                raise InvariantViolated("stored_answer_changed", f"key {record.key}")
        for intent in self.psp.intents.values():
            context = getattr(intent, "context", "request")
            uuid = intent.metadata.get("gateway_payment_uuid")
            if intent.created_unconfirmed:
                continue  # no charge: the payer confirms it, or nobody does
            if context not in CHARGING_CONTEXTS and not (context == "reconcile" and uuid in self.promised):
                raise InvariantViolated(
                    "charge_not_asked_for",
                    f"{intent.id} was created by {context} for a payment nobody asked to charge",
                )
        money_by_order: Counter = Counter()
        for payment in Payment.objects.select_related("client"):
            money_by_order[payment.order_id] += self.psp.money_taken(str(payment.uuid))
            self._check_payment(payment)
        for order in self.orders:
            if order.keyed and money_by_order[order.id] > order.amount_minor:
                raise InvariantViolated(
                    "charged_twice",
                    f"{order.id} ({order.amount_minor}): the PSP took {money_by_order[order.id]}",
                )

    def _check_payment(self, payment: Payment) -> None:
        uuid = str(payment.uuid)
        with_money = [i for i in self.psp.intents_of(uuid) if i.amount_received or i.amount_capturable]
        if len(with_money) > 1:
            raise InvariantViolated("two_psp_charges", f"{payment.public_id}: {[i.id for i in with_money]}")
        if not 0 <= payment.refunded_minor <= payment.captured_minor <= payment.amount_minor:
            raise InvariantViolated(
                "amounts",
                f"{payment.public_id}: refunded {payment.refunded_minor}, captured {payment.captured_minor}, "
                f"amount {payment.amount_minor}",
            )
        refunds = list(payment.refunds.all())
        reserved = sum(r.amount_minor for r in refunds if r.status != RefundStatus.FAILED)
        if reserved != payment.refunded_minor or len(refunds) != payment.refund_count:
            raise InvariantViolated(
                "refund_totals",
                f"{payment.public_id}: refunds {reserved}/{len(refunds)}, row {payment.refunded_minor}",
            )
        outcomes: Counter = Counter()
        for type_, data in payment.events.filter(
            type__in=("refund_created", "refund_succeeded", "refund_failed")
        ).values_list("type", "data"):
            outcomes[(data.get("refund_id"), "created" if type_ == "refund_created" else "settled")] += 1
        if any(count > 1 for count in outcomes.values()):
            raise InvariantViolated("refund_event_twice", f"{payment.public_id}: {dict(outcomes)}")
        if payment.cancellation_reason == "expired" and any(
            i.status in ("succeeded", "requires_capture", "processing") for i in self.psp.intents_of(uuid)
        ):
            raise InvariantViolated(
                "expired_but_paid", f"{payment.public_id}: canceled as expired, but the payer paid at the PSP"
            )
        before = self.statuses.get(payment.pk)
        if before in FINAL and payment.status != before:
            raise InvariantViolated(
                "final_status_changed", f"{payment.public_id}: {before} -> {payment.status}"
            )
        self.statuses[payment.pk] = payment.status
        self._check_timeline(payment)
        # The books are compared at rest (quiesce): between steps the PSP may have
        # moved on its own (the payer retried 3-D Secure) before its webhook came.

    def _check_books(self, payment: Payment, *, strict: bool) -> None:
        """The money the PSP moved for the payment is the money we record."""
        intents = self.psp.intents_of(str(payment.uuid))
        psp_net = sum(i.amount_received - self.psp.refunded(i) for i in intents)
        ours = payment.captured_minor - sum(
            r.amount_minor for r in payment.refunds.all() if r.status == RefundStatus.SUCCEEDED
        )
        returned = sum(
            item.get("amount_minor", 0)
            for event in payment.events.filter(type="review_resolved")
            for item in event.data.get("returned", [])
        )
        if psp_net != ours:
            raise InvariantViolated(
                "books_differ",
                f"{payment.public_id} ({payment.status}): the PSP moved {psp_net}, we record {ours}"
                + (f" (returned {returned})" if returned else ""),
            )
        if strict:
            held = sum(i.amount_capturable for i in intents)
            if held and payment.status != PaymentStatus.REQUIRES_CAPTURE:
                raise InvariantViolated(
                    "money_held", f"{payment.public_id} ({payment.status}): {held} authorized"
                )

    def _check_timeline(self, payment: Payment) -> None:
        """One published event per change, in order; every change allowed; the
        last published status is the payment's."""
        from gateway.events.models import OutboxEvent

        status = None
        expected = []
        for event in PaymentEvent.objects.filter(payment=payment).order_by("id"):
            if status is not None and event.status_before and event.status_before != status:
                raise InvariantViolated(
                    "timeline_chain",
                    f"{payment.public_id}: {event.type} says before={event.status_before}, was {status}",
                )
            after = event.status_after
            if (
                status is not None
                and after
                and after != status
                and after not in ALLOWED_TRANSITIONS.get(status, ())
            ):
                raise InvariantViolated(
                    "transition", f"{payment.public_id}: {status} -> {after} ({event.type})"
                )
            status = after or status
            published = event_type_for(event.type, event.status_after)
            if published:
                expected.append((published, event.status_after))
        if status != payment.status:
            raise InvariantViolated(
                "timeline_status", f"{payment.public_id}: timeline ends {status}, row {payment.status}"
            )
        outbox = [
            (row.type, row.payload["payment"]["status"])
            for row in OutboxEvent.objects.filter(aggregate_id=payment.public_id).order_by("id")
            if row.payload["payment"]["client_id"] == payment.client_id
        ]
        if outbox != expected:
            raise InvariantViolated("outbox", f"{payment.public_id}: outbox {outbox}, timeline {expected}")

    def check_at_rest(self) -> None:
        """After quiescence: nothing stuck, the books agree, no refused request kept money."""
        for payment in Payment.objects.all():
            if payment.status not in AT_REST and not payment.review_reason:
                raise InvariantViolated(
                    "stuck", f"{payment.public_id} is {payment.status} with no reason after quiescence"
                )
            pending = payment.refunds.filter(status=RefundStatus.PENDING)
            if pending.exists() and not payment.review_reason:
                raise InvariantViolated("stuck", f"{payment.public_id} has a refund pending after quiescence")
            if not payment.review_reason:
                self._check_books(payment, strict=True)
        for intent in self.psp.intents.values():
            answer = self.answers.get(intent.request_key)
            kept = intent.amount_received - self.psp.refunded(intent) + intent.amount_capturable
            if kept > 0 and answer is not None and answer.status >= 400:
                raise InvariantViolated(
                    "refused_but_charged",
                    f"{intent.id} holds {kept} for a request answered {answer.status} "
                    f"{answer.body.get('error')}",
                )
