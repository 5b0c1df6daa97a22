"""How long each step takes a first-time learner, estimated from what it asks them to read and
write, next to the minutes the course states (``Step.minutes``, shown by ``cqrs-kata list`` and
notebook 00).

    .venv/bin/python benchmarks/notebook_times.py

Per notebook it counts the prose (markdown words, diagrams and code fences left out), the demo
code a learner reads (non-blank code lines), and the diagrams; per step, the words of the
exercise's docstrings (the contract the learner reads before writing a line) and the lines of the
reference solution the learner writes (between the BEGIN/END SOLUTION markers). The estimate is
a model with stated rates, not a stopwatch on learners:

- prose and docstrings at READ_WPM words a minute (technical text with tables, slower than a
  novel's 250);
- demo code at CODE_LPM lines a minute (read, run, look at the output);
- each diagram DIAGRAM_MIN minutes;
- each line of solution SOLUTION_MIN minutes (write it, run the check, read the message, fix).

Change the rates to what a workshop observed and the table follows.
"""

from __future__ import annotations

import ast
import json
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cqrs_kata.course.structure import all_steps  # noqa: E402
from cqrs_kata.course.tracked import course_files  # noqa: E402
from cqrs_kata.steps.tables import Table  # noqa: E402

READ_WPM = 120.0
CODE_LPM = 12.0
DIAGRAM_MIN = 1.5
SOLUTION_MIN = 0.75
FENCE = re.compile(r"```.*?```", re.S)
WORD = re.compile(r"[A-Za-z0-9][\w'’.-]*")


def reading(notebook: dict[str, Any]) -> tuple[int, int, int]:
    """Prose words, demo code lines and diagrams of one notebook."""
    words = code = diagrams = 0
    for cell in notebook["cells"]:
        text = "".join(cell["source"])
        if cell["cell_type"] == "markdown":
            diagrams += text.count("```mermaid")
            prose = FENCE.sub(" ", text).replace("|", " ")
            words += len(WORD.findall(prose))
        elif cell["cell_type"] == "code":
            code += sum(1 for line in text.splitlines() if line.strip())
    return words, code, diagrams


def docstring_words(module: str) -> int:
    """Words of every docstring in exercises/<module>.py: the module's, its classes' and
    functions'."""
    tree = ast.parse((ROOT / "exercises" / f"{module}.py").read_text(encoding="utf-8"))
    kinds = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
    return sum(len(WORD.findall(ast.get_docstring(node) or "")) for node in ast.walk(tree)
               if isinstance(node, kinds))


def solution_lines(module: str) -> int:
    """Non-blank lines between BEGIN SOLUTION and END SOLUTION in solutions/<module>.py."""
    inside, count = False, 0
    for line in (ROOT / "solutions" / f"{module}.py").read_text(encoding="utf-8").splitlines():
        if "# BEGIN SOLUTION" in line:
            inside = True
        elif "# END SOLUTION" in line:
            inside = False
        elif inside and line.strip():
            count += 1
    return count


def main() -> None:
    course = course_files(ROOT)
    rows = []
    for step in all_steps():
        names = [n for n in course.notebooks() if Path(n).name.startswith(f"{step.number}-")]
        words = code = diagrams = 0
        for name in names:
            w, c, d = reading(json.loads((ROOT / name).read_text(encoding="utf-8")))
            words, code, diagrams = words + w, code + c, diagrams + d
        contract = docstring_words(step.module)
        written = solution_lines(step.module)
        minutes = ((words + contract) / READ_WPM + code / CODE_LPM + diagrams * DIAGRAM_MIN
                   + written * SOLUTION_MIN)
        rows.append((step.number, str(len(names)), f"{words:,}", str(code), str(diagrams),
                     f"{contract:,}", str(written), f"{minutes:.0f}", str(step.minutes)))
    print(Table(("step", "notebooks", "prose words", "demo code lines", "diagrams",
                 "docstring words", "solution lines", "estimated min", "stated min"),
                tuple(rows), right=frozenset(range(1, 9)),
                note=f"prose {READ_WPM:g} words/min, code {CODE_LPM:g} lines/min, "
                     f"{DIAGRAM_MIN:g} min a diagram, {SOLUTION_MIN:g} min a solution line"))


if __name__ == "__main__":
    main()
