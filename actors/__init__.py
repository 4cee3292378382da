"""The reactive core of engage: each customer is a virtual actor.

By concept: `model` (events, state, features, labels, actions), `rules` (the rules file,
conditions, templates), `turn` (the customer actor, scoring, ranking), `storage` (Redis),
`delivery` (outbox, guardrails, sinks), `hosting` (shards, routing, the supervisor),
`brokers` (Kafka and RabbitMQ clients), `outcomes` (attribution and reports), and the
`ingest` loop. Nothing in this package imports Ray except `hosting` (the shard, router and
supervisor modules), so the core runs and is tested without a cluster.
"""
