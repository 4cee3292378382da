"""A shard's rules follow the version in force, switching only between batches; a version
that cannot be read or compiled leaves the rules in force running, and says so."""

from __future__ import annotations

from pathlib import Path

from actors.campaigns.rules_follower import RulesFollower
from actors.campaigns.rules_store import RulesVersion
from actors.errors import StoreUnavailableError
from actors.rules.ruleset import RuleSet
from actors.rules.source import RulesFile
from tests.rules_texts import one_rule

FILE = one_rule("from_file")


class Versions:
    """The store's two reads, in memory: what a shard polls."""

    def __init__(self) -> None:
        self.texts: dict[int, str] = {}
        self.current = 0
        self.down = False

    def push(self, rule_id: str) -> int:
        version = len(self.texts) + 1
        self.texts[version] = one_rule(rule_id)
        self.current = version
        return version

    def current_version(self) -> int:
        if self.down:
            raise StoreUnavailableError("rules", "connection refused")
        return self.current

    def load(self, version: int) -> RulesVersion:
        return RulesVersion(version, self.texts[version], "ana", 0.0, "")


def follower(tmp_path: Path, versions: Versions) -> tuple[RulesFollower, list[RuleSet]]:
    path = tmp_path / "rules.yaml"
    path.write_text(FILE)
    in_force: list[RuleSet] = []
    return RulesFollower(versions, RulesFile(str(path)), in_force.append), in_force


def ids(rules: RuleSet) -> list[str]:
    return [r.id for r in rules.rules]


def test_with_nothing_pushed_the_file_is_in_force(tmp_path: Path) -> None:
    rules, _ = follower(tmp_path, Versions())
    rules.refresh()
    assert not rules.switch_if_idle()
    assert ids(rules.rules) == ["from_file"]
    assert rules.status()["version"] == 0


def test_a_pushed_version_goes_into_force_only_once_no_batch_is_under_way(
    tmp_path: Path,
) -> None:
    versions = Versions()
    rules, in_force = follower(tmp_path, versions)
    rules.batch_started()
    versions.push("pushed")
    rules.refresh()
    # Mid-batch: staged, not in force; a second batch starting meanwhile does not switch.
    assert not rules.switch_if_idle()
    rules.batch_started()
    assert ids(rules.rules) == ["from_file"]
    assert rules.status()["staged"] == 1
    rules.batch_ended()
    assert in_force == []
    rules.batch_ended()  # the last batch ends: the new version is in force
    assert [ids(r) for r in in_force] == [["pushed"]]
    assert rules.status() | {"source": None} == {
        "version": 1,
        "source": None,
        "rules": 1,
        "staged": None,
        "error": None,
    }


def test_a_version_staged_between_batches_is_in_force_for_the_next_one(tmp_path: Path) -> None:
    versions = Versions()
    rules, in_force = follower(tmp_path, versions)
    versions.push("pushed")
    rules.refresh()
    rules.batch_started()
    assert ids(in_force[-1]) == ["pushed"]
    rules.batch_ended()


def following_good(tmp_path: Path) -> tuple[RulesFollower, Versions]:
    """A follower with version 1 (rule `good`) in force."""
    versions = Versions()
    rules, _ = follower(tmp_path, versions)
    versions.push("good")
    rules.refresh()
    rules.switch_if_idle()
    return rules, versions


def test_a_version_that_does_not_compile_leaves_the_rules_in_force_and_says_so(
    tmp_path: Path,
) -> None:
    rules, versions = following_good(tmp_path)
    # Written by something other than a validated push (an older engage, a hand edit).
    versions.texts[2] = "rules: [{id: x}]"
    versions.current = 2
    rules.refresh()
    assert not rules.switch_if_idle()
    assert ids(rules.rules) == ["good"]
    assert rules.status()["version"] == 1
    assert (rules.error or "").startswith("version 2 not taken")


def test_an_outage_keeps_the_version_in_force_and_is_reported_until_it_ends(
    tmp_path: Path,
) -> None:
    rules, versions = following_good(tmp_path)
    versions.down = True
    rules.refresh()
    assert ids(rules.rules) == ["good"]
    assert "could not be read" in (rules.error or "")
    versions.down = False
    versions.push("next")
    rules.refresh()
    assert rules.switch_if_idle()
    assert rules.error is None
    assert ids(rules.rules) == ["next"]
