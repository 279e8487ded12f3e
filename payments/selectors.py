"""Payments selectors: reads."""

from __future__ import annotations

import hmac
import logging

from django.conf import settings
from django.core.cache import cache
from django.db import models
from django.db.models import QuerySet

from gateway.core.errors import NotFound
from gateway.core.prepared import PreparedQuery
from payments.api_keys import api_key_hash, api_key_prefix
from payments.enums import EventType, PaymentStatus, RefundStatus
from payments.models import ApiClient, Payment, PaymentEvent, Refund

logger = logging.getLogger("payments")


def _api_client_cache_key(prefix: str) -> str:
    return f"apiclient:{prefix}"


def _api_client_version_key(prefix: str) -> str:
    return f"apiclient:{prefix}:version"


# Each change of a client (a revoked or rotated key) bumps its version; a cached
# entry counts only under the version that was current before its query. A read
# that began before a revocation and writes its entry after it can so never
# bring the revoked client back, and the next read caches it again at once.
_CACHED_FIELDS = ("id", "name", "key_prefix", "key_hash")


def api_client_get_by_key(*, raw_key: str) -> ApiClient | None:
    """The active client this key belongs to, or None.

    Active clients, and prefixes that name none, are cached (Redis in
    production, as JSON: nothing from Redis is unpickled) for
    API_CLIENT_CACHE_SECONDS: one round trip, no query. Any save or delete of a
    client bumps its version after commit (api_client_cache_forget), so a
    revoked key stops working at once in every process.
    """
    prefix = api_key_prefix(raw_key)
    if prefix is None:
        return None
    entry_key, version_key = _api_client_cache_key(prefix), _api_client_version_key(prefix)
    try:
        cached = cache.get_many([entry_key, version_key])
    except Exception:  # the cache is an optimisation: Redis down means a query
        cached = None
    version = (cached or {}).get(version_key) or 0
    entry = (cached or {}).get(entry_key)
    if isinstance(entry, dict) and entry.get("version") == version:
        if entry.get("absent"):
            return None
        client = ApiClient(**{name: entry[name] for name in _CACHED_FIELDS}, is_active=True)
        client._state.adding, client._state.db = False, "default"
    else:
        client = ApiClient.objects.filter(key_prefix=prefix, is_active=True).first()
        if cached is not None:
            fields = (
                {"absent": True}
                if client is None
                else {name: getattr(client, name) for name in _CACHED_FIELDS}
            )
            try:
                cache.set(entry_key, {"version": version, **fields}, settings.API_CLIENT_CACHE_SECONDS)
            except Exception:
                logger.debug("API client cache unavailable; read from the database")
    if client is None or not hmac.compare_digest(client.key_hash, api_key_hash(raw_key)):
        return None
    return client


def api_client_cache_forget(*, key_prefix: str) -> None:
    version_key = _api_client_version_key(key_prefix)
    try:
        # Outlives every entry made under the earlier version.
        cache.add(version_key, 0, 2 * settings.API_CLIENT_CACHE_SECONDS)
        cache.incr(version_key)
        cache.touch(version_key, 2 * settings.API_CLIENT_CACHE_SECONDS)
    except Exception:
        # Redis is down: nothing can be read from it either; its entries expire on their own.
        logger.warning("Could not drop the cached API client %s", key_prefix)


# The API's hottest reads, compiled once per process (gateway.core.prepared).
_CLIENT_PAYMENT = PreparedQuery(
    lambda client_id, public_id: Payment.objects.filter(client_id=client_id, public_id=public_id),
    client_id=-918_273_645,
    public_id="\x00prepared-public-id",
)
_PAYMENT_REFUNDS = PreparedQuery(
    lambda payment_id: Refund.objects.filter(payment_id=payment_id),
    payment_id=-918_273_646,
)


def payment_get_for_client(*, client: ApiClient, public_id: str, with_refunds: bool = True) -> Payment:
    """The client's own payment. Another client's id is a 404, exactly like an unknown one."""
    found = _CLIENT_PAYMENT.fetch(client_id=client.pk, public_id=public_id)
    if not found:
        raise NotFound(f"No such payment: '{public_id}'.", param="id")
    payment = found[0]
    if with_refunds:
        _refunds_attach(payment, none_if_count_is_zero=True)
    return payment


