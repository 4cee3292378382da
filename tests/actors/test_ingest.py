"""The ingest loop's checkpoint order, with a scripted consumer and shards.

The same loop against the real broker, Redis and Ray is in tests/serving/test_ingest_live.py.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Mapping
from typing import Any, NamedTuple

import pytest
from kafka.errors import CommitFailedError, KafkaTimeoutError

from actors.brokers.base import Partition
from actors.errors import (
    ContentionError,
    DeadLetterUnavailableError,
    IngestRetryExhaustedError,
    ShardUnavailableError,
    StoreUnavailableError,
)
from actors.hosting.batch import BatchResult
from actors.ingest import IngestLoop
from actors.model.event_time import EventTimeBounds
from actors.model.events import event_to_json
from tests.support import T0, event

TP = Partition("engage.events", 0)
HANDED_OVER = Partition("engage.events", 1)


class Record(NamedTuple):
    """As kafka-python's ConsumerRecord (a named tuple), with the fields ingest reads."""

    offset: int
    key: bytes | None
    value: bytes | None


class ScriptedConsumer:
    """One partition whose records come in the given batches, with a position that
    `poll` moves past what it returns (as kafka-python does) and `seek` moves back."""

    stable_positions = True

    def __init__(self, batches: list[list[Record]]) -> None:
        self.records = [r for batch in batches for r in batch]
        self.ends = list(itertools.accumulate(len(b) for b in batches))
        self.position_ = self.records[0].offset if self.records else 0
        self.commits: list[Mapping[Partition, int]] = []
        self.log: list[str] = []
        self.fail_commits = 0

    def poll(self, timeout_ms: int, max_records: int) -> dict[Partition, list[Record]]:
        index = next((i for i, r in enumerate(self.records) if r.offset >= self.position_), None)
        if index is None:
            return {}
        end = next(e for e in self.ends if e > index)
        batch = self.records[index:end]
        self.position_ = batch[-1].offset + 1
        return {TP: batch}

    def seek(self, tp: Partition, offset: int) -> None:
        self.log.append(f"seek {offset}")
        self.position_ = offset

    def commit(self, offsets: Mapping[Partition, int], timeout_ms: int | None = None) -> None:
        assert timeout_ms is not None, "a commit without a deadline can hold ingest for 30 s"
        if self.fail_commits:
            self.fail_commits -= 1
            raise CommitFailedError("the group rebalanced")
        self.log.append("commit")
        self.commits.append(offsets)

    def assignment(self) -> set[Partition]:
        return {TP}

    def topic_tag(self, tp: Partition) -> int:
        return 7  # one incarnation of the topic

    def highwater(self, tp: Partition) -> int | None:
        return 10

    def close(self) -> None:
        return None


class Shards:
    def __init__(self, log: list[str], failures: int = 0) -> None:
        self.log = log
        self.failures = failures
        self.batches: list[dict[int, list[bytes]]] = []
        self.read_at: list[float | None] = []
        self.refreshed = 0

    def refresh(self, force: bool = False) -> None:
        self.refreshed += 1

    def shard_for(self, customer_id: str) -> int:
        return 0 if customer_id < "m" else 1

    def process(
        self,
        batches: Mapping[int, list[bytes]],
        positions: Any = None,
        read_at: float | None = None,
        origins: Any = None,
    ) -> dict[int, BatchResult | Exception]:
        self.read_at.append(read_at)
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

    def event_failed(
        self,
        raw: bytes,
        key: bytes | None,
        reason: str,
        source: Any,
        replay_of: str | None = None,
    ) -> None:
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
        consumer,
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
    assert consumer.commits == [{TP: 3}]


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
    assert consumer.commits == [{TP: 3}]


def test_events_a_shard_refuses_are_dead_lettered_by_their_own_offset() -> None:
    loop, _consumer, shards, letters = make_loop([[record(0, "alice"), record(1, "anna")]])

    def refuse_second(
        batches: Mapping[int, list[bytes]],
        positions: Any = None,
        read_at: float | None = None,
        origins: Any = None,
    ) -> dict[int, BatchResult | Exception]:
        return {0: BatchResult(processed=1, rejected=[(1, "turn failed: boom")])}

    shards.process = refuse_second  # type: ignore[method-assign]
    loop.run_once()
    ((_raw, reason, source),) = letters.letters
    assert source == ("engage.events", 0, 1)
    assert reason == "turn failed: boom"


