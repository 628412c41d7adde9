"""localstack: run Kafka, Cassandra and RabbitMQ as plain local processes (no Docker).

Stdlib only, so ``localstack/up`` works with the system python3 before any venv exists.
"""
