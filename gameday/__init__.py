"""gameday: prove the platform recovers any layer, within its targets, losing nothing."""

__version__ = "0.1.0"
