"""Where the course lives on disk.

The kata is used from a checkout: the learner's code is in ``exercises/``, the reference in
``solutions/``. Everything here is found relative to one root, so the CLI, the notebooks and the
tests agree on which files they mean.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT_ENV = "CQRS_KATA_ROOT"
STATE_ENV = "CQRS_KATA_STATE"


class CourseNotFound(RuntimeError):
    """Raised when no checkout of the kata can be found."""


def _looks_like_root(path: Path) -> bool:
    return (path / "solutions").is_dir() and (path / "exercises").is_dir()


def course_root() -> Path:
    """The checkout the kata runs in: $CQRS_KATA_ROOT, the current folder or one above it,
    else the checkout this package was installed from."""
    explicit = os.environ.get(ROOT_ENV)
    if explicit:
        path = Path(explicit).resolve()
        if not _looks_like_root(path):
            raise CourseNotFound(
                f"{ROOT_ENV}={explicit} has no exercises/ and solutions/ folders; "
                "point it at your cqrs-kata checkout."
            )
        return path
    here = Path.cwd().resolve()
    for candidate in (here, *here.parents):
        if _looks_like_root(candidate):
            return candidate
    installed = Path(__file__).resolve().parent.parent
    if _looks_like_root(installed):
        return installed
    raise CourseNotFound(
        "cannot find the kata's folders (exercises/ and solutions/); run this from inside your "
        f"cqrs-kata checkout or set {ROOT_ENV} to it."
    )


def state_dir() -> Path:
    """Where the learner's own state (hint levels, saved files) is kept; git ignores it."""
    explicit = os.environ.get(STATE_ENV)
    path = Path(explicit) if explicit else course_root() / ".cqrs-kata"
    path.mkdir(parents=True, exist_ok=True)
    return path


def display_path(path: Path) -> str:
    """``exercises/step02.py`` for a file inside the course, else the path as given."""
    try:
        root = course_root()
    except CourseNotFound:
        return str(path)
    # Resolved first (``..``, a symlinked checkout); then as written, for an exercise that is a
    # symlink (to /dev/zero, say) or a symlink loop (which resolve() refuses).
    for resolve in (True, False):
        try:
            full = path.resolve() if resolve else Path(os.path.abspath(path))
            return str(full.relative_to(root))
        except (ValueError, OSError, RuntimeError):
            continue
    return str(path)
