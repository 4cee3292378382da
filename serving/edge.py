"""What every HTTP request passes before a route: body size limits, gzip bodies, CORS.

Segment's and RudderStack's SDKs gzip their batches (RudderStack's by default); a
gzip body is inflated here, bounded by the same size limit as a plain one, so a small
compressed body cannot inflate past it.

A pure ASGI middleware, given its limits by `serving.web.app.create_app` from the
settings.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


@dataclass(frozen=True)
class EdgeConfig:
    max_body_bytes: int = 1_000_000
    cors_origins: tuple[str, ...] = ()


class _TooLargeError(Exception):
    pass


def error_body(error: str, detail: str) -> dict[str, str]:
    """engage's error envelope. `code` and `message` repeat `error` and `detail` under the
    names Segment's and RudderStack's SDKs read: without them an SDK treats a refusal it
    should give up on as a failure to retry."""
    return {"error": error, "detail": detail, "code": error, "message": detail}


async def _json(
    send: Send, status: int, body: dict[str, Any], headers: list[tuple[bytes, bytes]]
) -> None:
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


class EdgeMiddleware:
    def __init__(self, app: ASGIApp, config: EdgeConfig | None = None) -> None:
        self.app = app
        self.config = config or EdgeConfig()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        config = self.config
        # HTTP header values are bytes: latin-1 reads any of them (as Starlette does), where
        # UTF-8 would fail a request carrying one odd byte.
        headers = {
            k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])
        }
        origin = headers.get("origin")
        allowed = (
            origin
            if origin and ("*" in config.cors_origins or origin in config.cors_origins)
            else None
        )
        cors = _cors_headers(allowed)
        if scope["method"] == "OPTIONS" and allowed and "access-control-request-method" in headers:
            asked = headers.get("access-control-request-headers", "")
            await send(
                {
                    "type": "http.response.start",
                    "status": 204,
                    "headers": [*cors, *_preflight(asked)],
                }
            )
            await send({"type": "http.response.body", "body": b""})
            return
        too_large = error_body("too_large", f"request body over {config.max_body_bytes} bytes")
        length = headers.get("content-length")
        # isdecimal() alone admits digits int() refuses ("²"): ASCII digits only.
        declared = length is not None and length.isascii() and length.isdecimal()
        if declared and int(length or 0) > config.max_body_bytes:
            await _json(send, 413, too_large, cors)
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > config.max_body_bytes:
                    raise _TooLargeError
            return message

        started = False

        async def with_cors(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = [*message.get("headers", []), *cors]
            await send(message)

        encoding = headers.get("content-encoding", "identity").strip().lower()
        body_source: Receive = limited
        if encoding == "gzip":
            try:
                body = _gunzip(await _read_all(limited), config.max_body_bytes)
            except _TooLargeError:
                await _json(send, 413, too_large, cors)
                return
            except zlib.error as error:
                not_gzip = error_body("bad_request", f"body is not gzip: {error}")
                await _json(send, 400, not_gzip, cors)
                return
            scope = {**scope, "headers": _inflated_headers(scope, len(body))}
            body_source = _replay(body, limited)
        elif encoding not in ("identity", ""):
            detail = f"Content-Encoding {encoding!r} is not accepted (use gzip or none)"
            await _json(send, 415, error_body("unsupported_encoding", detail), cors)
            return
        try:
            await self.app(scope, body_source, with_cors)
        except _TooLargeError:
            if not started:
                await _json(send, 413, too_large, cors)


async def _read_all(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _gunzip(body: bytes, limit: int) -> bytes:
    """Inflate a gzip body (several members allowed), never past `limit` bytes."""
    out = bytearray()
    data = body
    while data:
        inflater = zlib.decompressobj(wbits=31)
        out += inflater.decompress(data, limit + 1 - len(out))
        if len(out) > limit or inflater.unconsumed_tail:
            raise _TooLargeError
        if not inflater.eof:
            raise zlib.error("truncated gzip body")
        data = inflater.unused_data
    return bytes(out)


def _inflated_headers(scope: Scope, length: int) -> list[tuple[bytes, bytes]]:
    kept = [
        (k, v)
        for k, v in scope.get("headers", [])
        if k.lower() not in (b"content-encoding", b"content-length")
    ]
    return [*kept, (b"content-length", str(length).encode())]


def _replay(body: bytes, then: Receive) -> Receive:
    """The inflated body as one message; after it, what the client does (a disconnect)."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return await then()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


def _cors_headers(origin: str | None) -> list[tuple[bytes, bytes]]:
    if origin is None:
        return []
    return [
        (b"access-control-allow-origin", origin.encode()),
        (b"vary", b"Origin"),
        (b"access-control-expose-headers", b"Retry-After"),
    ]


# What the browser SDKs send beside a body: the key (Authorization); RudderStack's
# visitor, send time and retry notes (AnonymousId, SentAt, Rsa-*); analytics.js's retry
# number (X-Retry-Count); a signed-in visitor's signature (X-Engage-User-Signature,
# serving.user_signature). A preflight that left one out would block every call.
PREFLIGHT_HEADERS = frozenset(
    {
        "authorization",
        "content-type",
        "content-encoding",
        "anonymousid",
        "sentat",
        "rsa-recovered",
        "rsa-retry-attempt",
        "rsa-since-last-attempt",
        "x-retry-count",
        "x-engage-user-signature",
    }
)


def _preflight(asked: str) -> list[tuple[bytes, bytes]]:
    """The answer to a preflight from an allowed origin: the methods, and of the headers
    asked for, those the collection endpoints read."""
    wanted = [h.strip() for h in asked.split(",") if h.strip()]
    allowed = [h for h in wanted if h.lower() in PREFLIGHT_HEADERS] or ["Authorization"]
    return [
        (b"access-control-allow-methods", b"GET, POST, DELETE, OPTIONS"),
        (b"access-control-allow-headers", ", ".join(["Content-Type", *allowed]).encode()),
        (b"access-control-max-age", b"600"),
    ]
