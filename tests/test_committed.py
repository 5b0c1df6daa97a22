"""A learner's use of the checkout (saved notebook outputs) is told apart from authors' edits."""

from __future__ import annotations

import subprocess
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_notebook, new_output

from cqrs_kata.dev.committed import committed_text, reference_notebook


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=root,
                   check=True, capture_output=True)


def _repo_with_notebook(root: Path) -> Path:
    _git(root, "init", "-q")
    path = root / "n.ipynb"
    cell = new_code_cell("print(1)")
    cell.outputs = [new_output("stream", name="stdout", text="1\n")]
    nbformat.write(new_notebook(cells=[cell]), path)
    _git(root, "add", "n.ipynb")
    _git(root, "commit", "-qm", "notebook")
    return path


def _rewrite(path: Path, source: str | None = None, output: str | None = None) -> None:
    nb = nbformat.read(path, as_version=4)
    if source is not None:
        nb.cells[0].source = source
    if output is not None:
        nb.cells[0].outputs = [new_output("stream", name="stdout", text=output)]
    nbformat.write(nb, path)


def test_only_outputs_changed_gives_the_committed_notebook(tmp_path: Path) -> None:
    path = _repo_with_notebook(tmp_path)
    _rewrite(path, output="what the learner's run printed\n")
    reference = reference_notebook(path, tmp_path)
    assert reference is not None
    assert reference.cells[0].outputs[0].text == "1\n"


def test_an_edited_source_means_the_working_copy_is_validated(tmp_path: Path) -> None:
    path = _repo_with_notebook(tmp_path)
    _rewrite(path, source="print(2)", output="2\n")
    assert reference_notebook(path, tmp_path) is None


def test_nothing_committed(tmp_path: Path) -> None:
    _git(tmp_path, "init", "-q")
    path = tmp_path / "new.ipynb"
    nbformat.write(new_notebook(), path)
    assert reference_notebook(path, tmp_path) is None
    assert committed_text(tmp_path, "new.ipynb") is None
