"""What a client key copied out of a web page can do, tried as an attacker would against a
running engage: every attempt refused or bounded (docs/reliability.md, "Hostile input")."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from engage.chaos import observe
from tests.conftest import CLIENT_KEY, WRITE_KEY, App
from tests.e2e.test_customers import wait_known

pytestmark = [pytest.mark.integration, pytest.mark.kafka]


def body(*events: dict[str, Any]) -> dict[str, Any]:
    return {"events": list(events)}


def now_iso(offset_s: float = 0.0) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(time.time() + offset_s, UTC).isoformat()


def post_as_client(app: App, payload: dict[str, Any], address: str) -> Any:
    # A load balancer in front appends the address it saw at the right of the header.
    headers = {"X-Forwarded-For": address}
    return app.request("POST", "/v1/events", CLIENT_KEY, json=payload, headers=headers)


def test_a_client_cannot_hide_a_servers_card_payment_behind_a_squatted_event_id(
    engage_app: App,
) -> None:
    victim = f"sq-{uuid.uuid4().hex[:8]}"
    squatted = f"pay-{uuid.uuid4().hex[:8]}"
    page = {
        "type": "page_view",
        "event_id": squatted,
        "customer_id": victim,
        "timestamp": now_iso(),
    }
    assert post_as_client(engage_app, body(page), "198.51.100.1").status_code == 200
    wait_known(engage_app, victim, 1)
    payment = {
        "type": "card_payment",
        "event_id": squatted,
        "customer_id": victim,
        "timestamp": now_iso(1),
        "payment_id": "p1",
        "amount": 25.0,
        "merchant": "Shop",
        "country": "DE",
    }
    answer = engage_app.request("POST", "/v1/events", WRITE_KEY, json=body(payment))
    assert answer.status_code == 200
    context = wait_known(engage_app, victim, 2)
    assert context["customer"]["card_payments"] == 1


@pytest.mark.parametrize(
    ("label", "field"),
    [
        ({"type": "fraud_report", "payment_id": "p1"}, "type"),
        ({"type": "chargeback", "payment_id": "p1", "amount": 5.0}, "type"),
        ({"type": "offer_feedback", "outcome": "converted", "offer_id": "books_5"}, "outcome"),
        ({"type": "identify", "consent_marketing": True}, "consent_marketing"),
        ({"type": "identify", "email": "attacker@example.com"}, "email"),
    ],
)
def test_a_client_cannot_forge_labels_consent_or_contacts(
    engage_app: App, label: dict[str, Any], field: str
) -> None:
    forged = {"event_id": f"f-{uuid.uuid4().hex}", "customer_id": "victim", **label}
    forged["timestamp"] = now_iso()
    answer = post_as_client(engage_app, body(forged), "198.51.100.2")
    assert answer.status_code == 403
    assert answer.json()["rejected"][0]["errors"][0]["field"] == field


def test_a_client_cannot_chain_visitors_through_a_customer_id_of_a_visitors_form(
    engage_app: App,
) -> None:
    chained = {
        "type": "alias",
        "event_id": f"c-{uuid.uuid4().hex}",
        "customer_id": "anon:v2",
        "anonymous_id": "v1",
        "timestamp": now_iso(),
    }
    answer = post_as_client(engage_app, body(chained), "198.51.100.3")
    assert answer.status_code == 422
    assert answer.json()["rejected"][0]["errors"][0]["field"] == "customer_id"


def test_filling_a_victims_links_is_bounded(engage_app: App) -> None:
    # Given an attacker who links 130 visitors of its own to one victim, each visitor with
    # some browsing to merge (two requests: the merge needs the browsing applied first)
    victim = f"fill-{uuid.uuid4().hex[:8]}"
    tag = uuid.uuid4().hex[:6]
    visits = [
        {
            "type": "page_view",
            "event_id": f"v-{tag}-{n}",
            "anonymous_id": f"atk-{tag}-{n}",
            "timestamp": now_iso(),
        }
        for n in range(130)
    ]
    assert post_as_client(engage_app, body(*visits), "198.51.100.4").status_code == 200
    wait_known(engage_app, f"anon:atk-{tag}-129", 1)
    links = [
        {
            "type": "alias",
            "event_id": f"l-{tag}-{n}",
            "customer_id": victim,
            "anonymous_id": f"atk-{tag}-{n}",
            "timestamp": now_iso(1),
        }
        for n in range(130)
    ]
    assert post_as_client(engage_app, body(*links), "198.51.100.4").status_code == 200
    # then the victim absorbs at most MAX_LINKED (100) of them; the rest stay visitors
    deadline = time.monotonic() + 60
    while True:
        state = observe.customer_state(engage_app.settings, victim)
        if len(state.get("linked", [])) >= 100 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    time.sleep(2.0)  # every link has come by now
    state = observe.customer_state(engage_app.settings, victim)
    assert len(state["linked"]) == 100
    assert len(state["applied"]["ids"]) <= 1024


def test_rotating_the_forwarded_addresses_it_writes_does_not_escape_the_rate_limit(
    engage_app: App,
) -> None:
    # The attacker writes any address it likes at the left of X-Forwarded-For; the load
    # balancer appends the one it saw (the right-most), which is what is limited.
    statuses = []
    started = time.monotonic()
    for n in range(40):
        page = {
            "type": "page_view",
            "event_id": f"r-{uuid.uuid4().hex}",
            "anonymous_id": "rotator",
            "timestamp": now_iso(),
        }
        forged = f"10.{n}.{n}.{n}, 203.0.113.77"
        statuses.append(post_as_client(engage_app, body(page), forged).status_code)
    # At most the burst, plus what the bucket refilled while the requests went, gets
    # through: the bound follows the time the 40 requests took, however slow the machine.
    api = engage_app.settings.api
    allowed = api.rate_limit_per_address_burst + api.rate_limit_per_address_per_s * (
        time.monotonic() - started
    )
    assert statuses.count(200) <= allowed + 1
    assert statuses.count(429) >= 40 - (allowed + 1)
    assert set(statuses) <= {200, 429}
