"""Measurements of a scenario: RPO canaries (:mod:`gameday.measure.canary`)."""
