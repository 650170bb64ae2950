"""The indexer (Kafka consumer group -> search): poison events and its dead letters."""
