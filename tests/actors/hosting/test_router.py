"""What a failed call to a shard means for its batch: the shard's own error, or an outage."""

from __future__ import annotations

import pytest
from ray.exceptions import (
    ActorDiedError,
    ActorUnschedulableError,
    GetTimeoutError,
    NodeDiedError,
    RayError,
    RayTaskError,
)

from actors.errors import ContentionError, ShardUnavailableError
from actors.hosting.router import shard_failure


@pytest.mark.parametrize(
    "error",
    [
        ActorUnschedulableError("the node specified via NodeAffinitySchedulingStrategy is gone"),
        ActorDiedError(),
        GetTimeoutError("30 s"),
        NodeDiedError("node 3"),  # type: ignore[no-untyped-call]
    ],
)
def test_a_shard_that_cannot_answer_is_an_outage_never_the_events_fault(error: RayError) -> None:
    # An outage: ingest waits it out and retries; counted as the batch's fault, its events
    # would be sent alone and dead-lettered (a node leaving lost events this way).
    failure = shard_failure(2, error)
    assert isinstance(failure, ShardUnavailableError)
    assert failure.shard == 2


def test_an_error_the_shards_code_raised_is_that_error() -> None:
    cause = ContentionError(["c1"])
    wrapped = RayTaskError("process", "traceback", cause)  # type: ignore[no-untyped-call]
    assert shard_failure(1, wrapped) is cause
