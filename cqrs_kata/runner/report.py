"""Render check results, progress and hints as plain text (shell, saved notebooks) and HTML."""

from __future__ import annotations

import difflib
import html as _html
import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cqrs_kata import platform
from cqrs_kata.course.expect import printable
from cqrs_kata.course.paths import display_path
from cqrs_kata.course.structure import Step, all_steps, get_step
from cqrs_kata.course.stubs import is_reference, stub_for
from cqrs_kata.platform import LOCAL_ONLY, START
from cqrs_kata.runner.run import CheckResult, StepResult, TaskResult, TaskState

if TYPE_CHECKING:
    from cqrs_kata.course.files import Saved

MARK: dict[TaskState, str] = {"passing": "✓", "failing": "✗", "not started": "·",
                              "local only": "○"}
COLOUR: dict[TaskState, str] = {
    "passing": "#1a7f37", "failing": "#cf222e", "not started": "#6e7781",
    "local only": "#6e7781",
}


@dataclass(frozen=True)
class Report:
    """Something to show: text for terminals and saved notebooks, HTML where it renders."""

    text: str
    html: str
    ok: bool = True

    def __post_init__(self) -> None:
        # What the learner's code printed or named may hold characters no terminal or notebook
        # can encode (a lone surrogate): show those escaped rather than fail to show anything.
        object.__setattr__(self, "text", printable(self.text))
        object.__setattr__(self, "html", printable(self.html))

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return self.text

    def _repr_html_(self) -> str:
        return self.html


def text_report(text: str) -> Report:
    """A report that is plain text in both forms."""
    return Report(text, "<pre>" + _html.escape(text) + "</pre>")


_CLI_HINT = re.compile(r"`cqrs-kata hint (\w+) (\d+)`")


_CODE = re.compile(r"`([^`\n]+)`")


def _esc(text: str) -> str:
    """HTML-escape ``text``; in a notebook, a CLI hint command reads as the notebook call."""
    return _html.escape(_CLI_HINT.sub(r'`hint("\1", \2)`', text))


def _prose(text: str) -> str:
    """``text`` as HTML outside a ``<pre>``: escaped, each `code span` set as code (a terminal
    shows the backticks; a notebook the code)."""
    return _CODE.sub(r"<code>\1</code>", _esc(text))


def _indent(text: str, prefix: str = "      ") -> str:
    return "\n".join(prefix + line for line in text.splitlines())


PRINTED_LINES = 12
"""Lines of a failing check's printed output shown under it."""


def _printed(output: str) -> str:
    lines = output.splitlines()
    shown = lines[:PRINTED_LINES]
    if len(lines) > PRINTED_LINES:
        shown.append(f"… ({len(lines) - PRINTED_LINES} more lines)")
    return "your code printed:\n" + _indent("\n".join(shown), "  ")


def _task_detail(result: TaskResult, show_todo: bool) -> str | None:
    problem = result.first_problem
    if problem is None or (problem.outcome == "todo" and not show_todo):
        return None
    if problem.outcome == "todo":
        return problem.message
    parts = [problem.check.description, problem.message]
    if problem.output.strip():
        parts.append(_printed(problem.output))
    skipped = sum(r.outcome == "skipped" for r in result.results if r is not problem)
    if skipped and problem.outcome != "skipped":
        parts.append(f"({skipped} more check{'s' if skipped > 1 else ''} of this task "
                     "skipped after it)")
    return "\n".join(parts)


def checks(n: int) -> str:
    return f"{n} check{'s' if n != 1 else ''}"


def _local_lines(results: tuple[CheckResult, ...]) -> list[str]:
    """The checks that run only in a local install, under the reason they share."""
    lines: list[str] = []
    for why in dict.fromkeys(r.message for r in results):
        lines.append(f"{LOCAL_ONLY} ({why}):")
        lines.extend(f"  {r.check.description}" for r in results if r.message == why)
    return lines


def _local_note(results: list[StepResult]) -> str | None:
    n = sum(len(r.local_only) for r in results)
    if not n:
        return None
    run = "runs" if n == 1 else "run"
    return f"{checks(n)} {run} only in a local install ({START})."


