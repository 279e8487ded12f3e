"""The simulation's operations outside the merchant's requests: the PSP's
webhooks (late, duplicated, out of order), the background jobs (the async
charge task and its redelivery, reconciliation, OTP and payment expiry), the
payer on the hosted page or with Stripe.js, and the operators' review
decisions."""

from __future__ import annotations

import json
import time

from django.conf import settings

from gateway.tests.simulation.engine.world import InvariantViolated, Order, Step
from payments.enums import PaymentStatus
from payments.models import Payment


class BackgroundOperations:
    """A part of Simulation (gateway.tests.simulation.engine.runner), which holds
    the state these operations use."""

    def _op_webhook(self, step: Step) -> None:
        events = self.psp.events
        if not events:
            return
        if step.arg == "drop":  # lost: the PSP gave up delivering them (a misconfigured endpoint)
            self.next_event = len(events)
            return
        if step.arg == "all":
            picks = range(self.next_event, len(events))
        elif step.arg == "next":
            picks = [self.next_event] if self.next_event < len(events) else []
        elif step.arg == "again" and self.delivered:
            picks = [self.delivered[(len(self.delivered) * 7919) % len(self.delivered)]]
        else:
            picks = [(self.next_event * 31 + len(events)) % len(events)]  # out of order
        for index in list(picks):
            self._deliver(events[index])
            self.delivered.append(index)
            self.next_event = max(self.next_event, index + 1)

    def _deliver(self, event: dict) -> None:
        from conftest import stripe_signature
        from stripe_integration.webhooks import webhook_receive

        payload = json.dumps(event)
        signature = stripe_signature(payload, settings.STRIPE_WEBHOOK_SECRET, int(time.time()))
        self.stats["webhooks delivered"] += 1
        webhook_receive(payload=payload.encode(), signature=signature, remote_ip="127.0.0.1")

    def _op_tasks(self, step: Step) -> None:
        from payments.tasks import payment_charge_task

        queued, self.tasks = self.tasks, []
        for pk in queued:
            for _ in range(2 if step.arg == "twice" else 1):  # acks_late: delivered again
                self.stats["tasks run"] += 1
                payment_charge_task(pk)

    def _op_reconcile(self, step: Step) -> None:
        """The beat's reconciliation of payments and refunds, as it runs it."""
        from payments.services.reconcile import reconcile_stuck

        result = reconcile_stuck()
        self.stats["reconcile errors"] += result["failed"] + result["refunds_failed"]

    def _client_payment(self, order: Order | None) -> Payment | None:
        if order is None or order.kind != "client" or not order.payment_id:
            return None
        return Payment.objects.get(client=self.client, public_id=order.payment_id)

    def _op_page_pay(self, step: Step) -> None:
        """The payer submits a card on the hosted page (its token, as Stripe.js gives it)."""
        from django.test import Client

        from payments.services.checkout import payment_link_token

        payment = self._client_payment(self._order(step))
        if payment is None:
            return
        token = {"ok": "tok_visa", "decline": "tok_chargeDeclined", "3ds": "tok_threeDSecure2Required"}[
            step.arg
        ]
        path = f"/pay/{payment_link_token(payment)}/confirm"
        response = Client().post(path, {"token": token}, content_type="application/json")
        self.stats[f"page:{response.status_code}"] += 1
        if response.status_code >= 500 and response.status_code not in (502, 503):
            raise InvariantViolated("unexpected_5xx", f"{path}: {response.status_code}")
        body = response.json() if response.status_code < 500 else {}
        if body.get("status") == PaymentStatus.SUCCEEDED:
            taken = self.psp.money_taken(str(payment.uuid))
            if taken != payment.amount_minor:
                raise InvariantViolated(
                    "page_paid_without_money", f"{payment.public_id}: page says succeeded, PSP took {taken}"
                )

    def _op_browser_pay(self, step: Step) -> None:
        """The payer confirms with the merchant's own Stripe.js, straight at the PSP."""
        payment = self._client_payment(self._order(step))
        if payment is None or not payment.stripe_payment_intent_id:
            return
        intent = self.psp.intents[payment.stripe_payment_intent_id]
        if intent.status in ("requires_payment_method", "requires_confirmation"):
            self.psp.payer_confirm(
                intent.id, "pm_card_visa" if step.arg == "ok" else "pm_card_chargeDeclined"
            )

    def _op_expire(self, step: Step) -> None:
        """The beat's expiry sweep."""
        from payments.services.expiry import payments_expire_due

        self.stats["expired"] += payments_expire_due()

    def _op_expire_otp(self, step: Step) -> None:
        from otp.services import otp_expire_payments

        otp_expire_payments()

    def _op_review(self, step: Step) -> None:
        """The operator: looks at the PSP's dashboard (the fake's books) and decides."""
        from gateway.core.errors import GatewayError
        from payments.services.reconcile import payment_review_resolve

        for payment in Payment.objects.exclude(review_reason=""):
            intents = self.psp.intents_of(str(payment.uuid))
            held = [
                i
                for i in intents
                if i.amount_received or i.amount_capturable or i.status == "requires_action"
            ]
            own = payment.stripe_payment_intent_id
            decision = {"payment_intent_id": ""}
            if payment.status in (PaymentStatus.FAILED, PaymentStatus.CANCELED) and held:
                decision["return_charge"] = True
            elif own and any(i.id != own for i in held):
                decision["return_charge"] = True  # a second charge of one payment
            elif len(intents) == 1:
                decision["payment_intent_id"] = intents[0].id
            elif not intents:
                decision["not_charged"] = True
            else:
                continue  # several: not a decision this operator makes
            try:
                payment_review_resolve(payment=payment, actor="operator:sim", **decision)
                self.stats["reviews resolved"] += 1
            except GatewayError:
                self.stats["reviews refused"] += 1

    def queue_task(self, payment_pk: int) -> None:
        self.tasks.append(payment_pk)
