"""The HTTP routes over fakes of every backend: no Ray, no broker, no Redis.

Each fake records what the routes asked of it and can be switched to failing, so a test
shows both the answer and what reached (or did not reach) the backend.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from redis.exceptions import RedisError

from actors.campaigns.rules_store import NoPreviousRulesError, RulesVersion
from actors.catalog.catalog import Catalog, built_in
from actors.catalog.follower import CatalogFollower
from actors.catalog.offer import CatalogOffer
from actors.catalog.store import NoPreviousVersionError, Published, UnknownOfferError
from actors.config import ActorConfig
from actors.delivery.guardrails import MemoryGuardrailStore
from actors.delivery.mail.suppressions import MemorySuppressions
from actors.errors import (
    ModelError,
    NoSuchModelVersionError,
    PromotionRefusedError,
    ScorerUnavailableError,
    ShardUnavailableError,
    StoreUnavailableError,
)
from actors.model.events import Event
from actors.model.offer_features import blocks_in
from actors.rules.ruleset import RuleSet, parse_rules
from actors.storage.memory_store import MemoryStateStore
from actors.turn.scoring import Score
from serving.config import ApiConfig
from serving.publisher import PublishError
from serving.series import features_sample_of, sample_of
from serving.web.app import create_app
from serving.web.backends import Backends
from training.registry import ModelVersion

WRITE, CLIENT, READ, ADMIN = "write-key", "client-key", "read-key", "admin-token"


@dataclass
class FakePublisher:
    published: list[Event] = field(default_factory=list)
    down: str | None = None

    async def publish(self, events: Sequence[Event]) -> None:
        if self.down:
            raise PublishError(self.down)
        self.published += events


@dataclass
class FakeShards:
    snapshots: dict[str, dict[str, Any]] = field(default_factory=dict)
    forgotten: list[str] = field(default_factory=list)
    evicted: list[str] = field(default_factory=list)
    # Visitors merged into a customer, by customer (what a shard's forget also erases).
    linked: dict[str, list[str]] = field(default_factory=dict)
    down: bool = False
    epoch: int = 3

    async def call(self, customer_id: str, method: str, *args: Any) -> Any:
        if self.down:
            raise ShardUnavailableError(0, "actor died")
        if method == "forget":
            self.forgotten.append(customer_id)
            return [customer_id, *self.linked.get(customer_id, [])]
        if method == "evict":
            self.evicted.append(customer_id)
            return True
        return dict(self.snapshots[customer_id])

    async def each_shard(self, method: str, *args: Any) -> dict[int, Any]:
        histogram = {"buckets": [1.0], "counts": [0, 0], "sum": 0.0, "count": 0}
        return {
            0: {"shard": 0, "events": 7, "turn_ms": histogram, "scoring_ms": histogram},
            1: {"shard": 1, "error": "actor died"},
        }


@dataclass
class FakeRecommender:
    down: bool = False

    def recommend(self, row: list[float]) -> Score:
        if self.down:
            raise ScorerUnavailableError("recommender", "no model loaded")
        # The first offer asked about is the best for everyone.
        values = tuple(0.9 if i == 0 else 0.1 for i in range(blocks_in(row)))
        return Score("recommender", "4", values)


@dataclass
class FakeRegistry:
    versions_of: dict[str, list[int]] = field(default_factory=lambda: {"fraud": [1, 2]})
    alias_of: dict[str, dict[str, int]] = field(default_factory=lambda: {"fraud": {"champion": 1}})
    # Versions a comparison with the champion found worse: promoting them needs force.
    worse: set[int] = field(default_factory=set)
    # What each version recorded about its training data (the drift reference among it).
    data_of: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)
    down: bool = False

    def names(self) -> list[str]:
        return sorted(self.versions_of)

    def versions(self, name: str) -> list[ModelVersion]:
        return [ModelVersion(name, v, "tree", 1, 1.0e9) for v in self.versions_of[name]]

    def aliases(self, name: str) -> dict[str, int]:
        return dict(self.alias_of.get(name, {}))

    def alias(self, name: str, alias: str) -> int | None:
        if self.down:
            raise RedisError("Connection refused")
        return self.alias_of.get(name, {}).get(alias)

    def get(self, name: str, version: int) -> ModelVersion:
        if version not in self.versions_of.get(name, []):
            raise NoSuchModelVersionError(name, version)
        return ModelVersion(
            name, version, "tree", 1, 1.0e9, data=self.data_of.get((name, version), {})
        )

    def promote(self, name: str, version: int, *, force: bool = False) -> int | None:
        if version not in self.versions_of.get(name, []):
            raise NoSuchModelVersionError(name, version)
        if version in self.worse and not force:
            raise PromotionRefusedError(name, version, f"v{version} is worse", {})
        previous = self.alias_of[name].get("champion")
        self.alias_of[name]["champion"] = version
        return previous

    def rollback(self, name: str) -> int:
        raise ModelError(name, "no earlier champion to roll back to")

    def set_alias(self, name: str, alias: str, version: int | None) -> int | None:
        if version is not None and version not in self.versions_of.get(name, []):
            raise NoSuchModelVersionError(name, version)
        aliases = self.alias_of.setdefault(name, {})
        previous = aliases.pop(alias, None)
        if version is not None:
            aliases[alias] = version
        return previous


@dataclass
class FakeScorer:
    down: bool = False

    async def status(self) -> dict[str, Any]:
        if self.down:
            raise RuntimeError("scorer replica unreachable")
        return {"versions": {"recommender": {"champion": "4"}}, "swaps": 0}


@dataclass
class FakeFigures:
    counters_seen: dict[str, int] = field(default_factory=dict)
    members: dict[str, int] = field(default_factory=dict)
    down: bool = False

    def ingest(self) -> list[dict[str, Any]]:
        return [{"replica": "a", "total_lag": 5}, {"replica": "b", "total_lag": 2}]

    def counters(self) -> dict[str, int]:
        return dict(self.counters_seen)

    def segments(self, names: Sequence[str]) -> dict[str, int]:
        if self.down:
            raise StoreUnavailableError("segments", "Connection refused")
        return {name: self.members.get(name, 0) for name in names}


@dataclass
class FakeSeries:
    samples: list[dict[str, Any]] = field(default_factory=list)
    down: bool = False
    sample: Callable[[float, dict[str, Any]], dict[str, Any]] = sample_of

    async def record(self, at: float, figures: dict[str, Any]) -> bool:
        self.samples.append(self.sample(at, figures))
        return True

    async def since(self, at: float) -> list[dict[str, Any]]:
        if self.down:
            raise RedisError("Connection refused")
        return [s for s in self.samples if s["t"] >= at]

    async def aged(self, ages_s: Sequence[float]) -> list[dict[str, Any] | None]:
        """The newest sample at least each age old."""
        if self.down:
            raise RedisError("Connection refused")
        newest = max((s["t"] for s in self.samples), default=0.0)
        out: list[dict[str, Any] | None] = []
        for age in ages_s:
            older = [s for s in self.samples if s["t"] <= newest - age]
            out.append(older[-1] if older else None)
        return out


@dataclass
class FakeCatalogStore:
    """The catalogue's versions in memory (the Redis store has its own tests)."""

    versions: list[Catalog] = field(default_factory=lambda: [built_in()])
    audits: list[dict[str, Any]] = field(default_factory=list)

    def current_version(self) -> int:
        return self.versions[-1].version

    def load(self, version: int) -> Catalog:
        return next(c for c in self.versions if c.version == version)

    def _publish(self, offers: list[CatalogOffer], by: str, action: str) -> Published:
        before = self.versions[-1]
        after = Catalog.of(before.version + 1, offers)
        self.versions.append(after)
        self.audits.insert(0, {"version": after.version, "by": by, "action": action})
        return Published(after.version, before.change_to(after))

    def put_offer(self, offer: CatalogOffer, by: str) -> Published:
        kept = [o for o in self.versions[-1].offers if o.offer_id != offer.offer_id]
        return self._publish([*kept, offer], by, "put")

    def delete_offer(self, offer_id: str, by: str) -> Published:
        offers = self.versions[-1].offers
        if offer_id not in {o.offer_id for o in offers}:
            raise UnknownOfferError(offer_id)
        return self._publish([o for o in offers if o.offer_id != offer_id], by, "delete")

    def rollback(self, by: str) -> Published:
        if len(self.versions) < 2:
            raise NoPreviousVersionError()
        before = self.versions.pop()
        return Published(self.versions[-1].version, before.change_to(self.versions[-1]))

    def audit(self, limit: int = 50) -> list[dict[str, Any]]:
        return self.audits[:limit]


