"""The default sink: actions as JSON records on `engage.actions`, keyed by customer id.

Headers carry what consumers filter on without parsing the body: the idempotency key
(consumers of an at-least-once stream dedup on it), the action type and the rule.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from typing import Any

from kafka import KafkaProducer
from kafka.errors import KafkaError, MessageSizeTooLargeError
from kafka.structs import TopicPartition

from actors.brokers.kafka import make_consumer
from actors.config import KafkaConfig
from actors.delivery.sinks.base import Delivery
from actors.errors import SinkError
from actors.model.actions import Action, action_to_json

# Records are timestamped by the producer when sent, a moment after delivery began.
LOOK_BACK_S = 5.0
# How long the outcome of a settled send is kept for a retry of its action to find.
SETTLED_KEPT_S = 600.0


def _failure(error: BaseException | None) -> Delivery:
    """A record over the size limit is the action's own fault, for good; anything else
    is the broker's, so the action waits without using up an attempt."""
    if isinstance(error, MessageSizeTooLargeError):
        return Delivery.failed(f"kafka: {error}", retryable=False)
    return Delivery.waiting(f"kafka: {error}")


def action_headers(action: Action) -> list[tuple[str, bytes]]:
    return [
        ("idempotency-key", action.idempotency_key.encode()),
        ("action-type", action.type.encode()),
        ("rule-id", action.rule_id.encode()),
        ("schema-version", str(action.schema_version).encode()),
    ]


class KafkaSink:
    name = "kafka"

    def __init__(
        self,
        producer: KafkaProducer,
        topic: str,
        config: KafkaConfig | None = None,
        timeout_s: float = 30.0,
        scan_timeout_s: float = 30.0,
    ) -> None:
        self._producer = producer
        self._topic = topic
        self._config = config
        self._timeout_s = timeout_s
        self._scan_timeout_s = scan_timeout_s
        # Sends whose outcome is not settled yet, by idempotency key, with when sent.
        self._in_flight: dict[str, tuple[Any, float]] = {}

    async def deliver(self, actions: Sequence[Action]) -> list[Delivery]:
        return await asyncio.to_thread(self._deliver_blocking, actions)

    def _deliver_blocking(self, actions: Sequence[Action]) -> list[Delivery]:
        """Send, wait up to `timeout_s`, and answer per action.

        A send that has not completed when the wait ends is not failed: the producer
        keeps retrying it (until its delivery timeout), and sending the action again
        meanwhile would put it on the topic twice once the broker is back. It stays in
        flight here, and until its outcome is known the action is answered `waiting`,
        without another send. A send that failed after it may have reached the broker (a
        timeout) is answered `maybe`: the dispatcher looks it up on the topic before any
        resend.
        """
        self._forget_settled(time.time() - SETTLED_KEPT_S)
        results: list[Delivery | None] = [None] * len(actions)
        sends: list[tuple[int, Any]] = []
        for i, action in enumerate(actions):
            earlier = self._in_flight.get(action.idempotency_key)
            if earlier is not None:
                results[i] = self._settled(action, earlier[0], "an earlier send")
        now = time.time()
        for i, action in enumerate(actions):
            if results[i] is not None:
                continue
            try:
                future = self._producer.send(
                    self._topic,
                    key=action.customer_id.encode(),
                    value=action_to_json(action),
                    headers=action_headers(action),
                )
            except KafkaError as error:
                results[i] = _failure(error)  # refused before sending: nothing went out
                continue
            self._in_flight[action.idempotency_key] = (future, now)
            sends.append((i, future))
        with contextlib.suppress(KafkaError):  # each future below tells its own result
            self._producer.flush(timeout=self._timeout_s)
        for i, future in sends:
            results[i] = self._settled(actions[i], future, "the send")
        return [r if r is not None else Delivery.failed("not attempted") for r in results]

    def _settled(self, action: Action, future: Any, what: str) -> Delivery:
        """What a send's future says of the action; a settled one is forgotten."""
        if not future.is_done:
            return Delivery.waiting(f"kafka: {what} is still in flight")
        del self._in_flight[action.idempotency_key]
        if future.succeeded():
            return Delivery.delivered()
        failure = _failure(future.exception)
        if not failure.retryable:
            return failure
        return Delivery.maybe(f"kafka: {what} failed and may have landed: {future.exception!r}")

    def _forget_settled(self, before: float) -> None:
        """Drop settled sends no one asked about again (the action was handed to another
        shard, or forgotten): what is in flight stays, so memory is bounded by it."""
        stale = [k for k, (f, at) in self._in_flight.items() if f.is_done and at < before]
        for key in stale:
            del self._in_flight[key]

    async def delivered(self, keys: set[str], since: float) -> set[str]:
        if not keys or self._config is None:
            return set()
        return await asyncio.to_thread(self._scan, keys, since)

    def _scan(self, keys: set[str], since: float) -> set[str]:
        """Read the records that could hold these actions: in each partition, from the
        first record stamped at or after a little before `since`, up to where it stood
        when the scan began; collect the wanted keys.

        A partition with no record since then holds none of them and is not read (some
        Kafka-compatible brokers answer that look-up with offset 0 stamped -1, which is
        not taken for the start of the partition). A partition is done once a record
        stamped after the scan began is read, or once its end offset taken at the start
        is reached and a poll brings nothing more for it (some brokers report end offsets
        below what they hold, so the end alone is not trusted). The whole scan gives up
        after `scan_timeout_s` with `SinkError`, as it does when the broker cannot look
        up by time: the dispatcher asks again later instead of sending blind.
        """
        assert self._config is not None
        started = time.time()
        deadline = time.monotonic() + self._scan_timeout_s
        consumer = make_consumer(
            self._config,
            group_id=None,
            enable_auto_commit=False,
            # A bulk read: records are waiting, so the longer wait costs nothing (KafkaConfig).
            fetch_max_wait_ms=self._config.fetch_catch_up_wait_ms,
        )
        found: set[str] = set()
        try:
            partitions = [
                TopicPartition(self._topic, p)
                for p in sorted(consumer.partitions_for_topic(self._topic) or ())
            ]
            if not partitions:
                return found
            start_ms = int((since - LOOK_BACK_S) * 1000)
            starts = consumer.offsets_for_times(
                {tp: start_ms for tp in partitions}, timeout_ms=10_000
            )
            begin = {
                tp: found_at.offset
                for tp, found_at in starts.items()
                if found_at is not None and found_at.timestamp >= start_ms
            }
            if not begin:
                return found
            consumer.assign(list(begin))
            ends = consumer.end_offsets(list(begin), timeout_ms=10_000)
            for tp, offset in begin.items():
                consumer.seek(tp, offset)
            open_parts = set(begin)
            started_ms = int(started * 1000)
            while open_parts:
                if time.monotonic() > deadline:
                    raise SinkError(self.name, "scan of the actions topic timed out")
                batch = consumer.poll(timeout_ms=500, max_records=5000)
                for tp, records in batch.items():
                    for record in records:
                        key = dict(record.headers or ()).get("idempotency-key")
                        if key is not None and key.decode() in keys:
                            found.add(key.decode())
                        if record.timestamp >= started_ms:
                            open_parts.discard(tp)
                for tp in list(open_parts):
                    if tp not in batch and consumer.position(tp) >= ends.get(tp, 0):
                        open_parts.discard(tp)
                if found >= keys:
                    break
            return found
        except KafkaError as error:
            raise SinkError(self.name, f"cannot read the actions topic: {error!r}") from error
        finally:
            consumer.close()

    async def close(self) -> None:
        return None
