"""Chaos actions and probes of the site's object cache (WordPress's Redis)."""
