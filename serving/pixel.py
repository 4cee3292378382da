"""The tracking pixel: a transparent 1x1 GIF whose request records an event.

For places without JavaScript: an e-mail open (`t=offer_feedback&outcome=shown&offer=...`)
or a page view. Without `eid`, the event id is derived from the parameters and the
minute, so a client reloading the image within the minute records one event.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime
from typing import Any

from actors.errors import InvalidEventError
from actors.model.events import Event, event_from_dict

GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")


def to_event(
    *,
    uid: str | None,
    aid: str | None,
    kind: str,
    url: str | None,
    category: str | None,
    offer: str | None,
    action: str | None,
    outcome: str,
    event_id: str | None,
    now: datetime | None = None,
) -> Event:
    at = now or datetime.now(UTC)
    data: dict[str, Any] = {"type": kind, "timestamp": at.isoformat()}
    if uid:
        data["customer_id"] = uid
    if aid:
        data["anonymous_id"] = aid
    if kind == "page_view":
        data["url"] = url or "/"
        if category:
            data["category"] = category
    else:
        if not offer:
            raise InvalidEventError("offer: required for t=offer_feedback", "offer")
        data.update(outcome=outcome, offer_id=offer, action_id=action)
    if event_id is None:
        minute = at.strftime("%Y%m%d%H%M")
        digest = hashlib.sha256(
            repr(sorted(data.items() - {("timestamp", data["timestamp"])})).encode()
        )
        event_id = f"px-{minute}-{digest.hexdigest()[:16]}"
    data["event_id"] = event_id
    return event_from_dict({k: v for k, v in data.items() if v is not None})
