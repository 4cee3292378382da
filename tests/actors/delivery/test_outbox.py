"""The outbox dispatcher: each saved action delivered at most once, or dead-lettered."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from actors.delivery.guardrails import Guardrails, MemoryGuardrailStore
from actors.delivery.idempotency import MemoryIdempotencyStore
from actors.delivery.letters import MemoryDeadLetters
from actors.delivery.mail.suppressions import MemorySuppressions, Suppression, suppression
from actors.delivery.outbox import Dispatcher
from actors.delivery.policy import Decision
from actors.delivery.sinks.base import Delivery
from actors.errors import StoreUnavailableError
from actors.model.actions import Action, ContentRecommendationAction, action_to_json
from actors.rules.specs import PolicySpec
from actors.storage.memory_store import MemoryStateStore
from actors.storage.store import Commit, OutboxEntry
from tests.eventually import eventually_async


def make_action(key: str, sink: str = "kafka") -> Action:
    now = datetime(2026, 5, 1, tzinfo=UTC)
    return ContentRecommendationAction(
        action_id=f"act_{key}",
        idempotency_key=key,
        customer_id="c1",
        rule_id="r",
        kind="service",
        channel="in_app",
        sink=sink,
        trigger_event_id="e1",
        trigger="content_view",
        event_time=now,
        created_at=now,
        genre="drama",
    )


class FlakySink:
    name = "kafka"

    def __init__(self, failures: int = 0, retryable: bool = True) -> None:
        self.failures = failures
        self.retryable = retryable
        self.got: list[str] = []
        self.holds: set[str] = set()  # keys the receiving end already has
        self.calls = 0

    async def deliver(self, actions: Sequence[Action]) -> list[Delivery]:
        self.calls += 1
        if self.failures > 0:
            self.failures -= 1
            return [Delivery.failed("receiver said no", self.retryable) for _ in actions]
        self.got += [a.idempotency_key for a in actions]
        return [Delivery.delivered() for _ in actions]

    async def delivered(self, keys: set[str], since: float) -> set[str]:
        return keys & self.holds

    async def close(self) -> None:
        return None


async def saved(store: MemoryStateStore, *actions: Action) -> list[OutboxEntry]:
    await store.commit_many(
        [
            Commit(
                0, "c1", 0, b"s", actions=[(a.idempotency_key, action_to_json(a)) for a in actions]
            )
        ]
    )
    return await store.outbox([0], 100)


async def run_dispatcher(dispatcher: Dispatcher, entries: list[OutboxEntry]) -> None:
    dispatcher.start()
    await dispatcher.submit(entries)
    await dispatcher.drain(5.0)
    await dispatcher.stop()


def test_delivered_actions_are_marked_sent_and_leave_the_outbox() -> None:
    async def scenario() -> None:
        store, sent, sink = MemoryStateStore(), MemoryIdempotencyStore(), FlakySink()
        entries = await saved(store, make_action("k1"), make_action("k2"))
        await run_dispatcher(Dispatcher({"kafka": sink}, sent, store, MemoryDeadLetters()), entries)
        assert sorted(sink.got) == ["k1", "k2"]
        assert sent.sent == {"k1", "k2"}
        assert await store.outbox([0], 10) == []

    asyncio.run(scenario())


def test_an_action_already_sent_is_never_sent_again() -> None:
    async def scenario() -> None:
        store, sent, sink = MemoryStateStore(), MemoryIdempotencyStore(), FlakySink()
        sent.sent.add("k1")  # delivered before a crash that left it in the outbox
        entries = await saved(store, make_action("k1"))
        dispatcher = Dispatcher({"kafka": sink}, sent, store, MemoryDeadLetters())
        await run_dispatcher(dispatcher, entries)
        assert sink.got == []
        assert dispatcher.stats["duplicates_skipped"] == 1
        assert await store.outbox([0], 10) == []

    asyncio.run(scenario())


def test_retryable_failures_are_retried_with_backoff_until_delivered() -> None:
    async def scenario() -> None:
        store, sink = MemoryStateStore(), FlakySink(failures=2)
        entries = await saved(store, make_action("k1"))
        dispatcher = Dispatcher(
            {"kafka": sink},
            MemoryIdempotencyStore(),
            store,
            MemoryDeadLetters(),
            base_backoff_s=0.01,
        )
        await run_dispatcher(dispatcher, entries)
        assert sink.got == ["k1"]
        assert dispatcher.stats["retries"] == 2

    asyncio.run(scenario())


def test_an_action_that_cannot_be_delivered_goes_to_the_dead_letters_with_the_reason() -> None:
    async def scenario() -> None:
        store, letters = MemoryStateStore(), MemoryDeadLetters()
        sink = FlakySink(failures=100)
        entries = await saved(store, make_action("k1"))
        dispatcher = Dispatcher(
            {"kafka": sink},
            MemoryIdempotencyStore(),
            store,
            letters,
            max_attempts=3,
            base_backoff_s=0.01,
        )
        await run_dispatcher(dispatcher, entries)
        assert sink.calls == 3
        ((raw, reason, sink_name),) = letters.letters
        assert b'"k1"' in raw
        assert (reason, sink_name) == ("receiver said no (after 3 attempts)", "kafka")
        assert await store.outbox([0], 10) == []

    asyncio.run(scenario())


def test_a_non_retryable_failure_is_dead_lettered_at_once() -> None:
    async def scenario() -> None:
        store, letters = MemoryStateStore(), MemoryDeadLetters()
        sink = FlakySink(failures=1, retryable=False)
        entries = await saved(store, make_action("k1"))
        await run_dispatcher(
            Dispatcher({"kafka": sink}, MemoryIdempotencyStore(), store, letters), entries
        )
        assert sink.calls == 1
        assert len(letters.letters) == 1

    asyncio.run(scenario())


def test_an_action_for_a_sink_that_is_not_configured_is_dead_lettered() -> None:
    async def scenario() -> None:
        store, letters = MemoryStateStore(), MemoryDeadLetters()
        entries = await saved(store, make_action("k1", sink="webhook"))
        await run_dispatcher(Dispatcher({}, MemoryIdempotencyStore(), store, letters), entries)
        assert "not configured" in letters.letters[0][1]

    asyncio.run(scenario())


def test_guardrail_verdicts_suppress_or_defer_delivery() -> None:
    class Policy:
        async def decide(self, actions: Sequence[Action]) -> list[Decision]:
            return [
                Decision("suppress", "frequency cap")
                if a.idempotency_key == "k1"
                else Decision("defer", "quiet hours", until=0.0)
                for a in actions
            ]

        async def delivered(self, actions: Sequence[Action]) -> None:
            return None

    async def scenario() -> None:
        store, sink = MemoryStateStore(), FlakySink()
        entries = await saved(store, make_action("k1"), make_action("k2"))
        dispatcher = Dispatcher(
            {"kafka": sink}, MemoryIdempotencyStore(), store, MemoryDeadLetters(), Policy()
        )
        dispatcher.start()
        await dispatcher.submit(entries)
        await asyncio.sleep(0.1)
        await dispatcher.stop()
        assert sink.got == []
        assert dispatcher.stats["suppress"] == 1
        assert dispatcher.stats["deferred"] >= 1
        assert [e.key for e in await store.outbox([0], 10)] == ["k2"]  # deferred stays saved

    asyncio.run(scenario())


def test_a_full_queue_makes_submit_wait() -> None:
    async def scenario() -> None:
        store = MemoryStateStore()
        entries = await saved(store, make_action("k1"), make_action("k2"))
        dispatcher = Dispatcher(
            {"kafka": FlakySink()},
            MemoryIdempotencyStore(),
            store,
            MemoryDeadLetters(),
            queue_size=1,
        )
        blocked = asyncio.create_task(dispatcher.submit(entries))
        await asyncio.sleep(0.05)
        assert not blocked.done()  # backpressure: the second entry waits for room
        dispatcher.start()
        await asyncio.wait_for(blocked, 1.0)
        await dispatcher.drain(2.0)
        await dispatcher.stop()

    asyncio.run(scenario())


def test_an_interrupted_delivery_is_resent_only_if_the_sink_does_not_have_it() -> None:
    async def scenario() -> tuple[FlakySink, Dispatcher]:
        store, sink = MemoryStateStore(), FlakySink()
        await saved(store, make_action("k1"), make_action("k2"))
        # A dispatcher began delivering both, then its process died; k1 got through.
        await store.mark_attempted([(0, "k1"), (0, "k2")], 1000.0)
        sink.holds = {"k1"}
        recovered = await store.outbox([0], 10)
        assert all(e.attempted_at == 1000.0 for e in recovered)
        dispatcher = Dispatcher(
            {"kafka": sink}, MemoryIdempotencyStore(), store, MemoryDeadLetters()
        )
        await run_dispatcher(dispatcher, recovered)
        assert await store.outbox([0], 10) == []
        return sink, dispatcher

    sink, dispatcher = asyncio.run(scenario())
    assert sink.got == ["k2"]
    assert dispatcher.stats["found_at_sink"] == 1


class MarksDownOnce(MemoryIdempotencyStore):
    """Redis goes away between the delivery and the marks, once."""

    def __init__(self) -> None:
        super().__init__()
        self.failures = 1

    async def mark_sent(self, keys: Sequence[str]) -> None:
        if self.failures:
            self.failures -= 1
            raise StoreUnavailableError("idempotency", "Timeout reading from socket")
        await super().mark_sent(keys)


def test_an_outage_after_delivery_marks_on_the_retry_and_never_delivers_again() -> None:
    async def scenario() -> tuple[FlakySink, MarksDownOnce, MemoryStateStore]:
        store, sink, sent = MemoryStateStore(), FlakySink(), MarksDownOnce()
        entries = await saved(store, make_action("k1"), make_action("k2"))
        dispatcher = Dispatcher(
            {"kafka": sink}, sent, store, MemoryDeadLetters(), base_backoff_s=0.01
        )
        await run_dispatcher(dispatcher, entries)
        assert dispatcher.stats["dispatch_errors"] == 1
        return sink, sent, store

    sink, sent, store = asyncio.run(scenario())
    assert sink.got == ["k1", "k2"]  # once each, though the batch was tried twice
    assert sent.sent == {"k1", "k2"}
    assert asyncio.run(store.outbox([0], 10)) == []


class ExplodingSink(FlakySink):
    name = "webhook"

    async def deliver(self, actions: Sequence[Action]) -> list[Delivery]:
        self.calls += 1
        raise OSError("connection reset by peer")


def test_a_sink_that_raises_fails_its_own_actions_alone_each_retried_then_dead_lettered() -> None:
    async def scenario() -> tuple[FlakySink, ExplodingSink, MemoryDeadLetters]:
        store, letters = MemoryStateStore(), MemoryDeadLetters()
        kafka, webhook = FlakySink(), ExplodingSink()
        entries = await saved(store, make_action("k1"), make_action("w1", sink="webhook"))
        dispatcher = Dispatcher(
            {"kafka": kafka, "webhook": webhook},
            MemoryIdempotencyStore(),
            store,
            letters,
            max_attempts=3,
            base_backoff_s=0.01,
        )
        await run_dispatcher(dispatcher, entries)
        assert await store.outbox([0], 10) == []
        return kafka, webhook, letters

    kafka, webhook, letters = asyncio.run(scenario())
    assert kafka.got == ["k1"]
    assert webhook.calls == 3
    ((raw, reason, sink),) = letters.letters
    assert b'"w1"' in raw
    assert sink == "webhook"
    assert reason == "webhook: OSError('connection reset by peer') (after 3 attempts)"


def test_an_action_the_guardrails_cannot_judge_is_dead_lettered_and_the_rest_delivered() -> None:
    class Policy:
        async def decide(self, actions: Sequence[Action]) -> list[Decision]:
            return [
                Decision("reject", "guardrails failed: bad time zone")
                if a.idempotency_key == "k1"
                else Decision("deliver")
                for a in actions
            ]

        async def delivered(self, actions: Sequence[Action]) -> None:
            return None

    async def scenario() -> tuple[FlakySink, MemoryDeadLetters]:
        store, sink, letters = MemoryStateStore(), FlakySink(), MemoryDeadLetters()
        entries = await saved(store, make_action("k1"), make_action("k2"))
        dispatcher = Dispatcher({"kafka": sink}, MemoryIdempotencyStore(), store, letters, Policy())
        await run_dispatcher(dispatcher, entries)
        assert await store.outbox([0], 10) == []
        return sink, letters

    sink, letters = asyncio.run(scenario())
    assert sink.got == ["k2"]
    assert [reason for _, reason, _ in letters.letters] == ["guardrails failed: bad time zone"]


def test_deferred_actions_wait_in_one_heap_bounded_by_max_deferred() -> None:
    class QuietHours:
        async def decide(self, actions: Sequence[Action]) -> list[Decision]:
            return [Decision("defer", "quiet hours", until=time.time() + 3600) for _ in actions]

        async def delivered(self, actions: Sequence[Action]) -> None:
            return None

    async def scenario() -> None:
        store, sink = MemoryStateStore(), FlakySink()
        entries = await saved(store, *(make_action(f"k{i}") for i in range(5)))
        dispatcher = Dispatcher(
            {"kafka": sink},
            MemoryIdempotencyStore(),
            store,
            MemoryDeadLetters(),
            QuietHours(),
            max_deferred=3,
        )
        tasks_before = len(asyncio.all_tasks())
        dispatcher.start()
        await dispatcher.submit(entries)
        await asyncio.sleep(0.1)
        assert dispatcher.waiting == 3
        assert dispatcher.stats["deferred_over_limit"] == 2
        # the loop, the timer and its wait, and the sink's two lane tasks, whatever the
        # number deferred
        assert len(asyncio.all_tasks()) - tasks_before <= 3 + 2
        # and nothing deferred was noted as being delivered: none is looked up at the sink
        # when recovery offers it again
        assert all(e.attempted_at is None for e in await store.outbox([0], 10))
        assert len(await store.outbox([0], 10)) == 5  # all still saved
        assert len(dispatcher.pending) == 3  # recovery may offer the other two again
        await dispatcher.stop()

    asyncio.run(scenario())


def test_a_slot_handed_over_drops_its_queued_and_waiting_entries() -> None:
    async def scenario() -> None:
        store = MemoryStateStore()
        entries = await saved(store, make_action("k1"), make_action("k2"))
        dispatcher = Dispatcher(
            {"kafka": FlakySink()}, MemoryIdempotencyStore(), store, MemoryDeadLetters()
        )
        await dispatcher.submit(entries[:1])
        dispatcher._wait(entries[1], 60.0)
        assert dispatcher.forget_slots({0}) == 2
        assert dispatcher.depth == 0
        assert dispatcher.waiting == 0
        assert dispatcher.pending == set()
        assert len(await store.outbox([0], 10)) == 2  # the new owner delivers them

    asyncio.run(scenario())


def test_forgetting_a_customer_drops_its_queued_and_waiting_actions() -> None:
    async def scenario() -> None:
        store = MemoryStateStore()
        entries = await saved(store, make_action("k1"), make_action("k2"))
        dispatcher = Dispatcher(
            {"kafka": FlakySink()}, MemoryIdempotencyStore(), store, MemoryDeadLetters()
        )
        await dispatcher.submit(entries[:1])
        dispatcher._wait(entries[1], 60.0)
        assert dispatcher.forget_customer("someone else") == 0
        assert dispatcher.forget_customer("c1") == 2
        assert dispatcher.depth == 0
        assert dispatcher.waiting == 0

    asyncio.run(scenario())


def test_what_becomes_of_each_action_goes_into_its_customers_trace() -> None:
    class Policy:
        async def decide(self, actions: Sequence[Action]) -> list[Decision]:
            return [
                Decision("suppress", "frequency cap")
                if a.idempotency_key == "k1"
                else Decision("deliver")
                for a in actions
            ]

        async def delivered(self, actions: Sequence[Action]) -> None:
            return None

    async def scenario() -> list[dict[str, object]]:
        store, sink = MemoryStateStore(), FlakySink()
        entries = await saved(store, make_action("k1"), make_action("k2"))
        dispatcher = Dispatcher(
            {"kafka": sink},
            MemoryIdempotencyStore(),
            store,
            MemoryDeadLetters(),
            Policy(),
            trace_keep=10,
            trace_ttl_s=60,
        )
        await run_dispatcher(dispatcher, entries)
        return [json.loads(row) for row in await store.trace_of(0, "c1", 10)]

    notes = asyncio.run(scenario())
    assert sorted((n["action_id"], n["delivery"]) for n in notes) == [
        ("act_k1", "held (suppress): frequency cap"),
        ("act_k2", "delivered (kafka)"),
    ]


def test_no_trace_note_is_kept_for_a_customer_forgotten_meanwhile() -> None:
    async def scenario() -> list[bytes]:
        store, sink = MemoryStateStore(), FlakySink()
        entries = await saved(store, make_action("k1"))
        await store.forget(0, "c1", [], 3600)
        dispatcher = Dispatcher(
            {"kafka": sink}, MemoryIdempotencyStore(), store, MemoryDeadLetters(), trace_keep=10
        )
        await run_dispatcher(dispatcher, entries)
        return await store.trace_of(0, "c1", 10)

    assert asyncio.run(scenario()) == []


def test_a_trace_note_that_cannot_be_written_costs_no_delivery_and_sends_nothing_twice() -> None:
    class NoTraces(MemoryStateStore):
        async def add_traces(
            self, items: Sequence[tuple[int, str, bytes]], keep: int, ttl_s: int
        ) -> None:
            raise StoreUnavailableError("trace", "connection reset")

    async def scenario() -> tuple[FlakySink, MemoryIdempotencyStore, NoTraces, Dispatcher]:
        store, sent, sink = NoTraces(), MemoryIdempotencyStore(), FlakySink()
        entries = await saved(store, make_action("k1"), make_action("k2"))
        dispatcher = Dispatcher(
            {"kafka": sink}, sent, store, MemoryDeadLetters(), trace_keep=10, trace_ttl_s=60
        )
        await run_dispatcher(dispatcher, entries)
        await dispatcher.submit(await store.outbox([0], 10))  # recovery finds nothing left
        return sink, sent, store, dispatcher

    sink, sent, store, dispatcher = asyncio.run(scenario())
    assert sorted(sink.got) == ["k1", "k2"]  # each once
    assert sent.sent == {"k1", "k2"}
    assert asyncio.run(store.outbox([0], 10)) == []
    assert dispatcher.stats["trace_notes_lost"] == 2
    assert dispatcher.stats["dispatch_errors"] == 0


class GatedSink(FlakySink):
    """A sink whose deliveries, or look-ups, wait until the test opens a gate."""

    def __init__(self, name: str, gate_deliveries: bool = False) -> None:
        super().__init__()
        self.name = name
        self.gate = asyncio.Event()
        self.gate_deliveries = gate_deliveries
        self.lookups: list[set[str]] = []

    async def deliver(self, actions: Sequence[Action]) -> list[Delivery]:
        if self.gate_deliveries:
            await self.gate.wait()
        return await super().deliver(actions)

    async def delivered(self, keys: set[str], since: float) -> set[str]:
        self.lookups.append(keys)
        await self.gate.wait()
        return keys & self.holds


async def until(predicate: Callable[[], bool], what: str, timeout_s: float = 5.0) -> None:
    async def probe() -> bool:
        return predicate()

    await eventually_async(probe, timeout_s, what, 0.005)


def test_a_slow_sink_holds_back_its_own_actions_only() -> None:
    async def scenario() -> None:
        store = MemoryStateStore()
        kafka, email = FlakySink(), GatedSink("email", gate_deliveries=True)
        entries = await saved(store, make_action("mail", sink="email"), make_action("alert"))
        dispatcher = Dispatcher(
            {"kafka": kafka, "email": email}, MemoryIdempotencyStore(), store, MemoryDeadLetters()
        )
        dispatcher.start()
        await dispatcher.submit(entries)
        # while the e-mail server has not answered, the alert on the topic goes out
        await until(lambda: kafka.got == ["alert"], "the alert waited for the e-mail")
        assert email.got == []
        email.gate.set()
        await dispatcher.drain(2.0)
        assert email.got == ["mail"]
        await dispatcher.stop()

    asyncio.run(scenario())


def test_a_slow_look_up_holds_back_only_the_actions_looked_up() -> None:
    async def scenario() -> None:
        store, sink = MemoryStateStore(), GatedSink("kafka")
        await saved(store, make_action("interrupted"), make_action("fresh"))
        # a process died while delivering `interrupted`: it must be looked up first
        await store.mark_attempted([(0, "interrupted")], 1000.0)
        entries = await store.outbox([0], 10)
        dispatcher = Dispatcher(
            {"kafka": sink}, MemoryIdempotencyStore(), store, MemoryDeadLetters()
        )
        dispatcher.start()
        await dispatcher.submit(entries)
        await until(lambda: sink.got == ["fresh"], "a fresh action waited for the look-up")
        assert sink.lookups == [{"interrupted"}]
        sink.gate.set()
        await dispatcher.drain(2.0)
        assert sink.got == ["fresh", "interrupted"]  # not at the sink: sent, once
        await dispatcher.stop()

    asyncio.run(scenario())


def test_a_look_up_that_fails_is_asked_again_said_loudly_and_never_sent_blind() -> None:
    class DownSink(FlakySink):
        def __init__(self) -> None:
            super().__init__()
            self.down = 2

        async def delivered(self, keys: set[str], since: float) -> set[str]:
            if self.down:
                self.down -= 1
                raise OSError("the actions topic cannot be read")
            return keys & self.holds

    async def scenario() -> tuple[DownSink, Dispatcher]:
        store, sink = MemoryStateStore(), DownSink()
        sink.holds = {"k1"}
        await saved(store, make_action("k1"))
        await store.mark_attempted([(0, "k1")], 1000.0)
        dispatcher = Dispatcher(
            {"kafka": sink},
            MemoryIdempotencyStore(),
            store,
            MemoryDeadLetters(),
            base_backoff_s=0.005,
        )
        dispatcher.start()
        await dispatcher.submit(await store.outbox([0], 10))
        await until(lambda: dispatcher.stats["sink_check_errors"] == 1, "no failed look-up")
        assert "cannot be read" in str(dispatcher.lanes()["kafka"]["lookup_error"])
        await dispatcher.drain(5.0)
        await dispatcher.stop()
        return sink, dispatcher

    sink, dispatcher = asyncio.run(scenario())
    assert sink.got == []  # it was there all along: found, never sent again
    assert dispatcher.stats["sink_check_errors"] == 2
    assert dispatcher.stats["found_at_sink"] == 1


def test_a_send_that_ended_without_an_answer_is_looked_up_before_any_resend() -> None:
    class NoAnswer(FlakySink):
        async def deliver(self, actions: Sequence[Action]) -> list[Delivery]:
            self.calls += 1
            if self.calls == 1:
                self.holds = {a.idempotency_key for a in actions if a.idempotency_key == "k1"}
                return [Delivery.maybe("connection lost before the confirm") for _ in actions]
            return await super().deliver(actions)

    async def scenario() -> NoAnswer:
        store, sink = MemoryStateStore(), NoAnswer()
        entries = await saved(store, make_action("k1"), make_action("k2"))
        dispatcher = Dispatcher(
            {"kafka": sink},
            MemoryIdempotencyStore(),
            store,
            MemoryDeadLetters(),
            base_backoff_s=0.005,
        )
        await run_dispatcher(dispatcher, entries)
        assert await store.outbox([0], 10) == []
        return sink

    sink = asyncio.run(scenario())
    # k1 had reached the receiver: found, not sent again; k2 had not: sent once more
    assert sink.got == ["k2"]


def test_a_lane_past_its_bound_leaves_the_rest_in_the_outbox() -> None:
    async def scenario() -> None:
        store, email = MemoryStateStore(), GatedSink("email", gate_deliveries=True)
        entries = await saved(store, *(make_action(f"m{i}", sink="email") for i in range(4)))
        dispatcher = Dispatcher(
            {"email": email},
            MemoryIdempotencyStore(),
            store,
            MemoryDeadLetters(),
            queue_size=2,
            max_batch=1,
        )
        dispatcher.start()
        await dispatcher.submit(entries)
        await until(lambda: dispatcher.stats["lane_over_limit_email"] >= 1, "no bound")
        assert len(dispatcher.pending) < 4  # the rest are in the outbox only
        assert len(await store.outbox([0], 10)) == 4
        await dispatcher.stop()

    asyncio.run(scenario())


def test_a_sink_that_cannot_be_asked_gets_small_batches() -> None:
    class Webhook(FlakySink):
        name = "webhook"
        batch_size = 2

        def __init__(self) -> None:
            super().__init__()
            self.batches: list[int] = []

        async def deliver(self, actions: Sequence[Action]) -> list[Delivery]:
            self.batches.append(len(actions))
            return await super().deliver(actions)

    async def scenario() -> Webhook:
        store, hook = MemoryStateStore(), Webhook()
        entries = await saved(store, *(make_action(f"w{i}", sink="webhook") for i in range(5)))
        dispatcher = Dispatcher(
            {"webhook": hook}, MemoryIdempotencyStore(), store, MemoryDeadLetters()
        )
        await run_dispatcher(dispatcher, entries)
        return hook

    hook = asyncio.run(scenario())
    assert max(hook.batches) <= 2  # what a crash could send twice
    assert sorted(hook.got) == [f"w{i}" for i in range(5)]


def test_actions_of_a_slot_handed_over_are_not_delivered_even_if_already_taken() -> None:
    async def scenario() -> tuple[GatedSink, Dispatcher]:
        store, email = MemoryStateStore(), GatedSink("email", gate_deliveries=True)
        entries = await saved(
            store, make_action("m1", sink="email"), make_action("m2", sink="email")
        )
        dispatcher = Dispatcher(
            {"email": email}, MemoryIdempotencyStore(), store, MemoryDeadLetters(), max_batch=1
        )
        dispatcher.start()
        await dispatcher.submit(entries)
        await until(lambda: dispatcher.depth == 1, "m1 not taken")  # m1 at the sink, m2 queued
        dispatcher.forget_slots({0})  # the slot moves to another shard
        email.gate.set()
        await dispatcher.drain(2.0)
        await dispatcher.stop()
        return email, dispatcher

    email, dispatcher = asyncio.run(scenario())
    assert email.got == ["m1"]  # already being delivered when the slot moved
    assert dispatcher.pending == set()


def test_an_action_handed_over_while_it_fails_is_left_to_the_new_owner() -> None:
    class FailingGate(GatedSink):
        async def deliver(self, actions: Sequence[Action]) -> list[Delivery]:
            await self.gate.wait()
            return [Delivery.failed("451 try again later") for _ in actions]

    async def scenario() -> tuple[MemoryDeadLetters, Dispatcher, MemoryStateStore]:
        store, letters = MemoryStateStore(), MemoryDeadLetters()
        email = FailingGate("email", gate_deliveries=True)
        entries = await saved(store, make_action("m1", sink="email"))
        dispatcher = Dispatcher(
            {"email": email}, MemoryIdempotencyStore(), store, letters, max_attempts=1
        )
        dispatcher.start()
        await dispatcher.submit(entries)
        await until(lambda: dispatcher.depth == 0, "m1 not taken")
        dispatcher.forget_slots({0})  # the slot moves while m1 is being sent
        email.gate.set()
        await dispatcher.drain(2.0)
        await dispatcher.stop()
        return letters, dispatcher, store

    letters, _dispatcher, store = asyncio.run(scenario())
    # then its last failed attempt dead-letters nothing here: the new owner does, once
    assert letters.letters == []
    assert [e.key for e in asyncio.run(store.outbox([0], 10))] == ["m1"]


class ClearDownOnce(MemoryStateStore):
    """Redis goes away once, as the outbox is cleared of a dead-lettered action."""

    def __init__(self) -> None:
        super().__init__()
        self.failures = 1

    async def clear_outbox(self, entries: Sequence[tuple[int, str]]) -> None:
        if self.failures and entries:
            self.failures -= 1
            raise StoreUnavailableError("outbox", "Timeout reading from socket")
        await super().clear_outbox(entries)


def test_a_dead_letter_whose_clear_failed_is_not_written_twice() -> None:
    async def scenario() -> tuple[MemoryDeadLetters, ClearDownOnce]:
        store, letters = ClearDownOnce(), MemoryDeadLetters()
        entries = await saved(store, make_action("k1"))
        dispatcher = Dispatcher(
            {"kafka": FlakySink(failures=10)},
            MemoryIdempotencyStore(),
            store,
            letters,
            max_attempts=1,
            base_backoff_s=0.01,
        )
        await run_dispatcher(dispatcher, entries)
        return letters, store

    letters, store = asyncio.run(scenario())
    assert len(letters.letters) == 1
    assert asyncio.run(store.outbox([0], 10)) == []


def test_an_action_finished_while_recovery_reads_the_outbox_is_not_offered_again() -> None:
    # Recovery reads the outbox while the action is being dead-lettered: its read holds
    # the entry, which is cleared and released before the read returns.
    async def scenario() -> tuple[MemoryDeadLetters, int]:
        store, letters = MemoryStateStore(), MemoryDeadLetters()
        entries = await saved(store, make_action("k1"))
        dispatcher = Dispatcher(
            {"kafka": FlakySink(failures=10, retryable=False)},
            MemoryIdempotencyStore(),
            store,
            letters,
        )
        dispatcher.start()
        await dispatcher.submit(entries)

        async def stale_read() -> list[OutboxEntry]:
            read = await store.outbox([0], 10)  # still there
            await dispatcher.drain(2.0)  # meanwhile it is dead-lettered and cleared
            return read

        offered = await dispatcher.recover(stale_read)
        await dispatcher.drain(1.0)
        await dispatcher.stop()
        return letters, offered

    letters, offered = asyncio.run(scenario())
    assert offered == 0
    assert len(letters.letters) == 1


def test_a_dead_lettered_action_is_marked_so_no_later_offer_acts_on_it_again() -> None:
    # A copy of the entry offered again later (another shard's stale read of the outbox,
    # a restart before the clear) finds the action done.
    async def scenario() -> tuple[MemoryDeadLetters, MemoryIdempotencyStore]:
        store, letters, sent = MemoryStateStore(), MemoryDeadLetters(), MemoryIdempotencyStore()
        entries = await saved(store, make_action("k1"))
        sink = FlakySink(failures=10, retryable=False)
        first = Dispatcher({"kafka": sink}, sent, store, letters)
        await run_dispatcher(first, entries)
        second = Dispatcher({"kafka": sink}, sent, store, letters)
        await run_dispatcher(second, entries)
        return letters, sent

    letters, sent = asyncio.run(scenario())
    assert len(letters.letters) == 1
    assert "k1" in sent.sent


def test_a_decision_record_reaches_its_lane_and_leaves_no_note_in_the_timeline() -> None:
    """The decision log's copy of a decision goes through the `decisions` sink like an
    action; the customer's timeline already has the turn that decided it."""
    from actors.model.decision import DecisionRecord
    from actors.turn.decision_log import logged

    record = DecisionRecord(
        decision_id="dec_1",
        customer_id="c1",
        at=time.time(),
        source="next_best_offer",
        rule_id="next_best_offer",
    )

    async def scenario() -> tuple[FlakySink, FlakySink, list[bytes]]:
        store, actions, decisions = MemoryStateStore(), FlakySink(), FlakySink()
        entries = await saved(store, make_action("k1"), logged(record, "dec_1", time.time()))
        dispatcher = Dispatcher(
            {"kafka": actions, "decisions": decisions},
            MemoryIdempotencyStore(),
            store,
            MemoryDeadLetters(),
            trace_keep=10,
            trace_ttl_s=60,
        )
        await run_dispatcher(dispatcher, entries)
        return actions, decisions, await store.trace_of(0, "c1", 10)

    actions, decisions, notes = asyncio.run(scenario())
    assert actions.got == ["k1"]
    assert len(decisions.got) == 1
    assert decisions.got != ["k1"]
    assert [json.loads(n)["action_id"] for n in notes] == ["act_k1"]


