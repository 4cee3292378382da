"""The rules' versions in a real Redis: a push is validated in full and kept with who,
when and why; the same text is no new version; a rollback puts the previous one back."""

from __future__ import annotations

import pytest

from actors.campaigns.rules_store import KEEP_VERSIONS, NoPreviousRulesError, RulesStore
from actors.errors import RulesRefusedError, StoreUnavailableError
from tests.rules_texts import BROKEN, one_rule

pytestmark = pytest.mark.integration

ONE = one_rule("first")
TWO = one_rule("second")


@pytest.fixture
def store(redis_url: str, prefix: str) -> RulesStore:
    return RulesStore.connect(redis_url, prefix)


def test_nothing_pushed_is_version_0_the_deployments_file(store: RulesStore) -> None:
    assert store.current_version() == 0
    assert store.versions() == []


def test_a_push_is_a_version_kept_with_who_when_and_why(store: RulesStore) -> None:
    first, created = store.push(ONE, by="ana@shop", comment="spring campaign")
    assert created
    assert (first.version, first.by, first.comment) == (1, "ana@shop", "spring campaign")
    assert store.current_version() == 1
    assert store.load(1).text == ONE
    second, _ = store.push(TWO, by="ben@shop")
    assert store.current_version() == second.version == 2
    assert [v.version for v in store.versions()] == [2, 1]
    assert [r.id for r in store.load(2).compile().rules] == ["second"]


def test_the_same_text_again_is_no_new_version(store: RulesStore) -> None:
    store.push(ONE, by="ana")
    again, created = store.push(ONE, by="ben")
    assert not created
    assert again.version == 1
    assert again.by == "ana"


def test_an_invalid_push_is_refused_as_a_whole_naming_every_fault(store: RulesStore) -> None:
    store.push(ONE, by="ana")
    with pytest.raises(RulesRefusedError) as refused:
        store.push(BROKEN, by="ben")
    assert [(f.rule, f.field) for f in refused.value.faults] == [
        ("a", "triggers"),
        ("b", "when"),
        ("c", "when"),
    ]
    assert store.current_version() == 1
    assert [v.version for v in store.versions()] == [1]


def test_a_rollback_puts_the_previous_version_back_and_needs_one(store: RulesStore) -> None:
    with pytest.raises(NoPreviousRulesError):
        store.rollback(by="ana")
    store.push(ONE, by="ana")
    with pytest.raises(NoPreviousRulesError):
        store.rollback(by="ana")
    store.push(TWO, by="ben")
    back = store.rollback(by="ana", comment="second broke checkout")
    assert (back.version, back.by, back.text) == (1, "ana", ONE)
    assert store.current_version() == 1
    # The rolled-back version stays listed, and the rollback is on record.
    assert [v.version for v in store.versions()] == [2, 1]
    [undone] = store.rollbacks()
    assert (undone["from"], undone["by"], undone["comment"]) == (2, "ana", "second broke checkout")
    # A push after a rollback is a new version, never a reuse of the rolled-back number.
    third, _ = store.push(one_rule("third"), by="ben")
    assert third.version == 3


def test_only_the_latest_versions_are_kept(store: RulesStore) -> None:
    for n in range(KEEP_VERSIONS + 3):
        store.push(one_rule(f"rule{n}"), by="bot")
    kept = store.versions(limit=KEEP_VERSIONS + 10)
    assert len(kept) == KEEP_VERSIONS
    assert kept[0].version == KEEP_VERSIONS + 3
    # The oldest are gone from the store too, and a rollback still finds its version.
    with pytest.raises(StoreUnavailableError):
        store.load(1)
    assert store.rollback(by="ops").version == KEEP_VERSIONS + 2
