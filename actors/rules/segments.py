"""Audiences: named conditions over a customer's state, read by rules as `segment.<name>`.

A rules file names them once (`segments: {lapsed_buyers: "customer.orders >= 2 and ..."}`)
and every rule, reminder and offer eligibility condition may then say
`segment.lapsed_buyers`. In a turn a segment is evaluated when first read, on the same
customer, session and cart the rule sees; the customer's memberships at the end of each
event's turn are saved with its state and counted per slot (actors.storage), which is what
`/metrics`, the dashboard and `engage segments export` read.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from actors.rules.conditions import Condition


@dataclass(frozen=True, slots=True)
class Segment:
    """A named audience: the customers whose state meets `condition`."""

    name: str
    condition: Condition


class SegmentView(Mapping[str, bool]):
    """`segment.<name>` of a turn: each segment evaluated on first read, then kept."""

    __slots__ = ("_by_name", "_context", "_values")

    def __init__(self, segments: tuple[Segment, ...], context: Mapping[str, Any]) -> None:
        self._by_name = {segment.name: segment for segment in segments}
        self._context = context
        self._values: dict[str, bool] = {}

    def __getitem__(self, name: str) -> bool:
        value = self._values.get(name)
        if value is None:
            value = self._values[name] = self._by_name[name].condition.evaluate(self._context)
        return value

    def get(self, name: str, default: Any = None) -> Any:
        return self[name] if name in self._by_name else default

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_name)

    def __len__(self) -> int:
        return len(self._by_name)

    def members_of(self) -> list[str]:
        """The segments the customer is in, sorted by name."""
        return sorted(name for name in self._by_name if self[name])
