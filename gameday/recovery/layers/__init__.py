"""Diagnosis, actions and checks per layer; the playbooks in ``recovery_playbooks/`` compose them."""
