"""The local twin of the platform: real servers on loopback, kept alive by a supervisor.

Entry points: :mod:`gameday.sandbox.lifecycle` (up / down), :mod:`gameday.sandbox.client`
(the machine-readable view and the controls chaos actions and playbooks use).
"""