@dataclass
class FakeRulesStore:
    """The rules' versions in memory, validated as a push is (the Redis store has its own
    tests)."""

    kept: list[RulesVersion] = field(default_factory=list)
    in_force: list[int] = field(default_factory=list)

    def current_version(self) -> int:
        return self.in_force[-1] if self.in_force else 0

    def load(self, version: int) -> RulesVersion:
        return next(v for v in self.kept if v.version == version)

    def versions(self, limit: int = 20) -> list[RulesVersion]:
        return list(reversed(self.kept[-limit:]))

    def push(self, text: str, by: str, comment: str = "") -> tuple[RulesVersion, bool]:
        parse_rules(text)
        if self.in_force and self.load(self.in_force[-1]).text == text:
            return self.load(self.in_force[-1]), False
        pushed = RulesVersion(len(self.kept) + 1, text, by, 0.0, comment)
        self.kept.append(pushed)
        self.in_force.append(pushed.version)
        return pushed, True

    def rollback(self, by: str, comment: str = "") -> RulesVersion:
        if len(self.in_force) < 2:
            raise NoPreviousRulesError()
        self.in_force.pop()
        return self.load(self.in_force[-1])


@dataclass
class Fakes:
    publisher: FakePublisher
    shards: FakeShards
    states: MemoryStateStore
    recommender: FakeRecommender
    registry: FakeRegistry
    scorer: FakeScorer
    figures: FakeFigures
    series: FakeSeries
    feature_series: FakeSeries
    client: TestClient
    catalog_store: FakeCatalogStore
    catalog: CatalogFollower
    rules_store: FakeRulesStore

    def request(self, method: str, path: str, key: str | None = None, **options: Any) -> Any:
        headers = dict(options.pop("headers", {}))
        if key is not None:
            headers["Authorization"] = f"Bearer {key}"
        return self.client.request(method, path, headers=headers, **options)


