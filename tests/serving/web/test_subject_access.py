"""`GET /v1/customers/{id}/export`: the admin's only, every part named, and a store out of
reach answered as such, never as a person with no data."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from actors.config import ActorConfig
from actors.errors import StoreUnavailableError
from actors.model.state import CustomerState
from actors.model.state_format import state_to_json
from actors.storage.slots import slot_of
from actors.storage.store import Commit
from tests.serving.web.conftest import ADMIN, READ, WRITE, Fakes


def test_only_the_admin_may_read_a_person_s_data(api: Fakes) -> None:
    for key in (READ, WRITE, None):
        assert api.request("GET", "/v1/customers/c1/export", key).status_code in (401, 403)


def test_the_document_names_every_part_kept_per_id(api: Fakes) -> None:
    state = CustomerState()
    state.email = "c1@example.com"
    slot = slot_of("c1", ActorConfig().slots)
    asyncio.run(api.states.commit_many([Commit(slot, "c1", 0, state_to_json(state))]))
    document = api.request("GET", "/v1/customers/c1/export", ADMIN).json()
    assert (document["customer_id"], document["known"], document["format"]) == ("c1", True, 1)
    part = document["actors"]["c1"]
    assert set(part) == {
        "known", "forgotten_at", "linked_to", "state", "retention_s", "reminders", "traces",
        "pending_actions", "guardrails",
    }  # fmt: skip
    assert part["state"]["email"] == "c1@example.com"
    unknown = api.request("GET", "/v1/customers/nobody/export", ADMIN).json()
    assert unknown["known"] is False
    assert unknown["actors"]["nobody"]["state"] is None


def test_a_store_out_of_reach_is_a_503_not_an_empty_person(
    api: Fakes, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def down(*_: Any) -> Any:
        raise StoreUnavailableError("load", "Connection refused")

    monkeypatch.setattr(api.states, "load_many", down)
    answer = api.request("GET", "/v1/customers/c1/export", ADMIN)
    assert answer.status_code == 503
    assert answer.json()["error"] == "store_unavailable"
