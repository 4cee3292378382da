"""`engage send`: events as JSON lines, to the HTTP API or straight to the event broker
(Kafka's events topic, or RabbitMQ's events exchange).

Each line is validated locally first (the same schema the server uses), so a bad line is
reported with its number and the field at fault, and the good ones still go.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import requests

from actors.brokers.base import Broker
from actors.errors import EngageError, InvalidEventError
from actors.model.events import Event, event_to_json, parse_event


class SendError(EngageError):
    def __init__(self, status: int, detail: str) -> None:
        self.status = status
        self.detail = detail


def read_events(lines: Iterable[str]) -> Iterator[tuple[int, Event | str]]:
    """(line number, event or the reason it is invalid), blank lines skipped."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            yield number, parse_event(line)
        except InvalidEventError as error:
            yield number, error.reason


def valid_events(
    lines: Iterable[str], rejected: list[tuple[int, str]]
) -> Iterator[tuple[int, Event]]:
    """The valid events of `lines` with their line numbers; each invalid line is added to
    `rejected` with its reason."""
    for number, item in read_events(lines):
        if isinstance(item, str):
            rejected.append((number, item))
        else:
            yield number, item


def send_broker(
    broker: Broker, lines: Iterable[str], batch_size: int = 500
) -> tuple[int, list[tuple[int, str]]]:
    """Each valid line to the broker's events, routed by its actor id, acknowledged by the
    broker batch by batch (BrokerUnavailableError when a batch is not)."""
    publisher = broker.publisher()
    sent = 0
    rejected: list[tuple[int, str]] = []
    batch: list[tuple[str, bytes]] = []
    try:
        for _, item in valid_events(lines, rejected):
            batch.append((item.actor_id, event_to_json(item)))
            if len(batch) >= batch_size:
                publisher.publish(batch, timeout_s=60.0)
                sent += len(batch)
                batch.clear()
        publisher.publish(batch, timeout_s=60.0)
        sent += len(batch)
    finally:
        publisher.close()
    return sent, rejected


def send_http(
    url: str, key: str | None, lines: Iterable[str], batch_size: int = 500
) -> tuple[int, list[tuple[int, str]]]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    session = requests.Session()
    sent = 0
    rejected: list[tuple[int, str]] = []
    batch: list[tuple[int, Event]] = []

    def flush() -> None:
        nonlocal sent
        if not batch:
            return
        body = {"events": [e.model_dump(mode="json", exclude_none=True) for _, e in batch]}
        answer = session.post(
            f"{url.rstrip('/')}/v1/events", json=body, headers=headers, timeout=60
        )
        if answer.status_code in (401, 403, 413, 429, 503):
            raise SendError(answer.status_code, answer.text[:500])
        reply = answer.json()
        sent += int(reply.get("accepted", 0))
        for refusal in reply.get("rejected", []):
            number = batch[refusal["index"]][0]
            reasons = "; ".join(f"{e['field']}: {e['message']}" for e in refusal["errors"])
            rejected.append((number, reasons))
        batch.clear()

    for number, item in valid_events(lines, rejected):
        batch.append((number, item))
        if len(batch) >= batch_size:
            flush()
    flush()
    return sent, rejected
