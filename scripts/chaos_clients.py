"""The clients of `make chaos` (scripts/chaos.py): threads that send payments and
refunds through HAProxy, each with its own Idempotency-Key, and retry the same
request (same key) on a refused connection, a 5xx, a 429 or a 409
`idempotency_key_in_use`, as a careful client does."""

from __future__ import annotations

import http.client
import json
import threading
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field

RETRYABLE = {429, 500, 502, 503, 504}


@dataclass
class Operation:
    kind: str  # payment | refund
    key: str
    started: float
    finished: float = 0.0
    status: int = 0
    attempts: int = 0
    payment_id: str = ""
    order_id: str = ""
    refund_id: str = ""
    errors: list = field(default_factory=list)


class Clients:
    def __init__(self, base: str, api_key: str, clients: int, max_requests: int):
        parsed = urllib.parse.urlsplit(base)
        self.host, self.port = parsed.hostname, parsed.port
        self.api_key = api_key
        self.operations: list[Operation] = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.budget = max_requests
        self.threads = [threading.Thread(target=self._run, args=(n,), daemon=True) for n in range(clients)]

    def _take_budget(self) -> bool:
        with self.lock:
            if self.budget <= 0:
                return False
            self.budget -= 1
            return True

    def _send(self, conn, path: str, body: dict, key: str):
        conn.request(
            "POST",
            path,
            body=json.dumps(body),
            headers={
                "Authorization": f"Bearer {self.api_key}",
                "Content-Type": "application/json",
                "Idempotency-Key": key,
            },
        )
        response = conn.getresponse()
        return response.status, response.read()

    def _do(self, op: Operation, path: str, body: dict) -> dict:
        """Sends until a definitive answer (or 90 s), with the same key every time."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        deadline = time.monotonic() + 90
        answer: dict = {}
        while time.monotonic() < deadline:
            op.attempts += 1
            try:
                status, data = self._send(conn, path, body, op.key)
                answer = json.loads(data) if data.startswith(b"{") else {}
            except (OSError, http.client.HTTPException) as exc:
                op.errors.append(type(exc).__name__)
                conn.close()
                conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
                time.sleep(0.2)
                continue
            code = (answer.get("error") or {}).get("code", "")
            if status in RETRYABLE or (status == 409 and code == "idempotency_key_in_use"):
                op.errors.append(str(status))
                time.sleep(0.3)
                continue
            op.status = status
            break
        conn.close()
        op.finished = time.time()
        return answer

    def _run(self, n: int):
        own: list[str] = []
        count = 0
        while not self.stop.is_set() and self._take_budget():
            count += 1
            if own and count % 4 == 0:
                op = Operation(
                    "refund", f"chaos-r-{uuid.uuid4().hex}", time.time(), payment_id=own[count % len(own)]
                )
                answer = self._do(op, f"/api/v1/payments/{op.payment_id}/refund", {"amount": "1.00"})
                op.refund_id = answer.get("refund_id", "")
            else:
                op = Operation("payment", f"chaos-p-{uuid.uuid4().hex}", time.time())
                op.order_id = f"chaos-{uuid.uuid4().hex[:20]}"
                answer = self._do(
                    op,
                    "/api/v1/payments/process",
                    {
                        "order_id": op.order_id,
                        "amount": "20.00",
                        "currency": "usd",
                        "payment_method": "pm_card_visa",
                    },
                )
                op.payment_id = answer.get("payment_id", "")
                if op.status in (200, 201) and op.payment_id:
                    own.append(op.payment_id)
            with self.lock:
                self.operations.append(op)

    def start(self):
        for thread in self.threads:
            thread.start()

    def finish(self):
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=120)
