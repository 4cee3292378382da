"""Catalogue files: JSON lines or CSV, read whole or refused whole.

Every bad line is reported with its number and field (up to `MAX_PROBLEMS`), so one run
of `engage catalog load --dry-run` shows everything to fix. In CSV, list fields
(`categories`, `channels`, `product_ids`) are separated by `|` and an empty cell means
"not given".
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from actors.catalog.offer import CatalogOffer
from actors.errors import EngageError

Format = Literal["jsonl", "csv"]
MAX_PROBLEMS = 50
_LIST_FIELDS = ("categories", "channels", "product_ids")


@dataclass(frozen=True, slots=True)
class LineProblem:
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.field}: {self.message}"


class CatalogFileError(EngageError):
    """A catalogue file with bad lines: nothing of it is loaded."""

    def __init__(self, source: str, problems: list[LineProblem]) -> None:
        self.source = source
        self.problems = problems

    def __str__(self) -> str:
        listed = "\n".join(f"  {p}" for p in self.problems)
        return f"{self.source}: {len(self.problems)} problem(s), nothing loaded:\n{listed}"


def format_of(path: Path) -> Format:
    return "csv" if path.suffix.lower() == ".csv" else "jsonl"


def read_catalog_file(path: Path) -> list[CatalogOffer]:
    return parse_catalog(path.read_text(encoding="utf-8"), format_of(path), str(path))


def parse_catalog(text: str, fmt: Format, source: str = "catalogue") -> list[CatalogOffer]:
    rows = _csv_rows(text) if fmt == "csv" else _jsonl_rows(text)
    offers: list[CatalogOffer] = []
    problems: list[LineProblem] = []
    first_line: dict[str, int] = {}
    for line, row in rows:
        if isinstance(row, LineProblem):
            problems.append(row)
        else:
            try:
                offer = CatalogOffer.model_validate(row)
            except ValidationError as error:
                problems += [
                    LineProblem(line, ".".join(str(p) for p in e["loc"]) or "offer", e["msg"])
                    for e in error.errors()
                ]
            else:
                if offer.offer_id in first_line:
                    problems.append(
                        LineProblem(
                            line,
                            "offer_id",
                            f"{offer.offer_id!r} already on line {first_line[offer.offer_id]}",
                        )
                    )
                else:
                    first_line[offer.offer_id] = line
                    offers.append(offer)
        if len(problems) >= MAX_PROBLEMS:
            break
    if problems:
        raise CatalogFileError(source, problems[:MAX_PROBLEMS])
    return offers


def _jsonl_rows(text: str) -> list[tuple[int, dict[str, Any] | LineProblem]]:
    rows: list[tuple[int, dict[str, Any] | LineProblem]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as error:
            rows.append((number, LineProblem(number, "line", f"not JSON: {error.msg}")))
            continue
        if not isinstance(value, dict):
            rows.append((number, LineProblem(number, "line", "not a JSON object")))
        else:
            rows.append((number, value))
    return rows


def _csv_rows(text: str) -> list[tuple[int, dict[str, Any] | LineProblem]]:
    reader = csv.DictReader(io.StringIO(text))
    rows: list[tuple[int, dict[str, Any] | LineProblem]] = []
    for record in reader:
        number = reader.line_num
        if None in record:  # more cells than the header names
            rows.append((number, LineProblem(number, "line", "more cells than columns")))
            continue
        row: dict[str, Any] = {}
        for name, cell in record.items():
            if cell is None or cell.strip() == "":
                continue
            cell = cell.strip()
            row[name] = [part.strip() for part in cell.split("|")] if name in _LIST_FIELDS else cell
        rows.append((number, row))
    return rows
