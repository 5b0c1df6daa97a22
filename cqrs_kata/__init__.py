"""cqrs-kata: learn CQRS-lite by building it, one checked step at a time.

In a notebook: ``from cqrs_kata import check, hint, progress`` (and ``solution``, once a step
passes; ``catchup``, ``reset``, ``saved``, ``restore``: what the ``cqrs-kata`` command does with
your files).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cqrs_kata.learner.notebook import (
        catchup,
        check,
        hint,
        progress,
        reset,
        restore,
        saved,
        solution,
    )

__all__ = ["catchup", "check", "hint", "progress", "reset", "restore", "saved", "solution"]


def __getattr__(name: str) -> object:
    # Imported on first use, so that `cqrs-kata` on the command line starts fast.
    if name in __all__:
        from cqrs_kata.learner import notebook

        return getattr(notebook, name)
    raise AttributeError(f"module 'cqrs_kata' has no attribute {name!r}")
