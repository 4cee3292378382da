"""Guardrails: the last word before an action reaches a customer.

The dispatcher asks `Guardrails.decide` for every action about to be delivered:

* held out (the campaign's control group): never delivered, counted as `holdout`;
* fraud alerts: always delivered;
* an action on a channel whose consent for its purpose (marketing or service) the
  customer withdrew, or never gave where the policy makes it opt-in: suppressed
  (actors.model.consent);
* marketing within the fraud-suppression window of a fraud alert: suppressed;
* e-mail to an address that hard-bounced (any e-mail) or complained (marketing):
  suppressed (actors.delivery.mail.suppressions);
* marketing inside quiet hours in the customer's time zone: deferred to their end;
* marketing over a frequency cap (per channel, per campaign, per day and per week; the
  most restrictive wins): suppressed.

Facts and counters live in Redis, in one hash per customer (`Keys.guard`), which the
shard's commit also writes (consent, last fraud alert) and `forget` deletes. Cap
counters count delivered actions only, per local day and ISO week.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from actors.delivery.mail.suppressions import Suppression, Suppressions, normal
from actors.delivery.policy import DELIVER, Decision
from actors.errors import StoreUnavailableError
from actors.model import consent
from actors.model.actions import Action
from actors.rules.ruleset import CapSpec, PolicySpec
from actors.storage.keys import Keys
from actors.storage.memory_store import MemoryStateStore
from actors.storage.slots import slot_of

CAP_TTL_S = 9 * 86_400  # a week's counter must outlive the week


class GuardrailStore(Protocol):
    async def facts(self, customers: Sequence[tuple[int, str]]) -> list[dict[str, str]]:
        """The guard hash of each (slot, customer): opt-out, fraud_at, cap counters."""
        ...

    async def count(self, increments: Sequence[tuple[int, str, list[str]]]) -> None:
        """Add one to each named counter of each (slot, customer)."""
        ...


class MemoryGuardrailStore:
    """Reads and writes the guard facts of a MemoryStateStore (unit tests)."""

    def __init__(self, store: MemoryStateStore) -> None:
        self._guards = store.guards

    async def facts(self, customers: Sequence[tuple[int, str]]) -> list[dict[str, str]]:
        return [dict(self._guards.get(c, {})) for c in customers]

    async def count(self, increments: Sequence[tuple[int, str, list[str]]]) -> None:
        for slot, customer_id, fields in increments:
            guard = self._guards.setdefault((slot, customer_id), {})
            for name in fields:
                guard[name] = str(int(guard.get(name, "0")) + 1)


class RedisGuardrailStore:
    def __init__(self, redis: aioredis.Redis, keys: Keys) -> None:
        self._redis = redis
        self._keys = keys

    async def facts(self, customers: Sequence[tuple[int, str]]) -> list[dict[str, str]]:
        if not customers:
            return []
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for slot, customer_id in customers:
                    pipe.hgetall(self._keys.guard(slot, customer_id))
                rows = await pipe.execute()
        except RedisError as error:
            raise StoreUnavailableError("guardrails", str(error)) from error
        return [{k.decode(): v.decode() for k, v in row.items()} for row in rows]

    async def count(self, increments: Sequence[tuple[int, str, list[str]]]) -> None:
        if not increments:
            return
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for slot, customer_id, fields in increments:
                    key = self._keys.guard(slot, customer_id)
                    for name in fields:
                        pipe.hincrby(key, name, 1)
                    pipe.expire(key, CAP_TTL_S)
                await pipe.execute()
        except RedisError as error:
            raise StoreUnavailableError("guardrails", str(error)) from error


def _zone(name: str | None, default: str) -> ZoneInfo:
    for candidate in (name, default):
        if candidate:
            try:
                return ZoneInfo(candidate)
            # "America" names a directory of the zone database: OSError, not NotFound.
            except (ZoneInfoNotFoundError, ValueError, OSError):
                continue
    return ZoneInfo("UTC")


def _clock_time(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def quiet_until(local: datetime, start: str, end: str) -> datetime | None:
    """The end of the quiet period `local` falls in, or None outside quiet hours."""
    begin, finish = _clock_time(start), _clock_time(end)
    now = local.time()
    # A period like 21:00-08:00 spans midnight.
    inside = begin <= now < finish if begin <= finish else now >= begin or now < finish
    if not inside:
        return None
    until = local.replace(hour=finish.hour, minute=finish.minute, second=0, microsecond=0)
    if until <= local:
        until += timedelta(days=1)
    return until


def cap_fields(
    channel: str, campaign: str | None, policy: PolicySpec, at: datetime
) -> list[tuple[str, int, str]]:
    """(counter field, limit, description) of every cap that applies to marketing on
    `channel` for `campaign` at local time `at`."""
    day = at.strftime("%Y-%m-%d")
    year, week, _ = at.isocalendar()
    caps = []
    scopes: list[tuple[str, str, CapSpec | None]] = [
        ("channel", channel, policy.channel_caps.get(channel))  # type: ignore[call-overload]
    ]
    if campaign:
        scopes.append(("campaign", campaign, policy.campaign_caps.get(campaign)))
    for scope, name, spec in scopes:
        if spec is None:
            continue
        if spec.day is not None:
            caps.append((f"cap|{scope}|{name}|d|{day}", spec.day, f"{scope} {name} {spec.day}/day"))
        if spec.week is not None:
            caps.append(
                (
                    f"cap|{scope}|{name}|w|{year}-W{week:02d}",
                    spec.week,
                    f"{scope} {name} {spec.week}/week",
                )
            )
    return caps


def cap_reached(
    caps: Sequence[tuple[str, int, str]],
    facts: Mapping[str, str],
    pending: Callable[[str], int] = lambda _: 0,
) -> str | None:
    """Which cap the counters (and `pending`, delivered but not yet counted) reached, or
    None: the one answer for the dispatcher and for next-best-offer."""
    for name, limit, description in caps:
        if int(facts.get(name, "0")) + pending(name) >= limit:
            return f"frequency cap: {description}"
    return None


def local_time(at: float, timezone: str | None, policy: PolicySpec) -> datetime:
    """`at` in the customer's time zone (the policy's default when unknown)."""
    default = policy.quiet_hours.default_timezone if policy.quiet_hours else "UTC"
    return datetime.fromtimestamp(at, _zone(timezone, default))


def _mailed_to(action: Action) -> str | None:
    """The address an e-mail the guardrails judge goes to (its bounces and complaints
    apply), or None for any other action."""
    if action.channel == "email" and action.kind != "fraud":
        return action.contact or None
    return None


class Guardrails:
    """The dispatcher's `ActionPolicy`, reading the policy of the rules in force."""

    def __init__(
        self,
        store: GuardrailStore,
        policy: Callable[[], PolicySpec],
        slots: int,
        clock: Callable[[], float],
        suppressions: Suppressions | None = None,
    ) -> None:
        self.store = store
        self.policy = policy
        self.slots = slots
        self.clock = clock
        self.suppressions = suppressions

    def _local(self, action: Action, policy: PolicySpec) -> datetime:
        return local_time(self.clock(), action.timezone, policy)

    async def decide(self, actions: Sequence[Action]) -> list[Decision]:
        policy = self.policy()
        asking = sorted({a.customer_id for a in actions if a.kind != "fraud"})
        customers = [(slot_of(c, self.slots), c) for c in asking]
        facts = dict(zip(asking, await self.store.facts(customers), strict=True))
        suppressed = await self._suppressed(actions)
        pending: Counter[tuple[str, str]] = Counter()
        decisions = []
        for action in actions:
            if action.held_out:
                decisions.append(Decision("holdout", f"held out of campaign {action.campaign}"))
                continue
            if action.kind == "fraud":
                decisions.append(DELIVER)
                continue
            try:
                address = _mailed_to(action)
                bounced = suppressed.get(normal(address)) if address else None
                decision = self._decide_one(
                    action, policy, facts[action.customer_id], pending, bounced
                )
            except Exception as error:  # one bad action fails alone, never its batch
                decision = Decision("reject", f"guardrails failed: {type(error).__name__}: {error}")
            decisions.append(decision)
        return decisions

    def _decide_one(
        self,
        action: Action,
        policy: PolicySpec,
        facts: dict[str, str],
        pending: Counter[tuple[str, str]],
        suppressed: Suppression | None = None,
    ) -> Decision:
        fraud_at = facts.get("fraud_at")
        blocked = consent.blocked(
            action.kind,
            action.channel,
            consent.from_guard_facts(facts),
            policy.opt_in,
            float(fraud_at) if fraud_at is not None else None,
            action.event_time.timestamp(),
            policy.suppress_marketing_after_fraud,
        )
        if blocked is None and suppressed is not None:
            blocked = suppressed.blocks(action.kind)
        if blocked is not None:
            return Decision("suppress", blocked)
        if action.kind != "marketing":  # service waits for no quiet hours and no cap
            return DELIVER
        local = self._local(action, policy)
        if policy.quiet_hours is not None:
            until = quiet_until(local, policy.quiet_hours.start, policy.quiet_hours.end)
            if until is not None:
                return Decision("defer", "quiet hours", until=until.timestamp())
        caps = cap_fields(action.channel, action.campaign, policy, local)
        reached = cap_reached(caps, facts, lambda name: pending[(action.customer_id, name)])
        if reached is not None:
            return Decision("suppress", reached)
        for name, _, _ in caps:
            pending[(action.customer_id, name)] += 1
        return DELIVER

    async def _suppressed(self, actions: Sequence[Action]) -> dict[str, Suppression]:
        """The bounce and complaint records of the addresses these e-mails go to."""
        addresses = [address for a in actions if (address := _mailed_to(a))]
        if self.suppressions is None or not addresses:
            return {}
        # StoreUnavailableError, like the facts': an outage, the batch is judged later.
        return await self.suppressions.of(addresses)

    async def delivered(self, actions: Sequence[Action]) -> None:
        policy = self.policy()
        increments = []
        for action in actions:
            if action.kind != "marketing" or action.held_out:
                continue
            local = self._local(action, policy)
            caps = cap_fields(action.channel, action.campaign, policy, local)
            fields = [name for name, _, _ in caps]
            if fields:
                increments.append(
                    (slot_of(action.customer_id, self.slots), action.customer_id, fields)
                )
        await self.store.count(increments)
