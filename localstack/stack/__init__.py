"""localstack: run Kafka, Cassandra, RabbitMQ and the CDC agent as plain local processes (no Docker).

Stdlib only, so ``localstack/up`` works with the system python3 before any venv exists.
"""
