"""The simulation's operations of the merchant: its requests through the real API
handlers (process, retries with and without the same key, refunds, capture,
cancel, 3-D Secure confirm, OTP validate), as a merchant makes them, and the
payer's 3-D Secure; also API-key rotation and jumps of the clock."""

from __future__ import annotations

from django.conf import settings

from gateway.tests.simulation.engine.world import (
    CARDS,
    CLIENT_EXPIRES_IN,
    LEASE_SECONDS,
    Answer,
    Order,
    RecordingOtpSender,
    Step,
)
from payments.enums import PaymentStatus
from payments.models import Payment


class MerchantOperations:
    """A part of Simulation (gateway.tests.simulation.engine.runner), which holds
    the state these operations use."""

    def _post(self, path: str, body: dict, key: str = "", *, promised: bool = False) -> Answer:
        """A merchant's request. `promised`: the charge is owed once the payment
        exists (async), whether or not the answer comes back."""
        headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
        if key:
            self.key_first_used.setdefault(key, self.clock.now())
        outer_key, self.psp.request_key = self.psp.request_key, key
        try:
            response = self.api.post(path, body, format="json", **headers)
        finally:
            self.psp.request_key = outer_key
        answer = Answer(
            response.status_code, response.json(), response.headers.get("Idempotent-Replayed") == "true"
        )
        self.stats[f"answer:{answer.status}"] += 1
        if (
            answer.body.get("status") == PaymentStatus.PROCESSING
            and answer.body.get("payment_id")
            and (key or promised)
        ):
            # Told "processing" under a key (its retry resumes it), or queued: the
            # gateway owes this payment its charge.
            payment = Payment.objects.get(client=self.client, public_id=answer.body["payment_id"])
            self.promised.add(str(payment.uuid))
        self._check_answer(answer, key)
        return answer

    def _order(self, step: Step) -> Order | None:
        return self.orders[step.order] if step.order < len(self.orders) else None

    def _op_pay(self, step: Step) -> None:
        kind, amount, keyed = step.arg.split(":")
        order = Order(index=len(self.orders), kind=kind, amount_minor=int(amount), keyed=keyed == "key")
        order.id = f"order-{order.index}"
        order.started_at = self.clock.now()
        self.orders.append(order)
        body = {"order_id": order.id, "amount": f"{order.amount_minor / 100:.2f}", "currency": "usd"}
        if kind in CARDS:
            body["card"] = {"number": CARDS[kind], "exp_month": 12, "exp_year": 2034, "cvc": "123"}
        else:
            body["payment_method"] = "pm_card_chargeDeclined" if kind == "pm_decline" else "pm_card_visa"
        if kind == "manual":
            body["capture_method"] = "manual"
        if kind == "otp":
            body.update(require_otp=True, email="payer@example.com")
        if kind == "async":
            body["async"] = True
        if kind == "client":
            del body["payment_method"]
            body.update(confirm=False, expires_in=CLIENT_EXPIRES_IN)
        order.body = body
        self._attempt(order, new_key=True)

    def _op_retry(self, step: Step) -> None:
        order = self._order(step)
        if order is None:
            return
        if order.keyed:
            # Keys live IDEMPOTENCY_KEY_TTL_HOURS (Stripe's 24 h): a merchant does not
            # retry with one older than that; it would be a new request.
            ttl = settings.IDEMPOTENCY_KEY_TTL_HOURS * 3600
            if (self.clock.now() - order.started_at).total_seconds() < ttl - LEASE_SECONDS:
                self._attempt(order, new_key=False)  # the same request, the same key
        elif not order.answered:
            self._attempt(order, new_key=False)  # no answer came: a second payment, as merchants do

    def _attempt(self, order: Order, *, new_key: bool) -> None:
        order.attempts += 1
        if order.keyed and new_key:
            order.key = f"{order.id}-pay"
        answer = Answer(0, {})
        try:
            answer = self._post(
                "/api/v1/payments/process",
                order.body,
                order.key if order.keyed else "",
                promised=order.kind == "async",
            )
        finally:
            if answer.status and answer.definite:
                order.answered = True
        payment_id = answer.body.get("payment_id") or answer.body.get("error", {}).get("payment_id")
        if payment_id:
            order.payment_id = payment_id

    def _payment_path(self, order: Order | None, action: str) -> str | None:
        if order is None or not order.payment_id:
            return None
        return f"/api/v1/payments/{order.payment_id}/{action}"

    def _op_refund(self, step: Step) -> None:
        order = self._order(step)
        path = self._payment_path(order, "refund")
        if path is None:
            return
        payment = Payment.objects.get(client=self.client, public_id=order.payment_id)
        left = max(payment.captured_minor - payment.refunded_minor, 0)
        body = {"reason": "requested_by_customer"}
        if step.arg == "partial":
            body["amount"] = f"{max(left // 3, 1) / 100:.2f}"
        elif step.arg == "over":
            body["amount"] = f"{(left + 1) / 100:.2f}"
        order.refunds += 1
        order.refund_body = body
        order.refund_key = f"{order.id}-refund-{order.refunds}" if order.keyed else ""
        self._post(path, body, order.refund_key)

    def _op_refund_retry(self, step: Step) -> None:
        order = self._order(step)
        path = self._payment_path(order, "refund")
        if (
            path is None
            or order.refund_body is None
            or not order.refund_key
            or not self._key_alive(order.refund_key)
        ):
            return
        self._post(path, order.refund_body, order.refund_key)

    def _op_capture(self, step: Step) -> None:
        order = self._order(step)
        path = self._payment_path(order, "capture")
        if path is None or order.kind != "manual":
            return
        body = {} if step.arg == "full" else {"amount": f"{max(order.amount_minor // 2, 1) / 100:.2f}"}
        self._post(path, body, f"{order.id}-capture-{step.arg}" if order.keyed else "")

    def _op_cancel(self, step: Step) -> None:
        order = self._order(step)
        path = self._payment_path(order, "cancel")
        if path is not None:
            self._post(path, {}, f"{order.id}-cancel" if order.keyed else "")

    def _op_confirm(self, step: Step) -> None:
        order = self._order(step)
        path = self._payment_path(order, "confirm")
        if path is not None and order.kind == "card_3ds":
            self._post(path, {}, f"{order.id}-confirm-{order.attempts}" if order.keyed else "")

    def _op_authenticate(self, step: Step) -> None:
        order = self._order(step)
        if order is None or order.kind != "card_3ds":
            return
        for payment in Payment.objects.filter(client=self.client, order_id=order.id).exclude(
            stripe_payment_intent_id=""
        ):
            self.psp.authenticate(payment.stripe_payment_intent_id, success=step.arg != "fail")

    def _op_otp_validate(self, step: Step) -> None:
        order = self._order(step)
        if order is None or order.kind != "otp" or not order.payment_id:
            return
        code = RecordingOtpSender.codes.get(order.id, "000000")
        if step.arg == "wrong":
            code = f"{(int(code) + 1) % 10**6:06d}"
        order.validations += 1
        key = f"{order.id}-validate-{order.validations}" if order.keyed else ""
        RecordingOtpSender.last_sent[key] = code
        self._post("/api/v1/payments/validate", {"payment_id": order.payment_id, "otp": code}, key)

    def _op_otp_retry(self, step: Step) -> None:
        """The same validation again, with the same key (after a 5xx or no answer)."""
        order = self._order(step)
        if order is None or order.kind != "otp" or not order.validations or not order.keyed:
            return
        key = f"{order.id}-validate-{order.validations}"
        code = RecordingOtpSender.last_sent.get(key)
        if code is not None and self._key_alive(key):
            self._post("/api/v1/payments/validate", {"payment_id": order.payment_id, "otp": code}, key)

    def _key_alive(self, key: str) -> bool:
        """Whether a merchant would still retry with this key: keys live
        IDEMPOTENCY_KEY_TTL_HOURS (Stripe's 24 h); past that a retry is a new request."""
        ttl = settings.IDEMPOTENCY_KEY_TTL_HOURS * 3600 - LEASE_SECONDS
        first = self.key_first_used.get(key)
        return first is None or (self.clock.now() - first).total_seconds() < ttl

    def _op_rotate_key(self, step: Step) -> None:
        from payments.services.api_clients import api_client_rotate

        _, raw_key = api_client_rotate(name=self.client.name)
        self.api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")

    def _op_clock(self, step: Step) -> None:
        self.clock.advance(int(step.arg))
