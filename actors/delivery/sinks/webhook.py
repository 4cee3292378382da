"""Actions as signed JSON POSTs to a webhook.

Each request carries the action as its body and three headers:

* `X-Engage-Timestamp`: seconds since the epoch when it was signed;
* `X-Engage-Signature`: `sha256=` + hex HMAC-SHA256 of `timestamp + "." + body`, keyed
  with the webhook secret (a receiver recomputes it and rejects old timestamps);
* `X-Engage-Idempotency-Key`: the action's idempotency key, for receivers that dedup.

A 2xx answer is a delivery. 408, 429, 5xx, timeouts and connection failures are worth
retrying (the dispatcher backs off with jitter); any other 4xx is final and the action
goes to the dead-letter topic with the status and the start of the answer.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from collections.abc import Sequence

import aiohttp

from actors.delivery.sinks.base import Delivery
from actors.model.actions import Action, action_to_json

RETRYABLE_STATUS = frozenset({408, 425, 429})


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(
    secret: bytes, timestamp: str, body: bytes, signature: str, max_age_s: float = 300.0
) -> bool:
    """What a receiver does: constant-time compare, and refuse stale timestamps."""
    try:
        fresh = abs(time.time() - float(timestamp)) <= max_age_s
    except ValueError:
        return False
    return fresh and hmac.compare_digest(sign(secret, timestamp, body), signature)


class WebhookSink:
    name = "webhook"
    # A webhook cannot be asked what it has: a delivery cut by a crash is sent again, so
    # at most this many actions are in flight at once (what a crash can send twice).
    batch_size = 50

    def __init__(self, url: str, secret: bytes, timeout_s: float = 5.0) -> None:
        self.url = url
        self.secret = secret
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
        return self._session

    async def deliver(self, actions: Sequence[Action]) -> list[Delivery]:
        return list(await asyncio.gather(*(self._post(a) for a in actions)))

    async def _post(self, action: Action) -> Delivery:
        body = action_to_json(action)
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "X-Engage-Timestamp": timestamp,
            "X-Engage-Signature": sign(self.secret, timestamp, body),
            "X-Engage-Idempotency-Key": action.idempotency_key,
        }
        try:
            async with self._client().post(self.url, data=body, headers=headers) as answer:
                if 200 <= answer.status < 300:
                    return Delivery.delivered()
                excerpt = (await answer.text())[:200]
                retryable = answer.status >= 500 or answer.status in RETRYABLE_STATUS
                return Delivery.failed(f"webhook answered {answer.status}: {excerpt}", retryable)
        except TimeoutError:
            return Delivery.failed(f"webhook timed out after {self.timeout.total}s")
        except aiohttp.ClientError as error:
            return Delivery.failed(f"webhook unreachable: {error}")

    async def delivered(self, keys: set[str], since: float) -> set[str]:
        return set()  # cannot tell; receivers dedup on the idempotency key

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