def _refunds_attach(payment: Payment, *, none_if_count_is_zero: bool = False) -> None:
    """Reads the payment's refunds now (one prepared query), and leaves them as
    prefetch_related would: payment.refunds.all() then reads none. A payment
    just read whose row counts no refund (`refund_count`) and has nothing
    refunded (`refunded_minor`, also kept by releases before refund_count)
    needs no query."""
    if none_if_count_is_zero and not payment.refund_count and not payment.refunded_minor:
        refunds = []
    else:
        refunds = _PAYMENT_REFUNDS.fetch(payment_id=payment.pk)
    for refund in refunds:
        Refund.payment.field.set_cached_value(refund, payment)
    prefetched = payment.__dict__.setdefault("_prefetched_objects_cache", {})
    prefetched.pop("refunds", None)  # so that .all() below is a new, empty queryset
    queryset = payment.refunds.all()
    queryset._result_cache = refunds
    queryset._prefetch_done = True
    prefetched["refunds"] = queryset


def payment_with_refunds(payment: Payment) -> Payment:
    """The same payment object, with its refunds read again, in one query."""
    _refunds_attach(payment)
    return payment


def payment_list(*, client: ApiClient, filters: dict) -> QuerySet[Payment]:
    queryset = Payment.objects.filter(client=client).prefetch_related("refunds")
    if "status" in filters:
        queryset = queryset.filter(status=filters["status"])
    if "order_id" in filters:
        queryset = queryset.filter(order_id=filters["order_id"])
    if "created_gte" in filters:
        queryset = queryset.filter(created_at__gte=filters["created_gte"])
    if "created_lte" in filters:
        queryset = queryset.filter(created_at__lte=filters["created_lte"])
    return queryset


def payment_events(*, payment: Payment) -> QuerySet[PaymentEvent]:
    return payment.events.order_by("id")


def payments_to_reconcile(*, statuses: list[str], created_since, updated_before) -> QuerySet[Payment]:
    return Payment.objects.filter(
        status__in=statuses, created_at__gte=created_since, updated_at__lte=updated_before
    ).order_by("id")


def refunds_to_reconcile(*, updated_before) -> QuerySet[Refund]:
    """Pending refunds (outcome unknown) last touched before updated_before, oldest first."""
    return (
        Refund.objects.filter(status=RefundStatus.PENDING, updated_at__lte=updated_before)
        .select_related("payment")
        .order_by("id")
    )


def payment_get_for_otp(
    *, client: ApiClient, payment_id: str = "", order_id: str = "", email: str = "", operation: str = ""
) -> Payment:
    """The client's payment by payment_id, or its newest payment waiting for a code
    by order_id. An e-mail, when given, must be the payment's (else: not found).

    `operation` (a retried request's Idempotency-Key operation): the payment
    that this operation's first attempt verified a code for, whatever its
    status now, so that the retry goes on with it."""
    verified = (
        Payment.objects.filter(
            client=client, events__type=EventType.OTP_VERIFIED, events__data__operation=operation
        ).first()
        if operation and not payment_id
        else None
    )
    if verified is not None:
        payment = verified
    elif payment_id:
        payment = payment_get_for_client(client=client, public_id=payment_id, with_refunds=False)
    else:
        payment = (
            Payment.objects.filter(client=client, order_id=order_id, status=PaymentStatus.REQUIRES_OTP)
            .order_by("-id")
            .first()
        )
        if payment is None:
            raise NotFound("No payment of this order is waiting for a code.", param="order_id")
    if email and email.lower() != payment.email.lower():
        raise NotFound("No such payment.", param="payment_id")
    return payment


def payments_for_operator(*, payment_id: str, client: str = "") -> list[Payment]:
    """The payments an operator means by an id (public ids are unique per client
    only; a uuid is unique), narrowed by a client's name or key prefix. Never
    picks one of several: the caller decides what to do with more than one."""
    import uuid as uuid_lib

    from django.db.models import Q

    match = Q(public_id=payment_id)
    try:
        match |= Q(uuid=uuid_lib.UUID(payment_id))
    except ValueError:
        pass
    payments = Payment.objects.select_related("client").filter(match)
    if client:
        payments = payments.filter(Q(client__name=client) | Q(client__key_prefix=client))
    return list(payments.order_by("id")[:10])


def payments_with_drifting_refund_totals() -> QuerySet[Payment]:
    """Payments whose refunded_minor (a counter kept by hand, under the row lock)
    is not the sum of their refunds that did not fail: what `manage.py
    payments_check_totals` reports. Should always be empty."""
    from django.db.models import Q, Sum, Value
    from django.db.models.functions import Coalesce

    return (
        Payment.objects.annotate(
            refunds_total=Coalesce(
                Sum("refunds__amount_minor", filter=~Q(refunds__status=RefundStatus.FAILED)), Value(0)
            )
        )
        .exclude(refunded_minor=models.F("refunds_total"))
        .order_by("id")
    )
