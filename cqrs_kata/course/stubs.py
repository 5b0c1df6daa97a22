"""Generate the learner's exercise stubs from the reference solutions.

A solution is written once, in ``solutions/stepNN.py``. Inside a function, the answer sits
between ``# BEGIN SOLUTION`` and ``# END SOLUTION``; the stub keeps everything else (signature,
full docstring, surrounding code) and puts a ``raise NotImplementedError`` in place of the
answer, naming the task it belongs to. ``make stubs`` rewrites ``exercises/``; a test
fails when the committed stubs differ from what this module makes.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

from cqrs_kata.course.paths import course_root
from cqrs_kata.course.structure import Step, all_steps

BEGIN = "# BEGIN SOLUTION"
END = "# END SOLUTION"


class StubError(ValueError):
    """A solution file's answer markers are malformed or do not match the step's tasks."""


@dataclass(frozen=True)
class _Function:
    qualname: str
    first: int
    last: int
    has_docstring: bool


def _functions(tree: ast.Module) -> list[_Function]:
    found: list[_Function] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                name = prefix + child.name
                last = child.end_lineno or child.lineno
                documented = ast.get_docstring(child) is not None
                found.append(_Function(name, child.lineno, last, documented))
                visit(child, name + ".")
            elif isinstance(child, ast.ClassDef):
                visit(child, prefix + child.name + ".")

    visit(tree, "")
    return found


def _enclosing(functions: list[_Function], line: int) -> _Function | None:
    inside = [f for f in functions if f.first <= line <= f.last]
    return max(inside, key=lambda f: f.first, default=None)


def _todo(indent: str, step: Step, qualname: str, task: int) -> list[str]:
    return [
        f"{indent}raise NotImplementedError(",
        f'{indent}    "{qualname} is not written yet: step {step.number}, task {task} "',
        f'{indent}    "(`cqrs-kata hint {step.number} {task}` gives a hint)"',
        f"{indent})",
    ]


def make_stub(step: Step, source: str, filename: str = "<solution>") -> str:
    """The exercise stub for ``step`` made from its solution's ``source``."""
    functions = _functions(ast.parse(source, filename))
    lines = source.splitlines()
    out: list[str] = []
    region_start: int | None = None
    seen: set[str] = set()
    for number, line in enumerate(lines, start=1):
        marker = line.strip()
        if marker == BEGIN:
            if region_start is not None:
                raise StubError(f"{filename}:{number}: {BEGIN} inside another answer region")
            region_start = number
            function = _enclosing(functions, number)
            if function is None:
                raise StubError(f"{filename}:{number}: answer regions must be inside a function")
            if not function.has_docstring:
                raise StubError(f"{filename}:{number}: {function.qualname} needs a docstring, "
                                "since it is all the learner's stub will say")
            task = step.task_of(function.qualname)
            if task is None:
                raise StubError(f"{filename}:{number}: {function.qualname} is in no task's "
                                f"`builds` in cqrs_kata/steps/{step.module}.py")
            seen.add(function.qualname)
            indent = line[: len(line) - len(line.lstrip())]
            out.extend(_todo(indent, step, function.qualname, task.number))
        elif marker == END:
            if region_start is None:
                raise StubError(f"{filename}:{number}: {END} without a {BEGIN}")
            region_start = None
        elif region_start is None:
            out.append(line)
    if region_start is not None:
        raise StubError(f"{filename}:{region_start}: {BEGIN} is never closed by {END}")
    missing = sorted({name for t in step.tasks for name in t.builds} - seen)
    if missing:
        raise StubError(f"{filename}: tasks name {', '.join(missing)} but the solution has no "
                        "answer region there")
    header = (f"# Step {step.number} exercise: replace each `raise NotImplementedError` with "
              f"your code,\n# then run `cqrs-kata check {step.number}`.\n"
              f"# Generated from solutions/{step.module}.py by `make stubs`; "
              "this copy is yours to edit.\n")
    return header + "\n".join(out) + "\n"


def reference_for(step: Step) -> str:
    """The step's reference solution as ``catchup`` puts it in exercises/: the answer markers
    left out (they only mean something to ``make stubs``)."""
    path = course_root() / "solutions" / f"{step.module}.py"
    return without_markers(path.read_text(encoding="utf-8"))


def without_markers(text: str) -> str:
    """``text`` without its ``# BEGIN SOLUTION`` and ``# END SOLUTION`` lines."""
    return "".join(line for line in text.splitlines(keepends=True)
                   if line.strip() not in (BEGIN, END))


def is_reference(step: Step, text: str) -> bool:
    """Whether ``text`` (an exercise file) is the reference: a copy of it, or a file that takes
    the step's answers from ``solutions`` (``from solutions.step05 import *``)."""
    if without_markers(text) == reference_for(step):  # the reference, markers or not
        return True
    return re.search(rf"^\s*(from\s+solutions\.{step.module}\s+import|import\s+solutions\."
                     rf"{step.module}\b)", text, flags=re.M) is not None


def stub_for(step: Step) -> str:
    path = course_root() / "solutions" / f"{step.module}.py"
    return make_stub(step, path.read_text(encoding="utf-8"), f"solutions/{step.module}.py")


def write_stubs(folder: Path) -> list[Path]:
    """Write every step's stub into ``folder``; return the files written."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for step in all_steps():
        path = folder / f"{step.module}.py"
        path.write_text(stub_for(step), encoding="utf-8")
        written.append(path)
    return written
