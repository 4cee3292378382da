"""The event brokers' clients: Kafka and RabbitMQ, and dead letters."""
