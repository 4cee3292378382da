"""Rules reload without a restart; a bad file never replaces good rules."""

from __future__ import annotations

import os
from pathlib import Path

from actors.rules.source import RulesFile

GOOD = """
rules:
  - id: first
    kind: service
    triggers: [page_view]
    action: {type: content_recommendation, channel: in_app}
"""


def touch_later(path: Path, text: str, step: int) -> None:
    path.write_text(text)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + step * 1_000_000_000))


def test_a_changed_file_is_loaded(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(GOOD)
    source = RulesFile(str(path))
    assert [r.id for r in source.rules.rules] == ["first"]
    assert source.reload() is None  # unchanged
    touch_later(path, GOOD.replace("first", "second"), 1)
    reloaded = source.reload()
    assert reloaded is not None
    assert [r.id for r in reloaded.rules] == ["second"]


def test_a_bad_file_is_refused_and_the_old_rules_stay(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(GOOD)
    source = RulesFile(str(path))
    touch_later(path, GOOD.replace("channel: in_app", "channel: fax"), 1)
    assert source.reload() is None
    assert [r.id for r in source.rules.rules] == ["first"]
    assert source.error is not None
    assert "first" in source.error
    assert "action.channel" in source.error
    touch_later(path, GOOD, 2)
    assert source.reload() is not None
    assert source.error is None


def test_without_a_file_the_shipped_rules_are_used() -> None:
    source = RulesFile(None)
    assert source.rules.source == "default"
    assert source.reload() is None
