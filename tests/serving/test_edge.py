"""The edge every request passes: size limits, gzip bodies and the error envelope that
Segment's and RudderStack's SDKs read (no Ray: a bare app behind the middleware)."""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import MutableMapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

from serving.edge import EdgeConfig, EdgeMiddleware, error_body

LIMIT = 10_000


def client(config: EdgeConfig | None = None) -> TestClient:
    app = FastAPI()
    app.add_middleware(EdgeMiddleware, config=config or EdgeConfig(max_body_bytes=LIMIT))

    @app.post("/echo")
    async def echo(request: Request) -> dict[str, Any]:
        body = await request.body()
        return {"length": len(body), "json": json.loads(body)}

    return TestClient(app)


def post(body: bytes, encoding: str | None = None) -> Any:
    headers = {"Content-Type": "application/json"}
    if encoding:
        headers["Content-Encoding"] = encoding
    return client().post("/echo", content=body, headers=headers)


def test_a_gzip_body_reaches_the_route_inflated() -> None:
    payload = {"batch": [{"type": "track", "event": "Product Viewed"}] * 20}
    answer = post(gzip.compress(json.dumps(payload).encode()), "gzip")
    assert answer.status_code == 200
    assert answer.json()["json"] == payload


def test_a_small_gzip_body_cannot_inflate_past_the_limit() -> None:
    bomb = gzip.compress(b"[" + b" " * (LIMIT * 50) + b"]")
    assert len(bomb) < LIMIT
    answer = post(bomb, "gzip")
    assert answer.status_code == 413
    assert answer.json()["code"] == "too_large"


def test_a_body_that_is_not_gzip_is_refused_with_a_code_and_message() -> None:
    answer = post(b'{"not": "gzip"}', "gzip")
    assert answer.status_code == 400
    body = answer.json()
    assert body["code"] == body["error"] == "bad_request"
    assert "not gzip" in body["message"]


def test_an_encoding_other_than_gzip_is_refused() -> None:
    answer = post(b"{}", "br")
    assert answer.status_code == 415
    assert answer.json()["code"] == "unsupported_encoding"


def test_a_plain_body_passes_unchanged() -> None:
    assert post(b'{"a": 1}').json() == {"length": 8, "json": {"a": 1}}


def test_the_error_envelope_names_the_refusal_twice_for_sdks() -> None:
    assert error_body("forbidden", "no") == {
        "error": "forbidden",
        "detail": "no",
        "code": "forbidden",
        "message": "no",
    }


def test_a_preflight_allows_the_headers_the_sdks_send_and_nothing_else() -> None:
    """RudderStack sends `Authorization`, `AnonymousId`, `SentAt` and `Rsa-*` notes on a
    retry, analytics.js `X-Retry-Count`: a preflight from an allowed origin allows
    those, never others."""
    app = client(EdgeConfig(max_body_bytes=LIMIT, cors_origins=("https://shop.example",)))
    asked = "authorization, anonymousid, content-type, sentat, rsa-retry-attempt, x-evil"
    answer = app.options(
        "/echo",
        headers={
            "Origin": "https://shop.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": asked,
        },
    )
    assert answer.status_code == 204
    assert answer.headers["access-control-allow-origin"] == "https://shop.example"
    allowed = {h.strip().lower() for h in answer.headers["access-control-allow-headers"].split(",")}
    assert allowed == {
        "authorization",
        "anonymousid",
        "content-type",
        "sentat",
        "rsa-retry-attempt",
    }
    elsewhere = app.options(
        "/echo",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in elsewhere.headers


async def call_edge(headers: list[tuple[bytes, bytes]]) -> int:
    """One request through the middleware alone, with headers as raw bytes (HTTP clients
    in tests normalise them; a real client's bytes reach the ASGI scope as sent)."""

    async def ok(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    class State:
        edge = EdgeConfig()

    class App:
        state = State()

    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "headers": headers, "app": App()}
    await EdgeMiddleware(ok)(scope, receive, send)
    return int(sent[0]["status"])


def test_a_header_that_is_not_utf8_is_read_not_a_server_error() -> None:
    # Header values are bytes; a proxy or a client may send any of them.
    status = asyncio.run(call_edge([(b"x-odd", b"\xff\xfe caf\xe9"), (b"origin", b"\xe9")]))
    assert status == 200


def test_a_content_length_of_non_ascii_digits_is_not_a_server_error() -> None:
    # "²".isdigit() is True in Python, but int("²") fails. (Sent as raw ASGI: an HTTP
    # client would write its own Content-Length.)
    sent: list[dict[str, Any]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(dict(message))

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/echo",
        "headers": [(b"content-length", "²".encode("latin-1"))],
    }
    asyncio.run(EdgeMiddleware(app, EdgeConfig(max_body_bytes=LIMIT))(scope, receive, send))
    assert sent[0]["status"] == 200
