"""The PSP client's transport: stripe-python's client over pooled HTTP
connections, one raw call, the health ping, and localstripe's /_config route."""

from __future__ import annotations

import functools
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass

import requests
import stripe
import urllib3
from django.conf import settings

from gateway.core.errors import PspError, ServiceUnavailable
from gateway.core.metrics import PSP_SECONDS
from gateway.core.timing import psp_time_add


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
