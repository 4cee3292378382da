"""The webhook sink against a real local HTTP server."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp import web

from actors.delivery.idempotency import MemoryIdempotencyStore
from actors.delivery.letters import MemoryDeadLetters
from actors.delivery.outbox import Dispatcher
from actors.delivery.sinks.webhook import WebhookSink, verify
from actors.storage.memory_store import MemoryStateStore
from engage.processes import free_port
from tests.actors.delivery.test_outbox import make_action, saved

SECRET = b"s3cret"


class Receiver:
    """A webhook receiver that checks signatures and answers what it is told."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = statuses
        self.received: list[dict[str, Any]] = []
        self.port = free_port()
        self.delay_s = 0.0

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        valid = verify(
            SECRET,
            request.headers["X-Engage-Timestamp"],
            body,
            request.headers["X-Engage-Signature"],
        )
        await asyncio.sleep(self.delay_s)
        status = self.statuses.pop(0) if self.statuses else 200
        if valid and status == 200:
            self.received.append(json.loads(body))
        return web.Response(
            status=status if valid else 401, text="no thanks" if status >= 400 else "ok"
        )


async def serving(receiver: Receiver) -> web.AppRunner:
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", receiver.port).start()
    return runner


def run_with(receiver: Receiver, scenario: Callable[[WebhookSink], Any]) -> Any:
    async def body() -> Any:
        runner = await serving(receiver)
        sink = WebhookSink(f"http://127.0.0.1:{receiver.port}/hook", SECRET, timeout_s=0.5)
        try:
            return await scenario(sink)
        finally:
            await sink.close()
            await runner.cleanup()

    return asyncio.run(body())


def test_actions_are_posted_as_signed_json() -> None:
    receiver = Receiver([200])
    results = run_with(receiver, lambda sink: sink.deliver([make_action("k1", sink="webhook")]))
    assert results[0].ok
    assert receiver.received[0]["idempotency_key"] == "k1"


def test_a_signature_made_with_another_secret_is_refused() -> None:
    assert not verify(b"other", "1", b"{}", "sha256=00")


@pytest.mark.parametrize(
    ("status", "retryable"), [(500, True), (503, True), (429, True), (400, False), (404, False)]
)
def test_server_errors_are_retryable_client_errors_are_final(status: int, retryable: bool) -> None:
    receiver = Receiver([status])
    (result,) = run_with(receiver, lambda sink: sink.deliver([make_action("k1", sink="webhook")]))
    assert not result.ok
    assert result.retryable is retryable
    assert f"webhook answered {status}" in result.reason


def test_a_slow_webhook_times_out_and_may_be_retried() -> None:
    receiver = Receiver([200])
    receiver.delay_s = 2.0
    (result,) = run_with(receiver, lambda sink: sink.deliver([make_action("k1", sink="webhook")]))
    assert (result.ok, result.retryable) == (False, True)
    assert "timed out" in result.reason


def test_an_unreachable_webhook_ends_on_the_dead_letters_after_retries() -> None:
    async def scenario() -> tuple[MemoryDeadLetters, Dispatcher]:
        store, letters = MemoryStateStore(), MemoryDeadLetters()
        sink = WebhookSink(f"http://127.0.0.1:{free_port()}/hook", SECRET, timeout_s=0.5)
        dispatcher = Dispatcher(
            {"webhook": sink},
            MemoryIdempotencyStore(),
            store,
            letters,
            max_attempts=3,
            base_backoff_s=0.01,
        )
        dispatcher.start()
        await dispatcher.submit(await saved(store, make_action("k1", sink="webhook")))
        await dispatcher.drain(5.0)
        await dispatcher.stop()
        await sink.close()
        assert await store.outbox([0], 10) == []
        return letters, dispatcher

    letters, dispatcher = asyncio.run(scenario())
    ((raw, reason, sink_name),) = letters.letters
    assert "webhook unreachable" in reason
    assert sink_name == "webhook"
    assert json.loads(raw)["idempotency_key"] == "k1"
    assert dispatcher.stats["retries"] == 2


def test_a_flaky_webhook_gets_the_action_once_after_retries() -> None:
    receiver = Receiver([503, 503, 200])

    async def scenario(sink: WebhookSink) -> None:
        store = MemoryStateStore()
        dispatcher = Dispatcher(
            {"webhook": sink},
            MemoryIdempotencyStore(),
            store,
            MemoryDeadLetters(),
            base_backoff_s=0.01,
        )
        dispatcher.start()
        await dispatcher.submit(await saved(store, make_action("k1", sink="webhook")))
        await dispatcher.drain(5.0)
        await dispatcher.stop()

    run_with(receiver, scenario)
    assert [a["idempotency_key"] for a in receiver.received] == ["k1"]
