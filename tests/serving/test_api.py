"""The HTTP surface on the running application: keys, limits, collection, queries, admin."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from engage.cli import main
from tests.conftest import ADMIN_TOKEN, CLIENT_KEY, READ_KEY, WRITE_KEY, App
from tests.eventually import eventually
from tests.support import event

pytestmark = pytest.mark.integration


def wait_context(app: App, customer: str, done: Any, timeout_s: float = 30) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        context: dict[str, Any] = app.get(f"/v1/customers/{customer}/context").json()
        return context if done(context) else None

    return eventually(probe, timeout_s, f"{customer}'s context as expected", 0.25)


def valid_event(customer: str, **extra: Any) -> dict[str, Any]:
    return event("product_view", customer=customer, at=time.time(), **extra).model_dump(mode="json")


# ---- keys ------------------------------------------------------------------------------


def test_a_query_without_a_key_is_401_and_says_which_key(engage_app: App) -> None:
    answer = engage_app.get("/v1/customers/c1/next-best-offer", key=None)
    assert answer.status_code == 401
    needs = "this endpoint needs a read key: send Authorization: Bearer <key>"
    # `code` and `message` repeat the refusal under the names Segment's SDKs read.
    assert answer.json() == {
        "error": "unauthorized",
        "detail": needs,
        "code": "unauthorized",
        "message": needs,
    }
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    ("method", "path", "key", "needed"),
    [
        ("GET", "/v1/customers/c1/next-best-offer", WRITE_KEY, "a read key"),
        ("POST", "/v1/events", READ_KEY, "a write key or a client key"),
        ("DELETE", "/v1/customers/c1", READ_KEY, "the admin token"),
        ("POST", "/v1/models/fraud/rollback", READ_KEY, "the admin token"),
    ],
)
def test_a_key_of_the_wrong_kind_is_403(
    engage_app: App, method: str, path: str, key: str, needed: str
) -> None:
    answer = engage_app.request(method, path, key, json={"events": [{}]})
    assert answer.status_code == 403
    assert answer.json()["detail"].endswith(f"it needs {needed}")


def test_an_unknown_key_is_401(engage_app: App) -> None:
    answer = engage_app.get("/v1/shards", key="not-a-key")
    assert answer.status_code == 401
    assert "unknown key" in answer.json()["detail"]


def test_the_admin_token_can_read_too(engage_app: App) -> None:
    assert engage_app.get("/v1/shards", key=ADMIN_TOKEN).status_code == 200


# ---- collection ------------------------------------------------------------------------


def test_a_batch_is_accepted_in_part_with_field_level_reasons(engage_app: App) -> None:
    customer = f"api-{uuid.uuid4().hex[:8]}"
    bad = {**valid_event(customer), "price": -1}
    del bad["category"]
    answer = engage_app.request(
        "POST", "/v1/events", WRITE_KEY, json={"events": [valid_event(customer), bad]}
    )
    assert answer.status_code == 200
    body = answer.json()
    assert body["accepted"] == 1
    (rejected,) = body["rejected"]
    assert rejected["index"] == 1
    # A missing category is not a fault (Segment's spec makes it optional); a bad price is.
    assert {e["field"] for e in rejected["errors"]} == {"price"}
    context = wait_context(engage_app, customer, lambda c: c["session"]["events"] >= 1)
    assert context["session"]["page_views"] == 1


def test_payments_dated_far_ahead_are_refused_naming_the_field_and_ingest_goes_on(
    engage_app: App,
) -> None:
    # Given five card payments for one customer dated the last second of year 9999
    customer = f"api-{uuid.uuid4().hex[:8]}"
    payment = event("card_payment", customer=customer).model_dump(mode="json")
    hostile = [
        {
            **payment,
            "event_id": f"far-{i}",
            "payment_id": f"pay-{i}",
            "timestamp": "9999-12-31T23:59:59-05:00",
        }
        for i in range(5)
    ]
    # when they are posted in one request, then each is refused on its timestamp
    answer = engage_app.request("POST", "/v1/events", WRITE_KEY, json={"events": hostile})
    assert answer.status_code == 422
    body = answer.json()
    assert body["accepted"] == 0
    assert [r["errors"][0]["field"] for r in body["rejected"]] == ["timestamp"] * 5
    assert "ahead of arrival" in body["rejected"][0]["errors"][0]["message"]
    # and the customer's next event is applied as usual
    engage_app.request("POST", "/v1/events", WRITE_KEY, json={"events": [valid_event(customer)]})
    context = wait_context(engage_app, customer, lambda c: c["session"]["events"] >= 1)
    assert context["session"]["events"] == 1


def test_a_batch_with_nothing_valid_is_422(engage_app: App) -> None:
    answer = engage_app.request(
        "POST", "/v1/events", WRITE_KEY, json={"events": [{"type": "nope"}]}
    )
    assert answer.status_code == 422
    assert answer.json()["accepted"] == 0


def test_bodies_and_events_over_the_limits_are_413_or_refused(engage_app: App) -> None:
    huge = "x" * 1_100_000
    answer = engage_app.request(
        "POST", "/v1/events", WRITE_KEY, data=huge, headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 413
    assert answer.json()["error"] == "too_large"
    many = {"events": [valid_event("c1")] * 501}
    assert engage_app.request("POST", "/v1/events", WRITE_KEY, json=many).status_code == 413
    big_event = valid_event("c1", product_id="p1")
    big_event["padding"] = "y" * 40_000
    answer = engage_app.request("POST", "/v1/events", WRITE_KEY, json={"events": [big_event]})
    assert answer.status_code == 422
    assert "over 32768" in answer.json()["rejected"][0]["errors"][0]["message"]


def test_malformed_requests_are_4xx_never_5xx(engage_app: App) -> None:
    cases: list[tuple[str, str, dict[str, Any]]] = [
        (
            "POST",
            "/v1/events",
            {"data": b"{not json", "headers": {"Content-Type": "application/json"}},
        ),
        ("POST", "/v1/events", {"json": {"events": "nope"}}),
        ("POST", "/v1/events", {"json": {"events": [], "extra": 1}}),
        ("GET", "/v1/customers/c1/next-best-offer?k=99", {}),
        ("GET", "/v1/customers/c1/next-best-offer?domain=space", {}),
        ("POST", "/v1/customers/c1/feedback", {"json": {"offer_id": "x", "outcome": "loved"}}),
        ("POST", "/v1/models/fraud/promote", {"json": {"version": "latest"}}),
        ("GET", "/v1/pixel.gif?t=offer_feedback", {}),
    ]
    for method, path, kwargs in cases:
        answer = engage_app.request(method, path, ADMIN_TOKEN, **kwargs)
        assert 400 <= answer.status_code < 500, (method, path, answer.status_code, answer.text)


def test_feedback_is_recorded_against_the_customer(engage_app: App) -> None:
    customer = f"fb-{uuid.uuid4().hex[:8]}"
    answer = engage_app.request(
        "POST",
        f"/v1/customers/{customer}/feedback",
        WRITE_KEY,
        json={"offer_id": "electronics_10", "outcome": "clicked"},
    )
    assert answer.status_code == 200
    context = wait_context(engage_app, customer, lambda c: c["customer"]["offer_clicks"] >= 1)
    assert context["customer"]["offer_clicks"] == 1


def test_the_tracking_pixel_answers_a_gif_and_records_the_open(engage_app: App) -> None:
    customer = f"px-{uuid.uuid4().hex[:8]}"
    query = f"key={WRITE_KEY}&uid={customer}&t=offer_feedback&offer=doc_pack&outcome=shown"
    path = f"/v1/pixel.gif?{query}"
    answer = engage_app.get(path, key=None)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "image/gif"
    assert answer.content.startswith(b"GIF89a")
    assert answer.headers["cache-control"] == "no-store"
    context = wait_context(engage_app, customer, lambda c: c["customer"]["offers_shown"] >= 1)
    assert context["customer"]["offers_shown"] == 1


# ---- queries and admin -------------------------------------------------------------------


def test_next_best_offer_honours_consent_per_channel_set_through_the_preference_api(
    engage_app: App,
) -> None:
    customer = f"optout-{uuid.uuid4().hex[:8]}"
    identify = event("identify", customer=customer, consent_marketing=True, at=time.time())
    engage_app.request(
        "POST", "/v1/events", WRITE_KEY, json={"events": [identify.model_dump(mode="json")]}
    )
    wait_context(engage_app, customer, lambda c: c["known"])
    # A preference centre withdraws marketing everywhere but on the site itself.
    preferences = {"consent": {"*.marketing": False, "in_app.marketing": True}}
    changed = engage_app.request(
        "PUT", f"/v1/customers/{customer}/consent", WRITE_KEY, json=preferences
    )
    assert changed.status_code == 202
    wait_context(
        engage_app, customer, lambda c: c["customer"]["consent"].get("email.marketing") is False
    )
    email = engage_app.get(f"/v1/customers/{customer}/next-best-offer?channel=email").json()
    assert (email["offers"], email["suppressed"]) == (
        [],
        "customer opted out of marketing on email",
    )
    on_site = engage_app.get(f"/v1/customers/{customer}/next-best-offer?channel=in_app").json()
    assert len(on_site["offers"]) == 3
    read = engage_app.get(f"/v1/customers/{customer}/consent").json()
    assert read["consent"]["sms.marketing"] is False
    assert read["consent"]["in_app.marketing"] is True
    assert read["consent"]["sms.service"] is True  # never asked: the default


def test_model_admin_lists_promotes_and_shadows(engage_app: App) -> None:
    models = engage_app.get("/v1/models").json()
    assert {"fraud", "recommender"} <= set(models["registry"])
    champion = models["registry"]["fraud"]["aliases"]["champion"]
    answer = engage_app.request(
        "POST", "/v1/models/fraud/promote", ADMIN_TOKEN, json={"version": champion}
    )
    assert answer.json()["champion"] == champion
    answer = engage_app.request(
        "POST", "/v1/models/fraud/shadow", ADMIN_TOKEN, json={"version": champion}
    )
    assert answer.json()["challenger"] == champion
    answer = engage_app.request(
        "POST", "/v1/models/fraud/shadow", ADMIN_TOKEN, json={"version": None}
    )
    assert answer.json()["challenger"] is None
    missing = engage_app.request(
        "POST", "/v1/models/fraud/promote", ADMIN_TOKEN, json={"version": 999}
    )
    assert missing.status_code == 404


def test_introspection_shows_shards_ingest_and_lag(engage_app: App) -> None:
    customer = f"lag-{uuid.uuid4().hex[:8]}"
    engage_app.request("POST", "/v1/events", WRITE_KEY, json={"events": [valid_event(customer)]})
    wait_context(engage_app, customer, lambda c: c["known"])
    deadline = time.monotonic() + 30
    while True:
        ingest = engage_app.get("/v1/ingest").json()
        replica = ingest["replicas"][0]
        caught_up = replica["assignment"] and ingest["total_lag"] == 0
        if caught_up or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert replica["polls"] > 0
    assert replica["assignment"]
    assert set(replica["lag"]) == set(replica["assignment"])
    # The event is applied: the figures come to nothing behind the end of any partition.
    assert ingest["total_lag"] == sum(replica["lag"].values()) == 0


def test_metrics_in_prometheus_text(engage_app: App) -> None:
    answer = engage_app.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    text = answer.text
    for name in (
        "engage_events_in_total",
        "engage_events_processed_total",
        "engage_events_rejected_total",
        "engage_live_customers",
        'engage_turn_latency_ms_bucket{le="+Inf"}',
        "engage_scoring_latency_ms_count",
        "engage_action_dispatch_total",
    ):
        assert name in text, name
    served = [
        s.labels
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "engage_model_info"
    ]
    assert any(labels["model"] == "fraud" and labels["alias"] == "champion" for labels in served)


def test_cors_lets_configured_origins_in_and_no_others(engage_app: App) -> None:
    preflight = engage_app.request(
        "OPTIONS",
        "/v1/events",
        None,
        headers={"Origin": "https://shop.example", "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == "https://shop.example"
    other = engage_app.get("/healthz", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers
    allowed = engage_app.get("/healthz", headers={"Origin": "https://shop.example"})
    assert allowed.headers["access-control-allow-origin"] == "https://shop.example"


def test_no_stack_trace_in_any_answer(engage_app: App) -> None:
    answer = engage_app.request("POST", "/v1/batch", WRITE_KEY, json={"batch": [{"type": "merge"}]})
    assert answer.status_code == 400
    assert "Traceback" not in answer.text
    assert "not supported" in answer.json()["rejected"][0]["errors"][0]["message"]


# ---- keys by source ----------------------------------------------------------------------


def test_a_client_key_cannot_post_a_payment_and_is_told_which_rule(engage_app: App) -> None:
    customer = f"src-{uuid.uuid4().hex[:8]}"
    payment = event("card_payment", customer=customer, at=time.time()).model_dump(mode="json")
    answer = engage_app.request(
        "POST",
        "/v1/events",
        CLIENT_KEY,
        json={"events": [payment]},
        headers={"X-Forwarded-For": "198.51.100.7"},
    )
    assert answer.status_code == 403
    (error,) = answer.json()["rejected"][0]["errors"]
    assert error["field"] == "type"
    assert "client key cannot send card_payment" in error["message"]
    # the same payment from a server key is accepted
    answer = engage_app.request("POST", "/v1/events", WRITE_KEY, json={"events": [payment]})
    assert answer.status_code == 200


def test_a_client_key_sends_browsing_and_cannot_change_consent(engage_app: App) -> None:
    customer = f"src-{uuid.uuid4().hex[:8]}"
    opt_in = {"userId": customer, "traits": {"consent_marketing": True, "email": "x@y.example"}}
    headers = {"X-Forwarded-For": "198.51.100.8"}
    answer = engage_app.request("POST", "/v1/identify", CLIENT_KEY, json=opt_in, headers=headers)
    assert answer.status_code == 403  # every call refused for the key's kind
    assert answer.json()["code"] == "forbidden"
    assert "use a server key" in str(answer.json()["rejected"])
    view = valid_event(customer)
    answer = engage_app.request(
        "POST", "/v1/events", CLIENT_KEY, json={"events": [view]}, headers=headers
    )
    assert answer.status_code == 200


def test_client_keys_are_rate_limited_per_address_not_per_key(engage_app: App) -> None:
    def post(address: str) -> Any:
        return engage_app.request(
            "POST",
            "/v1/events",
            CLIENT_KEY,
            json={"events": [valid_event("src-flood")]},
            headers={"X-Forwarded-For": address},
        )

    # One visitor sends 40 requests at once: burst 20, then 5 per second.
    answers = [post("203.0.113.66") for _ in range(40)]
    limited = [a for a in answers if a.status_code == 429]
    assert limited, "the flooding address was limited"
    assert limited[0].json()["detail"].endswith("from this address for this key")
    assert "Retry-After" in limited[0].headers
    # Another visitor with the same key is not.
    assert post("203.0.113.67").status_code == 200


def test_the_timeline_says_what_each_turn_decided_and_engage_explain_prints_it(
    engage_app: App, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    customer = f"why-{uuid.uuid4().hex[:8]}"
    now = time.time()
    views = [valid_event(customer, event_id=f"{customer}-v{i}") for i in range(3)]
    for i, view in enumerate(views):
        view["timestamp"] = datetime.fromtimestamp(now + i, UTC).isoformat()
    answer = engage_app.request("POST", "/v1/events", WRITE_KEY, json={"events": views})
    assert answer.status_code == 200
    wait_context(engage_app, customer, lambda c: c["session"]["events"] >= 3)
    deadline = time.monotonic() + 20
    while True:  # the dispatcher notes the delivery a moment after the turn
        entries = engage_app.get(f"/v1/customers/{customer}/timeline").json()["turns"]
        notes = [e for e in entries if "delivery" in e]
        if notes or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    turns = [e for e in entries if "trigger" in e]
    assert [t["trigger_id"] for t in turns] == [f"{customer}-v{i}" for i in (2, 1, 0)]
    assert turns[2]["rules"]["browse_offer"] == "condition false"
    fired = turns[0]["rules"]["browse_offer"]
    assert fired.startswith("fired: offer ")
    assert turns[0]["models"]["recommender"]
    (note,) = notes
    assert (note["action_id"], note["delivery"]) == (fired.split()[-1], "delivered (kafka)")

    settings = engage_app.settings
    monkeypatch.setenv("ENGAGE_REDIS_URL", settings.redis.url or "")
    monkeypatch.setenv("ENGAGE_REDIS_PREFIX", settings.redis.prefix)
    monkeypatch.setenv("ENGAGE_ACTORS_SLOTS", str(settings.actors.slots))
    assert main(["explain", customer]) == 0
    printed = capsys.readouterr().out
    assert printed.index(f"({customer}-v0)") < printed.index(f"({customer}-v2)")
    assert "browse_offer: fired: offer" in printed
    assert "delivered (kafka)" in printed

    forgotten = engage_app.request("DELETE", f"/v1/customers/{customer}", key=ADMIN_TOKEN)
    assert forgotten.status_code == 200
    assert engage_app.get(f"/v1/customers/{customer}/timeline").json()["turns"] == []
