"""What a learner can do: check a step, see progress, get hints, catch up, start a step over,
list and restore saved versions.

The CLI and the notebook helpers both call these, so the shell and the notebook say the same.
"""

from __future__ import annotations

import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from cqrs_kata import platform
from cqrs_kata.course import files
from cqrs_kata.course.files import FileProblem
from cqrs_kata.course.paths import CourseNotFound, course_root, display_path, state_dir
from cqrs_kata.course.structure import Step, all_steps, get_step
from cqrs_kata.course.stubs import is_reference, reference_for, stub_for, without_markers
from cqrs_kata.course.tracked import NOTEBOOK_NAME
from cqrs_kata.runner.isolation import processes_available
from cqrs_kata.runner.report import (
    Report,
    all_pass_report,
    diff_report,
    hint_report,
    progress_report,
    saved_report,
    step_report,
    text_report,
)
from cqrs_kata.runner.run import StepResult, Target, module_path, run_step


def check(step: str | int | None = None, target: Target = "exercises") -> Report:
    """Check one step (or, with none given, the first step that is not done yet)."""
    if step is not None:
        return step_report(run_step(get_step(step), target))
    return step_report(_first_unfinished())


def _first_unfinished() -> StepResult:
    """The result of the first step that does not pass yet (the last step's when all pass)."""
    result: StepResult | None = None
    for s in all_steps():
        result = run_step(s)
        if not result.ok:
            break
    assert result is not None, "the course has no steps"
    return result


def results() -> list[StepResult]:
    """Every step's result; the steps are checked side by side, each in its own process."""
    steps = all_steps()
    if not processes_available():
        return [run_step(s) for s in steps]
    # One thread per step, whatever the cores: a step that loops spends its time waiting for
    # its deadline, so a course whose every step loops answers in one step's time, not four.
    with ThreadPoolExecutor(max_workers=len(steps)) as pool:
        return list(pool.map(run_step, steps))


def progress() -> Report:
    return progress_report(results(), _running_the_reference())


def _running_the_reference() -> set[str]:
    """The steps whose exercise is the reference's code (catchup put it there, or it imports
    it): their passing tasks are shown as caught up, not as the learner's."""
    found = set()
    for s in all_steps():
        try:
            text = files.read(module_path(s, "exercises"))
        except FileProblem:  # not a file: its step's report says so
            continue
        if text is not None and is_reference(s, text.decode("utf-8", "replace")):
            found.add(s.number)
    return found


# Hints ---------------------------------------------------------------------------------------


def _hint_file() -> Path:
    try:
        return state_dir() / "hints.json"
    except (FileExistsError, NotADirectoryError):
        raise FileProblem("a file named .cqrs-kata is in the way: the kata keeps your hint "
                          "levels in a folder of that name in your checkout; rename or remove "
                          "that file and ask again.") from None
    except OSError as error:
        raise FileProblem(f"cannot keep your hint levels ({error.strerror or error}); the kata "
                          "keeps them in the .cqrs-kata folder of your checkout.") from None


