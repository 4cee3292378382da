"""Journey counts, from the outcome counters the customers' commits increment (so a
replay never counts twice): runs started and ended by how, steps reached, runs active.

Fields: `journey|<id>|run|<started, completed, exited, exit_event, retired>` and
`journey|<id>|step|<step id>` (each time a run reaches the step).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

RUN_ENDINGS = ("completed", "exited", "exit_event", "retired")


def counter_name(journey_id: str, part: str, name: str) -> str:
    return f"journey|{journey_id}|{part}|{name}"


def journey_report(
    counters: Mapping[str, int], journeys: Mapping[str, Sequence[str]]
) -> dict[str, Any]:
    """Per journey of the rules in force (id -> its step ids, in order): runs started,
    ended by how, active now (started less ended), and how often each step was reached
    (steps of an earlier version of the journey after its own)."""
    report: dict[str, Any] = {
        journey: {
            "started": 0,
            "ended": dict.fromkeys(RUN_ENDINGS, 0),
            "steps": dict.fromkeys(steps, 0),
        }
        for journey, steps in journeys.items()
    }
    for name, count in counters.items():
        parts = name.split("|")
        if len(parts) != 4 or parts[0] != "journey" or parts[1] not in report:
            continue
        row = report[parts[1]]
        if parts[2] == "step":
            row["steps"][parts[3]] = row["steps"].get(parts[3], 0) + count
        elif parts[3] == "started":
            row["started"] += count
        elif parts[3] in row["ended"]:
            row["ended"][parts[3]] += count
    for row in report.values():
        row["active"] = row["started"] - sum(row["ended"].values())
    return report
