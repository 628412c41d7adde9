"""Kafka access: topic administration, producing envelopes, consuming them safely."""