def hints_seen() -> dict[str, int]:
    """Hint levels shown so far, per ``"step.task"``; a damaged file counts as none seen."""
    try:
        data = json.loads(_hint_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {str(k): v for k, v in data.items()
            if isinstance(v, int) and not isinstance(v, bool) and v >= 0}


def _remember(key: str, level: int) -> None:
    seen = hints_seen()
    seen[key] = level
    path = _hint_file()
    try:
        path.write_text(json.dumps(seen, indent=1, sort_keys=True), encoding="utf-8")
    except OSError as error:
        raise FileProblem(f"cannot write {path} ({error.strerror or error}); make it writable "
                          "and ask again.") from None


def _first_unfinished_task(result: StepResult) -> int | None:
    if result.load_error is not None:
        return result.step.tasks[0].number
    return next((t.task.number for t in result.tasks
                 if t.state not in ("passing", "local only")), None)


def hint_task(step: str | int, task: int | None = None) -> tuple[Step, int | None]:
    """The step, and the task a hint is wanted for: ``task``, or the first that does not
    pass (None when every task passes)."""
    chosen = get_step(step)
    if task is not None:
        chosen.task(task)  # an unknown task is refused here, in one sentence
        return chosen, task
    return chosen, _first_unfinished_task(run_step(chosen))


def hint_level(step: Step, task: int) -> int:
    return min(hints_seen().get(f"{step.number}.{task}", 0), len(step.task(task).hints))


def reveal(step: Step, task: int) -> int:
    """Show one more hint level of ``task`` (the learner asked); return the level now shown."""
    level = min(hint_level(step, task) + 1, len(step.task(task).hints))
    _remember(f"{step.number}.{task}", level)
    return level


def notebook_of(step: Step) -> str | None:
    """``notebooks/03-eventual-projection.ipynb`` for step 03, if it is there."""
    found = sorted(p.name for p in (course_root() / "notebooks").glob(f"{step.number}-*.ipynb")
                   if NOTEBOOK_NAME.match(p.name) and "copy" not in p.name)  # not a "-Copy1"
    return f"notebooks/{found[0]}" if found else None


def next_step_after(step: Step) -> Step | None:
    later = [s for s in all_steps() if s.number > step.number]
    return later[0] if later else None


def all_pass(step: Step) -> Report:
    """What a hint says for a step whose every task passes: nothing to hint, and what is next."""
    following = next_step_after(step)
    return all_pass_report(step, following, notebook_of(following) if following else None)


def hint(step: str | int, task: int | None = None) -> Report:
    """The next hint level for a task (by default the first task that does not pass). Asking
    is the request: each call shows one level more."""
    chosen, number = hint_task(step, task)
    if number is None:
        return all_pass(chosen)
    return hint_report(chosen, number, reveal(chosen, number))


# Catching up, starting over, saved versions ----------------------------------------------------


def _replace(step: Step, new: str | bytes, reason: str, keep_reference: bool = False) -> str:
    """Put ``new`` in the step's exercise, saving what was there (not the untouched stub, nor
    the reference catchup put there, which solutions/ keeps, unless ``keep_reference``)."""
    return files.replace(module_path(step, "exercises"), new, reason, stub=stub_for(step),
                         reference=None if keep_reference else reference_for(step))


def catchup(step: str | int) -> Report:
    """Put the reference solution of every earlier step that does not pass into exercises/."""
    target = get_step(step)
    lines = [f"Catching up to step {target.number}:"]
    earlier = [s for s in all_steps() if s.number < target.number]
    for s in earlier:
        if run_step(s).ok:
            text = files.read(module_path(s, "exercises")) or b""
            whose = ("the reference's code passes"
                     if is_reference(s, text.decode("utf-8", "replace"))
                     else "your version passes every check")
            lines.append(f"  exercises/{s.module}.py: {whose}; kept")
            continue
        lines.append("  " + _replace(s, reference_for(s), f"catchup-{target.number}"))
    if not earlier:
        lines.append("  nothing to do: no step comes before it.")
    terminal = ("" if platform.here().browser else
                f" (or `cqrs-kata check {target.number}` in a terminal)")
    lines.append(f"Now open notebook {target.number} and run its check cell{terminal}.")
    return text_report("\n".join(lines))


def reset(step: str | int) -> Report:
    """Give the learner a fresh, unanswered exercise for ``step`` (their file is kept aside)."""
    chosen = get_step(step)
    return text_report(f"Step {chosen.number}: " + _replace(chosen, stub_for(chosen), "reset"))


def saved() -> Report:
    """Every saved version of an exercise, numbered, and how to restore one."""
    return saved_report(files.saved_versions())


def restore(which: str) -> Report:
    """Put a saved version back into exercises/ (what is there now is saved first)."""
    version = files.find_saved(which)
    step = get_step(version.step)
    line = _replace(step, files.read(version.path) or b"", "restore", keep_reference=True)
    return text_report(f"{line}\nrestored from {display_path(version.path)}.")


def solution(step: str | int) -> Report:
    """Once ``step`` passes: the reference beside your code, as a diff (``-`` yours, ``+`` the
    reference's). Before that: how far you are, and how to get there instead."""
    chosen = get_step(step)
    result = run_step(chosen)
    if not result.ok:
        done = sum(t.state == "passing" for t in result.tasks)
        first = next((t.task.number for t in result.tasks if t.state != "passing"), None)
        nudge = (f"`cqrs-kata hint {chosen.number}` helps with task {first}, the first that "
                 "does not pass" if first is not None else
                 f"`cqrs-kata check {chosen.number}` says what is wrong")
        tasks = len(chosen.tasks)
        said = (f"Step {chosen.number} does not pass yet ({done} of {tasks} "
                f"task{'s' if tasks != 1 else ''}): the reference is shown once it does. "
                f"{nudge}.")
        return Report(said, text_report(said).html, ok=False)
    yours = files.read(module_path(chosen, "exercises")) or b""
    return diff_report(chosen, without_stub_header(without_markers(
        yours.decode("utf-8", "replace"))), reference_for(chosen))


def without_stub_header(text: str) -> str:
    """``text`` without the comment lines a generated stub starts with (``# Step 02 exercise:
    ...``), which the reference does not have: a diff should show code, not that."""
    lines = text.splitlines(keepends=True)
    while lines and lines[0].startswith("#") and not lines[0].startswith("#!"):
        lines.pop(0)
    return "".join(lines)


def watch(step: str | int | None = None, interval: float = 0.3,
          rounds: int | None = None) -> int:
    """Check ``step`` (default: the first not done) again on every save of its exercise, and
    redraw the report; Ctrl-C leaves, changing nothing. ``rounds`` stops after that many looks
    (for tests); the command waits for Ctrl-C."""
    chosen = get_step(step) if step is not None else _first_unfinished().step
    path = module_path(chosen, "exercises")
    clear = "\033[2J\033[H" if sys.stdout.isatty() else ""
    seen: object = ()
    looked = 0
    try:
        while rounds is None or looked < rounds:
            looked += 1
            try:
                found = path.stat()
                now: object = (found.st_mtime_ns, found.st_size)
            except OSError:
                now = None
            if now != seen:
                seen = now
                report = (step_report(run_step(chosen)) if now is not None else text_report(
                    f"{display_path(path)} is missing; `cqrs-kata reset {chosen.number}` "
                    "brings back the stub"))
                rule = "" if clear else "\n" + "-" * 72 + "\n"
                print(f"{clear}{rule}watching {display_path(path)}: every save checks it again "
                      f"(Ctrl-C leaves); checked at {time.strftime('%H:%M:%S')}\n\n{report}",
                      flush=True)
            time.sleep(interval)
    except KeyboardInterrupt:
        print("\nstopped watching; nothing was changed.", flush=True)
    except BrokenPipeError:  # `cqrs-kata watch | head`: the reader has all it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


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
    return text_report("\n".join(lines))


def contract(step: str | int | None = None) -> Report:
    """For reviewers: each step's contract, rule by rule, with the checks that back each."""
    from cqrs_kata.course.contract import contract_lines

    steps = [get_step(step)] if step is not None else list(all_steps())
    return text_report("\n\n".join("\n".join(contract_lines(s)) for s in steps))


__all__ = ["CourseNotFound", "FileProblem", "catchup", "check", "contract", "guide", "hint",
           "progress", "reset", "restore", "results", "saved", "solution", "watch"]
