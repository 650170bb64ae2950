"""The web tier (WordPress pods on GKE, gunicorn replicas in the sandbox)."""
