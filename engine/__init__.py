"""Liaison Desk domain and workflow runtime.

Everything here is used the same way by the web app, the CLI, the scheduler and the
tests; nothing in this package imports Flask.
"""
