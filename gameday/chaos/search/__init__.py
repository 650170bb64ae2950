"""Search (Elasticsearch/ECK on GKE, OpenSearch in the sandbox) through the REST APIs both share."""
