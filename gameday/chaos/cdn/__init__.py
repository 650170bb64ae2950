"""Chaos actions and probes of the site's CDN (Varnish's ``cdn-N`` in the sandbox; Cloud CDN on GKE)."""
