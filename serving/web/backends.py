"""What the routes need from the rest of engage, as protocols, and the errors of each
translated once into HTTP answers.

`serving.api` attaches the live ones (shards through Ray, Kafka, Redis, the registry);
tests give fakes. A route takes `serving.web.served.Live` and calls these methods, never a
client.
"""

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from redis.exceptions import RedisError

from actors.campaigns.rules_follower import RulesFollower
from actors.campaigns.rules_store import RulesVersion
from actors.catalog.feed import CatalogFeed
from actors.catalog.follower import CatalogFollower
from actors.catalog.offer import CatalogOffer
from actors.catalog.store import Published
from actors.delivery.guardrails import GuardrailStore, cap_fields, cap_reached, local_time
from actors.delivery.mail.suppressions import Suppressions
from actors.errors import (
    EngageError,
    ModelError,
    NoSuchModelVersionError,
    ShardUnavailableError,
    StoreUnavailableError,
)
from actors.model.actions import Channel
from actors.model.event_time import EventTimeBounds
from actors.model.events import ANON_PREFIX, Event
from actors.model.feature_bins import MODEL_FEATURES
from actors.model.state import CustomerState
from actors.model.state_format import state_from_json
from actors.outcomes.journey_report import journey_report
from actors.outcomes.reports import report
from actors.rules.ruleset import RuleSet
from actors.storage.slots import slot_of
from actors.storage.store import StateStore
from actors.turn.scoring import Score
from serving.config import ApiConfig
from serving.drift import BASELINE_S, CURRENT_S, LIVE_S, champion_drift, score_drift
from serving.figures import summarize
from serving.publisher import PublishError
from serving.refusals import RefusalLog, RefusalStore
from serving.security import ApiError
from serving.series import Series
from training.registry import ModelVersion


class EventSink(Protocol):
    async def publish(self, events: Sequence[Event]) -> None:
        """On the broker when this returns; `PublishError` when it is not."""
        ...


class Shards(Protocol):
    @property
    def epoch(self) -> int: ...

    async def call(self, customer_id: str, method: str, *args: Any) -> Any:
        """A shard method for one customer; `ShardUnavailableError` when its shard is out."""
        ...

    async def each_shard(self, method: str, *args: Any) -> dict[int, Any]:
        """A method of every shard; a shard that fails answers `{"shard", "error"}`."""
        ...


class Recommender(Protocol):
    def recommend(self, row: list[float]) -> Score:
        """The champion recommender's answer to a request row (actors.model.offer_features);
        an `EngageError` when none can score."""
        ...


class Registry(Protocol):
    def names(self) -> list[str]: ...

    def versions(self, name: str) -> list[ModelVersion]: ...

    def aliases(self, name: str) -> dict[str, int]: ...

    def promote(self, name: str, version: int, *, force: bool = False) -> int | None: ...

    def rollback(self, name: str) -> int: ...

    def alias(self, name: str, alias: str) -> int | None: ...

    def get(self, name: str, version: int) -> ModelVersion: ...

    def set_alias(self, name: str, alias: str, version: int | None) -> int | None: ...


class ScorerStatus(Protocol):
    async def status(self) -> dict[str, Any]: ...


class Figures(Protocol):
    """Figures kept in Redis (blocking reads: routes run them in a thread)."""

    def ingest(self) -> list[dict[str, Any]]:
        """Every ingest replica's latest published figures."""
        ...

    def counters(self) -> dict[str, int]:
        """The outcome counters of every slot (actors.outcomes.reports)."""
        ...

    def segments(self, names: Sequence[str]) -> dict[str, int]:
        """Customers in each segment now (actors.campaigns.audiences)."""
        ...


class CatalogWriter(Protocol):
    """actors.catalog.store.CatalogStore, as the API uses it (blocking calls)."""

    def put_offer(self, offer: CatalogOffer, by: str) -> Published: ...

    def delete_offer(self, offer_id: str, by: str) -> Published: ...

    def rollback(self, by: str) -> Published: ...

    def audit(self, limit: int = 50) -> list[dict[str, Any]]: ...


class RulesWriter(Protocol):
    """actors.campaigns.rules_store.RulesStore, as the API uses it (blocking calls)."""

    def current_version(self) -> int: ...

    def load(self, version: int) -> RulesVersion: ...

    def versions(self, limit: int = 20) -> list[RulesVersion]: ...

    def push(self, text: str, by: str, comment: str = "") -> tuple[RulesVersion, bool]: ...

    def rollback(self, by: str, comment: str = "") -> RulesVersion: ...


