"""What every HTTP request passes before a route: body size limits and CORS.

A pure ASGI middleware, configured at run time through `app.state.edge` (the Serve
replica sets it from the settings), because Serve builds the FastAPI app before the
replica's constructor runs.
"""

from __future__ import annotations

import json
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
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        config: EdgeConfig = getattr(scope["app"].state, "edge", EdgeConfig())
        headers = {k.decode().lower(): v.decode() for k, v in scope.get("headers", [])}
        origin = headers.get("origin")
        allowed = (
            origin
            if origin and ("*" in config.cors_origins or origin in config.cors_origins)
            else None
        )
        cors = _cors_headers(allowed)
        if scope["method"] == "OPTIONS" and allowed and "access-control-request-method" in headers:
            await send(
                {"type": "http.response.start", "status": 204, "headers": [*cors, *_preflight()]}
            )
            await send({"type": "http.response.body", "body": b""})
            return
        too_large = {
            "error": "too_large",
            "detail": f"request body over {config.max_body_bytes} bytes",
        }
        length = headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > config.max_body_bytes:
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

        try:
            await self.app(scope, limited, with_cors)
        except _TooLargeError:
            if not started:
                await _json(send, 413, too_large, cors)


def _cors_headers(origin: str | None) -> list[tuple[bytes, bytes]]:
    if origin is None:
        return []
    return [
        (b"access-control-allow-origin", origin.encode()),
        (b"vary", b"Origin"),
        (b"access-control-expose-headers", b"Retry-After"),
    ]


def _preflight() -> list[tuple[bytes, bytes]]:
    return [
        (b"access-control-allow-methods", b"GET, POST, DELETE, OPTIONS"),
        (b"access-control-allow-headers", b"Authorization, Content-Type"),
        (b"access-control-max-age", b"600"),
    ]