class SuppressionsDownOnce(MemorySuppressions):
    """Redis goes away while the guardrails read the bounced addresses, once."""

    def __init__(self) -> None:
        super().__init__()
        self.failures = 1

    async def of(self, addresses: Sequence[str]) -> dict[str, Suppression]:
        if self.failures:
            self.failures -= 1
            raise StoreUnavailableError("suppressions", "Timeout reading from socket")
        return await super().of(addresses)


def test_an_outage_reading_bounced_addresses_holds_the_email_then_judges_it_once() -> None:
    async def scenario() -> tuple[FlakySink, MemoryDeadLetters, Dispatcher]:
        store, sink, letters = MemoryStateStore(), FlakySink(), MemoryDeadLetters()
        suppressions = SuppressionsDownOnce()
        await suppressions.add([suppression("gone@example.com", "bounce", "ses", "5.1.1")])
        mail = {"channel": "email", "kind": "service"}
        fine = make_action("k1").model_copy(update={**mail, "contact": "ok@example.com"})
        gone = make_action("k2").model_copy(update={**mail, "contact": "gone@example.com"})
        entries = await saved(store, fine, gone)
        guardrails = Guardrails(
            MemoryGuardrailStore(store), PolicySpec, 16, time.time, suppressions
        )
        dispatcher = Dispatcher(
            {"kafka": sink},
            MemoryIdempotencyStore(),
            store,
            letters,
            guardrails,
            base_backoff_s=0.01,
        )
        await run_dispatcher(dispatcher, entries)
        return sink, letters, dispatcher

    sink, letters, dispatcher = asyncio.run(scenario())
    # Held through the outage, not lost or dead-lettered for it; then the bounced
    # address's e-mail is suppressed and the other delivered once.
    assert dispatcher.stats["dispatch_errors"] == 1
    assert sink.got == ["k1"]
    assert letters.letters == []