NO_TIME_LIMIT = ("These checks ran inside this kernel, with no time limit (a browser kernel "
                 "cannot start the process that enforces one): if a check never finishes, e.g. "
                 "an endless loop, use Kernel → Restart Kernel, fix your code and check again.")


def _time_limit_note(results: list[StepResult]) -> str | None:
    """NO_TIME_LIMIT where a check ran without one; not in a browser kernel, where the notebook
    says so once, before its first check (which may never end, and then shows no report)."""
    if all(r.time_limit for r in results) or platform.here().browser:
        return None
    return NO_TIME_LIMIT


def _backend_note(result: StepResult) -> str | None:
    """Which databases ran the learner's SQL, and why one the step uses did not, if so."""
    ran = {b for t in result.tasks for r in t.results if r.outcome != "todo" for b in r.backends}
    if not ran:
        return None
    if "postgresql" in ran:
        sqlite_only = any(r.check.backends == ("sqlite",) and r.outcome != "todo"
                          for t in result.tasks for r in t.results)
        return ("Your SQL ran on SQLite and PostgreSQL: each check with a database on "
                "PostgreSQL once it passed on SQLite"
                + (" (its crash checks run on SQLite only)." if sqlite_only else "."))
    if result.backends_missing and platform.here().browser:
        return ("Your SQL ran on SQLite only: a browser kernel has no PostgreSQL; in a local "
                "install `cqrs-kata check` runs it on both.")
    if result.backends_missing:
        return (f"Your SQL ran on SQLite only. Not on PostgreSQL: "
                f"{result.backends_missing.rstrip('.')}. It must run there too; "
                "`cqrs-kata doctor` says how to get a server.")
    return "Your SQL ran on SQLite; each check runs on PostgreSQL too once it passes on SQLite."


def _task_count(task: TaskResult) -> str:
    state = task.state
    if state == "local only":
        return f"all {checks(len(task.results))} {LOCAL_ONLY}"
    count = f"{task.passed}/{checks(len(task.ran))}" if state != "not started" else state
    if task.local_only:
        count += f", {len(task.local_only)} more only in a local install"
    return count


def _next_step_line(result: StepResult) -> str:
    number = result.step.number
    if result.load_error:
        return "Nothing could be checked until the file imports."
    passing = sum(t.state == "passing" for t in result.tasks)
    total = len(result.tasks)
    if result.ok:
        here = " here" if result.local_only else ""
        return (f"{passing} of {total} tasks pass{here}. Step {number} is done{here}; "
                f"`cqrs-kata solution {number}` shows the reference beside your code.")
    task = next(t for t in result.tasks if t.state not in ("passing", "local only")).task.number
    return (f"{passing} of {total} tasks pass. Next: task {task}; "
            f"`cqrs-kata hint {number} {task}` if you are stuck.")


LEFT = "text-align:left"


def _title_width(steps: list[Step]) -> int:
    """Pad task titles to the longest, so the states line up in one column."""
    return max((len(t.title) for s in steps for t in s.tasks), default=0)


def step_report(result: StepResult) -> Report:
    step = result.step
    width = _title_width([step])
    head = f"Step {step.number} · {step.title} · {display_path(result.path)}"
    lines = [head]
    rows = []
    if result.load_error:
        lines.append(f"  ✗ {result.load_error}")
        error = _esc(result.load_error)
        rows.append(f"<li style='color:{COLOUR['failing']}'>✗ {error}</li>")
    shown_todo = False
    for task in result.tasks:
        state = task.state
        count = _task_count(task)
        lines.append(f"  {MARK[state]} task {task.task.number}  {task.task.title:<{width}} {count}")
        detail = _task_detail(task, show_todo=not shown_todo)
        shown_todo = shown_todo or (state == "not started")
        local = "\n".join(_local_lines(task.local_only))
        detail_html = ""
        for text, colour in ((detail, "inherit"), (local, COLOUR["local only"])):
            if text:
                lines.append(_indent(text))
                detail_html += (f"<pre style='margin:2px 0 6px 1.5em;color:{colour}'>"
                                f"{_esc(text)}</pre>")
        rows.append(
            f"<li style='list-style:none'><span style='color:{COLOUR[state]}'>{MARK[state]}</span> "
            f"<b>task {task.task.number}</b> {_prose(task.task.title)} "
            f"<span style='color:{COLOUR[state]}'>({_esc(count)})</span>{detail_html}</li>"
        )
    notes = [n for n in (_backend_note(result), _local_note([result]),
                         _time_limit_note([result])) if n]
    footer = _next_step_line(result)
    lines += [footer, *notes]
    body = (f"<div><b>{_esc(head)}</b><ul style='padding-left:0.5em'>{''.join(rows)}</ul>"
            f"<i>{_prose(footer)}</i>{''.join(f'<p>{_prose(n)}</p>' for n in notes)}</div>")
    return Report("\n".join(lines), body, ok=result.ok)


