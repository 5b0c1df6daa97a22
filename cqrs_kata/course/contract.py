"""An exercise's contract, sentence by sentence, and the checks behind each rule.

The contract of a step is what the docstrings of the code the learner writes say: every
function a task builds, and the class around it. Each sentence belongs to one clause of the
step (``STEP.rule`` or ``STEP.note`` in ``cqrs_kata/steps/stepNN/checks.py``); a rule is backed
by the checks that name it. ``cqrs-kata contract NN`` prints the table; a test fails when a sentence
belongs to no clause, a clause quotes words no docstring has, or a rule has no check. A check
that needs what a browser kernel lacks (threads, processes) is marked, and so is a rule that
only such checks back.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

from cqrs_kata.course.paths import course_root
from cqrs_kata.course.structure import Clause, Step

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z`\"'(*\-])")


def sentences(text: str) -> list[str]:
    """``text`` as sentences, white space collapsed."""
    flat = " ".join(text.split())
    return [s for s in _SENTENCE_END.split(flat) if s]


def docstrings(source: str) -> dict[str, str]:
    """Every class's and function's docstring in ``source``, by qualified name."""
    found: dict[str, str] = {}

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                name = prefix + child.name
                doc = ast.get_docstring(child)
                if doc:
                    found[name] = doc
                visit(child, name + ".")

    visit(ast.parse(source), "")
    return found


def contract_places(step: Step) -> list[str]:
    """What the learner writes (each task's ``builds``) and the classes around it, in order."""
    places: list[str] = []
    for task in step.tasks:
        for name in task.builds:
            owner = name.rpartition(".")[0]
            for place in (owner, name):
                if place and place not in places:
                    places.append(place)
    return places


@dataclass(frozen=True)
class Sentence:
    where: str
    text: str
    clause: Clause | None


def contract(step: Step, solution: Path | None = None) -> list[Sentence]:
    """Every sentence of the step's contract, with the clause it belongs to (None: none)."""
    path = solution or course_root() / "solutions" / f"{step.module}.py"
    docs = docstrings(path.read_text(encoding="utf-8"))
    found = []
    for where in contract_places(step):
        clauses = [c for c in step.clauses if c.where == where]
        for text in sentences(docs.get(where, "")):
            owner = next((c for c in clauses if text in sentences(c.text)), None)
            found.append(Sentence(where, text, owner))
    return found


def problems(step: Step, solution: Path | None = None) -> list[str]:
    """What keeps the contract table from being whole; empty when every sentence is placed."""
    path = solution or course_root() / "solutions" / f"{step.module}.py"
    docs = docstrings(path.read_text(encoding="utf-8"))
    found = []
    for sentence in contract(step, path):
        if sentence.clause is None:
            found.append(f"{sentence.where}: no rule or note holds {sentence.text!r}")
    for clause in step.clauses:
        for text in sentences(clause.text):
            if text not in sentences(docs.get(clause.where, "")):
                found.append(f"{clause.where}: the docstring does not say {text!r}")
        if clause.rule and not step.checks_backing(clause):
            found.append(f"{clause.where}: no check backs the rule {clause.text!r}")
    for check in step.checks:
        if not check.backs:
            found.append(f"check {check.name} backs no rule of the contract")
    return found


def contract_lines(step: Step) -> list[str]:
    """The table for ``cqrs-kata contract``: each rule with its checks, notes marked as such."""
    lines = [f"Step {step.number} · {step.title}: the contract, and the checks behind each rule"]
    shown: set[Clause] = set()
    place = None
    for sentence in contract(step):
        clause = sentence.clause
        if sentence.where != place:
            place = sentence.where
            lines.append(f"{place}")
        if clause is None:
            lines.append(f"  ? {sentence.text}  [NOT PLACED]")
            continue
        if clause in shown:
            continue
        shown.add(clause)
        if not clause.rule:
            lines.append(f"  · {clause.text}  [explains; nothing to check]")
            continue
        checks = step.checks_backing(clause)
        local = "" if any(not c.needs for c in checks) else "  [checked only in a local install]"
        lines.append(f"  ✓ {clause.text}{local}")
        lines.extend(f"      task {c.task}: {c.name}" + (
            f"  (local install only: needs {', '.join(c.needs)})" if c.needs else "")
            for c in checks)
    rules = [c for c in step.clauses if c.rule]
    backed = [c for c in rules if step.checks_backing(c)]
    everywhere = [c for c in backed if any(not k.needs for k in step.checks_backing(c))]
    lines.append(f"{len(backed)} of {len(rules)} rules backed by checks, {len(everywhere)} of "
                 f"them also in a browser kernel; {len(step.checks)} checks.")
    return lines
