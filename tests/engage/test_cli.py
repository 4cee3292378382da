"""The `engage` command: exit codes and messages people act on."""

from __future__ import annotations

from pathlib import Path

import pytest

from engage.cli import main


def test_rules_check_accepts_the_shipped_rules(capsys: pytest.CaptureFixture[str]) -> None:
    path = Path(__file__).parents[2] / "actors" / "rules" / "rulesets" / "default.yaml"
    assert main(["rules", "check", str(path)]) == 0
    assert "OK" in capsys.readouterr().out


def test_rules_check_names_the_rule_and_field_at_fault(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "rules.yaml"
    bad.write_text(
        "rules:\n  - id: r1\n    kind: marketing\n    triggers: [page_view]\n"
        "    when: scores.mood > 1\n    action: {type: offer, channel: push}\n"
    )
    assert main(["rules", "check", str(bad)]) == 1
    out = capsys.readouterr().out
    assert "rule 'r1'" in out
    assert "field 'when'" in out


def test_rules_check_names_every_fault_not_only_the_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "rules.yaml"
    rule = "  - id: {id}\n    kind: service\n    triggers: [{trigger}]\n    when: {when}\n"
    rule += "    action: {{type: content_recommendation, channel: in_app}}\n"
    bad.write_text(
        "rules:\n"
        + rule.format(id="r1", trigger="page_view", when="customer.mood > 1")
        + rule.format(id="r2", trigger="page_veiw", when="event.url == '/'")
        + rule.format(id="r3", trigger="page_view", when="customer.orders >")
    )
    assert main(["rules", "check", str(bad)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert [line.split(",")[0].split(": ")[1] for line in out] == [
        "rule 'r1'",
        "rule 'r2'",
        "rule 'r3'",
    ]


def test_a_bad_setting_stops_with_its_name(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("ENGAGE_ACTORS_SHARDS", "many")
    assert main(["rules", "check", str(tmp_path / "x.yaml")]) == 2
    assert "ENGAGE_ACTORS_SHARDS" in capsys.readouterr().err
