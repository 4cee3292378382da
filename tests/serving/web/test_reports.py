"""The outcomes report over HTTP, without Ray: counters grouped as asked."""

from __future__ import annotations

from tests.serving.web.conftest import READ, WRITE, Fakes


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
