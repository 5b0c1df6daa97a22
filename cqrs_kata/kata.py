"""What a learner can do: check a step, see progress, get hints, catch up, start a step over.

The CLI and the notebook helpers both call these, so the shell and the notebook say the same.
"""

from __future__ import annotations

import json
import shutil
from datetime import datetime
from pathlib import Path

from cqrs_kata.course import Step, all_steps, get_step
from cqrs_kata.paths import course_root, state_dir
from cqrs_kata.report import Report, hint_report, progress_report, step_report
from cqrs_kata.runner import StepResult, Target, module_path, run_step
from cqrs_kata.stubs import stub_for


def check(step: str | int | None = None, target: Target = "exercises") -> Report:
    """Check one step (or, with none given, the first step that is not done yet)."""
    chosen = get_step(step) if step is not None else current_step()
    return step_report(run_step(chosen, target))


def current_step() -> Step:
    """The first step with a task that does not pass yet (the last step when all pass)."""
    steps = all_steps()
    return next((s for s in steps if not run_step(s).ok), steps[-1])


def progress() -> Report:
    return progress_report([run_step(s) for s in all_steps()])


def _hint_file() -> Path:
    return state_dir() / "hints.json"


def _hints_seen() -> dict[str, int]:
    try:
        data = json.loads(_hint_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): int(v) for k, v in data.items()} if isinstance(data, dict) else {}


def _first_unfinished_task(result: StepResult) -> int:
    return next((t.task.number for t in result.tasks if t.state != "passing"),
                result.step.tasks[0].number)


def hint(step: str | int, task: int | None = None) -> Report:
    """Show the next hint level for a task (by default the first task that does not pass)."""
    chosen = get_step(step)
    number = task if task is not None else _first_unfinished_task(run_step(chosen))
    hints = chosen.task(number).hints
    seen = _hints_seen()
    key = f"{chosen.number}.{number}"
    shown = min(seen.get(key, 0) + 1, len(hints))
    seen[key] = shown
    _hint_file().write_text(json.dumps(seen, indent=1, sort_keys=True), encoding="utf-8")
    return hint_report(chosen, number, shown)


def _save_aside(path: Path) -> Path:
    """Keep a copy of the learner's file before it is replaced, so nothing is ever lost."""
    saved = course_root() / "exercises" / ".saved"
    saved.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    copy = saved / f"{path.stem}.{stamp}.py"
    shutil.copy2(path, copy)
    return copy


def _replace(path: Path, text: str, untouched: str) -> str:
    """Write ``text`` to ``path``, first saving the learner's version unless it is ``untouched``
    (the generated stub: nothing of theirs to keep)."""
    current = path.read_text(encoding="utf-8") if path.is_file() else None
    if current == text:
        return f"{path.name}: already as wanted, left alone"
    note = ""
    if current is not None and current != untouched:
        note = f" (your version is saved as exercises/.saved/{_save_aside(path).name})"
    path.write_text(text, encoding="utf-8")
    return f"{path.name}: replaced{note}"


def catchup(step: str | int) -> Report:
    """Put the reference solution of every step before ``step`` into exercises/."""
    target = get_step(step)
    lines = [f"Catching up to step {target.number}:"]
    earlier = [s for s in all_steps() if s.number < target.number]
    for s in earlier:
        solution = module_path(s, "solutions").read_text(encoding="utf-8")
        lines.append("  " + _replace(module_path(s, "exercises"), solution, stub_for(s)))
    if not earlier:
        lines.append("  nothing to do: no step comes before it.")
    lines.append(f"Now open notebook {target.number} and run `cqrs-kata check {target.number}`.")
    text = "\n".join(lines)
    return Report(text, "<pre>" + text + "</pre>")


def reset(step: str | int) -> Report:
    """Give the learner a fresh, unanswered exercise for ``step`` (their file is kept aside)."""
    chosen = get_step(step)
    stub = stub_for(chosen)
    line = _replace(module_path(chosen, "exercises"), stub, stub)
    text = f"Step {chosen.number}: {line}."
    return Report(text, "<pre>" + text + "</pre>")


def guide() -> Report:
    """The facilitator's sheet: each step's time, tasks and the mistakes people usually make."""
    lines = []
    total = 0
    for s in all_steps():
        total += s.minutes
        lines.append(f"step {s.number}  {s.title}  ~{s.minutes} min")
        lines.extend(f"  task {t.number}: {t.title}" for t in s.tasks)
        lines.extend(f"  usual mistake: {m}" for m in s.usual_mistakes)
    lines.append(f"about {total} min in all")
    text = "\n".join(lines)
    return Report(text, "<pre>" + text + "</pre>")
