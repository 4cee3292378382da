"""Collection over HTTP, without Ray: each event or call judged on its own, the valid ones
handed to the broker, refusals naming the field, a broker outage a 503 that loses nothing
silently."""

from __future__ import annotations

import gzip
import json
import time
from typing import Any

from serving.user_signature import mint
from tests.serving.web.conftest import CLIENT, READ, SIGNING_SECRET, WRITE, Fakes
from tests.support import event


def valid(customer: str = "c1", **extra: Any) -> dict[str, Any]:
    return event("product_view", customer=customer, at=time.time(), **extra).model_dump(mode="json")


def test_valid_events_reach_the_broker_and_invalid_ones_are_named(api: Fakes) -> None:
    broken = {**valid("c2"), "price": "free"}
    answer = api.request("POST", "/v1/events", WRITE, json={"events": [valid("c1"), broken]})
    assert answer.status_code == 200
    body = answer.json()
    assert body["accepted"] == 1
    (refused,) = body["rejected"]
    assert refused["index"] == 1
    assert refused["errors"][0]["field"] == "price"
    assert [e.actor_id for e in api.publisher.published] == ["c1"]


def test_a_request_with_no_valid_event_is_422_and_publishes_nothing(api: Fakes) -> None:
    answer = api.request("POST", "/v1/events", WRITE, json={"events": [{"type": "nope"}]})
    assert answer.status_code == 422
    assert answer.json()["accepted"] == 0
    assert api.publisher.published == []


def test_an_event_time_far_in_the_future_is_refused_as_ingest_would(api: Fakes) -> None:
    ahead = {**valid(), "timestamp": "2999-01-01T00:00:00+00:00"}
    answer = api.request("POST", "/v1/events", WRITE, json={"events": [ahead]})
    assert answer.status_code == 422
    assert answer.json()["rejected"][0]["errors"][0]["field"] == "timestamp"
    assert api.publisher.published == []


def test_a_broker_outage_is_a_503_that_names_it(api: Fakes) -> None:
    api.publisher.down = "no broker answered within 10 s"
    answer = api.request("POST", "/v1/events", WRITE, json={"events": [valid()]})
    assert answer.status_code == 503
    assert answer.json()["error"] == "broker_unavailable"
    assert "no broker answered" in answer.json()["detail"]


def test_more_events_than_allowed_per_request_is_413(api: Fakes) -> None:
    answer = api.request("POST", "/v1/events", WRITE, json={"events": [valid()] * 501})
    assert answer.status_code == 413
    assert api.publisher.published == []


def test_a_read_key_cannot_send_events(api: Fakes) -> None:
    answer = api.request("POST", "/v1/events", READ, json={"events": [valid()]})
    assert answer.status_code == 403
    assert api.publisher.published == []


def test_a_client_key_may_not_send_what_only_servers_may(api: Fakes) -> None:
    payment = event("card_payment", customer="c1", at=time.time()).model_dump(mode="json")
    answer = api.request("POST", "/v1/events", CLIENT, json={"events": [payment]})
    assert answer.status_code == 403
    assert api.publisher.published == []


def test_a_client_keys_events_are_kept_as_a_clients_whatever_the_body_says(
    api: Fakes,
) -> None:
    # A page may not pass its events off as a server's: their ids are deduplicated apart
    # (actors.model.dedup), so a reused id cannot hide a server's event.
    body = {**valid("c1"), "event_id": "pay-77"}
    body.pop("source", None)
    answer = api.request("POST", "/v1/events", CLIENT, json={"events": [body]})
    assert answer.status_code == 200
    assert [e.source for e in api.publisher.published] == ["client"]
    api.request("POST", "/v1/events", WRITE, json={"events": [valid("c2")]})
    assert api.publisher.published[-1].source is None


def test_a_segment_batch_accepts_the_good_calls_beside_a_malformed_one(api: Fakes) -> None:
    calls = [
        {"type": "track", "userId": "u1", "event": "Products Searched", "properties": {}},
        {
            "type": "track",
            "userId": "u2",
            "event": "Order Completed",
            "properties": {"products": 5},
        },
    ]
    answer = api.request("POST", "/v1/batch", WRITE, json={"batch": calls})
    assert answer.status_code == 200
    body = answer.json()
    assert body["success"] is True
    assert body["accepted"] == 1
    assert body["rejected"][0]["index"] == 1
    assert [e.actor_id for e in api.publisher.published] == ["u1"]


def test_a_segment_batch_with_nothing_valid_is_400_with_code_and_message(api: Fakes) -> None:
    calls = [{"type": "track", "event": "Signed Up"}]  # neither userId nor anonymousId
    answer = api.request("POST", "/v1/batch", WRITE, json={"batch": calls})
    assert answer.status_code == 400
    body = answer.json()
    assert body["success"] is False
    assert body["code"] == "invalid_request"
    assert body["message"].startswith("no call accepted; call 0:")


