"""The simulation's model of the world: the time constants it shares with the
gateway's settings, the kinds of orders merchants place, what a step is, what
the merchant keeps of each order and each answer, the payer's mailbox for
one-time codes, and the two ways a run ends early (a process killed at a step
boundary, an invariant violated)."""

from __future__ import annotations

from dataclasses import dataclass, field

from payments.enums import PaymentStatus

LEASE_SECONDS = 90
RECONCILE_AGE_SECONDS = 600  # RECONCILE_AFTER_MINUTES, as the simulation sets it
FINAL = {PaymentStatus.FAILED, PaymentStatus.CANCELED, PaymentStatus.REFUNDED}
AT_REST = {
    PaymentStatus.SUCCEEDED,
    PaymentStatus.PARTIALLY_REFUNDED,
    PaymentStatus.REFUNDED,
    PaymentStatus.FAILED,
    PaymentStatus.CANCELED,
    PaymentStatus.REQUIRES_ACTION,  # waits for the payer, as at Stripe
    PaymentStatus.REQUIRES_CAPTURE,  # waits for the merchant
}
# Contexts in which the gateway may create a charge at the PSP: a merchant's
# request or its retry, and the work it was promised (the async task).
CHARGING_CONTEXTS = {"request", "task"}

# "client": created with `confirm: false` and `expires_in`; the payer pays on the
# hosted page (page_pay) or with Stripe.js directly at the PSP (browser_pay).
KINDS = ("card_ok", "card_3ds", "card_decline", "pm_ok", "pm_decline", "manual", "otp", "async", "client")
CLIENT_EXPIRES_IN = 60
AMOUNTS = (1999, 5000, 120, 100000)
CARDS = {"card_ok": "4242424242424242", "card_3ds": "4000002500003155", "card_decline": "4000000000000341"}


class Crash(BaseException):  # noqa: N818  a dead process: nothing catches it
    """The process serving a request dies at a step boundary (SIGKILL)."""


class InvariantViolated(AssertionError):
    def __init__(self, name: str, detail: str):
        super().__init__(f"{name}: {detail}")
        self.name = name


@dataclass(frozen=True)
class Step:
    op: str
    order: int = 0
    arg: str = ""
    fault: tuple = ()  # (psp operation, fault kind)
    at: tuple = ()  # (psp operation, phase, what): "crash" or a NESTED name

    def __repr__(self) -> str:
        extra = "".join(
            f", {name}={getattr(self, name)!r}" for name in ("fault", "at") if getattr(self, name)
        )
        return f"Step({self.op!r}, {self.order}, {self.arg!r}{extra})"


class RecordingOtpSender:
    """The payer's mailbox: the last code sent for each order."""

    channel = "sim"
    codes: dict[str, str] = {}  # noqa: RUF012  one mailbox for the process
    last_sent: dict[str, str] = {}  # noqa: RUF012  the code each validation key sent

    def send(self, message) -> None:
        RecordingOtpSender.codes[message.order_id] = message.code


@dataclass
class Order:
    index: int
    kind: str
    amount_minor: int
    keyed: bool
    id: str = ""
    body: dict = field(default_factory=dict)
    key: str = ""
    attempts: int = 0
    answered: bool = False  # a definite answer (not a 5xx, not a crash) came back
    payment_id: str = ""
    refund_body: dict | None = None
    refund_key: str = ""
    refunds: int = 0
    validations: int = 0
    started_at: object = None


@dataclass
class Answer:
    status: int
    body: dict
    replayed: bool = False
    at: object = None

    @property
    def definite(self) -> bool:
        in_use = self.status == 409 and self.body.get("error", {}).get("code") == "idempotency_key_in_use"
        return self.status < 500 and not in_use
