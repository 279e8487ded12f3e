"""The one package that talks to Stripe (or its stand-ins): calls here,
conversions in convert.py, the meaning of each Stripe error in errors.py.

Nothing else in the project imports `stripe`. The key and the API base are
read from settings at call time, never at import, so tests and operators can
change them without restarting. Stripe objects never leave this package: callers
get dataclasses, and Stripe errors become errors of the gateway's one family.
"""

from __future__ import annotations

import functools
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, replace

import requests
import stripe
import urllib3
from django.conf import settings

from gateway.errors import InvalidRequest, PspError, ServiceUnavailable
from gateway.metrics import PSP_SECONDS
from gateway.timing import psp_time_add
from payments.providers import (
    CardInput,
    CardSummary,
    ChargeRequest,
    ChargeResult,
    ConfirmRequest,
    DisputeResult,
    PaymentMethodResult,
    RefundRequest,
    RefundResult,
)
from stripe_integration.client.convert import (
    as_dict,
    card_summary,
    charge_result,
    dispute_result,
    refund_result,
)
from stripe_integration.client.errors import stripe_error_translate


def stripe_console_logging_off() -> None:
    """stripe-python prints request bodies (which carry card numbers and CVCs on
    tokenization) to stderr when `stripe.log` or the STRIPE_LOG variable (read
    once, at its import) says debug or info, past every log filter. Both are
    switched off here; its DEBUG records on the "stripe" logger are dropped in
    settings.LOGGING."""
    stripe.log = None
    stripe._util.STRIPE_LOG = None


stripe_console_logging_off()


def _proxy_auth(proxy: str) -> dict | None:
    """Proxy-Authorization for a proxy URL with credentials (http://user:pass@host:port),
    which urllib3's ProxyManager, unlike requests, does not send on its own."""
    parts = urllib.parse.urlsplit(proxy)
    if not parts.username:
        return None
    credentials = f"{urllib.parse.unquote(parts.username)}:{urllib.parse.unquote(parts.password or '')}"
    return urllib3.make_headers(proxy_basic_auth=credentials)


class _PooledHTTPClient(stripe.HTTPClient):
    """stripe-python's HTTP client on urllib3's connection pools, not requests.

    A PaymentIntent create cost 1.45 ms of CPU through requests and 0.97 ms
    through urllib3 alone, same request, same answer (issue #16): requests
    adds a session, a prepared request, hooks, cookies and, with trust_env, a
    walk of os.environ for proxies on every call. Pools are shared by the
    threads (urllib3's are thread-safe) and keep connections alive.

    As stripe-python's own RequestsClient: its CA bundle, one timeout for
    connect and read, and no retry here (stripe-python retries, with the
    idempotency key); a network error is an APIConnectionError that may be
    retried, a TLS or proxy failure one that is not. The proxy the
    environment names for the API base (HTTPS_PROXY or ALL_PROXY, with its
    credentials; NO_PROXY) is read once, when the client is built. Each
    call's duration goes to the request's `psp` Server-Timing."""

    name = "urllib3"

    def __init__(self, *, timeout: float, base: str):
        super().__init__()
        self._timeout = urllib3.Timeout(connect=timeout, read=timeout)
        tls = {"cert_reqs": "CERT_REQUIRED", "ca_certs": stripe.ca_bundle_path}
        target = urllib.parse.urlsplit(base or "https://api.stripe.com")
        proxies = urllib.request.getproxies_environment()
        proxy = proxies.get(target.scheme) or proxies.get("all")
        # maxsize: connections kept per host, above the threads of a process.
        if proxy and not urllib.request.proxy_bypass_environment(target.hostname or ""):
            self._pool = urllib3.ProxyManager(proxy, proxy_headers=_proxy_auth(proxy), maxsize=16, **tls)
        else:
            self._pool = urllib3.PoolManager(maxsize=16, **tls)

    def request(self, method, url, headers, post_data=None, *, _usage=None):
        started = time.perf_counter()
        try:
            response = self._pool.request(
                method.upper(),
                url,
                body=post_data,
                headers=headers,
                timeout=self._timeout,
                retries=False,
                redirect=False,
            )
        except (urllib3.exceptions.SSLError, urllib3.exceptions.ProxyError) as exc:
            # Not retried, as stripe-python's RequestsClient does not: a retry would fail the same way.
            raise stripe.APIConnectionError(
                f"Could not reach the PSP: {type(exc).__name__}: {exc}", should_retry=False
            ) from exc
        except urllib3.exceptions.HTTPError as exc:
            raise stripe.APIConnectionError(
                f"Network error talking to the PSP: {type(exc).__name__}: {exc}", should_retry=True
            ) from exc
        except Exception as exc:  # anything else is a local problem, as RequestsClient says it
            raise stripe.APIConnectionError(
                f"Unexpected error calling the PSP: {type(exc).__name__}: {exc}", should_retry=False
            ) from exc
        finally:
            elapsed = time.perf_counter() - started
            psp_time_add(elapsed * 1000)
            PSP_SECONDS.observe(elapsed)
        return response.data, response.status, response.headers

    def request_stream(self, method, url, headers, post_data=None, *, _usage=None):
        raise NotImplementedError("The gateway never streams from the PSP.")

    def close(self):
        self._pool.clear()