def test_the_browser_path_takes_the_write_key_from_a_gzipped_text_body(api: Fakes) -> None:
    call = {"writeKey": WRITE, "anonymousId": "v1", "event": "Support Chat Opened"}
    answer = api.client.post(
        "/v1/t",
        content=gzip.compress(json.dumps(call).encode()),
        headers={"Content-Type": "text/plain", "Content-Encoding": "gzip"},
    )
    assert answer.status_code == 200, answer.text
    (published,) = api.publisher.published
    assert published.actor_id == "anon:v1"


def test_the_browser_path_without_any_key_is_401(api: Fakes) -> None:
    answer = api.client.post("/v1/t", content=json.dumps({"anonymousId": "v1", "event": "x"}))
    assert answer.status_code == 401
    assert api.publisher.published == []


def test_the_pixel_records_an_open_and_answers_a_gif(api: Fakes) -> None:
    answer = api.request(
        "GET", "/v1/pixel.gif?uid=c1&t=offer_feedback&offer=o1&outcome=shown", CLIENT
    )
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "image/gif"
    (published,) = api.publisher.published
    assert published.type == "offer_feedback"


def test_feedback_for_an_anonymous_visitor_keeps_the_anonymous_id(api: Fakes) -> None:
    answer = api.request(
        "POST",
        "/v1/customers/anon:v9/feedback",
        WRITE,
        json={"offer_id": "o1", "outcome": "clicked"},
    )
    assert answer.status_code == 200
    (published,) = api.publisher.published
    assert published.actor_id == "anon:v9"
    assert answer.json()["event_ids"] == [published.event_id]


def test_fraud_outcomes_come_from_servers_only(api: Fakes) -> None:
    report = event("fraud_report", customer="c1", at=time.time()).model_dump(mode="json")
    refused = api.request("POST", "/v1/events", CLIENT, json={"events": [report]})
    assert refused.status_code == 403
    assert "use a server key" in refused.json()["rejected"][0]["errors"][0]["message"]
    accepted = api.request("POST", "/v1/events", WRITE, json={"events": [report]})
    assert accepted.status_code == 200
    (published,) = api.publisher.published
    assert published.type == "fraud_report"


def test_json_nested_too_deep_is_a_400_on_every_collection_path(api: Fakes) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    browser = f'{{"writeKey": "{CLIENT}", "batch": {deep}}}'
    cases = [
        ("/v1/b", None, browser, "text/plain"),
        ("/v1/p", None, browser, "text/plain"),
        ("/beacon/v1/batch", None, browser, "text/plain"),
        ("/v1/events", WRITE, f'{{"events": {deep}}}', "application/json"),
        ("/v1/batch", WRITE, f'{{"batch": {deep}}}', "application/json"),
    ]
    for path, key, body, kind in cases:
        answer = api.request("POST", path, key, content=body, headers={"content-type": kind})
        assert answer.status_code == 400, (path, answer.text[:200])
    assert api.publisher.published == []


# ---- crawlers kept out, addresses cut (serving.screening) ----------------------------

GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


def bots_counted(api: Fakes) -> dict[str, int]:
    counted: dict[str, int] = api.request("GET", "/v1/reports/collect", READ).json()["bots"]
    return counted


def test_a_crawler_s_events_are_answered_and_counted_but_never_published(api: Fakes) -> None:
    headers = {"User-Agent": GOOGLEBOT}
    answer = api.request(
        "POST", "/v1/events", CLIENT, json={"events": [valid(), valid()]}, headers=headers
    )
    assert answer.status_code == 200
    assert answer.json() == {"accepted": 0, "rejected": [], "kept_out": 2}
    assert api.publisher.published == []
    assert bots_counted(api) == {"events": 2}
    report = api.request("GET", "/v1/reports/collect", READ).json()
    assert report["total"] == 0  # not refusals: the site did nothing wrong
    assert report["samples"] == []


def test_an_event_s_own_agent_is_judged_whatever_key_sends_it(api: Fakes) -> None:
    crawled = valid("c1", context={"user_agent": GOOGLEBOT})
    answer = api.request("POST", "/v1/events", WRITE, json={"events": [crawled, valid("c2")]})
    assert answer.json()["kept_out"] == 1
    assert [e.actor_id for e in api.publisher.published] == ["c2"]


def test_a_server_s_http_library_is_not_taken_for_a_crawler(api: Fakes) -> None:
    headers = {"User-Agent": "python-requests/2.34.2"}
    answer = api.request("POST", "/v1/events", WRITE, json={"events": [valid()]}, headers=headers)
    assert answer.json()["accepted"] == 1


def test_a_headless_browser_s_segment_calls_succeed_and_are_kept_out(api: Fakes) -> None:
    headless = "Mozilla/5.0 (X11; Linux x86_64) HeadlessChrome/131.0.0.0 Safari/537.36"
    call = {"type": "page", "anonymousId": "v1", "name": "Home", "messageId": "m1"}
    answer = api.request(
        "POST", "/v1/batch", CLIENT, json={"batch": [call]}, headers={"User-Agent": headless}
    )
    assert answer.status_code == 200
    assert answer.json()["success"] is True
    assert api.publisher.published == []
    assert bots_counted(api) == {"segment": 1}


