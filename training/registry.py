"""The model registry, in Redis: versions, metadata, artifacts and aliases.

Every registered version keeps its metrics, the feature-spec version it was trained on, a
fingerprint of its training data, its parameters and its creation time. Aliases
`champion` (what the scorer serves) and `challenger` (scored in shadow) point at versions;
promote and rollback move `champion` and bump an epoch that every scorer replica watches.

Artifacts are skops files loaded with an explicit list of trusted types: loading a model
from the store can never execute arbitrary code the way unpickling can.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import skops.io as sio
from redis.exceptions import RedisError

from actors.errors import (
    ModelError,
    NoSuchModelVersionError,
    PromotionRefusedError,
    StoreUnavailableError,
)
from actors.storage.keys import Keys
from actors.storage.redis_clients import connect

# The kind of a model a team registered itself (`engage models register`, an MLflow
# import): it reads the columns of its feature view (ModelVersion.features).
OWN = "own"
CHAMPION = "champion"
CHALLENGER = "challenger"
ALIASES = (CHAMPION, CHALLENGER)

# The only types a stored artifact may contain beyond what skops trusts by default.
TRUSTED_TYPES: tuple[str, ...] = (
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
    "sklearn._loss.link.LogitLink",
    "sklearn._loss.link.Interval",
    "sklearn._loss.loss.HalfBinomialLoss",
    "sklearn._loss._loss.CyHalfBinomialLoss",
    "numpy.dtype",
    # A decision tree's nodes (random forests, extra trees): arrays, no code.
    "sklearn.tree._tree.Tree",
)


@dataclass(frozen=True)
class ModelVersion:
    name: str
    version: int
    kind: str
    feature_spec_version: int
    created_at: float
    metrics: dict[str, float] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    data_fingerprint: str = ""
    artifact_sha256: str = ""
    description: str = ""
    # Where the training data came from, its range, label counts, code version and the
    # comparison with the champion of the day (training/pipeline.py).
    data: dict[str, Any] = field(default_factory=dict)
    # A model of one's own (kind `own`): the columns it reads, in the order it was fitted
    # on (actors/model/feature_views.py). Empty for the built-in kinds, whose vectors are
    # fixed by the feature spec.
    features: list[str] = field(default_factory=list)
    # Types its artifact holds beyond `TRUSTED_TYPES`, each named when it was registered.
    trusted_types: list[str] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, raw: str | bytes) -> ModelVersion:
        return cls(**json.loads(raw))


def dump_artifact(estimator: Any, trusted: Sequence[str] = ()) -> bytes:
    data: bytes = sio.dumps(estimator)
    allowed = {*TRUSTED_TYPES, *trusted}
    untrusted = [t for t in sio.get_untrusted_types(data=data) if t not in allowed]
    if untrusted:
        raise ModelError(type(estimator).__name__, f"types not on the trusted list: {untrusted}")
    return data


def load_artifact(name: str, data: bytes, trusted: Sequence[str] = ()) -> Any:
    """Load a skops artifact, refusing any type that is not explicitly trusted: on the
    list above, or named in `trusted` by whoever registered it."""
    allowed = [*TRUSTED_TYPES, *trusted]
    untrusted = [t for t in sio.get_untrusted_types(data=data) if t not in allowed]
    if untrusted:
        raise ModelError(name, f"artifact contains untrusted types: {untrusted}")
    try:
        return sio.loads(data, trusted=allowed)
    except Exception as error:  # skops raises many kinds; all mean "not loadable"
        raise ModelError(name, f"artifact cannot be loaded: {error}") from error


class ModelRegistry:
    def __init__(self, url: str, prefix: str = "engage") -> None:
        self._redis = connect(url)
        self._keys = Keys(prefix)

    def _key(self, name: str, part: str) -> str:
        return self._keys.model(name, part)

    @property
    def _epoch_key(self) -> str:
        return self._keys.models_epoch()

    def close(self) -> None:
        self._redis.close()

    # ---- writing -----------------------------------------------------------------------

    def register(
        self,
        name: str,
        estimator: Any,
        *,
        kind: str,
        feature_spec_version: int,
        metrics: dict[str, float] | None = None,
        params: dict[str, Any] | None = None,
        data_fingerprint: str = "",
        description: str = "",
        data: dict[str, Any] | None = None,
        features: Sequence[str] = (),
        trusted_types: Sequence[str] = (),
    ) -> ModelVersion:
        artifact = dump_artifact(estimator, trusted_types)
        try:
            version = int(_raw(self._redis.incr(self._key(name, "seq"))))
            meta = ModelVersion(
                name=name,
                version=version,
                kind=kind,
                feature_spec_version=feature_spec_version,
                created_at=time.time(),
                metrics=dict(metrics or {}),
                params=_jsonable(params or {}),
                data_fingerprint=data_fingerprint,
                artifact_sha256=hashlib.sha256(artifact).hexdigest(),
                description=description,
                data=_jsonable(data or {}),
                features=list(features),
                trusted_types=list(trusted_types),
            )
            pipe = self._redis.pipeline(transaction=True)
            pipe.set(self._key(name, f"artifact:{version}"), artifact)
            pipe.hset(self._key(name, "versions"), str(version), meta.to_json())
            pipe.sadd(self._keys.models(), name)
            pipe.execute()
        except RedisError as error:
            raise StoreUnavailableError("registry", str(error)) from error
        return meta

    def set_alias(self, name: str, alias: str, version: int | None) -> int | None:
        """Point `alias` at `version` (None removes it); returns the previous version."""
        if alias not in ALIASES:
            raise ModelError(name, f"unknown alias {alias!r}; use one of {ALIASES}")
        if version is not None:
            self.get(name, version)
        previous = self.alias(name, alias)
        pipe = self._redis.pipeline(transaction=True)
        if version is None:
            pipe.hdel(self._key(name, "aliases"), alias)
        else:
            pipe.hset(self._key(name, "aliases"), alias, str(version))
        if alias == CHAMPION and previous is not None and previous != version:
            pipe.rpush(self._key(name, "history"), str(previous))
        pipe.incr(self._epoch_key)
        pipe.execute()
        return previous

    def record_comparison(
        self, name: str, version: int, comparison: dict[str, Any]
    ) -> ModelVersion:
        """Keep the latest comparison of `version` with a champion in its metadata."""
        meta = self.get(name, version)
        updated = replace(meta, data={**meta.data, "comparison": _jsonable(comparison)})
        try:
            self._redis.hset(self._key(name, "versions"), str(version), updated.to_json())
        except RedisError as error:
            raise StoreUnavailableError("registry", str(error)) from error
        return updated

    def promote(self, name: str, version: int, *, force: bool = False) -> int | None:
        """Make `version` the champion. The challenger alias is cleared if it pointed there.

        Refused (`PromotionRefusedError`) when the version's recorded comparison with the
        current champion found it worse with 95% confidence, unless `force`."""
        if not force:
            self._refuse_if_worse(name, version)
        previous = self.set_alias(name, CHAMPION, version)
        if self.alias(name, CHALLENGER) == version:
            self.set_alias(name, CHALLENGER, None)
        return previous

    def _refuse_if_worse(self, name: str, version: int) -> None:
        comparison = self.get(name, version).data.get("comparison")
        champion = self.alias(name, CHAMPION)
        if not comparison or champion is None or comparison.get("champion_version") != champion:
            return
        if comparison.get("verdict") == "worse":
            primary = comparison["primary"]
            figures = comparison["metrics"][primary]
            low, high = figures["difference_ci95"]
            raise PromotionRefusedError(
                name,
                version,
                f"v{version} is worse than champion v{champion} on {primary} over the same "
                f"recent window ({figures['candidate']:.4f} against {figures['champion']:.4f}, "
                f"difference 95% CI [{low:.4f}, {high:.4f}]); promote with force to override",
                comparison,
            )

    def rollback(self, name: str) -> int:
        """Return to the champion before the current one."""
        raw = _raw(self._redis.rpop(self._key(name, "history")))
        if raw is None:
            raise ModelError(name, "no earlier champion to roll back to")
        version = int(raw)
        pipe = self._redis.pipeline(transaction=True)
        pipe.hset(self._key(name, "aliases"), CHAMPION, str(version))
        pipe.incr(self._epoch_key)
        pipe.execute()
        return version

    # ---- reading -----------------------------------------------------------------------

    def names(self) -> list[str]:
        members = _raw(self._redis.smembers(self._keys.models()))
        return sorted(n.decode() for n in members)

    def versions(self, name: str) -> list[ModelVersion]:
        rows = _raw(self._redis.hgetall(self._key(name, "versions")))
        return sorted((ModelVersion.from_json(v) for v in rows.values()), key=lambda m: m.version)

    def get(self, name: str, version: int) -> ModelVersion:
        raw = _raw(self._redis.hget(self._key(name, "versions"), str(version)))
        if raw is None:
            raise NoSuchModelVersionError(name, version)
        return ModelVersion.from_json(raw)

    def alias(self, name: str, alias: str) -> int | None:
        raw = _raw(self._redis.hget(self._key(name, "aliases"), alias))
        return int(raw) if raw is not None else None

    def aliases(self, name: str) -> dict[str, int]:
        rows = _raw(self._redis.hgetall(self._key(name, "aliases")))
        return {k.decode(): int(v) for k, v in rows.items()}

    def epoch(self) -> int:
        raw = _raw(self._redis.get(self._epoch_key))
        return int(raw) if raw is not None else 0

    def load(self, name: str, version: int) -> tuple[ModelVersion, Any]:
        meta = self.get(name, version)
        data: bytes | None = _raw(self._redis.get(self._key(name, f"artifact:{version}")))
        if data is None:
            raise ModelError(name, "artifact missing", version)
        if hashlib.sha256(data).hexdigest() != meta.artifact_sha256:
            raise ModelError(name, "artifact checksum mismatch", version)
        return meta, load_artifact(name, data, meta.trusted_types)

    def is_empty(self) -> bool:
        return not self._redis.exists(self._keys.models())


def _jsonable(params: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(json.dumps(params, default=str))
    return result


def _raw(value: Any) -> Any:
    """redis-py's sync API is typed as sync-or-async; this client is sync (bytes)."""
    return value
