"""Re-run the course's notebooks and save their outputs (``make notebooks``).

The course's notebooks are those git tracks (see ``cqrs_kata/course/tracked.py``; `git add` a new
one first), not a learner's copies; their working copies are run and saved, since refreshing them
is what a maintainer is doing. They run against a pristine copy of the course, as nbval does in
``make test``, so the saved outputs are the ones nbval compares with."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from cqrs_kata.course.paths import course_root
from cqrs_kata.course.tracked import course_files
from cqrs_kata.dev import use_pristine_course


def main(names: list[str]) -> int:
    root = course_root()
    notebooks = [root / n for n in course_files(root).notebooks()]
    if names:
        notebooks = [p for p in notebooks if any(n in p.name for n in names)]
    with tempfile.TemporaryDirectory(prefix="cqrs-kata-pristine-") as scratch:
        use_pristine_course(Path(scratch))
        for path in notebooks:
            if not path.is_file():
                print(f"skipped {path.name}: not in the working tree")
                continue
            nb = nbformat.read(path, as_version=4)
            NotebookClient(nb, timeout=600, kernel_name="python3",
                           resources={"metadata": {"path": str(path.parent)}}).execute()
            nbformat.write(nb, path)
            print(f"executed {path.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
