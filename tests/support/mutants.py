"""Wrong solutions kept as diffs against an independently written correct one.

``tests/mutants/stepNN/correct.py`` is a solution written apart from ``solutions/``; each
``mNN_*.diff`` beside it is that solution with one realistic mistake. ``tests/test_mutants.py``
runs the checks against every mutant; ``benchmarks/checks_truth.py`` counts the ones caught.
"""

from __future__ import annotations

from pathlib import Path

MUTANTS = Path(__file__).resolve().parents[1] / "mutants"
"""``tests/mutants/`` of this checkout (not the pristine copies the course's tests run against)."""


def mutant_source(diff: Path) -> str:
    """``correct.py`` with the hunks of ``diff`` applied, each found by its text (not its line
    numbers), so an unrelated edit of correct.py leaves every mutant applicable."""
    lines = (diff.parent / "correct.py").read_text().splitlines(keepends=True)
    lines = lines[1:]  # its "# CORRECT:" line
    hunks: list[list[str]] = []
    for line in diff.read_text().splitlines(keepends=True):
        if line.startswith("@@"):
            hunks.append([])
        elif hunks and line[:1] in (" ", "-", "+"):
            hunks[-1].append(line)
    assert hunks, f"{diff.name} has no hunks"
    start = 0
    for hunk in hunks:
        old = [h[1:] for h in hunk if h[0] in " -"]
        new = [h[1:] for h in hunk if h[0] in " +"]
        at = next((i for i in range(start, len(lines) - len(old) + 1)
                   if lines[i:i + len(old)] == old), None)
        assert at is not None, f"{diff.name}: correct.py no longer has {''.join(old)!r}"
        lines[at:at + len(old)] = new
        start = at + len(new)
    return "".join(lines)