@dataclass
class Backends:
    config: ApiConfig
    event_time: EventTimeBounds
    slots: int
    publisher: EventSink
    shards: Shards
    states: StateStore
    recommender: Recommender
    registry: Registry
    scorer: ScorerStatus
    figures: Figures
    # The rules in force (policy, segments), as the shards run them.
    ruleset: Callable[[], RuleSet]
    series: Series
    # The live feature counts, a sample every `config.feature_sample_s` (a minute).
    feature_series: Series
    # The offer catalogue this replica serves, and where changes to it are written.
    catalog: CatalogFollower
    catalog_store: CatalogWriter
    catalog_poll_s: float = 1.0
    # Follows the broker's catalogue feed into `catalog_store` (one replica at a time).
    catalog_feed: CatalogFeed | None = None
    # The rules in force (followed by the app's loop) and where versions are pushed.
    rules: RulesFollower | None = None
    rules_store: RulesWriter | None = None
    rules_poll_s: float = 1.0
    # Each customer's guard facts (delivered-marketing counters for the caps), read by
    # next-best-offer for the caps the dispatcher applies.
    guards: GuardrailStore | None = None
    # Refused calls: recorded per request, flushed to `refusal_store` by the app's loop.
    refusals: RefusalLog = field(default_factory=RefusalLog)
    refusal_store: RefusalStore | None = None
    # Addresses bounces and complaints suppressed (actors.delivery.mail.suppressions).
    suppressions: Suppressions | None = None

    async def publish(self, events: Sequence[Event]) -> None:
        try:
            await self.publisher.publish(events)
        except PublishError as error:
            raise ApiError(503, "broker_unavailable", error.reason) from error

    async def resolve(self, customer_id: str) -> str:
        """The customer whose answers `customer_id` gets: a visitor merged into a customer
        answers as that customer (actors.model.identity); any other id as itself."""
        if not customer_id.startswith(ANON_PREFIX):
            return customer_id
        try:
            linked = await self.states.linked_to(slot_of(customer_id, self.slots), customer_id)
        except StoreUnavailableError as error:
            raise ApiError(503, "store_unavailable", str(error)) from error
        return linked or customer_id

    async def on_shard(self, customer_id: str, method: str) -> dict[str, Any]:
        """A shard's answer about one customer (it activates the customer if needed)."""
        answer: dict[str, Any] = await self._call_shard(await self.resolve(customer_id), method)
        return answer

    async def forget(self, customer_id: str) -> str:
        """Forget the customer (a visitor's id: the customer it was merged into) and every
        visitor merged into it; the customer forgotten. The visitors' own shards drop their
        live copies, so no read answers from what was erased."""
        resolved = await self.resolve(customer_id)
        forgotten: list[str] = await self._call_shard(resolved, "forget")
        for actor in forgotten:
            if actor != resolved:
                await self._call_shard(actor, "evict")
        return resolved

    async def _call_shard(self, customer_id: str, method: str) -> Any:
        try:
            return await self.shards.call(customer_id, method)
        except ShardUnavailableError as error:
            raise ApiError(503, "shard_unavailable", str(error)) from error

    async def saved_state(self, customer_id: str) -> CustomerState | None:
        """The (resolved) customer's last committed state, read from the store without a shard call
        (a shard acknowledges a batch only once its state is saved); None when the store
        cannot be reached."""
        try:
            (stored,) = await self.states.load_many(
                [(slot_of(customer_id, self.slots), customer_id)]
            )
        except StoreUnavailableError:
            return None
        return state_from_json(stored.data) if stored.data else CustomerState()

    async def timeline(self, customer_id: str, limit: int) -> list[bytes]:
        resolved = await self.resolve(customer_id)
        try:
            return await self.states.trace_of(slot_of(resolved, self.slots), resolved, limit)
        except StoreUnavailableError as error:
            raise ApiError(503, "store_unavailable", str(error)) from error

    def recommend(self, row: list[float]) -> Score:
        try:
            return self.recommender.recommend(row)
        except EngageError as error:
            raise ApiError(503, "scorer_unavailable", str(error)) from error

    async def figures_now(self) -> dict[str, Any]:
        """What operators watch, summed over shards and ingest replicas now."""
        shards = list((await self.shards.each_shard("introspect")).values())
        ingest = await asyncio.to_thread(self.figures.ingest)
        models = await self.scorer_status()
        # A scorer that cannot say what it serves leaves the model figures out, not the rest.
        figures = summarize(ingest, shards, {} if "error" in models else models)
        refused = await self.refused()
        if refused is not None:
            figures["collect_refused"] = refused["by_field"]
            figures["collect_bots"] = refused.get("bots", {})
        segments = await self.segment_counts()
        if segments is not None:
            figures["segments"] = segments
        counters = await self.outcome_counters()
        if counters is not None:
            figures["conversion"] = report(counters, "offer")
            journeys = {j.id: [step.id for step in j.steps] for j in self.ruleset().journeys}
            figures["journeys"] = journey_report(counters, journeys)
        return figures

    async def outcome_counters(self) -> dict[str, int] | None:
        """Every slot's outcome counters; None while Redis is out of reach."""
        try:
            return await asyncio.to_thread(self.figures.counters)
        except (StoreUnavailableError, RedisError, OSError):
            return None

    async def cap_reached(
        self, customer_id: str, channel: Channel, campaign: str | None, timezone: str | None
    ) -> str | None:
        """The frequency cap of the channel (or campaign) the customer has reached now, as
        the dispatcher would judge a delivery now; None if none applies or none is reached.
        While the counters cannot be read, an outbound answer is held rather than risk
        contacting the customer over a cap."""
        policy = self.ruleset().policy
        caps = cap_fields(channel, campaign, policy, local_time(time.time(), timezone, policy))
        if not caps or self.guards is None:
            return None
        try:
            (facts,) = await self.guards.facts([(slot_of(customer_id, self.slots), customer_id)])
        except StoreUnavailableError:
            return "frequency caps unknown: the state store is out of reach"
        return cap_reached(caps, facts)

    async def segment_counts(self) -> dict[str, int] | None:
        """Members of each segment of the rules in force; None while Redis is out of
        reach (a missing figure, not a zero)."""
        names = [segment.name for segment in self.ruleset().segments]
        try:
            return await asyncio.to_thread(self.figures.segments, names)
        except (StoreUnavailableError, RedisError, OSError):
            return None

    async def refused(self) -> dict[str, Any] | None:
        """Refused collection calls of every replica (serving.refusals); None while Redis
        is out of reach."""
        if self.refusal_store is None:
            return self.refusals.report()
        try:
            return await asyncio.to_thread(self.refusal_store.read)
        except (RedisError, OSError):
            return None

    async def score_drift(self) -> dict[str, float]:
        """Per model, how far its live scores of the last hour moved from the day before
        (serving.drift); models without enough scores, or Redis out of reach, have none."""
        try:
            oldest, middle, newest = await self.series.aged([BASELINE_S + CURRENT_S, CURRENT_S, 0])
        except (RedisError, OSError):
            return {}  # /metrics still answers; the index is missing, not zero
        return score_drift(oldest, middle, newest)

    async def training_drift(self, model: str, window_s: float = LIVE_S) -> dict[str, Any]:
        """The champion's live features and scores against its training window."""
        try:
            return await champion_drift(self.registry, self.feature_series, model, window_s)
        except NoSuchModelVersionError as error:
            raise ApiError(404, "model", error.reason) from None
        except ModelError as error:
            # No version: the model has no champion; a version: its champion cannot be used.
            status = 404 if error.version is None else 409
            raise ApiError(status, "model", error.reason) from None
        except (RedisError, OSError, StoreUnavailableError) as error:
            raise ApiError(503, "store_unavailable", str(error)) from error

    async def drift_of_live_models(self) -> dict[str, dict[str, Any]]:
        """`training_drift` of every live model that has one, for /metrics: a model
        without a champion or a training window, or Redis out of reach, has none."""
        out = {}
        for model in MODEL_FEATURES:
            try:
                out[model] = await self.training_drift(model)
            except ApiError:
                continue
        return out

    async def scorer_status(self) -> dict[str, Any]:
        """What the scorer serves, or why it cannot say: the rest of an answer that
        includes it is still useful."""
        try:
            return await self.scorer.status()
        except Exception as error:  # any failure of the call is reported in the answer
            return {"error": str(error)}
