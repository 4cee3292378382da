"""Forgetting a customer, without Ray: the admin token only, the shard asked, an outage
a 503 so the requester knows to ask again."""

from __future__ import annotations

from tests.serving.web.conftest import ADMIN, READ, Fakes


def test_forget_asks_the_customers_shard(api: Fakes) -> None:
    answer = api.request("DELETE", "/v1/customers/c1", ADMIN)
    assert answer.status_code == 200
    assert answer.json() == {"forgotten": "c1"}
    assert api.shards.forgotten == ["c1"]


def test_forget_needs_the_admin_token(api: Fakes) -> None:
    assert api.request("DELETE", "/v1/customers/c1", READ).status_code == 403
    assert api.shards.forgotten == []


def test_forget_while_the_shard_is_out_is_a_503(api: Fakes) -> None:
    api.shards.down = True
    answer = api.request("DELETE", "/v1/customers/c1", ADMIN)
    assert answer.status_code == 503
    assert answer.json()["error"] == "shard_unavailable"


def test_forget_has_each_linked_visitors_own_shard_drop_its_live_copy(api: Fakes) -> None:
    # The visitors' shards may still hold copies from before the merge: a read after the
    # forget must not answer from them.
    api.shards.linked["c1"] = ["anon:v1", "anon:v2"]
    answer = api.request("DELETE", "/v1/customers/c1", ADMIN)
    assert answer.status_code == 200
    assert api.shards.evicted == ["anon:v1", "anon:v2"]
