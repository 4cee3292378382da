"""`engage rules show / diff` and `engage segments` on a real Redis, before and after a
push: what a marketer sees first on a fresh deployment."""

from __future__ import annotations

from pathlib import Path

import pytest

from engage.cli import main

pytestmark = pytest.mark.integration

FILE = """version: 1
segments: {buyers: "customer.orders >= 1"}
rules: []
"""


@pytest.fixture
def deployment(
    redis_url: str, prefix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """A deployment with its own rules file and nothing pushed yet."""
    rules_file = tmp_path / "deployed.yaml"
    rules_file.write_text(FILE)
    monkeypatch.setenv("ENGAGE_REDIS_URL", redis_url)
    monkeypatch.setenv("ENGAGE_REDIS_PREFIX", prefix)
    monkeypatch.setenv("ENGAGE_ACTORS_RULES_FILE", str(rules_file))
    return rules_file


def test_show_and_diff_read_the_rules_file_until_a_version_is_pushed(
    deployment: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["rules", "show"]) == 0
    shown = capsys.readouterr()
    assert shown.out == FILE
    assert str(deployment) in shown.err
    mine = tmp_path / "mine.yaml"
    mine.write_text(FILE.replace("rules: []", "rules: []\njourneys: []"))
    assert main(["rules", "diff", str(mine)]) == 0
    assert "+journeys: []" in capsys.readouterr().out
    assert main(["rules", "push", str(mine)]) == 0
    capsys.readouterr()
    assert main(["rules", "show"]) == 0
    assert capsys.readouterr().out == mine.read_text()
    assert main(["rules", "rollback"]) == 1
    assert "push it" in capsys.readouterr().out


def test_segments_list_and_export_name_the_segments_of_the_rules_in_force(
    deployment: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["segments", "list"]) == 0
    out = capsys.readouterr().out
    assert "buyers" in out
    assert "customer.orders >= 1" in out
    assert main(["segments", "export", "sellers"]) == 1
    assert "no segment named 'sellers'" in capsys.readouterr().out
    assert main(["segments", "export", "buyers"]) == 0
    assert capsys.readouterr().err.strip() == "0 customers in buyers"