def test_a_link_scanner_s_pixel_gets_its_gif_and_records_nothing(api: Fakes) -> None:
    answer = api.request(
        "GET", f"/v1/pixel.gif?key={CLIENT}&uid=c1", headers={"User-Agent": GOOGLEBOT}
    )
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "image/gif"
    assert api.publisher.published == []
    assert bots_counted(api) == {"pixel": 1}


def test_addresses_reach_the_broker_cut_to_their_network(api: Fakes) -> None:
    sent = valid("c1", context={"ip": "203.0.113.77"})
    api.request("POST", "/v1/events", WRITE, json={"events": [sent]})
    (published,) = api.publisher.published
    assert published.context is not None
    assert published.context.ip == "203.0.113.0"


# ---- signed visitors (serving.user_signature) ----------------------------------------


def signed(customer: str) -> dict[str, str]:
    return {"X-Engage-User-Signature": mint(SIGNING_SECRET, customer, 3600, time.time())}


def test_a_client_key_cannot_act_for_a_customer_without_their_signature(
    signed_api: Fakes,
) -> None:
    """Not the cart, not a link to a visitor of its own: each refused, naming why."""
    link = event("alias", customer="c1", anonymous_id="v1", at=time.time())
    answer = signed_api.request(
        "POST", "/v1/events", CLIENT, json={"events": [valid("c1"), link.model_dump(mode="json")]}
    )
    assert answer.status_code == 403
    reasons = [r["errors"][0] for r in answer.json()["rejected"]]
    assert {r["field"] for r in reasons} == {"customer_id"}
    assert "only with their signature" in reasons[0]["message"]
    assert signed_api.publisher.published == []


def test_a_signed_in_visitor_s_calls_are_taken_for_that_customer_only(
    signed_api: Fakes,
) -> None:
    answer = signed_api.request(
        "POST",
        "/v1/events",
        CLIENT,
        json={"events": [valid("c1"), valid("c2")]},
        headers=signed("c1"),
    )
    assert answer.status_code == 200
    assert answer.json()["accepted"] == 1
    assert "another customer" in answer.json()["rejected"][0]["errors"][0]["message"]
    assert [e.actor_id for e in signed_api.publisher.published] == ["c1"]


def test_visitors_and_server_keys_need_no_signature(signed_api: Fakes) -> None:
    visitor = {**valid("c1"), "customer_id": None, "anonymous_id": "v9"}
    assert (
        signed_api.request("POST", "/v1/events", CLIENT, json={"events": [visitor]}).json()[
            "accepted"
        ]
        == 1
    )
    assert (
        signed_api.request("POST", "/v1/events", WRITE, json={"events": [valid("c1")]}).json()[
            "accepted"
        ]
        == 1
    )


def test_a_segment_call_may_carry_its_signature_in_its_context(signed_api: Fakes) -> None:
    token = mint(SIGNING_SECRET, "u1", 3600, time.time())
    calls = [
        {
            "type": "identify",
            "userId": "u1",
            "anonymousId": "v1",
            "messageId": "m1",
            "context": {"userSignature": token},
        },
        {"type": "identify", "userId": "u2", "anonymousId": "v2", "messageId": "m2"},
    ]
    answer = signed_api.request("POST", "/v1/batch", CLIENT, json={"batch": calls})
    assert answer.json()["accepted"] == 1
    assert [e.actor_id for e in signed_api.publisher.published] == ["u1"]
    assert "userSignature" not in str(signed_api.publisher.published[0].model_dump())


def test_feedback_and_the_pixel_for_a_customer_need_the_signature(signed_api: Fakes) -> None:
    feedback = {"offer_id": "o1", "outcome": "clicked"}
    path = "/v1/customers/c1/feedback"
    assert signed_api.request("POST", path, CLIENT, json=feedback).status_code == 403
    assert (
        signed_api.request("POST", path, CLIENT, json=feedback, headers=signed("c1")).json()[
            "accepted"
        ]
        == 1
    )
    pixel = f"/v1/pixel.gif?key={CLIENT}&uid=c1"
    assert signed_api.request("GET", pixel).status_code == 403
    sig = mint(SIGNING_SECRET, "c1", 3600, time.time())
    assert signed_api.request("GET", f"{pixel}&sig={sig}").status_code == 200
    assert signed_api.request("GET", f"/v1/pixel.gif?key={CLIENT}&aid=v1").status_code == 200


def test_without_signing_secrets_a_client_key_may_name_any_customer(api: Fakes) -> None:
    """The default (docs/collect.md says what it allows)."""
    answer = api.request("POST", "/v1/events", CLIENT, json={"events": [valid("c1")]})
    assert answer.json()["accepted"] == 1
