"""Catalogue files: JSON lines or CSV, loaded whole or refused whole, every bad line named."""

from __future__ import annotations

from pathlib import Path

import pytest

from actors.catalog.catalog import DEMO_FILE, Catalog, built_in
from actors.catalog.parsing import CatalogFileError, parse_catalog, read_catalog_file

CSV = """offer_id,title,categories,domain,value,price,channels,eligibility,cap_per_customer
crime_week,Crime week,crime|fiction,books,4.5,12.99,email|in_app,customer.orders >= 1,2
cookery_club,Cookery club,cookery,books,3,,,,
"""


def test_a_csv_file_with_list_cells_separated_by_bars() -> None:
    crime, cookery = parse_catalog(CSV, "csv")
    assert crime.categories == ("crime", "fiction")
    assert crime.channels == ("email", "in_app")
    assert (crime.price, crime.cap_per_customer) == (12.99, 2)
    assert crime.eligibility == "customer.orders >= 1"
    # Empty cells are "not given": the defaults.
    assert cookery.price is None
    assert cookery.eligibility is None
    assert cookery.channels == ("email", "push", "sms", "in_app")


def test_every_bad_line_is_named_and_nothing_is_loaded() -> None:
    text = "\n".join(
        [
            '{"offer_id": "a", "title": "A", "categories": ["x"], "domain": "d", "value": 1}',
            "not json",
            '{"offer_id": "b", "title": "B", "categories": ["x"], "domain": "d", "value": -2}',
            "",
            '{"offer_id": "a", "title": "A again", "categories": ["x"], "domain": "d", "value": 1}',
            "[1, 2]",
        ]
    )
    with pytest.raises(CatalogFileError) as caught:
        parse_catalog(text, "jsonl", "offers.jsonl")
    problems = [(p.line, p.field) for p in caught.value.problems]
    assert problems == [(2, "line"), (3, "value"), (5, "offer_id"), (6, "line")]
    assert "already on line 1" in str(caught.value)
    assert str(caught.value).startswith("offers.jsonl: 4 problem(s), nothing loaded")


def test_a_csv_row_with_more_cells_than_columns_is_refused() -> None:
    text = "offer_id,title,categories,domain,value\na,A,x,d,1,surplus\n"
    with pytest.raises(CatalogFileError) as caught:
        parse_catalog(text, "csv")
    assert [(p.line, p.field) for p in caught.value.problems] == [(2, "line")]


def test_the_format_follows_the_file_name(tmp_path: Path) -> None:
    path = tmp_path / "offers.csv"
    path.write_text(CSV)
    assert [o.offer_id for o in read_catalog_file(path)] == ["crime_week", "cookery_club"]


def test_the_demo_catalogue_is_a_file_of_the_fifteen_trained_offers() -> None:
    from actors.model.catalog import OFFERS

    assert [o.offer_id for o in read_catalog_file(DEMO_FILE)] == [o.offer_id for o in OFFERS]
    assert built_in().version == 0


def test_a_catalogue_says_what_another_adds_changes_and_removes() -> None:
    crime, cookery = parse_catalog(CSV, "csv")
    before = Catalog.of(1, [crime, cookery])
    dearer = crime.model_copy(update={"value": 9.0})
    after = Catalog.of(
        2, [dearer, *parse_catalog(CSV.replace("cookery_club", "garden"), "csv")[1:]]
    )
    change = before.change_to(after)
    assert (change.added, change.changed, change.removed) == (
        ("garden",),
        ("crime_week",),
        ("cookery_club",),
    )
    assert Catalog.of(3, [crime, cookery]).digest() == before.digest()
