"""Runs localstripe, the stateful Stripe stand-in, on loopback only, with the
parts of Stripe's contract that the gateway's exactly-once promise rests on.

Usage: python scripts/localstripe_loopback.py [--port 8420] [--from-scratch]

What this launcher adds to localstripe 1.15 (and why):

- **Loopback only.** Its own `localstripe` command listens on every interface
  ('::'); a test double of a payment provider has no business being reachable
  from outside.
- **In memory** with --from-scratch. localstripe otherwise pickles its whole
  store to /tmp/localstripe.pickle on every write, which made each call slower
  as objects piled up (PaymentIntent create went from 32 ms to 250 ms over 400
  payments, 13 MB written per payment) and shared one file between instances.
- **Idempotency keys, as Stripe documents them.** localstripe ignores the
  `Idempotency-Key` header and creates a new object on every retry, which hides
  double charges. Here a POST with a key is answered once; the same key with
  the same parameters replays the stored answer (with `Idempotent-Replayed:
  true`), the same key with other parameters or on another path answers 400
  `idempotency_error`, and a request while the first with its key is still
  running answers 409 `idempotency_error`. Keys are scoped by API key. As at
  Stripe, only answers of an endpoint that ran are kept (2xx and 402 card
  errors); a refused or failed request may be retried with the same key.
- **`GET /_config/launcher`** says which of these it has (LAUNCHER_FEATURES).
- **`DELETE /_config/webhooks/{id}`** removes a webhook registration
  (localstripe can only add them): `make run` removes its own when it stops.
  `GET /_config/webhooks` lists their ids.
- **`DELETE /_config/idempotency_keys`** forgets every key, as Stripe does
  after its 24-hour window: the tests of reconciliation past that window use it.
- **`GET /v1/payment_intents/search`** for Stripe's search query language's
  `metadata['key']:'value'` clauses joined by AND (all that the gateway sends;
  anything else answers 400). localstripe has no search API.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import urllib.parse

from aiohttp import web
from localstripe.errors import UserError
from localstripe.server import app, get_api_key, json_response, store
from localstripe.webhooks import _webhooks

# What this launcher adds, for scripts/services.sh to tell it from a plain
# localstripe (or an older launcher) already listening on the port.
LAUNCHER_FEATURES = {
    "launcher": "gateway",
    "version": 3,
    "idempotency_keys": True,
    "payment_intent_search": True,
    "webhook_delete": True,
}

_KEYS: dict[tuple[str, str], dict | None] = {}  # (api key, idempotency key) -> stored answer; None: running
_KEPT_STATUSES = range(200, 300)


def _idempotency_error(status: int, message: str) -> web.Response:
    return json_response({"error": {"type": "idempotency_error", "message": message}}, status=status)


def _fingerprint(method: str, path: str, body: bytes) -> str:
    params = sorted(urllib.parse.parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    return hashlib.sha256(json.dumps([method, path, params]).encode()).hexdigest()


@web.middleware
async def idempotency_middleware(request: web.Request, handler):
    if request.method == "GET" and request.path == "/_config/launcher":
        return json_response(LAUNCHER_FEATURES)
    if request.method == "DELETE" and request.path == "/_config/data":
        _KEYS.clear()
    if request.method == "GET" and request.path == "/_config/webhooks":
        return json_response({"ids": sorted(_webhooks)})
    if request.method == "DELETE" and request.path.startswith("/_config/webhooks/"):
        # localstripe can register a webhook but not remove one: a gateway that
        # stops (make run) removes its own, so nothing keeps posting to a dead port.
        _webhooks.pop(request.path.rsplit("/", 1)[1], None)
        return web.Response()
    if request.method == "DELETE" and request.path == "/_config/idempotency_keys":
        _KEYS.clear()
        return web.Response()
    if request.method == "GET" and request.path == "/v1/payment_intents/search":
        return _payment_intent_search(request)
    key = request.headers.get("Idempotency-Key")
    if request.method != "POST" or not key:
        return await handler(request)
    scope = (get_api_key(request) or "", key)
    fingerprint = _fingerprint(request.method, request.path, await request.read())
    if scope in _KEYS:
        stored = _KEYS[scope]
        if stored is None:
            return _idempotency_error(
                409, f"There is currently another in-progress request using this Idempotent Key: {key}."
            )
        if stored["fingerprint"] != fingerprint:
            return _idempotency_error(
                400,
                "Keys for idempotent requests can only be used with the same parameters they were "
                f"first used with. Try using a key other than '{key}' if you meant to execute a "
                "different request.",
            )
        return web.Response(
            body=stored["body"],
            status=stored["status"],
            content_type="application/json",
            headers={"Idempotent-Replayed": "true", "Idempotency-Key": key},
        )
    _KEYS[scope] = None  # running: a concurrent request with this key gets 409
    try:
        try:
            response = await handler(request)
        except UserError as exc:
            response = exc.to_response()
    except BaseException:
        _KEYS.pop(scope, None)
        raise
    if response.status in _KEPT_STATUSES or response.status == 402:
        _KEYS[scope] = {"fingerprint": fingerprint, "status": response.status, "body": response.body}
    else:
        _KEYS.pop(scope, None)
    return response


_CLAUSE = re.compile(r"^metadata\[['\"]([^'\"]+)['\"]\]:['\"]([^'\"]*)['\"]$")


def _payment_intent_search(request: web.Request) -> web.Response:
    if get_api_key(request) is None:
        return json_response(
            {"error": {"type": "invalid_request_error", "message": "Unauthorized"}}, status=401
        )
    query = request.query.get("query", "")
    wanted = {}
    for clause in filter(None, (part.strip() for part in re.split(r"\s+AND\s+", query))):
        match = _CLAUSE.match(clause)
        if match is None:
            return json_response(
                {
                    "error": {
                        "type": "invalid_request_error",
                        "message": f"Unsupported search clause: {clause}",
                    }
                },
                status=400,
            )
        wanted[match.group(1)] = match.group(2)
    if not wanted:
        return json_response(
            {"error": {"type": "invalid_request_error", "message": "Missing required param: query."}},
            status=400,
        )
    found = [
        obj
        for key, obj in store.items()
        if key.startswith("payment_intent:")
        and all(str((obj.metadata or {}).get(k)) == v for k, v in wanted.items())
    ]
    found.sort(key=lambda obj: obj.created, reverse=True)
    return json_response(
        {
            "object": "search_result",
            "url": "/v1/payment_intents/search",
            "has_more": False,
            "next_page": None,
            "data": [obj._export() for obj in found],
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8420)
    parser.add_argument("--from-scratch", action="store_true")
    # Who started it: `make run` stops its own on exit, so `make services` must not adopt it.
    parser.add_argument("--owner", choices=["services", "run"], default="services")
    args = parser.parse_args()
    LAUNCHER_FEATURES["owner"] = args.owner
    if args.from_scratch:
        store.dump_to_disk = lambda: None  # in memory only; see the docstring
    else:
        store.try_load_from_disk()
    # Innermost, after localstripe's own auth check.
    app.middlewares.append(idempotency_middleware)
    web.run_app(app, host=args.host, port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
