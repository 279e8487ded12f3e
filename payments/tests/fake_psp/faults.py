"""The fake PSP's fault injection and interleaving hooks: what a test arms
(`psp.fault("charge", "timeout_after")`), the errors the faults raise as
stripe-python raises them, and the `interleave` hook called at the step
boundaries inside each call ("before" the effect, with the key in flight, and
"after" it, before the answer gets back): that is where a simulation runs
another request, a webhook or a job between two steps of this one.
"""

from __future__ import annotations

import stripe

FAULT_KINDS = (
    "rate_limited",  # 429 before the effect
    "server_error",  # 5xx before the effect
    "unauthorized",  # 401: a rotated or restricted key
    "timeout_before",  # no answer; the request never reached the PSP
    "timeout_after",  # no answer; the PSP made the effect and stored it under the key
    "server_error_stored",  # 5xx after the request began executing: Stripe stores that answer under the key
    "refused",  # 400: the PSP refuses the operation itself (a disputed charge cannot be refunded)
)


class FaultInjection:
    """A part of FakePsp (payments.tests.fake_psp.account), which holds the
    faults armed (`_faults`) and the `interleave` hook."""

    def fault(self, operation: str, kind: str) -> None:
        """The next call of `operation` ("*" for any) fails this way."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}")
        self._faults.append((operation, kind))

    def clear_faults(self) -> None:
        self._faults.clear()

    def _take_fault(self, operation: str) -> str:
        for index, (target, kind) in enumerate(self._faults):
            if target in (operation, "*"):
                del self._faults[index]
                return kind
        return ""

    def _hook(self, operation: str, phase: str, key: str) -> None:
        if self.interleave is not None:
            self.interleave(operation, phase, key)


def fault_error(kind: str) -> stripe.StripeError:
    if kind == "rate_limited":
        return stripe.RateLimitError("Too many requests.", http_status=429, code="rate_limit")
    if kind == "server_error":
        return stripe.APIError("An error occurred with our API.", http_status=500)
    if kind == "unauthorized":
        return stripe.AuthenticationError("Invalid API Key provided.", http_status=401)
    if kind == "refused":
        return stripe.InvalidRequestError(
            "The charge has been disputed and cannot be refunded.",
            None,
            code="charge_disputed",
            http_status=400,
        )
    return stripe.APIConnectionError("Request timed out.")
