"""The rules as versioned data over HTTP, without Ray: admin keys only; a push refused as a
whole with every fault named; the version in force, the versions kept, a rollback."""

from __future__ import annotations

from typing import Any

from tests.rules_texts import BROKEN, one_rule
from tests.serving.web.conftest import ADMIN, READ, Fakes

ONE = one_rule("first")


def push(api: Fakes, text: str, comment: str = "", key: str = ADMIN) -> Any:
    return api.request("PUT", "/v1/rules", key, json={"text": text, "comment": comment})


def test_only_an_admin_key_reads_or_pushes_rules(api: Fakes) -> None:
    assert api.request("GET", "/v1/rules", READ).status_code == 403
    assert push(api, ONE, key=READ).status_code == 403
    assert api.request("POST", "/v1/rules/rollback", READ).status_code == 403
    assert api.rules_store.current_version() == 0


def test_before_any_push_the_deployments_file_is_in_force(api: Fakes) -> None:
    body = api.request("GET", "/v1/rules", ADMIN).json()
    assert (body["version"], body["text"], body["versions"]) == (0, None, [])


def test_a_push_is_the_version_in_force_with_its_comment(api: Fakes) -> None:
    answer = push(api, ONE, comment="spring campaign")
    assert answer.status_code == 200
    assert answer.json() == {"version": 1, "created": True}
    assert push(api, ONE).json() == {"version": 1, "created": False}
    body = api.request("GET", "/v1/rules", ADMIN).json()
    assert (body["version"], body["text"], body["comment"]) == (1, ONE, "spring campaign")
    # Who: the admin key's id (never the key itself), as the catalogue's audit names it.
    assert body["by"]
    assert ADMIN not in body["by"]
    assert [v["version"] for v in body["versions"]] == [1]


def test_an_invalid_push_is_a_422_naming_every_fault_and_changes_nothing(api: Fakes) -> None:
    push(api, ONE)
    answer = push(api, BROKEN)
    assert answer.status_code == 422
    fields = [f["field"] for f in answer.json()["fields"]]
    assert fields == ["body.text.a.triggers", "body.text.b.when", "body.text.c.when"]
    assert api.rules_store.current_version() == 1


def test_a_body_without_text_is_a_422_naming_the_field(api: Fakes) -> None:
    answer = api.request("PUT", "/v1/rules", ADMIN, json={"comment": "no text"})
    assert answer.status_code == 422
    assert [f["field"] for f in answer.json()["fields"]] == ["body.text"]


def test_a_rollback_puts_the_previous_version_back_and_needs_one(api: Fakes) -> None:
    assert api.request("POST", "/v1/rules/rollback", ADMIN).status_code == 409
    push(api, ONE)
    push(api, one_rule("second"))
    answer = api.request("POST", "/v1/rules/rollback", ADMIN)
    assert answer.json() == {"version": 1, "created": False}
    assert api.request("GET", "/v1/rules", ADMIN).json()["text"] == ONE