def test_a_merged_visitors_events_are_sent_on_to_its_customer_before_the_commit() -> None:
    visit = Record(0, b"v1", event_to_json(event("page_view", customer=None, anonymous_id="v1")))
    loop, consumer, shards, letters = make_loop([[visit, record(1, "zed")]])
    process = shards.process

    def visitor_merged_into_alice(
        batches: Mapping[int, list[bytes]],
        positions: Any = None,
        read_at: float | None = None,
        origins: Any = None,
    ) -> dict[int, BatchResult | Exception]:
        answers = process(batches, positions, read_at)
        for shard, payloads in batches.items():
            if b'"customer_id"' not in payloads[0]:
                answers[shard] = BatchResult(redirected=[(0, "alice")])
        return answers

    shards.process = visitor_merged_into_alice  # type: ignore[method-assign]
    loop.run_once()

    first, second = shards.batches
    assert sorted(first) == [0, 1]  # the visitor's shard (0) and zed's (1)
    (sent_on,) = second[0]  # then alice's shard (0 too), with the event naming her
    assert json.loads(sent_on)["customer_id"] == "alice"
    assert json.loads(sent_on)["anonymous_id"] == "v1"
    assert consumer.log[-2:] == ["flush", "commit"]
    assert loop.stats.redirected == 1
    assert letters.letters == []


def test_lag_is_measured_from_what_the_consumer_knows_and_never_negative() -> None:
    loop, _, _, _ = make_loop([[record(0, "alice")]])
    loop.run_once()
    assert loop.stats.lag == {"engage.events:0": 9}
    assert loop.stats.assignment == ["engage.events:0"]


