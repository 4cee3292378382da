"""Replaying dead letters: chosen by id, reason, time and customer; each record put back
at most once, whatever is run again or cut short; what cannot be replayed says why."""

from __future__ import annotations

import json

import pytest

from actors.brokers.dead_letter_log import DeadLetter
from actors.brokers.stub import StubBroker, StubDeadLetterLog
from actors.errors import BrokerUnavailableError
from actors.model.actions import action_from_json, action_to_json
from engage.cli import main
from engage.dlq.marks import MemoryMarks
from engage.dlq.outbox import MemoryOutbox, replay_key
from engage.dlq.replay import Choice, Replayer, chosen, marks_of
from tests.actors.delivery.test_outbox import make_action


def event_letter(n: int, reason: str = "turn failed: KeyError", at: float = 1000.0) -> DeadLetter:
    return DeadLetter(
        kind="events",
        id=f"0:{n}",
        key=f"c{n}".encode(),
        value=json.dumps({"event_id": f"e{n}"}).encode(),
        headers={"error-reason": reason, "failed-at": repr(at + n)},
    )


def action_letter(key: str, customer: str = "c1") -> DeadLetter:
    action = make_action(key).model_copy(update={"customer_id": customer})
    return DeadLetter(
        kind="actions",
        id=f"0:{key}",
        value=action_to_json(action),
        headers={"error-reason": "webhook: 503", "sink": "webhook", "failed-at": "1000.0"},
    )


@pytest.fixture
def broker() -> StubBroker:
    return StubBroker(partitions=1)


def replayer(log: StubDeadLetterLog, customers: frozenset[str] = frozenset({"c1"})) -> Replayer:
    return Replayer(log, MemoryMarks(), MemoryOutbox(set(customers)))


def replayed_values(broker: StubBroker) -> list[bytes]:
    return [r.value for r in broker.events.records.get(0, []) if r.value is not None]


def test_a_choice_picks_by_id_reason_time_and_customer() -> None:
    letters = [event_letter(1), event_letter(2, reason="bad JSON"), event_letter(3)]
    assert [x.id for x in letters if Choice(ids=frozenset({"0:2"})).picks(x)] == ["0:2"]
    assert [x.id for x in letters if Choice(reason="keyerror").picks(x)] == ["0:1", "0:3"]
    assert [x.id for x in letters if Choice(since=1002.0).picks(x)] == ["0:2", "0:3"]
    assert [x.id for x in letters if Choice(until=1002.0).picks(x)] == ["0:1"]
    assert [x.id for x in letters if Choice(customer="c3").picks(x)] == ["0:3"]
    assert [x.id for x in letters if Choice(reason="KeyError", since=1002.0).picks(x)] == ["0:3"]


def test_an_event_goes_back_onto_the_events_stream_as_it_was(broker: StubBroker) -> None:
    log = broker.dead_letter_log("events")
    log.letters = [event_letter(1)]
    (outcome,) = replayer(log).replay(log.letters)
    assert outcome.verdict == "replayed"
    assert replayed_values(broker) == [log.letters[0].value]
    assert broker.events.records[0][0].key == b"c1"


def test_a_record_is_replayed_once_however_often_it_is_asked(broker: StubBroker) -> None:
    log = broker.dead_letter_log("events")
    log.letters = [event_letter(1), event_letter(2)]
    again = replayer(log)
    again.replay(log.letters[:1])
    second = again.replay(log.letters)
    assert [o.verdict for o in second] == ["skipped", "replayed"]
    assert "replayed already" in second[0].detail
    assert len(replayed_values(broker)) == 2
    assert {m.state for m in marks_of(log, again.marks, log.letters).values()} == {"replayed"}


def test_a_dry_run_changes_nothing(broker: StubBroker) -> None:
    log = broker.dead_letter_log("events")
    log.letters = [event_letter(1)]
    dry = replayer(log)
    (outcome,) = dry.replay(log.letters, dry_run=True)
    assert outcome.verdict == "would replay"
    assert replayed_values(broker) == []
    assert marks_of(log, dry.marks, log.letters) == {}


def test_a_broker_outage_ends_the_run_and_the_next_run_finishes_it(broker: StubBroker) -> None:
    """The claim stays: the next run puts the record back (the actor's event-id dedup
    makes a copy the broker may have kept a no-op) and marks it replayed."""
    log = broker.dead_letter_log("events")
    log.letters = [event_letter(1), event_letter(2)]
    run = replayer(log)
    log.down = "connection refused"
    with pytest.raises(BrokerUnavailableError):
        run.replay(log.letters)
    assert marks_of(log, run.marks, log.letters)["0:1"].state == "replaying"
    log.down = None
    outcomes = run.replay(log.letters)
    assert [o.verdict for o in outcomes] == ["replayed", "replayed"]
    assert "cut short" in outcomes[0].detail
    assert len(replayed_values(broker)) == 2


def test_an_action_goes_to_its_customer_s_outbox_under_a_key_of_its_own(
    broker: StubBroker,
) -> None:
    log = broker.dead_letter_log("actions")
    log.letters = [action_letter("k1")]
    run = replayer(log)
    (outcome,) = run.replay(log.letters)
    assert outcome.verdict == "replayed"
    outbox = run.outbox
    assert isinstance(outbox, MemoryOutbox)
    (action,) = outbox.actions.values()
    assert action.idempotency_key == replay_key("k1") != "k1"
    assert action.action_id == "act_" + replay_key("k1")[:24]
    original = action_from_json(log.letters[0].value)
    assert (
        action.model_copy(update={"idempotency_key": "k1", "action_id": original.action_id})
        == original
    )
    assert replay_key("k1") == replay_key("k1")  # every replay of it: the same key


def test_what_cannot_be_replayed_says_why(broker: StubBroker) -> None:
    actions = broker.dead_letter_log("actions")
    refused = DeadLetter(
        kind="actions",
        id="0:9",
        value=json.dumps({"rejected_action": {"rule_id": "r"}, "reason": "no field"}).encode(),
    )
    gone = action_letter("k2", customer="forgotten")
    cut = DeadLetter(kind="actions", id="0:10", value=b"{", headers={"truncated": "true"})
    actions.letters = [refused, gone, cut]
    outcomes = replayer(actions).replay(actions.letters)
    assert [o.verdict for o in outcomes] == ["skipped"] * 3
    assert "could not be built" in outcomes[0].detail
    assert "no longer kept" in outcomes[1].detail
    assert "cut to fit" in outcomes[2].detail


def test_chosen_reads_oldest_first_and_stops_at_the_limit(broker: StubBroker) -> None:
    log = broker.dead_letter_log("events")
    log.letters = [event_letter(n) for n in range(5)]
    assert [x.id for x in chosen(log, Choice(), limit=2, scan=100)] == ["0:0", "0:1"]
    assert [x.id for x in chosen(log, Choice(since=1003.0), limit=9, scan=100)] == ["0:3", "0:4"]


def test_replay_without_a_choice_asks_for_one(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Replaying every dead letter is said, not defaulted to: nothing is read or sent."""
    monkeypatch.setenv("ENGAGE_REDIS_URL", "redis://127.0.0.1:1")
    monkeypatch.setenv("ENGAGE_KAFKA_BOOTSTRAP", "127.0.0.1:1")
    assert main(["dlq", "replay", "events"]) == 2
    assert "--all" in capsys.readouterr().err
