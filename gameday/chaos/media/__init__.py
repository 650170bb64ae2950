"""Chaos actions and probes of the site's media (WordPress uploads) and their backups."""
