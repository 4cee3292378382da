"""Property-based fuzzing of what the OpenAPI document cannot describe: the analytics.js and
beacon paths (any content type, the key in the body), gzip bodies and raw header bytes.
Whatever comes, the answer is never a 5xx, and only valid events reach the broker."""

from __future__ import annotations

import asyncio
import gzip
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actors.model.events import parse_event
from tests.serving.web.conftest import CLIENT, WRITE, Fakes

BROWSER_PATHS = ["/v1/b", "/v1/t", "/v1/p", "/v1/i", "/v1/a", "/beacon/v1/batch"]
SERVER_PATHS = ["/v1/events", "/v1/batch", "/v1/track", "/v1/identify"]

scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
# Calls shaped like Segment's, with any of their fields taking any value.
calls = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(["track", "page", "identify", "alias", "screen", "group"])
        | st.text(max_size=8),
        "event": st.text(max_size=30),
        "userId": st.text(max_size=20) | st.integers(),
        "anonymousId": st.text(max_size=20),
        "previousId": st.text(max_size=20),
        "messageId": st.text(max_size=20),
        "timestamp": st.text(max_size=30) | st.integers(),
        "properties": json_values,
        "traits": json_values,
        "context": json_values,
    },
)
bodies = st.one_of(
    st.binary(max_size=200),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.builds(
        lambda batch, key: json.dumps({"writeKey": key, "batch": batch}).encode(),
        st.lists(calls, max_size=5),
        st.sampled_from([CLIENT, WRITE, "", "nope"]),
    ),
    calls.map(lambda c: json.dumps({**c, "writeKey": CLIENT}).encode()),
    st.integers(1, 2000).map(lambda n: b"[" * n + b"]" * n),
)
header_bytes = st.binary(min_size=0, max_size=40).filter(
    lambda b: b"\r" not in b and b"\n" not in b
)

FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def only_valid_events_published(api: Fakes) -> None:
    for event in api.publisher.published:
        parse_event(event.model_dump_json())  # round-trips through the schema


@FUZZ
@given(path=st.sampled_from(BROWSER_PATHS), body=bodies, gzipped=st.booleans())
def test_the_browser_paths_never_answer_a_server_error(
    api: Fakes, path: str, body: bytes, gzipped: bool
) -> None:
    headers = {"content-type": "text/plain"}
    if gzipped:
        body = gzip.compress(body)
        headers["content-encoding"] = "gzip"
    answer = api.request("POST", f"{path}?writeKey={CLIENT}", content=body, headers=headers)
    assert answer.status_code < 500, answer.text[:300]
    only_valid_events_published(api)


@FUZZ
@given(path=st.sampled_from(SERVER_PATHS), body=bodies, corrupt_gzip=st.booleans())
def test_the_server_paths_never_answer_a_server_error(
    api: Fakes, path: str, body: bytes, corrupt_gzip: bool
) -> None:
    headers = {"content-type": "application/json"}
    if corrupt_gzip:
        body = gzip.compress(body)[:-3]  # cut: not a whole gzip member
        headers["content-encoding"] = "gzip"
    answer = api.request("POST", path, WRITE, content=body, headers=headers)
    assert answer.status_code < 500, answer.text[:300]
    only_valid_events_published(api)


@FUZZ
@given(
    names=st.lists(
        st.sampled_from(
            [
                b"x-odd",
                b"origin",
                b"content-encoding",
                b"content-length",
                b"authorization",
                b"x-forwarded-for",
                b"access-control-request-headers",
            ]
        ),
        min_size=1,
        max_size=4,
    ),
    values=st.lists(header_bytes, min_size=4, max_size=4),
)
def test_any_header_bytes_get_an_answer_never_a_server_error(
    api: Fakes, names: list[bytes], values: list[bytes]
) -> None:
    headers = [(n, v) for n, v in zip(names, values, strict=False)]
    status = asyncio.run(asgi_post(api, "/v1/b", headers, b'{"writeKey": "x"}'))
    assert status < 500


async def asgi_post(api: Fakes, path: str, headers: list[tuple[bytes, bytes]], body: bytes) -> int:
    """One request straight into the application, headers as raw bytes (an HTTP client
    would refuse or rewrite some of them; a real one may send them all the same)."""
    app: Any = api.client.app
    sent: list[dict[str, Any]] = []
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "app": app,
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return int(next(m["status"] for m in sent if m["type"] == "http.response.start"))
