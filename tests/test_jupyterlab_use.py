"""Whatever a learner does through JupyterLab, `make test` checks the course as git's index has it.

A throw-away git checkout of the course gets a learner's files (and a maintainer's committed
notebooks), then the real commands run there, side by side to save time: the lint module behind
`make lint` and `make typecheck`, and pytest with nbval as `make checks` runs it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook, new_output

from cqrs_kata.course.tracked import course_files

ROOT = Path(__file__).resolve().parent.parent
COURSE = course_files(ROOT)
NOTEBOOK_02 = "notebooks/02-split-truth-from-views.ipynb"
RENAMED = "notebooks/03-eventual-projection.ipynb"
DELETED = "notebooks/04-replays-and-idempotency.ipynb"
BROKEN, OUTPUTS = "notebooks/05-broken.ipynb", "notebooks/06-outputs.ipynb"
NBVAL = ["-m", "pytest", "--nbval", "--nbval-current-env"]
COMMANDS = {
    "ruff": ["-m", "cqrs_kata.dev.lint", "ruff"],
    "mypy": ["-m", "cqrs_kata.dev.lint", "mypy"],
    "collect": [*NBVAL, "--collect-only", "-q"],
    "validate": [*NBVAL, "-rA", BROKEN, OUTPUTS],
}

# make quick leaves these out: a JupyterLab server started to see what it lints and collects.
pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    COURSE.tracked is None, reason="not a git checkout: a learner's files cannot be told apart")]


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)


def _checkout(copy: Path) -> Path:
    """A git checkout of the course's files: the code as it is here, notebooks as committed."""
    assert COURSE.tracked is not None
    for relative in COURSE.tracked:
        (copy / relative).parent.mkdir(parents=True, exist_ok=True)
        if (ROOT / relative).is_file() and not relative.endswith(".ipynb"):
            shutil.copy2(ROOT / relative, copy / relative)
        else:
            (copy / relative).write_text(COURSE.text(relative) or "", encoding="utf-8")
    if (ROOT / ".mypy_cache").is_dir():  # warm, mypy takes a second instead of ten
        shutil.copytree(ROOT / ".mypy_cache", copy / ".mypy_cache")
    _git(copy, "init", "-q")
    _git(copy, "add", "-A")
    return copy


def _learner(checkout: Path) -> None:
    """What a learner can do in JupyterLab, which serves the whole checkout."""
    notebooks = checkout / "notebooks"
    # File → Duplicate, a scratch cell in a course notebook, a new notebook at the root.
    shutil.copy(checkout / NOTEBOOK_02, notebooks / "02-split-truth-from-views-Copy1.ipynb")
    notebook = nbformat.read(checkout / NOTEBOOK_02, as_version=4)
    notebook.cells.append(new_code_cell("import os\nimport time\n\nprint(time.time())\n1 / 0"))
    nbformat.write(notebook, checkout / NOTEBOOK_02)
    nbformat.write(new_notebook(cells=[new_code_cell("import os\n1 / 0")]),
                   checkout / "Untitled.ipynb")
    # A course notebook renamed, another deleted.
    (checkout / RENAMED).rename(notebooks / "my-03.ipynb")
    (checkout / DELETED).unlink()
    # New Python files, in whatever folder JupyterLab had open; test files among them.
    for folder in ("", "notebooks", "tests", "cqrs_kata"):
        (checkout / folder / "scratch.py").write_text('import os\n\nx: int = "a"\n')
        (checkout / folder / "test_scratch.py").write_text("def test_x():\n    assert False\n")
    (notebooks / "untitled.py").write_text('import os\n\nx: int = "a"\n')


