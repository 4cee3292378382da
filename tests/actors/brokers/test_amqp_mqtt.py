"""A device's MQTT topic and the customer RabbitMQ's routing key names again."""

from __future__ import annotations

from actors.brokers.amqp_mqtt import customer_of, routing_pattern, topic_for


def test_a_device_publishes_to_the_events_exchange_s_topic_for_its_customer() -> None:
    assert topic_for("engage.events", "c-1042") == "engage/events/c-1042"
    assert routing_pattern("engage.events") == "engage.events.#"


def test_the_customer_is_read_back_from_the_routing_key_the_plugin_writes() -> None:
    # The plugin writes a topic's "/" as "." and a "." as "/".
    assert customer_of("engage.events.c-1042", "engage.events") == "c-1042"
    assert customer_of("engage.events.jane/doe", "engage.events") == "jane.doe"


def test_messages_that_did_not_come_over_mqtt_name_no_customer() -> None:
    assert customer_of("c-1042", "engage.events") is None
    assert customer_of("engage.events.", "engage.events") is None
    assert customer_of("other.events.c1", "engage.events") is None
