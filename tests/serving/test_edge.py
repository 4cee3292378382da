"""The edge every request passes: size limits, gzip bodies and the error envelope that
Segment's and RudderStack's SDKs read (no Ray: a bare app behind the middleware)."""

from __future__ import annotations

import gzip
import json
from typing import Any

from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

from serving.edge import EdgeConfig, EdgeMiddleware, error_body

LIMIT = 10_000


def client() -> TestClient:
    app = FastAPI()
    app.add_middleware(EdgeMiddleware)
    app.state.edge = EdgeConfig(max_body_bytes=LIMIT)

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