def _maintainer(checkout: Path) -> None:
    """Notebooks committed (`git add`ed), then changed in the working tree only.

    05's committed cell raises and its working copy is fixed. 06's working copy has other
    outputs: cell 0's a learner's run saved, cell 1's a refresh by `make notebooks`.
    """
    nbformat.write(new_notebook(cells=[new_code_cell("1 / 0")]), checkout / BROKEN)
    cells = [new_code_cell(f"print({n})", execution_count=n) for n in (1, 2)]
    cells[0].outputs = [new_output("stream", name="stdout", text="1\n")]
    cells[1].outputs = [new_output("stream", name="stdout", text="an outdated 2\n")]
    nbformat.write(new_notebook(cells=cells), checkout / OUTPUTS)
    _git(checkout, "add", BROKEN, OUTPUTS)
    nbformat.write(new_notebook(cells=[new_code_cell("1 / 1")]), checkout / BROKEN)
    cells[0].outputs = [new_output("stream", name="stdout", text="what a learner's run printed\n")]
    cells[1].outputs = [new_output("stream", name="stdout", text="2\n")]
    nbformat.write(new_notebook(cells=cells), checkout / OUTPUTS)


@pytest.fixture(scope="module")
def done(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[int, str]]:
    """Each of COMMANDS run in the checkout: its exit status and output."""
    checkout = _checkout(tmp_path_factory.mktemp("course"))
    _learner(checkout)
    _maintainer(checkout)
    logs = tmp_path_factory.mktemp("logs")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CQRS_KATA_")}
    running = {}
    for name, args in COMMANDS.items():
        with (logs / name).open("w") as log:
            running[name] = subprocess.Popen([sys.executable, *args], cwd=checkout, env=env,
                                             stdout=log, stderr=subprocess.STDOUT)
    return {name: (p.wait(), (logs / name).read_text()) for name, p in running.items()}


def _notes(output: str) -> list[str]:
    return [line for line in output.splitlines() if "committed version" in line]


def test_a_learners_files_are_neither_linted_nor_collected(
        done: dict[str, tuple[int, str]]) -> None:
    for tool in ("ruff", "mypy"):
        assert done[tool][0] == 0, done[tool][1]
    status, output = done["collect"]
    assert status == 0, output
    ids = [line for line in output.splitlines() if "::" in line]
    assert COURSE.tracked is not None
    course = {p for p in COURSE.tracked if p.startswith("tests/test_")} | set(COURSE.notebooks())
    assert {i.split("::")[0] for i in ids} == course | {BROKEN, OUTPUTS}
    committed = COURSE.notebook(NOTEBOOK_02)
    assert sum(i.startswith(f"{NOTEBOOK_02}::") for i in ids) == len(
        [c for c in committed.cells if c.cell_type == "code"])
    for name in (NOTEBOOK_02, RENAMED, DELETED):  # said once each, at the end
        assert len([n for n in _notes(output) if n.startswith(f"{name}: ")]) == 1, output


def test_notebooks_are_validated_as_committed(done: dict[str, tuple[int, str]]) -> None:
    """A committed broken cell fails though the working copy is fixed; outputs pass when they
    match the committed ones or the working copy's (the cells being as committed)."""
    status, output = done["validate"]
    assert status == 1, output
    assert f"FAILED {BROKEN}::Cell 0" in output
    assert "ZeroDivisionError" in output
    assert f"PASSED {OUTPUTS}::Cell 0" in output
    assert f"PASSED {OUTPUTS}::Cell 1" in output
    assert [n.split(":")[0] for n in _notes(output)] == [BROKEN]


def test_committed_notebooks_are_lint_clean(tmp_path: Path) -> None:
    """`make lint` leaves notebooks to their user, so lint the course's as committed."""
    for relative in COURSE.notebooks():
        (tmp_path / Path(relative).name).write_text(COURSE.text(relative) or "", encoding="utf-8")
    ruff = Path(sys.executable).with_name("ruff")
    linted = subprocess.run([str(ruff), "check", "--no-cache", "--config",
                             str(ROOT / "pyproject.toml"), *map(str, tmp_path.glob("*.ipynb"))],
                            capture_output=True, text=True, check=False)
    assert linted.returncode == 0, linted.stdout + linted.stderr
