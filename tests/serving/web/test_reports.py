"""The outcomes report over HTTP, without Ray: counters grouped as asked."""

from __future__ import annotations

from typing import Any

from tests.serving.web.conftest import CLIENT, READ, WRITE, Fakes
from tests.support import metric


def test_outcomes_are_grouped_by_what_is_asked(api: Fakes) -> None:
    body = api.request("GET", "/v1/reports/outcomes?by=offer", READ).json()
    assert body["by"] == "offer"
    assert body["rows"] == []


def test_an_unknown_grouping_is_422_naming_the_parameter(api: Fakes) -> None:
    answer = api.request("GET", "/v1/reports/outcomes?by=weather", READ)
    assert answer.status_code == 422
    assert answer.json()["fields"][0]["field"] == "query.by"


def test_outcomes_need_a_read_key(api: Fakes) -> None:
    assert api.request("GET", "/v1/reports/outcomes", WRITE).status_code == 403


def test_a_refused_segment_call_is_counted_by_field_and_sampled_where_a_site_owner_looks(
    api: Fakes,
) -> None:
    # An SDK reads only the batch's status (200 here): the refusal must show elsewhere.
    calls = [
        {"type": "track", "userId": "u1", "event": "Products Searched", "properties": {}},
        {
            "type": "track",
            "userId": "u2",
            "event": "Order Completed",
            "properties": {"products": 5},
        },
    ]
    assert api.request("POST", "/v1/batch", WRITE, json={"batch": calls}).status_code == 200
    api.request("POST", "/v1/events", WRITE, json={"events": [{"type": "nope"}]})
    report = api.request("GET", "/v1/reports/collect", READ).json()
    assert report["total"] == 2
    assert {(r["source"], r["field"]) for r in report["by_field"]} == {
        ("segment", "properties.products"),
        ("events", "<event>"),
    }
    latest, first = report["samples"]
    assert first["source"] == "segment"
    assert '"products": 5' in first["payload"]
    assert latest["source"] == "events"
    metrics = api.request("GET", "/metrics", READ).text
    refused = "engage_collect_refused_total"
    assert metric(metrics, refused, source="segment", field="properties.products") == 1
    dashboard = api.request("GET", "/v1/dashboard/data", READ).json()
    assert dashboard["collect_refused"][0]["count"] == 1


def test_the_refusal_report_needs_a_read_key(api: Fakes) -> None:
    assert api.request("GET", "/v1/reports/collect", CLIENT).status_code == 403


class UnreachableRefusals:
    """A refusal store whose Redis is out of reach."""

    def read(self) -> dict[str, object]:
        from redis.exceptions import ConnectionError as RedisConnectionError

        raise RedisConnectionError("connection refused")


def test_the_refusal_report_is_a_503_while_redis_is_out_of_reach_and_metrics_still_answer(
    api: Fakes,
) -> None:
    app: Any = api.client.app
    app.state.served.backends.refusal_store = UnreachableRefusals()
    answer = api.request("GET", "/v1/reports/collect", READ)
    assert answer.status_code == 503
    assert answer.json()["error"] == "store_unavailable"
    metrics = api.request("GET", "/metrics", READ)
    assert metrics.status_code == 200
    assert "engage_collect_refused_total" in metrics.text
