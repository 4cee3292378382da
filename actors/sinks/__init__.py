"""Where actions go: a Kafka topic (default), webhooks, e-mail, the log."""