def diff_report(step: Step, yours: str, reference: str) -> Report:
    """The reference beside the learner's passing code: a unified diff, ``-`` theirs and ``+``
    the reference's, coloured in a notebook."""
    lines = list(difflib.unified_diff(
        yours.splitlines(), reference.splitlines(), f"exercises/{step.module}.py (yours)",
        f"solutions/{step.module}.py (the reference)", n=2, lineterm=""))
    if not lines:
        said = (f"Step {step.number} passes, and exercises/{step.module}.py is the reference, "
                "line for line.")
        return Report(said, f"<p>{_esc(said)}</p>")
    head = (f"Step {step.number} passes. The reference beside your code (- yours, + the "
            "reference's); there is more than one right answer, so read it for the ideas:")
    colour = {"+": "#1a7f37", "-": "#a40e0e", "@": "#6e7781"}
    rows = "".join(f"<span style='color:{colour.get(line[:1], 'inherit')}'>{_esc(line)}</span>\n"
                   for line in lines)
    return Report("\n".join([head, *lines]), f"<p>{_esc(head)}</p><pre>{rows}</pre>")


def progress_report(results: list[StepResult], reference: Collection[str] = ()) -> Report:
    """Every step's tasks and their states; a step in ``reference`` runs the reference's code
    (catchup put it there), so its passing tasks are caught up, not the learner's."""
    width = _title_width([r.step for r in results])
    lines = []
    rows = []
    for result in results:
        step = result.step
        caught_up = "  · caught up: exercises/ holds the reference's code" \
            if step.number in reference else ""
        lines.append(f"step {step.number}  {step.title}  (about {step.minutes} min){caught_up}")
        rows.append(f"<tr><th colspan='2'>step {step.number} · "
                    f"{_esc(step.title)}{_esc(caught_up)}</th></tr>")
        if result.load_error:
            lines.append(f"  ✗ {result.load_error}")
            rows.append(f"<tr><td colspan='2'>✗ {_esc(result.load_error)}</td></tr>")
        for task in result.tasks:
            state = task.state
            title = f"{task.task.title:<{width}}"
            said = str(state)
            if task.local_only and state != "local only":
                said += f" ({checks(len(task.local_only))} only in a local install)"
            lines.append(f"  {MARK[state]} task {task.task.number}  {title} {said}")
            rows.append(f"<tr><td>task {task.task.number} · {_prose(task.task.title)}</td>"
                        f"<td><span style='color:{COLOUR[state]}'>{MARK[state]} {_esc(said)}"
                        "</span></td></tr>")
    done = sum(t.state == "passing" for r in results for t in r.tasks)
    total = sum(len(r.step.tasks) for r in results)
    borrowed = sum(t.state == "passing" for r in results if r.step.number in reference
                   for t in r.tasks)
    summary = f"{done} of {total} tasks pass" + (
        f", {borrowed} of them with the reference's code (catchup)." if borrowed else ".")
    notes = [n for n in (_local_note(results), _time_limit_note(results)) if n]
    lines += [summary, *notes]
    # JupyterLab right-aligns table cells unless each cell says otherwise.
    table = "".join(rows)
    for cell in ("<td", "<th"):
        table = table.replace(cell, f"{cell} style='{LEFT}'")
    return Report("\n".join(lines), f"<table>{table}</table><i>{summary}</i>"
                  + "".join(f"<p>{_prose(n)}</p>" for n in notes))


