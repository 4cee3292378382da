"""Bounds on event time, checked where an event arrives (ingest, the HTTP edge).

Sessions, windows and features run on the event's own timestamp, so one event dated far
in the future would pin a customer's session, hide real payments from the 24 h fraud
window, and (dated past year 9999 in UTC) overflow the date arithmetic of every later
turn. An event is therefore refused when its time is more than `max_ahead_s` ahead of
its arrival, or older than `max_age_s` (history older than that is training data, which
is replayed offline through the same code, not through ingest).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from actors.model.events import Event


class EventTimeBounds(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    # Clocks of phones and browsers drift; five minutes ahead is still believable.
    max_ahead_s: float = Field(default=300.0, ge=0)
    # None: no lower bound (a deliberate backfill of old history through Kafka).
    max_age_s: float | None = Field(default=3650 * 86_400.0, gt=0)

    def violation(self, event: Event, arrived_at: float) -> str | None:
        """Why `event` is out of bounds when it arrives at `arrived_at`, or None."""
        ts = event.ts
        if ts > arrived_at + self.max_ahead_s:
            return (
                f"timestamp: {ts - arrived_at:.0f} s ahead of arrival"
                f" (at most {self.max_ahead_s:.0f} s allowed)"
            )
        if self.max_age_s is not None and ts < arrived_at - self.max_age_s:
            return (
                f"timestamp: {arrived_at - ts:.0f} s before arrival"
                f" (at most {self.max_age_s:.0f} s allowed)"
            )
        return None
