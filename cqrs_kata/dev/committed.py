"""What is committed, as opposed to what is in the working tree.

A learner works in this checkout: they fill in exercises/ and run notebooks, and JupyterLab
saves their outputs into the notebooks. ``make test`` checks the course, not the learner's
progress, so where a file differs from git HEAD only by the learner's use, it compares against
the committed version.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import nbformat


def committed_text(root: Path, relative: str) -> str | None:
    """The file ``relative`` as committed at HEAD of the git checkout ``root``, if there is one."""
    try:
        shown = subprocess.run(["git", "show", f"HEAD:{relative}"], cwd=root,
                               capture_output=True, text=True, check=False)
    except FileNotFoundError:  # no git on this machine
        return None
    return shown.stdout if shown.returncode == 0 else None


def reference_notebook(path: Path, root: Path) -> Any | None:
    """The committed notebook, when the working copy differs from it only in outputs.

    Returns None when the cells' sources differ (an author is editing the notebook: validate
    the working copy) or when nothing is committed.
    """
    text = committed_text(root, path.resolve().relative_to(root.resolve()).as_posix())
    if text is None:
        return None
    committed = nbformat.reads(text, as_version=4)
    working = nbformat.read(path, as_version=4)
    same = [(c.cell_type, c.source) for c in committed.cells] == [
        (c.cell_type, c.source) for c in working.cells]
    return committed if same else None
