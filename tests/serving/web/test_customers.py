"""One customer's answers, without Ray: offers from the saved state, consent honoured on
outbound channels, the context and timeline from the backends, outages as named 503s."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from actors.config import ActorConfig
from actors.errors import StoreUnavailableError
from actors.model.action_record import ActionRecord
from actors.model.catalog import OFFERS
from actors.model.events import Decision
from actors.model.features import CUSTOMER_FEATURES
from actors.model.state import CustomerState
from actors.model.state_format import state_to_json
from actors.outcomes.attribution import in_global_control, in_holdout
from actors.rules.ruleset import parse_rules
from actors.storage.memory_store import MemoryStateStore
from actors.storage.slots import slot_of
from actors.storage.store import Loaded
from tests.serving.web.conftest import READ, WRITE, Fakes

SLOTS = ActorConfig().slots  # as the fixture's backends


def save(api: Fakes, customer_id: str, state: CustomerState) -> None:
    api.states.states[(slot_of(customer_id, SLOTS), customer_id)] = (1, state_to_json(state))


def test_next_best_offer_ranks_by_the_models_score(api: Fakes) -> None:
    answer = api.request("GET", "/v1/customers/c1/next-best-offer?k=2", READ)
    assert answer.status_code == 200
    body = answer.json()
    assert body["known"] is False
    assert body["cold_start"] is True
    assert body["offers"][0]["offer_id"] == OFFERS[0].offer_id
    assert len(body["offers"]) == 2
    assert body["model"] == {"name": "recommender", "version": "4"}
    assert "score;dur=" in answer.headers["Server-Timing"]


def test_no_outbound_offer_for_a_customer_who_opted_out(api: Fakes) -> None:
    state = CustomerState()
    state.events_total = 3
    state.consent = {"email.marketing": False}
    save(api, "c1", state)
    answer = api.request("GET", "/v1/customers/c1/next-best-offer?channel=email", READ)
    assert answer.status_code == 200
    body = answer.json()
    assert body["known"] is True
    assert body["offers"] == []
    assert body["suppressed"] == "customer opted out of marketing on email"
    # Another channel's consent stands.
    push = api.request("GET", "/v1/customers/c1/next-best-offer?channel=push", READ).json()
    assert (push["suppressed"], len(push["offers"])) == (None, 3)


def test_a_fraud_alerts_window_is_judged_at_the_request_not_at_the_last_event(
    api: Fakes,
) -> None:
    """Suppressed for the policy's window (a day) after the alert, then offered again
    with no new event of the customer."""
    state = CustomerState()
    state.events_total = 3
    state.fraud_alert_at = state.last_event_at = time.time() - 2 * 86_400
    save(api, "c1", state)
    body = api.request("GET", "/v1/customers/c1/next-best-offer?channel=email", READ).json()
    assert body["suppressed"] is None
    assert body["offers"]
    state.fraud_alert_at = state.last_event_at = time.time() - 3600
    save(api, "c1", state)
    body = api.request("GET", "/v1/customers/c1/next-best-offer?channel=email", READ).json()
    assert body["suppressed"] == "fraud alert within the suppression window"
    assert body["offers"] == []


def policy_of(api: Fakes, text: str) -> None:
    backends = api.client.app.state.served.backends  # type: ignore[attr-defined]
    backends.ruleset = lambda: parse_rules(f"version: 1\npolicy: {text}\n")


def first(wanted: bool, test: Callable[[str], bool]) -> str:
    return next(c for c in (f"c{n}" for n in range(1000)) if test(c) is wanted)


def test_the_global_control_group_gets_no_offer_on_any_channel(api: Fakes) -> None:
    policy_of(api, "{global_control: 0.5}")
    inside = first(True, lambda c: in_global_control(c, 0.5))
    outside = first(False, lambda c: in_global_control(c, 0.5))
    for channel in ("", "?channel=in_app", "?channel=email"):
        held = api.request("GET", f"/v1/customers/{inside}/next-best-offer{channel}", READ)
        assert (held.json()["offers"], held.json()["control"]) == ([], "global_control")
    answer = api.request("GET", f"/v1/customers/{outside}/next-best-offer", READ).json()
    assert answer["offers"]
    assert answer["control"] is None


def test_a_campaigns_holdout_gets_the_control_answer_for_that_campaign_only(
    api: Fakes,
) -> None:
    policy_of(api, "{holdout: {spring: 0.5}}")
    held = first(True, lambda c: in_holdout(c, "spring", 0.5))
    body = api.request("GET", f"/v1/customers/{held}/next-best-offer?campaign=spring", READ)
    assert (body.json()["offers"], body.json()["control"]) == ([], "holdout")
    other = api.request("GET", f"/v1/customers/{held}/next-best-offer?campaign=autumn", READ)
    assert other.json()["offers"]
    assert other.json()["control"] is None


def test_a_channel_whose_cap_the_customer_reached_today_gets_no_offer(api: Fakes) -> None:
    policy_of(api, "{channel_caps: {email: {day: 1}}}")
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    api.states.guards[(slot_of("c1", SLOTS), "c1")] = {f"cap|channel|email|d|{today}": "1"}
    email = api.request("GET", "/v1/customers/c1/next-best-offer?channel=email", READ).json()
    assert (email["offers"], email["suppressed"]) == ([], "frequency cap: channel email 1/day")
    push = api.request("GET", "/v1/customers/c1/next-best-offer?channel=push", READ).json()
    assert push["offers"]
    assert push["suppressed"] is None


def test_with_the_cap_counters_out_of_reach_an_outbound_answer_is_held(api: Fakes) -> None:
    policy_of(api, "{channel_caps: {email: {day: 1}}}")
    backends = api.client.app.state.served.backends  # type: ignore[attr-defined]
    backends.guards = UnreachableGuards()
    email = api.request("GET", "/v1/customers/c1/next-best-offer?channel=email", READ).json()
    assert email["offers"] == []
    assert email["suppressed"].startswith("frequency caps unknown")


class UnreachableGuards:
    async def facts(self, customers: Sequence[tuple[int, str]]) -> list[dict[str, str]]:
        raise StoreUnavailableError("guardrails", "Connection refused")


def test_an_offer_made_within_the_no_repeat_window_is_not_made_again(api: Fakes) -> None:
    policy_of(api, "{no_repeat_within: 3d}")
    first = api.request("GET", "/v1/customers/c1/next-best-offer?k=1", READ).json()
    best = first["offers"][0]["offer_id"]
    state = CustomerState()
    state.events_total = 1
    made = time.time() - 86_400
    state.recent_actions = [ActionRecord("a1", best, "r", "c", "1", made, False)]
    save(api, "c1", state)
    again = api.request("GET", "/v1/customers/c1/next-best-offer?k=50", READ).json()
    assert best not in {o["offer_id"] for o in again["offers"]}
    policy_of(api, "{no_repeat_within: 12h}")
    later = api.request("GET", "/v1/customers/c1/next-best-offer?k=50", READ).json()
    assert best in {o["offer_id"] for o in later["offers"]}


def test_a_scorer_outage_is_a_503_for_offers(api: Fakes) -> None:
    api.recommender.down = True
    answer = api.request("GET", "/v1/customers/c1/next-best-offer", READ)
    assert answer.status_code == 503
    assert answer.json()["error"] == "scorer_unavailable"


def test_a_write_key_cannot_read_offers(api: Fakes) -> None:
    assert api.request("GET", "/v1/customers/c1/next-best-offer", WRITE).status_code == 403


def test_an_id_that_is_not_a_customer_id_is_422_naming_the_path(api: Fakes) -> None:
    answer = api.request("GET", "/v1/customers/bad%20id/next-best-offer", READ)
    assert answer.status_code == 422
    assert answer.json()["fields"][0]["field"] == "path.customer_id"


def test_the_context_is_the_shards_snapshot_with_live_scores(api: Fakes) -> None:
    api.shards.snapshots["c1"] = {
        "customer_id": "c1",
        "vector": [0.0] * len(CUSTOMER_FEATURES),
        "events_total": 2,
    }
    body = api.request("GET", "/v1/customers/c1/context", READ).json()
    assert body["events_total"] == 2
    assert "vector" not in body
    assert body["scores"]["best_offer"] == OFFERS[0].offer_id


def test_the_context_without_a_scorer_still_answers_without_scores(api: Fakes) -> None:
    api.shards.snapshots["c1"] = {"customer_id": "c1", "vector": [0.0] * len(CUSTOMER_FEATURES)}
    api.recommender.down = True
    answer = api.request("GET", "/v1/customers/c1/context", READ)
    assert answer.status_code == 200
    assert answer.json()["scores"] is None


def test_a_shard_outage_is_a_503_for_the_context(api: Fakes) -> None:
    api.shards.down = True
    answer = api.request("GET", "/v1/customers/c1/context", READ)
    assert answer.status_code == 503
    assert answer.json()["error"] == "shard_unavailable"


def test_the_timeline_lists_traces_newest_first_up_to_the_limit(api: Fakes) -> None:
    traces = [
        {"at": 2.0, "trigger": "cart_add", "trigger_id": "e2", "rules": {"r1": "fired"}},
        {"at": 1.0, "action_id": "a1", "delivery": "delivered"},
    ]
    api.states.traces[(slot_of("c1", SLOTS), "c1")] = [json.dumps(t).encode() for t in traces]
    body = api.request("GET", "/v1/customers/c1/timeline?limit=1", READ).json()
    assert body["customer_id"] == "c1"
    assert [t.get("trigger_id") for t in body["turns"]] == ["e2"]


class UnreachableStore(MemoryStateStore):
    async def load_many(self, items: Sequence[tuple[int, str]]) -> list[Loaded]:
        raise StoreUnavailableError("load", "Connection refused")

    async def trace_of(self, slot: int, customer_id: str, limit: int) -> list[bytes]:
        raise StoreUnavailableError("trace", "Connection refused")


def test_offers_come_from_the_shard_while_the_store_is_out_of_reach(api: Fakes) -> None:
    backends = api.client.app.state.served.backends  # type: ignore[attr-defined]
    backends.states = UnreachableStore()
    api.shards.snapshots["c1"] = {
        "known": True,
        "vector": [0.0] * len(CUSTOMER_FEATURES),
        "blocked": {},
        "top_affinity": "electronics",
    }
    body = api.request("GET", "/v1/customers/c1/next-best-offer", READ).json()
    assert body["known"] is True  # the shard's answer, not a cold start
    assert body["top_affinity"] == "electronics"


def test_the_timeline_while_the_store_is_out_of_reach_is_a_503(api: Fakes) -> None:
    backends = api.client.app.state.served.backends  # type: ignore[attr-defined]
    backends.states = UnreachableStore()
    answer = api.request("GET", "/v1/customers/c1/timeline", READ)
    assert answer.status_code == 503
    assert answer.json()["error"] == "store_unavailable"


def test_each_answer_has_a_decision_id_and_goes_into_the_customer_s_stream(api: Fakes) -> None:
    answer = api.request("GET", "/v1/customers/c1/next-best-offer?k=2&channel=push", READ)
    body = answer.json()
    assert body["decision_id"].startswith("dec_")
    assert body["logged"] is True
    assert body["explored"] is False
    assert body["offers"][0]["propensity"] == 1.0
    assert body["offers"][1]["propensity"] is None
    assert "log;dur=" in answer.headers["Server-Timing"]
    (published,) = api.publisher.published
    assert isinstance(published, Decision)
    assert (published.event_id, published.customer_id) == (body["decision_id"], "c1")
    record = published.decision
    assert record.chosen == [o["offer_id"] for o in body["offers"]]
    assert (record.source, record.channel, record.model_version) == (
        "next_best_offer",
        "push",
        "4",
    )
    assert len(record.candidates) == len(OFFERS)  # every eligible offer, for estimates
    assert record.features  # what the model saw
    again = api.request("GET", "/v1/customers/c1/next-best-offer?k=2", READ).json()
    assert again["decision_id"] != body["decision_id"]


def test_a_visitor_s_answer_goes_into_the_visitor_s_stream(api: Fakes) -> None:
    api.request("GET", "/v1/customers/anon:v9/next-best-offer", READ)
    (published,) = api.publisher.published
    assert (published.customer_id, published.anonymous_id) == (None, "v9")


def test_a_control_customer_s_decision_is_logged_with_what_it_would_have_shown(
    api: Fakes,
) -> None:
    policy_of(api, "{global_control: 0.5}")
    inside = first(True, lambda c: in_global_control(c, 0.5))
    body = api.request("GET", f"/v1/customers/{inside}/next-best-offer", READ).json()
    assert body["offers"] == []
    (published,) = api.publisher.published
    assert isinstance(published, Decision)
    assert published.decision.control == "global_control"
    assert len(published.decision.chosen) == 3  # the control arm's would-be offers


def test_with_the_broker_down_the_answer_goes_out_and_says_it_was_not_logged(
    api: Fakes,
) -> None:
    api.publisher.down = "broker unreachable"
    body = api.request("GET", "/v1/customers/c1/next-best-offer", READ).json()
    assert body["offers"]
    assert body["logged"] is False
    # Counted and kept, where refused collection calls are.
    refused = api.request("GET", "/v1/reports/collect", READ).json()
    assert refused["by_field"] == [
        {"source": "next_best_offer", "field": "decision_log", "count": 1}
    ]
    assert body["decision_id"] in refused["samples"][0]["payload"]


def test_exploration_draws_a_first_offer_with_its_propensity(api: Fakes) -> None:
    policy_of(api, "{exploration: {share: 0.9}}")
    bodies = [
        api.request("GET", f"/v1/customers/c{i}/next-best-offer?k=1", READ).json()
        for i in range(40)
    ]
    explored = [b for b in bodies if b["explored"]]
    assert explored
    for body in explored:
        (offer,) = body["offers"]
        assert offer["offer_id"] != OFFERS[0].offer_id
        assert abs(offer["propensity"] - 0.9 / len(OFFERS)) < 1e-9
    policy_of(api, "{exploration: {share: 0.9, channels: {email: 0}}}")
    email = [
        api.request("GET", f"/v1/customers/c{i}/next-best-offer?channel=email", READ).json()
        for i in range(20)
    ]
    assert not any(b["explored"] for b in email)


def test_no_source_may_send_a_decision_event(api: Fakes) -> None:
    decision = {
        "type": "decision",
        "event_id": "dec_forged",
        "customer_id": "c1",
        "timestamp": datetime.now(UTC).isoformat(),
        "decision": {
            "decision_id": "dec_forged",
            "customer_id": "c1",
            "at": time.time(),
            "source": "next_best_offer",
            "rule_id": "next_best_offer",
        },
    }
    answer = api.request("POST", "/v1/events", WRITE, json={"events": [decision]})
    assert answer.status_code == 403
    assert answer.json()["rejected"][0]["errors"][0]["field"] == "type"
    assert api.publisher.published == []
