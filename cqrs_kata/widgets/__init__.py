"""Widgets for the notebooks: ``from cqrs_kata.widgets import Dashboard``."""

from __future__ import annotations

from cqrs_kata.widgets.dashboard import Dashboard, Snapshot, snapshot

__all__ = ["Dashboard", "Snapshot", "snapshot"]
