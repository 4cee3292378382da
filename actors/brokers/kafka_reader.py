"""Reading the events topic back, for training and export (actors.brokers.kafka_broker).

The end is found by reading, not by asking: some Kafka-compatible brokers report end
offsets below the records they hold, and answer a look-up by time that finds nothing with
offset 0 stamped -1 (taken here for "nothing since", not for the partition's start).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from kafka import TopicPartition
from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import KafkaError

from actors.brokers.kafka import make_consumer
from actors.config import KafkaConfig
from actors.errors import BrokerUnavailableError, TrainingDataError

# A record past the end the broker reported, stamped at most this much after reading
# began, still belongs to the read: producers' clocks are not the reader's. Kept short, as
# the read follows the live tail for that long.
CLOCK_SLACK_S = 5.0


def read_topic(
    config: KafkaConfig,
    topic: str,
    seek_ms: int | None,
    from_offsets: dict[int, int] | None,
    to_offsets: dict[int, int] | None,
    idle_timeout_s: float,
    span: dict[str, Any],
) -> Iterator[tuple[int, int, bytes]]:
    """(partition, offset, value) of every record `read_records` reads."""
    for record in read_records(
        config, topic, seek_ms, from_offsets, to_offsets, idle_timeout_s, span
    ):
        yield record.partition, record.offset, record.value


def read_records(
    config: KafkaConfig,
    topic: str,
    seek_ms: int | None,
    from_offsets: dict[int, int] | None,
    to_offsets: dict[int, int] | None,
    idle_timeout_s: float,
    span: dict[str, Any],
) -> Iterator[ConsumerRecord]:
    """Every record (key, value, headers, timestamp) from the start positions to the end
    of each partition as it was when reading began.

    The end is found by reading, not by asking: some Kafka-compatible brokers report end
    offsets below the records they hold. A partition ends at a record appended after the
    read began (its timestamp, with `CLOCK_SLACK_S` for producers' clocks), at
    `to_offsets`, or when a fetch brings nothing and the broker confirms the position is
    at its end. A record below the end the broker reported when reading began is always
    read, whatever its timestamp. That confirmation is a request, so a broker that stops
    answering ends the read with `BrokerUnavailableError` (after at most `idle_timeout_s`)
    instead of a silently shorter data set."""
    # Every request is bounded by the idle timeout too: kafka-python's own default would
    # let a paused broker hold the first connection for 30 s and a request for five minutes.
    timeout_ms = max(int(idle_timeout_s * 1000), config.session_timeout_ms + 1)
    consumer = make_consumer(
        config,
        group_id=None,
        enable_auto_commit=False,
        request_timeout_ms=timeout_ms,
        bootstrap_timeout_ms=timeout_ms,
        # A bulk read: records are waiting, so the longer wait costs nothing (KafkaConfig).
        fetch_max_wait_ms=config.fetch_catch_up_wait_ms,
    )
    began_ms = int((time.time() + CLOCK_SLACK_S) * 1000)
    try:
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            raise TrainingDataError(f"topic {topic} does not exist on {config.bootstrap}")
        assigned = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(assigned)
        starts = dict(consumer.beginning_offsets(assigned))
        reported_ends = dict(consumer.end_offsets(assigned))
        if seek_ms is not None:
            found = consumer.offsets_for_times(dict.fromkeys(assigned, seek_ms))
            ends = consumer.end_offsets(assigned)
            for tp, at in found.items():
                nothing_since = at is None or at.timestamp < seek_ms
                starts[tp] = ends[tp] if nothing_since else at.offset
        stops = {tp: (to_offsets or {}).get(tp.partition) for tp in assigned}
        for tp in assigned:
            starts[tp] = max(starts[tp], (from_offsets or {}).get(tp.partition, 0))
            consumer.seek(tp, starts[tp])
        read_to = dict(starts)
        remaining = {tp for tp in assigned if stops[tp] is None or starts[tp] < stops[tp]}
        consumer.pause(*(set(assigned) - remaining))
        last_progress = time.monotonic()
        while remaining:
            batches = consumer.poll(timeout_ms=500, max_records=2000)
            done: set[TopicPartition] = set()
            for tp, records in batches.items():
                for record in records:
                    stop = stops[tp]
                    appended_since = (
                        record.offset >= reported_ends[tp] and record.timestamp > began_ms
                    )
                    if (stop is not None and record.offset >= stop) or appended_since:
                        done.add(tp)
                        break
                    read_to[tp] = record.offset + 1
                    yield record
            if batches:
                last_progress = time.monotonic()
            else:
                # Nothing came: at the end, or the broker is gone. Asking tells which.
                ends = consumer.end_offsets(list(remaining))
                done |= {tp for tp in remaining if consumer.position(tp) >= ends[tp]}
                if not done and time.monotonic() - last_progress > idle_timeout_s:
                    raise BrokerUnavailableError(
                        config.require_bootstrap(),
                        f"no records for {idle_timeout_s:g} s with {len(remaining)} "
                        "partitions short of their end",
                    )
            for tp in done & remaining:
                remaining.discard(tp)
                consumer.pause(tp)
        span.update({str(tp.partition): [starts[tp], read_to[tp]] for tp in assigned})
    except KafkaError as error:
        raise BrokerUnavailableError(config.require_bootstrap(), str(error)) from error
    finally:
        consumer.close()
