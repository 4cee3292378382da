"""API keys, their scopes, and per-key rate limits.

Four kinds of key, from the settings (`ENGAGE_API_WRITE_KEYS`, `ENGAGE_API_CLIENT_KEYS`,
`ENGAGE_API_READ_KEYS`, `ENGAGE_API_ADMIN_TOKEN`):

* write keys (server sources) send any event (`/v1/events`, the Segment endpoints, the
  pixel, feedback), rate-limited per key;
* client keys (browsers, apps, the pixel) send only what serving.sources allows, for
  the same endpoints, rate-limited per key and client address;
* read keys query (`next-best-offer`, context, reports, the dashboard's data, metrics);
* the admin token does anything, including model admin and personal data (forget).

A key is presented as `Authorization: Bearer <key>`, as the user of HTTP basic auth (what
Segment SDKs send with a write key), or, where a header cannot be set (the tracking pixel,
the dashboard page), as the `key` query parameter. Keys are compared in constant time.
With no key configured at all the API is open, for local development only.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import math
import threading
import time
from dataclasses import dataclass
from enum import Enum

from serving.config import ApiConfig


class Scope(Enum):
    COLLECT = "collect"  # send events: a write key or a client key
    WRITE = "write"  # send any event: a write key (a server source)
    READ = "read"
    ADMIN = "admin"


NEEDS = {
    Scope.COLLECT: "a write key or a client key",
    Scope.WRITE: "a write key",
    Scope.READ: "a read key",
    Scope.ADMIN: "the admin token",
}


class ApiError(Exception):
    """An answer to send instead of the route's: status, error code, detail, headers."""

    def __init__(
        self, status: int, error: str, detail: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.error = error
        self.detail = detail
        self.headers = headers or {}


def presented_key(authorization: str | None, query_key: str | None) -> str | None:
    """The key a request carries, from the header or the query string."""
    if authorization:
        scheme, _, value = authorization.partition(" ")
        scheme = scheme.lower()
        if scheme == "bearer":
            return value.strip() or None
        if scheme == "basic":
            try:
                decoded = base64.b64decode(value.strip(), validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                return None
            user, _, password = decoded.partition(":")
            return user or password or None
    return query_key or None


@dataclass(frozen=True)
class Grant:
    scopes: frozenset[Scope]
    key_id: str  # a short digest: safe to log and to rate-limit by
    # A client's request's User-Agent header: the visitor's browser (serving.screening).
    user_agent: str | None = None
    # A client's signature for the customer it acts for (serving.user_signature).
    user_signature: str | None = None

    @property
    def client(self) -> bool:
        """A client source: may collect, but not as a server source may."""
        return Scope.COLLECT in self.scopes and Scope.WRITE not in self.scopes


OPEN = Grant(frozenset(Scope), "open")


class KeyRing:
    def __init__(self, config: ApiConfig) -> None:
        self._keys: list[tuple[bytes, frozenset[Scope]]] = []
        for key in config.write_keys:
            write = frozenset({Scope.WRITE, Scope.COLLECT})
            self._keys.append((key.get_secret_value().encode(), write))
        for key in config.client_keys:
            self._keys.append((key.get_secret_value().encode(), frozenset({Scope.COLLECT})))
        for key in config.read_keys:
            self._keys.append((key.get_secret_value().encode(), frozenset({Scope.READ})))
        if config.admin_token is not None:
            admin = frozenset(Scope)
            self._keys.append((config.admin_token.get_secret_value().encode(), admin))
        self.open = not self._keys

    def grant(self, key: str | None) -> Grant | None:
        if key is None:
            return None
        candidate = key.encode()
        found: frozenset[Scope] | None = None
        for secret, scopes in self._keys:
            # Every key is compared, matching or not, so timing says nothing.
            if hmac.compare_digest(secret, candidate):
                found = scopes
        if found is None:
            return None
        return Grant(found, hashlib.sha256(candidate).hexdigest()[:12])

    def check(self, key: str | None, needed: Scope) -> Grant:
        """The grant of a key allowed to do `needed`, or ApiError 401 / 403 saying what is
        needed."""
        if self.open:
            return OPEN
        if key is None:
            raise ApiError(
                401,
                "unauthorized",
                f"this endpoint needs {NEEDS[needed]}: send Authorization: Bearer <key>",
                {"WWW-Authenticate": 'Bearer realm="engage"'},
            )
        grant = self.grant(key)
        if grant is None:
            raise ApiError(
                401,
                "unauthorized",
                f"unknown key; this endpoint needs {NEEDS[needed]}",
                {"WWW-Authenticate": 'Bearer realm="engage", error="invalid_token"'},
            )
        if needed not in grant.scopes:
            raise ApiError(403, "forbidden", f"this key cannot do that; it needs {NEEDS[needed]}")
        return grant


class RateLimiter:
    """A token bucket per key: `rate` requests per second, bursts up to `burst`.

    At most `max_buckets` are kept: past that, buckets idle long enough to be full again
    are dropped (a full bucket and no bucket answer the same), so callers that rotate
    their address cannot grow it without bound."""

    def __init__(self, rate: float, burst: int, max_buckets: int = 100_000) -> None:
        self.rate = rate
        self.burst = burst
        self.max_buckets = max_buckets
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, key_id: str, now: float | None = None) -> float:
        """0 if allowed, else the seconds to wait before the next request is allowed."""
        now = time.monotonic() if now is None else now
        with self._lock:
            if key_id not in self._buckets and len(self._buckets) >= self.max_buckets:
                self._sweep(now)
            tokens, last = self._buckets.get(key_id, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._buckets[key_id] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key_id] = (tokens, now)
            return (1.0 - tokens) / self.rate

    def _sweep(self, now: float) -> None:
        refill_s = self.burst / self.rate
        self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < refill_s}
        if len(self._buckets) >= self.max_buckets:  # all busy: drop the oldest half
            kept = sorted(self._buckets.items(), key=lambda kv: kv[1][1])
            self._buckets = dict(kept[len(kept) // 2 :])

    def check(self, key_id: str, scope: str = "for this key") -> None:
        wait = self.take(key_id)
        if wait > 0:
            raise ApiError(
                429,
                "rate_limited",
                f"more than {self.rate:g} requests per second {scope}",
                {"Retry-After": str(max(1, math.ceil(wait)))},
            )
