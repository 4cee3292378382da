"""A site's whole clickstream through the real Segment and RudderStack SDKs at their
defaults: every call is applied, so each user ends with the events and sessions a count
made from the clickstream itself says.

The clickstream is generated (no data set is downloaded): 600 users, 30,000+ calls, every
event of Segment's e-commerce spec in its full and its minimal form (the spec requires no
property), pages and identifies, in sessions separated by more than the 30-minute gap.
Half the users go through segment-analytics-python, half through rudder-sdk-python (gzip,
its default). The counts are made from the generated calls alone, never from engage.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from actors.model.bounds import SESSION_GAP_S
from tests.conftest import WRITE_KEY, App
from tests.eventually import eventually
from tests.serving.test_segment_spec import SPEC

pytestmark = pytest.mark.integration

USERS = 600
SESSIONS = (3, 6)
CALLS_PER_SESSION = (8, 16)


@dataclass(frozen=True)
class Call:
    user: str
    kind: str  # track, page, identify
    at: float
    name: str = ""
    properties: dict[str, Any] | None = None


def clickstream(run: str, seed: int = 7) -> Iterator[Call]:
    """Each user's calls in time order; sessions are more than SESSION_GAP_S apart."""
    rng = random.Random(seed)
    start = time.time() - 20 * 86_400
    for n in range(USERS):
        user, at = f"{run}-{n}", start + rng.uniform(0, 86_400)
        yield Call(user, "identify", at, properties={"email": f"u{n}@example.com", "plan": "pro"})
        for _ in range(rng.randint(*SESSIONS)):
            at += SESSION_GAP_S + rng.uniform(60, 86_400)
            for _ in range(rng.randint(*CALLS_PER_SESSION)):
                at += rng.uniform(1, 300)  # well inside a session
                if rng.random() < 0.2:
                    url = f"/c/{rng.choice(['games', 'books', 'toys'])}"
                    yield Call(user, "page", at, "Category", {"url": url})
                    continue
                name, _, full = rng.choice(SPEC)
                shape = rng.random()
                if shape < 0.4:
                    properties: dict[str, Any] = {}  # the spec's minimal call
                elif shape < 0.7 and name == "Product Added":
                    # As the retail data set sends it: an id and a category, no price.
                    properties = {"product_id": f"p{rng.randint(1, 50)}", "category": "Games"}
                else:
                    properties = dict(full)
                yield Call(user, "track", at, name, properties)


@dataclass
class Expected:
    events: int = 0
    sessions: int = 0
    last: float | None = None

    def add(self, call: Call) -> None:
        self.events += 1
        if self.last is None or call.at - self.last > SESSION_GAP_S:
            self.sessions += 1
        self.last = call.at


def send(client: Any, call: Call) -> None:
    when = datetime.fromtimestamp(call.at, UTC)
    message_id = str(uuid.uuid4())
    if call.kind == "identify":
        client.identify(call.user, call.properties, timestamp=when, message_id=message_id)
    elif call.kind == "page":
        client.page(
            call.user,
            name=call.name,
            properties=call.properties,
            timestamp=when,
            message_id=message_id,
        )
    else:
        client.track(call.user, call.name, call.properties, timestamp=when, message_id=message_id)
    # The SDKs drop calls past their queue's 10,000 (a default kept): a site sends over
    # time, so the replay waits for the queue as a site's traffic would.
    while client.queue.qsize() > 5_000:
        time.sleep(0.05)


def test_every_call_of_a_30000_event_clickstream_is_applied_through_both_sdks(
    engage_app: App,
) -> None:
    import segment.analytics as segment_sdk
    from rudderstack.analytics import Client as RudderClient

    run = f"replay-{uuid.uuid4().hex[:6]}"
    errors: list[Exception] = []
    clients = [
        segment_sdk.Client(WRITE_KEY, host=engage_app.url, on_error=lambda e, b: errors.append(e)),
        RudderClient(WRITE_KEY, host=engage_app.url, on_error=lambda e, b: errors.append(e)),
    ]
    expected: dict[str, Expected] = {}
    calls = 0
    for call in clickstream(run):
        number = int(call.user.rsplit("-", 1)[1])
        send(clients[number % 2], call)
        expected.setdefault(call.user, Expected()).add(call)
        calls += 1
    for client in clients:
        client.flush()
        client.join()
    assert calls >= 30_000
    assert errors == []

    pending = dict(expected)

    def all_applied() -> bool:
        seen: dict[str, tuple[Any, Any]] = {}
        for user, want in list(pending.items()):
            context = engage_app.get(f"/v1/customers/{user}/context").json()
            session = context.get("session", {})
            seen[user] = (session.get("events"), session.get("index"))
            if seen[user] == (want.events, want.sessions):
                del pending[user]
        if pending:
            user, want = next(iter(pending.items()))
            raise AssertionError(
                f"{len(pending)} users short; {user}: (events, sessions) "
                f"{seen[user]}, counted {(want.events, want.sessions)}"
            )
        return True

    eventually(all_applied, 300, "every user's events and sessions as counted", 1.0)
    # Nothing of this run was refused (the app is shared: other tests' refusals are there).
    refused = engage_app.get("/v1/reports/collect").json()
    assert [s for s in refused["samples"] if run in s["payload"]] == []