def hint_lines(step: Step, task: int, shown: int, in_notebook: bool = False) -> list[str]:
    """The title, the hint levels shown so far, and how to see the next one."""
    hints = step.task(task).hints
    lines = [f"Step {step.number}, task {task}: {step.task(task).title}"]
    lines += [f"  hint {level} of {len(hints)}: {text}"
              for level, text in enumerate(hints[:shown], start=1)]
    if shown == 0:
        lines.append("  (no hint shown yet: try the check's message first)")
    if shown >= len(hints):
        last = f"That was the last hint. The reference is solutions/{step.module}.py"
        later = [s.number for s in all_steps() if s.number > step.number]
        if not later:
            lines.append(f"{last}.")
        else:
            move = (f'`catchup("{later[0]}")` in a cell' if in_notebook else
                    f"`cqrs-kata catchup {later[0]}`")
            lines.append(f"{last}; {move} moves you past a step you want to leave.")
    elif in_notebook:
        terminal = ("" if platform.here().browser else
                    f" (or run cqrs-kata hint {step.number} {task} in a terminal)")
        lines.append(f"Click “Show hint {shown + 1} of {len(hints)}” below for the next "
                     f"one{terminal}.")
    else:
        lines.append(f"Ask again for hint {shown + 1}: `cqrs-kata hint {step.number} {task}`.")
    return lines


def hint_html(step: Step, task: int, shown: int, in_notebook: bool = False) -> str:
    title, *rest = hint_lines(step, task, shown, in_notebook)
    hints = step.task(task).hints[:shown]
    items = "".join(f"<li>{_prose(text)}</li>" for text in hints)
    # Lines that are not a hint nor the last one ("(no hint shown yet: …)"), one per line.
    notes = "".join(f"{_prose(line.strip())}<br>" for line in rest[:-1]
                    if not line.lstrip().startswith("hint "))
    listed = f"<ol>{items}</ol>" if items else "<br>"
    return f"<b>{_esc(title)}</b>{listed}{notes}<i>{_prose(rest[-1])}</i>"


def hint_report(step: Step, task: int, shown: int) -> Report:
    return Report("\n".join(hint_lines(step, task, shown)), hint_html(step, task, shown))


def all_pass_report(step: Step, following: Step | None, notebook: str | None) -> Report:
    """What a hint says when every task of the step passes already."""
    text = f"Every task of step {step.number} passes: no hint needed."
    if following is not None:
        where = f"{notebook}, then " if notebook else ""
        text += (f" Next: step {following.number}, {following.title.lower()} "
                 f"({where}`cqrs-kata check {following.number}`).")
    else:
        text += " That is the last step of the course for now."
    return Report(text, f"<b style='color:{COLOUR['passing']}'>✓</b> {_prose(text)}")


def _what_was_saved(version: Saved) -> str:
    """What a saved file holds, to tell versions apart: the stub, the reference, or how many
    lines differ from the stub (added or removed)."""
    try:
        step = get_step(version.step)
        text = version.path.read_text(encoding="utf-8", errors="replace")
        if is_reference(step, text):
            return "the reference"
        stub = stub_for(step)
    except (OSError, LookupError, ValueError, SyntaxError):
        return "?"
    if text == stub:
        return "the untouched stub"
    changed = sum(1 for line in difflib.unified_diff(stub.splitlines(), text.splitlines(),
                                                     lineterm="", n=0)
                  if line[:1] in "+-" and not line.startswith(("+++", "---")))
    return f"yours, {changed} line{'s' if changed != 1 else ''} changed"


def saved_report(versions: list[Saved]) -> Report:
    if not versions:
        return text_report("No saved versions yet. catchup, reset and restore save your "
                           "version of an exercise in exercises/.saved/ before replacing it.")
    lines = ["Saved versions of your exercises (oldest first):"]
    for v in versions:
        why = f"before {v.reason.replace('-', ' ')}" if v.reason else "saved"
        lines.append(f"  {v.number:>3}  step {v.step}  {why:<22} {v.when}  "
                     f"{_what_was_saved(v):<24} {display_path(v.path)}")
    how = "`restore(N)` in a cell" if platform.here().browser else "`cqrs-kata restore N`"
    lines.append(f"Restore one with {how} (N from the first column); what is in the exercise "
                 "now is saved first.")
    return text_report("\n".join(lines))


def error_report(message: str) -> Report:
    return Report(f"✗ {message}", f"<b style='color:{COLOUR['failing']}'>✗</b> "
                  f"{_prose(message)}", ok=False)
