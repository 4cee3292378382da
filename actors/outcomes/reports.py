"""Outcome reports: what the actions achieved, against the held-out control group.

Counters are written by customer turns in the same commit as the state (so replays
never count twice), one hash per slot, fields `metric|group|rule|campaign|offer|model`:

* metric: `sent` (decided), `shown`, `clicked`, `converted`;
* group: `treated` (delivered, or at least sent to the guardrails) or `holdout`.

Conversion rate = converted / sent per group; uplift = treated rate - holdout rate. Each
rate comes with its 95% interval (Wilson) and the uplift with the interval of the
difference (Newcombe): `significant` is true only when that interval excludes zero, so a
report never presents noise as a result (actors.outcomes.intervals).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from actors.outcomes.intervals import difference, wilson
from actors.storage.keys import Keys
from actors.storage.redis_clients import connect

GroupBy = Literal["rule", "offer", "model", "campaign"]
METRICS = ("sent", "shown", "clicked", "converted")
_POSITION = {"rule": 2, "campaign": 3, "offer": 4, "model": 5}


@dataclass
class OutcomeRow:
    key: str
    treated: Counter[str] = field(default_factory=Counter)
    holdout: Counter[str] = field(default_factory=Counter)

    @staticmethod
    def _rate(group: Counter[str]) -> float | None:
        return group["converted"] / group["sent"] if group["sent"] else None

    def to_dict(self) -> dict[str, Any]:
        treated_rate = self._rate(self.treated)
        holdout_rate = self._rate(self.holdout)
        uplift = None
        if treated_rate is not None and holdout_rate is not None:
            uplift = treated_rate - holdout_rate
        t, h = self.treated, self.holdout
        uplift_ci = difference(t["converted"], t["sent"], h["converted"], h["sent"])
        return {
            "key": self.key,
            "treated": {m: self.treated[m] for m in METRICS},
            "holdout": {m: self.holdout[m] for m in METRICS},
            "click_rate": self.treated["clicked"] / self.treated["sent"]
            if self.treated["sent"]
            else None,
            "conversion_rate": treated_rate,
            "holdout_conversion_rate": holdout_rate,
            "uplift": uplift,
            "conversion_rate_ci": _pair(wilson(t["converted"], t["sent"])),
            "holdout_conversion_rate_ci": _pair(wilson(h["converted"], h["sent"])),
            "uplift_ci": _pair(uplift_ci),
            # Only when the interval excludes zero; None without a holdout to compare.
            "significant": None if uplift_ci is None else uplift_ci[0] > 0.0 or uplift_ci[1] < 0.0,
        }


def _pair(interval: tuple[float, float] | None) -> list[float] | None:
    return None if interval is None else [round(interval[0], 6), round(interval[1], 6)]


def report(counters: dict[str, int], by: GroupBy = "rule") -> list[dict[str, Any]]:
    rows: dict[str, OutcomeRow] = {}
    for name, count in counters.items():
        parts = name.split("|")
        if len(parts) != 6 or parts[0] not in METRICS:
            continue
        key = parts[_POSITION[by]] or "-"
        row = rows.setdefault(key, OutcomeRow(key))
        (row.treated if parts[1] == "treated" else row.holdout)[parts[0]] += count
    return [rows[k].to_dict() for k in sorted(rows)]


def read_counters(url: str, prefix: str, slots: Iterable[int]) -> dict[str, int]:
    """Sum the outcome counters of every slot."""
    keys = Keys(prefix)
    client = connect(url)
    try:
        pipe = client.pipeline(transaction=False)
        for slot in slots:
            pipe.hgetall(keys.outcomes(slot))
        total: Counter[str] = Counter()
        for row in pipe.execute():
            for name, value in row.items():
                total[name.decode()] += int(value)
        return dict(total)
    finally:
        client.close()


def format_table(rows: list[dict[str, Any]], by: str) -> str:
    def pct(value: float | None) -> str:
        return "-" if value is None else f"{value * 100:5.1f}%"

    def interval(row: dict[str, Any]) -> str:
        ci = row["uplift_ci"]
        if ci is None:
            return "-"
        verdict = "" if row["significant"] else "  not significant"
        return f"[{ci[0] * 100:+.1f}, {ci[1] * 100:+.1f}]{verdict}"

    lines = [
        f"{by:<24} {'sent':>7} {'clicked':>8} {'converted':>10} {'conv.':>7} "
        f"{'holdout':>8} {'h.conv.':>8} {'uplift':>8}  95% interval (pt)"
    ]
    for row in rows:
        uplift = row["uplift"]
        lines.append(
            f"{row['key']:<24} {row['treated']['sent']:>7} {row['treated']['clicked']:>8} "
            f"{row['treated']['converted']:>10} {pct(row['conversion_rate']):>7} "
            f"{row['holdout']['sent']:>8} {pct(row['holdout_conversion_rate']):>8} "
            f"{'-' if uplift is None else f'{uplift * 100:+.1f}pt':>8}  {interval(row)}"
        )
    return "\n".join(lines)
