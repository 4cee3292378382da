"""Outcome reports: what the actions achieved, against the held-out control group.

Counters are written by customer turns in the same commit as the state (so replays
never count twice), one hash per slot, fields `metric|group|rule|campaign|offer|model`:

* metric: `sent` (decided), `shown`, `clicked`, `converted`;
* group: `treated` (delivered, or at least sent to the guardrails), `holdout` (the
  campaign's control group) or `global_control` (the programme's: no marketing at all).

Conversion rate = converted / sent per group; uplift = treated rate - holdout rate, and
`uplift_vs_global_control` = treated rate - global control rate. Each rate comes with its
95% interval (Wilson) and each uplift with the interval of the difference (Newcombe):
`significant` is true only when that interval excludes zero, so a report never presents
noise as a result (actors.outcomes.intervals). `by=programme` sums every rule, journey
and next-best-offer decision into one row: what the whole programme adds against the
customers who get none of it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from actors.outcomes.intervals import difference, wilson
from actors.storage.keys import Keys
from actors.storage.redis_clients import connect

GroupBy = Literal["rule", "offer", "model", "campaign", "programme"]
METRICS = ("sent", "shown", "clicked", "converted")
_POSITION = {"rule": 2, "campaign": 3, "offer": 4, "model": 5}
PROGRAMME = "all marketing"


@dataclass
class OutcomeRow:
    key: str
    treated: Counter[str] = field(default_factory=Counter)
    holdout: Counter[str] = field(default_factory=Counter)
    global_control: Counter[str] = field(default_factory=Counter)

    @staticmethod
    def _rate(group: Counter[str]) -> float | None:
        return group["converted"] / group["sent"] if group["sent"] else None

    def to_dict(self) -> dict[str, Any]:
        t, h, g = self.treated, self.holdout, self.global_control
        treated_rate = self._rate(t)
        against_holdout = _uplift(t, h)
        against_global = _uplift(t, g)
        return {
            "key": self.key,
            "treated": {m: t[m] for m in METRICS},
            "holdout": {m: h[m] for m in METRICS},
            "global_control": {m: g[m] for m in METRICS},
            "click_rate": t["clicked"] / t["sent"] if t["sent"] else None,
            "conversion_rate": treated_rate,
            "holdout_conversion_rate": self._rate(h),
            "global_control_conversion_rate": self._rate(g),
            "conversion_rate_ci": _pair(wilson(t["converted"], t["sent"])),
            "holdout_conversion_rate_ci": _pair(wilson(h["converted"], h["sent"])),
            "global_control_conversion_rate_ci": _pair(wilson(g["converted"], g["sent"])),
            **against_holdout,
            **{f"{k}_vs_global_control": v for k, v in against_global.items()},
        }


def _uplift(treated: Counter[str], control: Counter[str]) -> dict[str, Any]:
    """The treated rate less the control's, its interval, and whether that excludes zero
    (None without a control to compare)."""
    uplift = None
    if treated["sent"] and control["sent"]:
        uplift = treated["converted"] / treated["sent"] - control["converted"] / control["sent"]
    ci = difference(treated["converted"], treated["sent"], control["converted"], control["sent"])
    return {
        "uplift": uplift,
        "uplift_ci": _pair(ci),
        "significant": None if ci is None else ci[0] > 0.0 or ci[1] < 0.0,
    }


def _pair(interval: tuple[float, float] | None) -> list[float] | None:
    return None if interval is None else [round(interval[0], 6), round(interval[1], 6)]


def report(counters: dict[str, int], by: GroupBy = "rule") -> list[dict[str, Any]]:
    rows: dict[str, OutcomeRow] = {}
    for name, count in counters.items():
        parts = name.split("|")
        if len(parts) != 6 or parts[0] not in METRICS:
            continue
        key = PROGRAMME if by == "programme" else parts[_POSITION[by]] or "-"
        row = rows.setdefault(key, OutcomeRow(key))
        arm = {"treated": row.treated, "global_control": row.global_control}
        arm.get(parts[1], row.holdout)[parts[0]] += count
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
    """The report as a table: uplift against each campaign's holdout, then, when the
    programme has a global control group, against it."""
    lines = _table(rows, by, "holdout", "", "holdout")
    if any(row["global_control"]["sent"] for row in rows):
        lines += ["", "against the global control group (no marketing at all):"]
        lines += _table(rows, by, "global_control", "_vs_global_control", "g.ctrl")
    return "\n".join(lines)


def _table(rows: list[dict[str, Any]], by: str, arm: str, suffix: str, title: str) -> list[str]:
    def pct(value: float | None) -> str:
        return "-" if value is None else f"{value * 100:5.1f}%"

    def interval(row: dict[str, Any]) -> str:
        ci = row[f"uplift_ci{suffix}"]
        if ci is None:
            return "-"
        verdict = "" if row[f"significant{suffix}"] else "  not significant"
        return f"[{ci[0] * 100:+.1f}, {ci[1] * 100:+.1f}]{verdict}"

    lines = [
        f"{by:<24} {'sent':>7} {'clicked':>8} {'converted':>10} {'conv.':>7} "
        f"{title:>8} {'c.conv.':>8} {'uplift':>8}  95% interval (pt)"
    ]
    for row in rows:
        uplift = row[f"uplift{suffix}"]
        lines.append(
            f"{row['key']:<24} {row['treated']['sent']:>7} {row['treated']['clicked']:>8} "
            f"{row['treated']['converted']:>10} {pct(row['conversion_rate']):>7} "
            f"{row[arm]['sent']:>8} {pct(row[f'{arm}_conversion_rate']):>8} "
            f"{'-' if uplift is None else f'{uplift * 100:+.1f}pt':>8}  {interval(row)}"
        )
    return lines
