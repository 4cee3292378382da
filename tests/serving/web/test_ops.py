"""What operators read, without Ray: health, shards (a failed one reported, not fatal),
ingest lag summed, metrics in Prometheus text, the error envelope for unknown paths."""

from __future__ import annotations

from actors.rules.ruleset import parse_rules
from serving.series import sample_of
from tests.serving.web.conftest import READ, Fakes
from tests.support import metric


def test_health_needs_no_key(api: Fakes) -> None:
    assert api.request("GET", "/healthz").json() == {"status": "ok"}


def test_shards_report_the_failed_one_beside_the_others(api: Fakes) -> None:
    body = api.request("GET", "/v1/shards", READ).json()
    assert body["epoch"] == 3
    working, failed = body["shards"]
    assert "turn_ms" not in working
    assert "scoring_ms" in working
    assert failed == {"shard": 1, "error": "actor died"}


def test_ingest_lag_is_summed_over_replicas(api: Fakes) -> None:
    body = api.request("GET", "/v1/ingest", READ).json()
    assert body["total_lag"] == 7
    assert [r["replica"] for r in body["replicas"]] == ["a", "b"]


def test_metrics_are_prometheus_text_even_without_the_scorer(api: Fakes) -> None:
    api.scorer.down = True
    answer = api.request("GET", "/metrics", READ)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    assert "# HELP" in answer.text


def test_an_unknown_path_is_404_in_the_error_envelope(api: Fakes) -> None:
    answer = api.request("GET", "/v1/nowhere", READ)
    assert answer.status_code == 404
    assert answer.json()["error"] == "not_found"
    assert set(answer.json()) == {"error", "detail", "code", "message"}


def test_no_stack_trace_leaves_the_server(api: Fakes) -> None:
    api.shards.snapshots["c1"] = {"customer_id": "c1"}  # no vector: the route breaks
    answer = api.request("GET", "/v1/customers/c1/context", READ)
    assert answer.status_code == 500
    assert answer.json()["detail"] == "unexpected error; see the server log"


def test_the_series_returns_the_samples_of_the_window_asked(api: Fakes) -> None:
    import time

    figures = {
        "events_in": 10,
        "events_processed": 9,
        "events_rejected": 1,
        "consumer_lag": 0,
        "actions_by_type": {"email": 2},
        "shards": [{"shard": 0, "events": 9}, {"shard": 1, "events": 0, "error": "down"}],
        "turn_ms": {"buckets": [1.0], "counts": [3, 0], "sum": 1.5, "count": 3},
    }
    api.series.samples.append(sample_of(time.time() - 3600, figures))  # outside the window
    api.series.samples.append(sample_of(time.time() - 30, figures))
    body = api.request("GET", "/v1/dashboard/series?minutes=15", READ).json()
    assert body["every_s"] == 5.0
    (sample,) = body["samples"]
    assert sample["events_processed"] == 9
    assert sample["shard_events"] == {"0": 9}  # a failed shard has no figure, not a zero


def test_the_series_while_redis_is_out_is_a_503(api: Fakes) -> None:
    api.series.down = True
    answer = api.request("GET", "/v1/dashboard/series", READ)
    assert answer.status_code == 503
    assert answer.json()["error"] == "store_unavailable"


def test_the_charting_library_is_served_from_here_and_nothing_else_is(api: Fakes) -> None:
    script = api.request("GET", "/static/uPlot.iife.min.js")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    assert "uPlot" in script.text
    assert api.request("GET", "/static/dashboard.html").status_code == 404
    assert api.request("GET", "/static/..%2Fapi.py").status_code in (404, 422)


def test_metrics_give_each_models_score_drift(api: Fakes) -> None:
    steady = [300, 200, 100, 50, 30, 20, 10, 5, 3, 2, 0]
    moved = [
        a + b for a, b in zip(steady, [2, 3, 5, 10, 20, 30, 50, 100, 200, 300, 0], strict=True)
    ]
    for age, counts in ((25 * 3600.0, [0] * 11), (3600.0, steady), (0.0, moved)):
        api.series.samples.append({"t": 1_000_000.0 - age, "scores": {"fraud": counts}})
    text = api.request("GET", "/metrics", READ).text
    psi = metric(text, "engage_model_score_psi", model="fraud")
    assert psi is not None
    assert psi > 0.2


def test_metrics_answer_without_drift_while_redis_is_out(api: Fakes) -> None:
    api.series.down = True
    answer = api.request("GET", "/metrics", READ)
    assert answer.status_code == 200
    assert "engage_model_score_psi{" not in answer.text


def test_metrics_and_the_dashboard_count_the_members_of_each_segment(api: Fakes) -> None:
    backends = api.client.app.state.served.backends  # type: ignore[attr-defined]
    backends.ruleset = lambda: parse_rules(
        'version: 1\nsegments: {buyers: "customer.orders >= 1", vip: "customer.spend > 900"}\n'
    )
    api.figures.members = {"buyers": 42}
    text = api.request("GET", "/metrics", READ).text
    assert metric(text, "engage_segment_members", segment="buyers") == 42
    assert metric(text, "engage_segment_members", segment="vip") == 0
    dashboard = api.request("GET", "/v1/dashboard/data", READ).json()
    assert dashboard["segments"] == {"buyers": 42, "vip": 0}


def test_segment_counts_are_left_out_not_zero_while_redis_is_out(api: Fakes) -> None:
    backends = api.client.app.state.served.backends  # type: ignore[attr-defined]
    backends.ruleset = lambda: parse_rules(
        'version: 1\nsegments: {buyers: "customer.orders > 0"}\n'
    )
    api.figures.down = True
    answer = api.request("GET", "/metrics", READ)
    assert answer.status_code == 200
    assert "engage_segment_members{" not in answer.text


def test_metrics_and_the_dashboard_count_each_journeys_runs_and_steps(api: Fakes) -> None:
    backends = api.client.app.state.served.backends  # type: ignore[attr-defined]
    backends.ruleset = lambda: parse_rules(
        "version: 1\njourneys:\n"
        "  - {id: cart, entry: {events: [cart_add]}, exit_on: [purchase],\n"
        "     steps: [{id: settle, wait: 30m}, {id: done, exit: true}]}\n"
    )
    api.figures.counters_seen = {
        "journey|cart|run|started": 5,
        "journey|cart|run|exit_event": 2,
        "journey|cart|step|settle": 5,
    }
    text = api.request("GET", "/metrics", READ).text
    runs = "engage_journey_runs_total"
    assert metric(text, runs, journey="cart", outcome="started") == 5
    assert metric(text, runs, journey="cart", outcome="exit_event") == 2
    assert metric(text, "engage_journey_active", journey="cart") == 3
    assert metric(text, "engage_journey_steps_total", journey="cart", step="settle") == 5
    assert metric(text, "engage_journey_steps_total", journey="cart", step="done") == 0
    dashboard = api.request("GET", "/v1/dashboard/data", READ).json()
    assert dashboard["journeys"]["cart"]["active"] == 3
