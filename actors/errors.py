"""Errors raised by engage. One root, fields instead of formatted strings.

Library errors (redis, kafka-python, Ray) are translated into these at the adapter that
calls the library, so callers never need to know which client sits underneath.
"""

from __future__ import annotations


class EngageError(Exception):
    """Root of every error engage raises on purpose."""

    def __str__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({fields})"


class ConfigError(EngageError):
    """A setting is missing or wrong. `setting` is the ENGAGE_* name the user can fix."""

    def __init__(self, setting: str, reason: str) -> None:
        self.setting = setting
        self.reason = reason


class MissingBinaryError(EngageError):
    """An embedded server binary is not installed. `package` is the pip package providing it."""

    def __init__(self, binary: str, package: str) -> None:
        self.binary = binary
        self.package = package


class InvalidEventError(EngageError):
    """An event failed validation. `reason` names the field(s) at fault."""

    def __init__(self, reason: str, field: str | None = None) -> None:
        self.reason = reason
        self.field = field


class InvalidCustomerIdError(EngageError):
    def __init__(self, customer_id: str) -> None:
        self.customer_id = customer_id


class VersionConflictError(EngageError):
    """Compare-and-set failed: another host wrote this customer's state first."""

    def __init__(self, customer_id: str, expected: int, actual: int) -> None:
        self.customer_id = customer_id
        self.expected = expected
        self.actual = actual


class OutageError(EngageError):
    """A dependency is down, slow or busy (Redis, the broker, a shard, the scorer).

    Callers retry these with backoff and a bound; any other error is a fault of the
    input or of the code, which retrying cannot mend.
    """


class BrokerUnavailableError(OutageError):
    """The event broker (Kafka, RabbitMQ) could not be reached or did not take a write.
    `address` names it without credentials."""

    def __init__(self, address: str, cause: str) -> None:
        self.address = address
        self.cause = cause


class StoreUnavailableError(OutageError):
    """The state store (Redis) could not be reached."""

    def __init__(self, operation: str, cause: str) -> None:
        self.operation = operation
        self.cause = cause


class StateFormatError(OutageError):
    """A saved state this code cannot read: written by a newer engage (a downgrade, or a
    node not yet upgraded), or holding a field its format does not name. An outage: the
    batch is retried and ingest reports it, nothing is dropped (actors.model.state_format)."""

    def __init__(self, found: object, supported: int, reason: str) -> None:
        self.found = found
        self.supported = supported
        self.reason = reason


class ScorerUnavailableError(OutageError):
    """The model scorer could not answer; the batch is retried, never half-applied."""

    def __init__(self, model: str, cause: str) -> None:
        self.model = model
        self.cause = cause


class RuleError(EngageError):
    """A rule in a rules file is invalid. `rule` and `field` point at the fault."""

    def __init__(self, rule: str, field: str, reason: str) -> None:
        self.rule = rule
        self.field = field
        self.reason = reason


class RulesRefusedError(RuleError):
    """Rules refused as a whole: `faults` holds every fault found, and `rule`, `field` and
    `reason` are the first one's (so a caller that names one fault still can)."""

    def __init__(self, faults: list[RuleError]) -> None:
        first = faults[0]
        super().__init__(first.rule, first.field, first.reason)
        self.faults = faults

    def __str__(self) -> str:
        return "; ".join(f"rule {f.rule!r}, field {f.field!r}: {f.reason}" for f in self.faults)


class ConditionSyntaxError(EngageError):
    def __init__(self, expression: str, position: int, reason: str) -> None:
        self.expression = expression
        self.position = position
        self.reason = reason


class TemplateError(EngageError):
    """An action template refers to a field the context does not have."""

    def __init__(self, template: str, field: str) -> None:
        self.template = template
        self.field = field


class SinkError(EngageError):
    """A sink could not deliver an action; `retryable` says whether trying again may help."""

    def __init__(self, sink: str, reason: str, retryable: bool = True) -> None:
        self.sink = sink
        self.reason = reason
        self.retryable = retryable


class ModelError(EngageError):
    """A model cannot be used: unknown, unsafe artifact, or trained for other features."""

    def __init__(self, model: str, reason: str, version: int | None = None) -> None:
        self.model = model
        self.version = version
        self.reason = reason


class NoSuchModelVersionError(ModelError):
    """The registry has no such version of this model (the API answers 404)."""

    def __init__(self, model: str, version: int) -> None:
        super().__init__(model, "no such version", version)


class FeatureVersionMismatchError(ModelError):
    def __init__(self, model: str, version: int, model_features: int, code_features: int) -> None:
        super().__init__(
            model,
            f"trained on feature spec v{model_features}, running code has v{code_features}",
            version,
        )
        self.model_features = model_features
        self.code_features = code_features


class ShardUnavailableError(OutageError):
    def __init__(self, shard: int, cause: str) -> None:
        self.shard = shard
        self.cause = cause


class SlotMovedError(ShardUnavailableError):
    """A batch for slots this shard does not own (the table moved them; the router's copy
    is older): refused whole, before any turn, so no action goes out from two owners."""

    def __init__(self, shard: int, slots: list[int]) -> None:
        super().__init__(shard, f"slots {slots[:8]} are not this shard's")
        self.slots = slots


class ContentionError(OutageError):
    """A customer's state kept changing under us (another host writing); batch retried."""

    def __init__(self, customer_ids: list[str]) -> None:
        self.customer_ids = customer_ids


class IngestRetryExhaustedError(OutageError):
    """Shards kept failing a poll's batches past the retry bound; the poll is rewound."""

    def __init__(self, pending: int, last_error: str) -> None:
        self.pending = pending
        self.last_error = last_error


class DeadLetterUnavailableError(OutageError):
    """A dead letter could not be written (the broker is out of reach)."""

    def __init__(self, topic: str, cause: str) -> None:
        self.topic = topic
        self.cause = cause


class TrainingDataError(EngageError):
    """The data asked for cannot train or evaluate a model (no events, no labelled rows,
    no positives in a split). `reason` says what is missing, with the counts."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def __str__(self) -> str:
        return self.reason


class PromotionRefusedError(ModelError):
    """A candidate measured worse than the champion on the same recent window; promoting
    it needs `force`. `comparison` is the measurement that refused it."""

    def __init__(self, model: str, version: int, reason: str, comparison: object) -> None:
        super().__init__(model, reason, version)
        self.comparison = comparison