class NoBrokerCallsConsumer(ScriptedConsumer):
    """A broker call from the lag measurement would be abandoned at its deadline but stay
    in flight, and kafka-python sends no fetch to a node with a request outstanding."""

    def end_offsets(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a broker call in the consumer thread between polls")

    committed = end_offsets
    position = end_offsets


def test_measuring_lag_makes_no_broker_call() -> None:
    consumer = NoBrokerCallsConsumer([[record(0, "alice")], [record(1, "anna")]])
    loop, _, _, _ = make_loop([], consumer=consumer, lag_every_s=0.0)
    assert loop.run_once() == 1
    assert loop.run_once() == 1
    assert loop.run_once() == 0
    assert loop.stats.lag == {"engage.events:0": 8}


class FlakyRouter(Shards):
    def __init__(self, log: list[str], refresh_failures: int) -> None:
        super().__init__(log)
        self.refresh_failures = refresh_failures

    def refresh(self, force: bool = False) -> None:
        if self.refresh_failures:
            self.refresh_failures -= 1
            raise StoreUnavailableError("slot table", "Timeout reading from socket")


def test_a_failure_after_the_poll_rewinds_so_the_same_records_come_back() -> None:
    # Given a poll whose slot-table read fails (Redis paused)
    consumer = ScriptedConsumer([[record(0, "alice"), record(1, "zed")], [record(2, "bob")]])
    loop = IngestLoop(consumer, FlakyRouter(consumer.log, 1), Letters(consumer.log))
    with pytest.raises(StoreUnavailableError):
        loop.run_once()
    # then the partition is back at the poll's first offset, nothing committed
    assert consumer.log == ["seek 0"]
    assert loop.stats.rewinds == 1
    # and the next polls deliver the same records, then the rest, every one committed
    assert loop.run_once() == 2
    assert loop.run_once() == 1
    assert [c[TP] for c in consumer.commits] == [2, 3]


def test_a_dead_letter_that_cannot_be_written_rewinds_the_poll() -> None:
    bad = Record(0, b"k", b"{not json")
    loop, consumer, _, letters = make_loop([[bad, record(1, "alice")]])

    def broker_down(timeout_s: float = 30.0) -> None:
        raise DeadLetterUnavailableError("engage.events.dlq", "KafkaTimeoutError")

    letters.flush = broker_down  # type: ignore[method-assign]
    with pytest.raises(DeadLetterUnavailableError):
        loop.run_once()
    assert consumer.commits == []
    assert consumer.position_ == 0


def test_a_commit_held_by_a_rebalance_is_given_up_and_the_poll_rewound() -> None:
    class Rebalancing(ScriptedConsumer):
        def commit(self, offsets: Mapping[Partition, int], timeout_ms: int | None = None) -> None:
            self.log.append(f"commit timeout={timeout_ms}")
            raise KafkaTimeoutError(f"Timeout after {timeout_ms} ms")

    consumer = Rebalancing([[record(0, "alice")]])
    loop, _, _, _ = make_loop([], consumer=consumer)
    with pytest.raises(KafkaTimeoutError):
        loop.run_once()
    assert "commit timeout=5000" in consumer.log
    assert consumer.position_ == 0  # polled again, the consumer rejoins the group


def test_a_commit_that_fails_rewinds_the_poll() -> None:
    loop, consumer, _, _ = make_loop([[record(0, "alice")]])
    consumer.fail_commits = 1
    with pytest.raises(CommitFailedError):
        loop.run_once()
    assert consumer.position_ == 0
    assert loop.run_once() == 1
    assert consumer.commits == [{TP: 1}]


def test_shards_failing_past_the_retry_bound_rewind_the_poll_instead_of_retrying_forever() -> None:
    loop, consumer, shards, _ = make_loop([[record(0, "alice"), record(1, "zed")]], failures=1000)
    loop.retry_s = 0.05
    with pytest.raises(IngestRetryExhaustedError):
        loop.run_once()
    assert consumer.commits == []
    assert consumer.position_ == 0
    shards.failures = 0
    assert loop.run_once() == 2
    assert consumer.commits == [{TP: 2}]


class PoisonShard(Shards):
    """Fails every batch holding the poison payload with an error that is not an outage."""

    def __init__(self, log: list[str], poison: bytes) -> None:
        super().__init__(log)
        self.poison = poison

    def process(
        self,
        batches: Mapping[int, list[bytes]],
        positions: Any = None,
        read_at: float | None = None,
        origins: Any = None,
    ) -> dict[int, BatchResult | Exception]:
        self.batches.append(dict(batches))
        return {
            shard: KeyError("a bug") if self.poison in payloads else BatchResult(len(payloads))
            for shard, payloads in batches.items()
        }


def test_a_batch_that_fails_for_a_reason_other_than_an_outage_is_split_and_only_its_culprit_is_dead_lettered() -> (  # noqa: E501
    None
):
    poison = record(1, "anna")
    consumer = ScriptedConsumer([[record(0, "alice"), poison, record(2, "amy")]])
    shards = PoisonShard(consumer.log, poison.value or b"")
    letters = Letters(consumer.log)
    loop = IngestLoop(consumer, shards, letters, max_backoff_s=0.01, poison_after=2)
    assert loop.run_once() == 3
    assert [(source, reason) for _, reason, source in letters.letters] == [
        (("engage.events", 0, 1), "shard failed on this event: KeyError: 'a bug'")
    ]
    assert loop.stats.processed == 2
    assert consumer.commits == [{TP: 3}]


def test_an_outage_is_never_taken_for_a_poison_batch() -> None:
    consumer = ScriptedConsumer([[record(0, "alice")]])
    shards = Shards(consumer.log)
    calls = iter([ContentionError(["alice"])] * 5)

    def contended(
        batches: Mapping[int, list[bytes]],
        positions: Any = None,
        read_at: float | None = None,
        origins: Any = None,
    ) -> dict[int, BatchResult | Exception]:
        return {s: next(calls, BatchResult(len(p))) for s, p in batches.items()}

    shards.process = contended  # type: ignore[method-assign]
    letters = Letters(consumer.log)
    loop = IngestLoop(consumer, shards, letters, max_backoff_s=0.001, poison_after=1)
    assert loop.run_once() == 1
    assert letters.letters == []
    assert loop.stats.processed == 1


def test_events_dated_beyond_the_event_time_bounds_are_dead_lettered_with_the_reason() -> None:
    now = T0 + 60
    future = Record(0, b"c", event_to_json(event("card_payment", at=now + 3600)))
    ancient = Record(1, b"c", event_to_json(event("page_view", at=now - 400 * 86_400)))
    fine = Record(2, b"c", event_to_json(event("page_view", at=now + 30)))
    consumer = ScriptedConsumer([[future, ancient, fine]])
    letters = Letters(consumer.log)
    loop = IngestLoop(
        consumer,
        Shards(consumer.log),
        letters,
        event_time=EventTimeBounds(max_ahead_s=300, max_age_s=365 * 86_400),
        clock=lambda: now,
    )
    assert loop.run_once() == 1
    reasons = [reason for _, reason, _ in letters.letters]
    assert reasons == [
        "timestamp: 3600 s ahead of arrival (at most 300 s allowed)",
        "timestamp: 34560000 s before arrival (at most 31536000 s allowed)",
    ]


def test_every_batch_carries_when_ingest_read_its_poll() -> None:
    """The start of each action's event-to-action latency, kept through retries."""
    consumer = ScriptedConsumer([[record(0, "alice"), record(1, "zoe")]])
    shards = Shards(consumer.log, failures=1)
    read = time.time()
    loop = IngestLoop(
        consumer, shards, Letters(consumer.log), max_backoff_s=0.001, clock=lambda: read
    )
    assert loop.run_once() == 2
    assert len(shards.read_at) == 2  # the first call and the retry of the failed shard
    assert set(shards.read_at) == {read}


def test_a_loop_whose_polls_keep_failing_says_how_long_it_has_been_stalled() -> None:
    # Given shards that keep failing past the retry bound (Redis gone, say)
    loop, _, shards, _ = make_loop([[record(0, "zed")]], failures=1000)
    loop.retry_s = 0.02
    runner = threading.Thread(target=loop.run, daemon=True)
    runner.start()
    try:
        deadline = time.monotonic() + 5
        while loop.stats.errors["IngestRetryExhaustedError"] < 2:
            assert time.monotonic() < deadline, "the loop never failed"
            time.sleep(0.01)
        # then it reports the stall and why, growing while it lasts
        first = loop.stats.stalled_s()
        time.sleep(0.05)
        assert loop.stats.stalled_s() > first > 0
        assert "IngestRetryExhaustedError" in str(loop.stats.to_dict()["last_error"])
        # and once the shards answer, the stall ends
        shards.failures = 0
        while loop.stats.stalled_s() > 0:
            assert time.monotonic() < deadline + 5, "the stall never ended"
            time.sleep(0.01)
        assert loop.stats.to_dict()["last_error"] is None
    finally:
        loop.stop()
        runner.join(timeout=5)
