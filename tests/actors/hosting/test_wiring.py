"""A shard's parts as its recipe makes them, without Ray: which sinks it has and where
actions that cannot be delivered go, on either broker."""

from __future__ import annotations

from pydantic import SecretStr

from actors.brokers.amqp_broker import RabbitBroker
from actors.brokers.amqp_publish import AmqpActionDeadLetters
from actors.brokers.amqp_sink import AmqpSink
from actors.brokers.dead_letters import KafkaDeadLetters
from actors.brokers.kafka_broker import KafkaBroker
from actors.brokers.kafka_sink import KafkaSink
from actors.config import ActorConfig, KafkaConfig, RabbitMQConfig, RedisConfig, SinkConfig
from actors.delivery.sinks.log import LogSink
from actors.hosting.recipe import ShardRecipe
from actors.hosting.wiring import build_shard
from actors.turn.scoring import Scorer
from tests.support import FakeScorer

# Nothing listens on port 9 (discard): building must connect to nothing.
REDIS = RedisConfig(url="redis://127.0.0.1:9/0", prefix="t")
RABBITMQ = RabbitMQConfig(url=SecretStr("amqp://guest:guest@127.0.0.1:9/%2F"))


def fake_scorer() -> Scorer:
    return FakeScorer()


def recipe(broker: KafkaBroker | RabbitBroker, sinks: SinkConfig) -> ShardRecipe:
    return ShardRecipe("ns", ActorConfig(), REDIS, broker, sinks, fake_scorer)


def test_on_kafka_the_default_sink_and_the_dead_letters_are_the_topics() -> None:
    broker = KafkaBroker(KafkaConfig(bootstrap="127.0.0.1:9"))
    broker._producer = object()  # no broker to connect to
    parts = build_shard(0, recipe(broker, SinkConfig()))
    assert isinstance(parts.dispatcher.sinks["kafka"], KafkaSink)
    assert isinstance(parts.dispatcher.sinks["log"], LogSink)
    decisions = parts.dispatcher.sinks["decisions"]
    assert isinstance(decisions, KafkaSink)
    assert decisions._topic == "engage.decisions"
    assert set(parts.dispatcher.sinks) == {"kafka", "log", "decisions"}
    assert isinstance(parts.dispatcher.dead_letters, KafkaDeadLetters)


def test_on_rabbitmq_with_a_sink_url_of_its_own_nothing_is_dropped() -> None:
    # Given engage on RabbitMQ and rules' `sink: amqp` pointed at another RabbitMQ
    own = SinkConfig(amqp_url=SecretStr("amqp://u:p@elsewhere.example:9/%2F"))
    parts = build_shard(0, recipe(RabbitBroker(RABBITMQ), own))
    # then the default sink is still the broker's actions exchange, the `amqp` sink the
    # other one, and undeliverable actions go to the broker's dead letters, not to memory
    default, other = parts.dispatcher.sinks["kafka"], parts.dispatcher.sinks["amqp"]
    assert isinstance(default, AmqpSink)
    assert isinstance(other, AmqpSink)
    assert default._exchange == RABBITMQ.actions_exchange
    # and decisions go to the broker's decisions exchange, kept in its stream
    decisions = parts.dispatcher.sinks["decisions"]
    assert isinstance(decisions, AmqpSink)
    assert (decisions._exchange, decisions._stream) == ("engage.decisions", "engage.decisions.log")
    assert isinstance(parts.dispatcher.dead_letters, AmqpActionDeadLetters)


def test_a_recipe_travels_to_another_process_without_its_clients() -> None:
    import pickle

    broker = KafkaBroker(KafkaConfig(bootstrap="127.0.0.1:9"))
    broker._producer = object()
    again = pickle.loads(pickle.dumps(recipe(broker, SinkConfig())))
    assert isinstance(again.broker, KafkaBroker)
    assert again.broker._producer is None
    assert again.broker.config == broker.config
