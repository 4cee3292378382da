"""The ingest loop's checkpoint order, with a scripted consumer and shards.

The same loop against the real broker, Redis and Ray is in tests/serving/test_ingest_live.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kafka.errors import KafkaTimeoutError
from kafka.structs import OffsetAndMetadata, TopicPartition

from actors.errors import ShardUnavailableError
from actors.events import event_to_json
from actors.host import BatchResult
from actors.ingest import LAG_TIMEOUT_MS, IngestLoop
from tests.support import event

TP = TopicPartition("engage.events", 0)
HANDED_OVER = TopicPartition("engage.events", 1)


@dataclass
class Record:
    offset: int
    key: bytes | None
    value: bytes | None


class ScriptedConsumer:
    def __init__(self, batches: list[list[Record]]) -> None:
        self.batches = batches
        self.commits: list[dict[TopicPartition, OffsetAndMetadata]] = []
        self.log: list[str] = []
        self.lag_calls: list[str] = []

    def poll(self, timeout_ms: int, max_records: int) -> dict[TopicPartition, list[Record]]:
        return {TP: self.batches.pop(0)} if self.batches else {}

    def commit(self, offsets: dict[TopicPartition, OffsetAndMetadata]) -> None:
        self.log.append("commit")
        self.commits.append(offsets)

    def assignment(self) -> set[TopicPartition]:
        return {TP}

    def end_offsets(
        self, partitions: list[TopicPartition], timeout_ms: int | None = None
    ) -> dict[TopicPartition, int]:
        self.lag_calls.append(f"end_offsets timeout={timeout_ms}")
        return {TP: 10}

    def committed(self, tp: TopicPartition, timeout_ms: int | None = None) -> int | None:
        self.lag_calls.append(f"committed timeout={timeout_ms}")
        return None


class Shards:
    def __init__(self, log: list[str], failures: int = 0) -> None:
        self.log = log
        self.failures = failures
        self.batches: list[dict[int, list[bytes]]] = []
        self.refreshed = 0

    def refresh(self, force: bool = False) -> None:
        self.refreshed += 1

    def shard_for(self, customer_id: str) -> int:
        return 0 if customer_id < "m" else 1

    def process(self, batches: Mapping[int, list[bytes]]) -> dict[int, BatchResult | Exception]:
        self.batches.append(dict(batches))
        out: dict[int, BatchResult | Exception] = {}
        for shard, payloads in batches.items():
            if shard == 1 and self.failures > 0:
                self.failures -= 1
                out[shard] = ShardUnavailableError(1, "restarting")
                continue
            self.log.append(f"ack{shard}")
            out[shard] = BatchResult(processed=len(payloads))
        return out


class Letters:
    def __init__(self, log: list[str]) -> None:
        self.log = log
        self.letters: list[tuple[bytes, str, Any]] = []

    def event_failed(self, raw: bytes, key: bytes | None, reason: str, source: Any) -> None:
        self.letters.append((raw, reason, source))

    def flush(self, timeout_s: float = 30.0) -> None:
        self.log.append("flush")


def record(offset: int, customer: str) -> Record:
    return Record(offset, customer.encode(), event_to_json(event("page_view", customer=customer)))


def make_loop(
    batches: list[list[Record]],
    failures: int = 0,
    consumer: ScriptedConsumer | None = None,
    lag_every_s: float = 2.0,
) -> tuple[IngestLoop, ScriptedConsumer, Shards, Letters]:
    consumer = consumer or ScriptedConsumer(batches)
    shards = Shards(consumer.log, failures)
    letters = Letters(consumer.log)
    loop = IngestLoop(
        consumer,  # type: ignore[arg-type]
        shards,
        letters,
        max_backoff_s=0.01,
        lag_every_s=lag_every_s,
    )
    return loop, consumer, shards, letters


def test_one_call_per_shard_then_commit_after_every_ack() -> None:
    loop, consumer, shards, _ = make_loop(
        [[record(0, "alice"), record(1, "zed"), record(2, "bob")]]
    )
    assert loop.run_once() == 3
    assert [sorted(b) for b in shards.batches] == [[0, 1]]
    assert len(shards.batches[0][0]) == 2
    assert consumer.log == ["ack0", "ack1", "flush", "commit"]
    assert consumer.commits == [{TP: OffsetAndMetadata(3, "", -1)}]


def test_a_failing_shard_gets_its_batch_again_before_anything_is_committed() -> None:
    loop, consumer, shards, _ = make_loop([[record(0, "alice"), record(1, "zed")]], failures=2)
    loop.run_once()
    assert consumer.log == ["ack0", "ack1", "flush", "commit"]
    assert [sorted(b) for b in shards.batches] == [[0, 1], [1], [1]]
    assert loop.stats.shard_retries == 2
    assert loop.stats.processed == 2


def test_invalid_records_go_to_dead_letters_with_raw_payload_reason_and_source() -> None:
    bad = Record(1, b"k", b'{"type": "product_view", "event_id": "e", "customer_id": "c"}')
    empty = Record(2, b"k", None)
    loop, consumer, _, letters = make_loop([[record(0, "alice"), bad, empty]])
    loop.run_once()
    assert [(raw, source) for raw, _, source in letters.letters] == [
        (bad.value, ("engage.events", 0, 1)),
        (b"", ("engage.events", 0, 2)),
    ]
    assert "timestamp" in letters.letters[0][1]
    assert "empty record" in letters.letters[1][1]
    assert consumer.commits == [{TP: OffsetAndMetadata(3, "", -1)}]


def test_events_a_shard_refuses_are_dead_lettered_by_their_own_offset() -> None:
    loop, _consumer, shards, letters = make_loop([[record(0, "alice"), record(1, "anna")]])

    def refuse_second(batches: Mapping[int, list[bytes]]) -> dict[int, BatchResult | Exception]:
        return {0: BatchResult(processed=1, rejected=[(1, "turn failed: boom")])}

    shards.process = refuse_second  # type: ignore[method-assign]
    loop.run_once()
    ((_raw, reason, source),) = letters.letters
    assert source == ("engage.events", 0, 1)
    assert reason == "turn failed: boom"


def test_lag_is_measured_in_the_consumer_thread_and_never_negative() -> None:
    loop, consumer, _, _ = make_loop([[record(0, "alice")]])
    loop.run_once()
    assert loop.stats.lag == {"engage.events:0": 9}
    assert loop.stats.assignment == ["engage.events:0"]
    assert consumer.lag_calls == [f"end_offsets timeout={LAG_TIMEOUT_MS}"]


class RebalancingConsumer(ScriptedConsumer):
    """A group mid-rebalance: a partition just handed over, whose committed offset the
    coordinator will not tell until the group is stable again."""

    def assignment(self) -> set[TopicPartition]:
        return {TP, HANDED_OVER}

    def committed(self, tp: TopicPartition, timeout_ms: int | None = None) -> int | None:
        self.lag_calls.append(f"committed timeout={timeout_ms}")
        if timeout_ms is None:
            raise AssertionError("would wait for the coordinator forever")
        raise KafkaTimeoutError(f"no committed offsets within {timeout_ms} ms")


def test_a_lag_measurement_the_broker_cannot_answer_never_holds_up_the_loop() -> None:
    consumer = RebalancingConsumer([[record(0, "alice")], [record(1, "anna")]])
    loop, _, _, _ = make_loop([], consumer=consumer, lag_every_s=0.0)
    assert loop.run_once() == 1
    assert loop.run_once() == 1
    assert loop.stats.lag == {}
    assert loop.stats.errors["lag: KafkaTimeoutError"] == 2
    assert (
        consumer.lag_calls
        == [
            f"end_offsets timeout={LAG_TIMEOUT_MS}",
            f"committed timeout={LAG_TIMEOUT_MS}",
        ]
        * 2
    )
    assert consumer.log.count("commit") == 2
