"""The resilience report: one plain dict (:mod:`.model`), rendered as HTML, JSON, JUnit and PDF,
plus the history index across game days. Presentation holds no logic: compute, then render."""
