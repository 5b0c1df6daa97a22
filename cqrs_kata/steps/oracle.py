"""The plain models the checks hold the learner's views to, written from the contract the
docstrings state and never taken from the reference solution.

A view of counts is a fold over the log: start from nothing and, for each run in order, add one
to its tenant's count of its status. Every step's checks and harnesses compare against that one
fold, over whatever log the step keeps (a list of runs, queued events, an outbox table).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

Counts = dict[str, dict[str, int]]
"""Per tenant, per status, how many runs: what a caught-up view holds."""

MAX_NAME_LENGTH = 100
"""The longest tenant or status name step 02's ``validate_name`` accepts."""


def fold(runs: Iterable[tuple[str, str]]) -> Counts:
    """The counts a caught-up view holds for these ``(tenant, status)`` runs."""
    counts: Counts = {}
    for tenant, status in runs:
        per = counts.setdefault(tenant, {})
        per[status] = per.get(status, 0) + 1
    return counts


def folded(runs: Iterable[Any]) -> Counts:
    """The counts a caught-up view holds for these runs (objects with ``tenant`` and
    ``status``, like step 02's ``Run``)."""
    return fold((r.tenant, r.status) for r in runs)


def usable_name(value: object) -> bool:
    """Whether ``validate_name`` accepts ``value``: a ``str``, not empty or blank, at most
    ``MAX_NAME_LENGTH`` characters, and printable."""
    return (isinstance(value, str) and bool(value.strip()) and len(value) <= MAX_NAME_LENGTH
            and value.isprintable())
