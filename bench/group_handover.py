"""How long a consumer group takes to hand a SIGKILLed member's partitions to a new one.

The fault suite's slowest recovery on Apache Kafka is a killed ingest replica (39-45 s of
stalled offsets, docs/reliability.md). This isolates the group protocol's share: on the
Apache Kafka of `make test-kafka` (or the embedded broker), a member made as ingest makes
its consumer is SIGKILLed while it holds every partition; 1.5 s later (Serve's restart
time) a new member joins the same group; the figure is how long the new member waits for
its assignment.

    .venv/bin/python bench/group_handover.py [--broker apache|embedded]

The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from kafka import KafkaAdminClient
from kafka.admin import NewTopic

ROOT = Path(__file__).resolve().parents[1]
MEMBER = """
import sys, time
from actors.config import KafkaConfig
from actors.brokers.kafka import make_consumer
consumer = make_consumer(KafkaConfig(bootstrap=sys.argv[1], group_id=sys.argv[2]), sys.argv[3])
started = time.monotonic()
while not consumer.assignment():
    consumer.poll(timeout_ms=200)
print(round(time.monotonic() - started, 2), flush=True)
while True:
    consumer.poll(timeout_ms=200)
"""


def member(bootstrap: str, group: str, topic: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", MEMBER, bootstrap, group, topic],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--broker", choices=("apache", "embedded"), default="apache")
    args = parser.parse_args()
    if args.broker == "apache":
        sys.path.insert(0, str(ROOT))
        from tests import apache_kafka

        server = apache_kafka.start()
        bootstrap, stop = server.bootstrap, server.stop
    else:
        from engage.stack import start_broker

        embedded = start_broker()
        bootstrap, stop = f"127.0.0.1:{embedded.port}", embedded.stop
    try:
        topic, group = f"handover-{uuid.uuid4().hex[:6]}", f"g-{uuid.uuid4().hex[:6]}"
        admin = KafkaAdminClient(bootstrap_servers=bootstrap)
        admin.create_topics([NewTopic(topic, 4, 1)])
        admin.close()
        first = member(bootstrap, group, topic)
        assert first.stdout is not None
        first_join = float(first.stdout.readline())
        time.sleep(3.0)
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
        time.sleep(1.5)
        second = member(bootstrap, group, topic)
        assert second.stdout is not None
        handover = float(second.stdout.readline())
        second.kill()
        second.wait()
    finally:
        stop()
    print(
        f"first member assigned in {first_join} s; after the SIGKILL, the new one in {handover} s"
    )
    print(
        json.dumps(
            {
                "benchmark": "group_handover",
                "broker": args.broker,
                "first_join_s": first_join,
                "handover_s": handover,
            }
        )
    )


if __name__ == "__main__":
    main()
