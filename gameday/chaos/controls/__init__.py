"""Chaos Toolkit controls: ``guard`` (safety before and after) and ``safeguard`` (abort on emergency)."""
