"""The package's parts and the direction of their imports (CONTRIBUTING.md: "The parts of the
package"): each part imports only the parts below it, no module imports one that imports it
back, the installed package never imports the tests, and what it takes from ``solutions/`` is
listed here with the reason, so the list can only shrink."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "cqrs_kata"

LAYERS = ("platform", "course", "db", "steps", "runner", "learner", "dev")
"""Lowest first: a part may import itself and any part before it."""
NAMES_FOR_LEARNERS = {"alternatives": "steps", "__init__": "learner"}
"""Top-level modules that only re-export a part's names, and the part they belong with."""

IMPORTS_BY_NAME = {
    # The one import by a name built at run time, and so the one edge against the layers: the
    # registry of steps finds each step's checks (cqrs_kata.steps.stepNN.checks) by its number.
    "cqrs_kata.course.structure",
}

FROM_SOLUTIONS = {
    # Demonstrations of the reference at work (notebooks 01 and 06, `cqrs-kata bench`): they
    # measure the reference's own code, and no check imports them.
    "cqrs_kata.steps.step01.read_latency",
    "cqrs_kata.steps.step06.alternatives",
    # Step 04 hands the learner's projector step 02's write store and step 03's events, whose
    # classes the contract names (`isinstance(event, Event)`); to be taken from the module
    # under test instead, with a write store of the harness's own that keeps MemoryWrite's
    # contract exactly.
    "cqrs_kata.steps.step04.checks",
    "cqrs_kata.steps.step04.harness",
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_module(name: str) -> bool:
    path = ROOT / name.replace(".", "/")
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _imports(path: Path) -> Iterator[str]:
    """Every module ``path`` imports, at any depth of its code (a lazy import counts, and so
    does one only for type checking)."""
    package = _module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            for alias in node.names:
                full = f"{module}.{alias.name}"
                yield full if _is_module(full) else module


def _imports_by_name(path: Path) -> bool:
    """Whether ``path`` calls ``importlib.import_module`` or ``__import__``."""
    return any(isinstance(node, ast.Call) and (
        (isinstance(node.func, ast.Attribute) and node.func.attr == "import_module")
        or (isinstance(node.func, ast.Name) and node.func.id in ("import_module", "__import__")))
        for node in ast.walk(ast.parse(path.read_text(), str(path))))


FILES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}
GRAPH = {module: set(_imports(path)) for module, path in FILES.items()}


def _part(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return NAMES_FOR_LEARNERS["__init__"]
    first = parts[1]
    return NAMES_FOR_LEARNERS.get(first, first)


def test_every_module_belongs_to_a_part() -> None:
    parts = {_part(m) for m in GRAPH}
    assert parts <= set(LAYERS), f"modules outside the parts: {parts - set(LAYERS)}"


def test_no_part_imports_one_above_it() -> None:
    upward = sorted(
        (module, target) for module, targets in GRAPH.items() for target in targets
        if target.startswith("cqrs_kata")
        and LAYERS.index(_part(target)) > LAYERS.index(_part(module)))
    assert not upward, "imports against the layers (move the code down, or the import up):\n" + (
        "\n".join(f"  {m} -> {t}" for m, t in upward))


def test_a_step_builds_only_on_the_steps_before_it() -> None:
    def number(module: str) -> int | None:
        parts = module.split(".")
        return int(parts[2][4:]) if len(parts) > 2 and parts[2].startswith("step") else None

    later = sorted((m, t) for m, targets in GRAPH.items() for t in targets
                   if t.startswith("cqrs_kata.steps.") and number(m) is not None
                   and (number(t) or 0) > (number(m) or 0))
    assert not later, f"a step imports a later step: {later}"


def test_only_the_registry_imports_by_name() -> None:
    """AST-read imports cannot see ``importlib.import_module(some_string)``: keep those few."""
    found = {module for module, path in FILES.items() if _imports_by_name(path)}
    assert found == IMPORTS_BY_NAME, (
        f"imports by a name built at run time in {sorted(found - IMPORTS_BY_NAME)}; none in "
        f"{sorted(IMPORTS_BY_NAME - found)} any more (update IMPORTS_BY_NAME)")


def test_no_import_circle() -> None:
    def reaches(start: str) -> set[str]:
        seen: set[str] = set()
        todo = [start]
        while todo:
            for target in GRAPH.get(todo.pop(), ()):
                if target in GRAPH and target not in seen:
                    seen.add(target)
                    todo.append(target)
        return seen

    # The package's own __init__ re-exports the notebook functions lazily; it is the top.
    circles = sorted({tuple(sorted((m, t))) for m, targets in GRAPH.items() for t in targets
                      if t in GRAPH and t != "cqrs_kata" and m in reaches(t)})
    assert not circles, f"modules that import each other, at some remove: {circles}"


@pytest.mark.parametrize("forbidden", ["tests", "unittest", "pytest", "benchmarks"])
def test_the_installed_package_needs_no_test_code(forbidden: str) -> None:
    users = sorted(m for m, targets in GRAPH.items()
                   if any(t == forbidden or t.startswith(forbidden + ".") for t in targets))
    assert not users, f"{users} import {forbidden}; keep test support under tests/support/"


def test_what_the_package_takes_from_the_reference_only_shrinks() -> None:
    users = {m for m, targets in GRAPH.items() if any(t.startswith("solutions") for t in targets)}
    assert users <= FROM_SOLUTIONS, f"new imports of solutions/: {sorted(users - FROM_SOLUTIONS)}"
    assert users >= FROM_SOLUTIONS, (
        f"no longer import solutions/, so drop them from FROM_SOLUTIONS: "
        f"{sorted(FROM_SOLUTIONS - users)}")
