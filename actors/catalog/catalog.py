"""One version of the catalogue: its offers by id, and what changed from another."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache, cached_property
from pathlib import Path
from typing import Any

from actors.catalog.candidates import CandidateIndex
from actors.catalog.offer import CatalogOffer
from actors.catalog.parsing import read_catalog_file


@dataclass(frozen=True, slots=True)
class CatalogChange:
    added: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.added or self.changed or self.removed)

    def summary(self) -> dict[str, Any]:
        return {
            "added": list(self.added),
            "changed": list(self.changed),
            "removed": list(self.removed),
        }


@dataclass(frozen=True)
class Catalog:
    """Offers of one version (0: none loaded yet), in the order they were given."""

    version: int
    offers: tuple[CatalogOffer, ...]
    by_id: dict[str, CatalogOffer] = field(init=False, repr=False, compare=False)
    domains: frozenset[str] = field(init=False, repr=False, compare=False)
    products: dict[str, CatalogOffer] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Computed once per version: read on every next-best-offer.
        object.__setattr__(self, "by_id", {o.offer_id: o for o in self.offers})
        object.__setattr__(self, "domains", frozenset(o.domain for o in self.offers))
        # A product's offer: the first given that names it, else an offer of its id.
        products: dict[str, CatalogOffer] = {}
        for offer in self.offers:
            for product_id in offer.product_ids:
                products.setdefault(product_id, offer)
        for offer in self.offers:
            products.setdefault(offer.offer_id, offer)
        object.__setattr__(self, "products", products)

    @classmethod
    def of(cls, version: int, offers: Iterable[CatalogOffer]) -> Catalog:
        return cls(version, tuple(offers))

    @cached_property
    def candidates(self) -> CandidateIndex:
        """The index next-best-offer narrows a large catalogue with (built on first use,
        once per version)."""
        return CandidateIndex(self.offers)

    def get(self, offer_id: str) -> CatalogOffer | None:
        return self.by_id.get(offer_id)

    def live(self, at: float) -> list[CatalogOffer]:
        return [o for o in self.offers if o.live_at(at)]

    def to_json(self) -> bytes:
        return json.dumps([o.model_dump(mode="json") for o in self.offers]).encode()

    @classmethod
    def from_json(cls, version: int, raw: bytes) -> Catalog:
        return cls.of(version, (CatalogOffer.model_validate(o) for o in json.loads(raw)))

    def digest(self) -> str:
        """Identical content, identical digest: a reload of the same file is no change."""
        return hashlib.sha256(self.to_json()).hexdigest()[:16]

    def change_to(self, other: Catalog) -> CatalogChange:
        """What `other` adds, changes and removes relative to this version."""
        mine, theirs = self.by_id, other.by_id
        return CatalogChange(
            added=tuple(i for i in theirs if i not in mine),
            changed=tuple(i for i in theirs if i in mine and mine[i] != theirs[i]),
            removed=tuple(i for i in mine if i not in theirs),
        )


DEMO_FILE = Path(__file__).parent / "catalogs" / "demo.jsonl"


@cache
def built_in() -> Catalog:
    """What a process serves before any catalogue is loaded (version 0): the demo's
    offers, the ones the shipped models were trained on. `engage catalog load` replaces it."""
    return Catalog.of(0, read_catalog_file(DEMO_FILE))
