"""The reactive core of engage: each customer is a virtual actor.

By concept, lowest layer first (a package imports only those before it; the test of the
import graph, tests/test_layering.py, fails on an upward import or a cycle): `errors`,
`metrics` and `logs`; `model` (events, state, features, labels, actions); `config`;
`rules` (the rules file, conditions, templates) and `storage` (the state store and its
backends); `catalog` (the offer catalogue as versioned data); `outcomes` (attribution
and reports); `turn` (the customer actor, scoring,
ranking); `delivery` (outbox, guardrails, sinks); `brokers` (the broker seam, Kafka and
RabbitMQ); `hosting` (shards, routing, the supervisor); and the `ingest` loop. Nothing in
this package imports Ray except `hosting` (the shard, router and supervisor modules), so
the core runs and is tested without a cluster.
"""