def stripe_client(*, timeout: float | None = None, retries: int | None = None) -> stripe.StripeClient:
    """The client for the current settings, with timeouts and retries.

    Settings are read at every call, so a changed key or API base takes effect
    at once; the client itself is built once per distinct configuration and
    reused, so its connection pool keeps connections alive instead of opening
    one per call.
    """
    return _stripe_client_for(
        settings.STRIPE_SECRET_KEY,
        settings.STRIPE_API_BASE,
        timeout or settings.STRIPE_TIMEOUT_SECONDS,
        settings.STRIPE_MAX_NETWORK_RETRIES if retries is None else retries,
    )


@functools.lru_cache(maxsize=16)
def _stripe_client_for(key: str, base: str, timeout: float, retries: int) -> stripe.StripeClient:
    return stripe.StripeClient(
        key,
        base_addresses={"api": base} if base else None,
        http_client=_PooledHTTPClient(timeout=timeout, base=base),
        # stripe-python retries only on network errors and 409/429/5xx with
        # Stripe-Should-Retry, and sends an idempotency key with every retried
        # POST; see the payments core for our own keys.
        max_network_retries=retries,
    )


def _call(method: str, path: str, params: dict | None = None, *, idempotency_key: str | None = None) -> dict:
    """One call to the PSP, answered as a plain dict (the JSON as parsed).

    stripe-python's typed services build a tree of StripeObjects for every
    answer, which the converters then turned back into dicts: about 2 ms of CPU
    per payment. Its raw request API sends the same request (encoding, retries
    with the idempotency key, errors raised as the same stripe exceptions) and
    skips that tree. Raises stripe.StripeError subclasses, as the services do."""
    options = {"idempotency_key": idempotency_key} if idempotency_key else {}
    return stripe_client().raw_request(method, path, **(params or {}), **options).data


def _path_id(object_id: str) -> str:
    """An object id as one path segment, as stripe-python's own services quote it."""
    return urllib.parse.quote_plus(object_id)


def using_localstripe() -> bool:
    """The explicit LOCALSTRIPE_QUIRKS setting, never a guess from the API base."""
    return settings.LOCALSTRIPE_QUIRKS


@dataclass(frozen=True)
class PspHealth:
    ok: bool
    latency_ms: float
    detail: str


def psp_ping(*, timeout: float = 3.0) -> PspHealth:
    """A cheap authenticated read (the balance), to tell whether the PSP answers."""
    client = stripe_client(timeout=timeout, retries=0)
    started = time.perf_counter()
    try:
        client.v1.balance.retrieve()
    except stripe.AuthenticationError:
        return PspHealth(False, _ms(started), "authentication failed: check STRIPE_SECRET_KEY")
    except stripe.StripeError as exc:
        return PspHealth(False, _ms(started), type(exc).__name__)
    return PspHealth(True, _ms(started), "localstripe" if using_localstripe() else "stripe")


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


