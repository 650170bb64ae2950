"""Kafka (Strimzi on GKE, three KRaft nodes in the sandbox) and its consumers."""
