"""Measurements of a game day: recovery (RTO, TTD, availability) from the load timeline; RPO from canaries."""