# --- localstripe only -------------------------------------------------------------
# localstripe has no /v1/webhook_endpoints; webhooks are registered through its
# own /_config/webhooks/<id> route instead (form fields url, secret).


def localstripe_register_webhook(*, webhook_id: str, url: str, secret: str) -> None:
    if not using_localstripe():
        raise PspError(
            "Webhook registration through /_config is for localstripe only.", code="not_localstripe"
        )
    try:
        response = requests.post(
            f"{settings.STRIPE_API_BASE.rstrip('/')}/_config/webhooks/{webhook_id}",
            data={"url": url, "secret": secret},
            timeout=5,
        )
    except requests.RequestException as exc:
        raise ServiceUnavailable(
            f"localstripe is not reachable at {settings.STRIPE_API_BASE}.", code="psp_unavailable"
        ) from exc
    if response.status_code >= 400:
        raise PspError(f"localstripe refused the webhook registration ({response.status_code}).")


# --- calls ----------------------------------------------------------------------------


def payment_method_create(*, card: CardInput) -> PaymentMethodResult:
    """Tokenizes a raw card at the PSP. The card goes to the PSP and nowhere else."""
    params = {
        "type": "card",
        "card": {
            "number": card.number,
            "exp_month": card.exp_month,
            "exp_year": card.exp_year,
            "cvc": card.cvc,
        },
    }
    if card.name:
        params["billing_details"] = {"name": card.name}
    try:
        pm = _call("post", "/v1/payment_methods", params)
    except stripe.StripeError as exc:
        raise stripe_error_translate(exc, outcome_may_be_unknown=False) from None
    return PaymentMethodResult(payment_method_id=pm["id"], card=card_summary(pm.get("card")) or CardSummary())


def _payment_method_from_token(request: ChargeRequest | ConfirmRequest) -> str:
    """A legacy tok_ token becomes a PaymentMethod first (`card[token]`), under a
    key derived from the charge's, so a retried charge reuses it. Stripe's spec
    refuses `payment_method_data[type]=card` on a PaymentIntent (the stripe-mock
    contract test found it); localstripe supports neither, so tok_ is tested
    against stripe-mock only."""
    try:
        pm = _call(
            "post",
            "/v1/payment_methods",
            {"type": "card", "card": {"token": request.token}},
            idempotency_key=f"{request.idempotency_key}-pm",
        )
    except stripe.CardError as exc:
        raise stripe_error_translate(exc, outcome_may_be_unknown=False) from None
    except stripe.StripeError as exc:
        raise stripe_error_translate(exc, outcome_may_be_unknown=True) from None
    return pm["id"]


def payment_intent_create(*, request: ChargeRequest) -> ChargeResult:
    """Creates and confirms a PaymentIntent (confirm=True) with our idempotency
    key; or, with request.confirm False, creates it for the payer to confirm
    (no payment method yet: requires_payment_method, with its client secret)."""
    params: dict = {
        "amount": request.amount_minor,
        "currency": request.currency,
        "payment_method_types": ["card"],
        "metadata": request.metadata,
    }
    if request.confirm:
        params["confirm"] = True
    localstripe_metadata = {}
    if request.description and using_localstripe():
        # localstripe rejects `description` ("Unexpected description"); keep it in metadata there.
        localstripe_metadata["description"] = request.description[:500]
    elif request.description:
        params["description"] = request.description
    if request.payment_method_id:
        params["payment_method"] = request.payment_method_id
    elif request.token:
        params["payment_method"] = _payment_method_from_token(request)
    if request.return_url and (using_localstripe() or not request.confirm):
        # localstripe rejects `return_url` ("Unexpected return_url"); Stripe takes
        # it with confirm=true only (the stripe-mock contract test checks it).
        localstripe_metadata["return_url"] = request.return_url[:500]
    elif request.return_url:
        params["return_url"] = request.return_url
    if localstripe_metadata:
        params["metadata"] = {**request.metadata, **localstripe_metadata}
    if request.capture_method == "manual":
        params["capture_method"] = "manual"
    try:
        pi = _call("post", "/v1/payment_intents", params, idempotency_key=request.idempotency_key)
    except stripe.CardError as exc:
        raise stripe_error_translate(exc, outcome_may_be_unknown=False) from None
    except stripe.StripeError as exc:
        raise stripe_error_translate(exc, outcome_may_be_unknown=True) from None
    return charge_result(pi)


