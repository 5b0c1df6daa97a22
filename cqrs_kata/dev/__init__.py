"""Maintainer tools: a pristine course to run notebooks in, and refreshing notebook outputs."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from cqrs_kata.course.paths import ROOT_ENV, STATE_ENV, course_root
from cqrs_kata.course.stubs import write_stubs


def pristine_course(dest: Path) -> Path:
    """Make ``dest`` a course root with freshly generated stubs and no learner state.

    Notebooks are executed (for their saved outputs) and validated (by nbval) against such a
    copy, so what they show never depends on how far the person running them has got.
    """
    root = course_root()
    shutil.copytree(root / "solutions", dest / "solutions",
                    ignore=shutil.ignore_patterns("__pycache__"), dirs_exist_ok=True)
    write_stubs(dest / "exercises")
    (dest / "state").mkdir(exist_ok=True)
    return dest


def use_pristine_course(dest: Path) -> None:
    """Point this process (and every kernel it starts) at a pristine copy made in ``dest``."""
    pristine_course(dest)
    os.environ[ROOT_ENV] = str(dest)
    os.environ[STATE_ENV] = str(dest / "state")
