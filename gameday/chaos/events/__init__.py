"""Chaos actions and probes of the event relay (the publishing outbox -> Kafka)."""