# What the site's server signs its signed-in visitors with (serving.user_signature).
SIGNING_SECRET = "site-signing-secret-of-at-least-32-bytes"


def keyed(**settings: Any) -> ApiConfig:
    return ApiConfig(
        write_keys=(SecretStr(WRITE),),
        client_keys=(SecretStr(CLIENT),),
        read_keys=(SecretStr(READ),),
        admin_token=SecretStr(ADMIN),
        **settings,
    )


@pytest.fixture
def api() -> Iterator[Fakes]:
    with fakes(keyed()) as made:
        yield made


@pytest.fixture
def signed_api() -> Iterator[Fakes]:
    """The API where client keys act for customers only with their signature."""
    with fakes(keyed(user_signing_secrets=(SecretStr(SIGNING_SECRET),))) as made:
        yield made


@contextmanager
def fakes(config: ApiConfig) -> Iterator[Fakes]:
    actors = ActorConfig()
    publisher, shards, states = FakePublisher(), FakeShards(), MemoryStateStore()
    recommender, registry, scorer, figures, series = (
        FakeRecommender(),
        FakeRegistry(),
        FakeScorer(),
        FakeFigures(),
        FakeSeries(),
    )
    feature_series = FakeSeries(sample=features_sample_of)
    catalog_store = FakeCatalogStore()
    catalog = CatalogFollower(catalog_store)
    rules_store = FakeRulesStore()
    app = create_app(
        Backends(
            config=config,
            event_time=actors.event_time_bounds(),
            slots=actors.slots,
            publisher=publisher,
            shards=shards,
            states=states,
            recommender=recommender,
            registry=registry,
            scorer=scorer,
            figures=figures,
            ruleset=lambda: RuleSet((), ()),
            series=series,
            feature_series=feature_series,
            catalog=catalog,
            catalog_store=catalog_store,
            rules_store=rules_store,
            guards=MemoryGuardrailStore(states),
            suppressions=MemorySuppressions(),
        )
    )
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Fakes(
            publisher,
            shards,
            states,
            recommender,
            registry,
            scorer,
            figures,
            series,
            feature_series,
            client,
            catalog_store,
            catalog,
            rules_store,
        )