def payment_intent_confirm(*, request: ConfirmRequest) -> ChargeResult:
    """Confirms an unconfirmed PaymentIntent with the card the payer's browser
    gave the PSP (a tok_ or pm_). With LOCALSTRIPE_QUIRKS, localstripe's way:
    it confirms only without `payment_method` ("Not implemented") and takes no
    tok_ on a PaymentIntent, so the token's card (card_…) is set on the
    PaymentIntent first, then it is confirmed."""
    path = f"/v1/payment_intents/{_path_id(request.payment_intent_id)}"
    try:
        if using_localstripe():
            method, card = request.payment_method_id, None
            if request.token:
                card = _call("get", f"/v1/tokens/{_path_id(request.token)}").get("card") or {}
                method = card.get("id") or ""
            _call("post", path, {"payment_method": method}, idempotency_key=f"{request.idempotency_key}-pm")
            pi = _call("post", f"{path}/confirm", idempotency_key=request.idempotency_key)
            if card and not isinstance(pi.get("payment_method"), dict):
                pi = {**pi, "payment_method": {"id": method, "card": card}}  # the summary it leaves out
        else:
            method = request.payment_method_id or _payment_method_from_token(request)
            # Expanded: the card's summary (brand, last4, expiry) comes back with it.
            params = {"payment_method": method, "expand": ["payment_method"]}
            if request.return_url:
                params["return_url"] = request.return_url
            pi = _call("post", f"{path}/confirm", params, idempotency_key=request.idempotency_key)
    except stripe.CardError as exc:
        raise stripe_error_translate(exc, outcome_may_be_unknown=False) from None
    except stripe.StripeError as exc:
        raise stripe_error_translate(exc, outcome_may_be_unknown=True) from None
    return charge_result(pi)


def payment_intent_retrieve(*, payment_intent_id: str) -> ChargeResult:
    try:
        pi = _call("get", f"/v1/payment_intents/{_path_id(payment_intent_id)}")
    except stripe.StripeError as exc:
        raise stripe_error_translate(exc, outcome_may_be_unknown=False) from None
    return charge_result(pi)


def payment_intent_search(*, metadata: dict[str, str]) -> list[ChargeResult]:
    """PaymentIntents whose metadata holds all these pairs, newest first (Stripe's
    search API; its index may lag by about a minute, so only use it for objects
    older than that)."""
    query = " AND ".join(f"metadata['{key}']:'{value}'" for key, value in sorted(metadata.items()))
    try:
        found = stripe_client().v1.payment_intents.search(params={"query": query, "limit": 10})
    except stripe.StripeError as exc:
        raise stripe_error_translate(exc, outcome_may_be_unknown=False) from None
    return [charge_result(as_dict(pi)) for pi in found.data]


def refund_create(*, request: RefundRequest) -> RefundResult:
    params: dict = {
        "payment_intent": request.payment_intent_id,
        "amount": request.amount_minor,
        "metadata": request.metadata,
    }
    if request.reason and using_localstripe():
        # localstripe rejects `reason` ("Unexpected reason"); Stripe takes it.
        # There it travels in metadata so that nothing is lost.
        params["metadata"] = {**request.metadata, "reason": request.reason}
    elif request.reason:
        params["reason"] = request.reason
    try:
        refund = _call("post", "/v1/refunds", params, idempotency_key=request.idempotency_key)
    except stripe.StripeError as exc:
        raise stripe_error_translate(exc, outcome_may_be_unknown=True) from None
    return refund_result(refund)


