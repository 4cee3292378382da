"""Events from devices over MQTT, through RabbitMQ's MQTT plugin.

A device publishes an event (the same JSON as `POST /v1/events` takes one) with QoS 1 to
the topic `<events exchange, dots as slashes>/<customer id>`: `engage/events/c-1042` on
a default install. The plugin hands it to the `amq.topic` exchange under the routing key
`engage.events.c-1042` (it writes a topic's `/` as `.` and a `.` as `/`), and the events
exchange is bound there for `engage.events.#`, so the event reaches the same ingest
queues, the same validation and dead letters, and the events log, as one sent over HTTP.
Its customer is read from the routing key: MQTT 3.1.1 carries no headers.

A device's events of one customer stay in order: one topic, one routing key, one queue.
"""

from __future__ import annotations

MQTT_EXCHANGE = "amq.topic"  # where RabbitMQ's MQTT plugin publishes by default


def routing_pattern(events_exchange: str) -> str:
    """What the events exchange is bound to `amq.topic` for."""
    return f"{events_exchange}.#"


def topic_for(events_exchange: str, customer_id: str) -> str:
    """The MQTT topic a device publishes a customer's events to."""
    return f"{events_exchange.replace('.', '/')}/{customer_id}"


def customer_of(routing_key: str, events_exchange: str) -> str | None:
    """The customer a message published over MQTT is for (its topic's last part), or None
    for a message that did not come that way."""
    prefix = f"{events_exchange}."
    if not routing_key.startswith(prefix) or len(routing_key) == len(prefix):
        return None
    # The plugin wrote the topic's dots as slashes; a customer id has no slash.
    return routing_key[len(prefix) :].replace("/", ".")
