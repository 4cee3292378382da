"""`engage catalog ...`: what a merchandiser runs to bring a shop's own offers, against a
real Redis."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engage.cli import main

pytestmark = pytest.mark.integration

BOOKSHOP = """offer_id,title,categories,domain,value,price,eligibility
crime_week,Crime week: 3 for 2,crime|fiction,books,4.5,12.99,
cookery_club,Cookery club,cookery,books,3,,customer.orders >= 1
"""


def test_a_dry_run_says_what_would_change_and_loads_nothing(
    env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shop = tmp_path / "bookshop.csv"
    shop.write_text(BOOKSHOP)
    assert main(["catalog", "load", str(shop), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "2 offers valid; against version 0: 2 added, 0 changed, 15 removed" in out
    assert main(["catalog", "list"]) == 0
    assert "version 0: 15 offers" in capsys.readouterr().out


def test_load_list_history_and_rollback(
    env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shop = tmp_path / "bookshop.csv"
    shop.write_text(BOOKSHOP)
    assert main(["catalog", "load", str(shop), "--by", "merch@shop"]) == 0
    assert "catalogue version 1 served: 2 added" in capsys.readouterr().out
    assert main(["catalog", "load", str(shop)]) == 0
    assert "catalogue unchanged (version 1)" in capsys.readouterr().out
    shop.write_text(BOOKSHOP.replace("4.5", "5.5"))
    assert main(["catalog", "load", str(shop)]) == 0
    assert "1 changed" in capsys.readouterr().out
    assert main(["catalog", "list", "--json"]) == 0
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(o["offer_id"], o["value"]) for o in listed] == [
        ("crime_week", 5.5),
        ("cookery_club", 3.0),
    ]
    assert main(["catalog", "rollback"]) == 0
    assert "version 1 served again" in capsys.readouterr().out
    assert main(["catalog", "history"]) == 0
    history = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [e["action"] for e in history] == ["rollback", "load", "load"]
    assert history[-1]["by"] == "merch@shop"


def test_a_bad_file_is_refused_line_by_line_and_nothing_changes(
    env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"offer_id": "x", "title": "X", "categories": ["a"], "domain": "d"}\n')
    assert main(["catalog", "load", str(bad)]) == 1
    out = capsys.readouterr().out
    assert "line 1: value: Field required" in out
    assert "nothing loaded" in out
    assert main(["catalog", "list"]) == 0
    assert "version 0" in capsys.readouterr().out


def test_an_offer_for_a_segment_the_rules_do_not_define_is_loaded_with_a_warning(
    env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shop = tmp_path / "bookshop.csv"
    shop.write_text(BOOKSHOP + "regulars,For regulars,crime,books,2,,segment.regulars\n")
    assert main(["catalog", "load", str(shop), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "regulars: eligibility names segment 'regulars', which rules version 0" in out
    assert "goes to nobody" in out
    warnings = [line for line in out.splitlines() if "warning" in line]
    assert len(warnings) == 1  # only the offer that names one