def refund_retrieve(*, refund_id: str) -> RefundResult:
    try:
        return refund_result(_call("get", f"/v1/refunds/{_path_id(refund_id)}"))
    except stripe.StripeError as exc:
        raise stripe_error_translate(exc, outcome_may_be_unknown=False) from None


def dispute_retrieve(*, dispute_id: str) -> DisputeResult:
    try:
        return dispute_result(_call("get", f"/v1/disputes/{_path_id(dispute_id)}"))
    except stripe.StripeError as exc:
        raise stripe_error_translate(exc, outcome_may_be_unknown=False) from None


def refund_list_for_payment_intent(*, payment_intent_id: str) -> list[RefundResult]:
    """Every refund of a PaymentIntent (a list, not a search: it is up to date)."""
    try:
        page = stripe_client().v1.refunds.list(params={"payment_intent": payment_intent_id, "limit": 100})
        return [refund_result(as_dict(refund)) for refund in page.auto_paging_iter()]
    except stripe.StripeError as exc:
        raise stripe_error_translate(exc, outcome_may_be_unknown=False) from None


def payment_intent_capture(
    *, payment_intent_id: str, amount_minor: int, idempotency_key: str
) -> ChargeResult:
    try:
        pi = _call(
            "post",
            f"/v1/payment_intents/{_path_id(payment_intent_id)}/capture",
            {"amount_to_capture": amount_minor},
            idempotency_key=idempotency_key,
        )
    except stripe.StripeError as exc:
        raise stripe_error_translate(exc, outcome_may_be_unknown=True) from None
    result = charge_result(pi)
    # localstripe leaves amount_received out of a captured intent; Stripe sets it.
    if result.status == "succeeded" and not result.amount_received_minor:
        result = replace(result, amount_received_minor=amount_minor)
    return result


def payment_intent_cancel(*, payment_intent_id: str, idempotency_key: str) -> ChargeResult:
    try:
        pi = _call(
            "post",
            f"/v1/payment_intents/{_path_id(payment_intent_id)}/cancel",
            idempotency_key=idempotency_key,
        )
    except stripe.StripeError as exc:
        raise stripe_error_translate(exc, outcome_may_be_unknown=True) from None
    return charge_result(pi)


# --- webhooks -----------------------------------------------------------------------

WEBHOOK_TOLERANCE_SECONDS = 300  # Stripe's standard


def webhook_event_construct(*, payload: bytes, signature: str, secret: str) -> dict:
    """Verifies Stripe-Signature (HMAC-SHA256 over the raw body, 300 s tolerance)
    and returns the event as a plain dict."""
    if not secret:
        raise ServiceUnavailable("STRIPE_WEBHOOK_SECRET is not configured.", code="webhook_not_configured")
    try:
        event = stripe.Webhook.construct_event(payload, signature, secret, WEBHOOK_TOLERANCE_SECONDS)
    except (stripe.SignatureVerificationError, ValueError):
        raise InvalidRequest(
            "The Stripe-Signature header is missing or does not match the body.",
            code="invalid_signature",
            param="Stripe-Signature",
        ) from None
    return event.to_dict()


# --- raw objects for dj-stripe's sync ------------------------------------------------


def stripe_object_for_sync(*, kind: str, object_id: str) -> dict:
    """The raw Stripe object, for dj-stripe's sync_from_stripe_data() only.
    kind: payment_intent, charge or refund."""
    collection = {"payment_intent": "payment_intents", "charge": "charges", "refund": "refunds"}[kind]
    # The PaymentIntent's PaymentMethod, latest Charge and its balance
    # transaction come inline: dj-stripe would otherwise fetch each of them (three
    # more PSP round trips per payment, measured in make bench). Only fields
    # Stripe documents as expandable (a Charge's payment_method is not).
    params = (
        {"expand": ["payment_method", "latest_charge", "latest_charge.balance_transaction"]}
        if kind == "payment_intent"
        else None
    )
    try:
        return _call("get", f"/v1/{collection}/{_path_id(object_id)}", params)
    except stripe.StripeError as exc:
        raise stripe_error_translate(exc, outcome_may_be_unknown=False) from None
