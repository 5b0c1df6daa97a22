"""Render check results, progress and hints as plain text (shell, saved notebooks) and HTML."""

from __future__ import annotations

import html as _html
import re
from dataclasses import dataclass

from cqrs_kata.course import Step
from cqrs_kata.runner import StepResult, TaskResult, TaskState, display_path

MARK: dict[TaskState, str] = {"passing": "✓", "failing": "✗", "not started": "·"}
COLOUR: dict[TaskState, str] = {
    "passing": "#1a7f37", "failing": "#cf222e", "not started": "#6e7781",
}


@dataclass(frozen=True)
class Report:
    """Something to show: text for terminals and saved notebooks, HTML where it renders."""

    text: str
    html: str
    ok: bool = True

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return self.text

    def _repr_html_(self) -> str:
        return self.html


_CLI_HINT = re.compile(r"`cqrs-kata hint (\w+) (\d+)`")


def _esc(text: str) -> str:
    """HTML-escape ``text``; in a notebook, a CLI hint command reads as the notebook call."""
    return _html.escape(_CLI_HINT.sub(r'`hint("\1", \2)`', text))


def _indent(text: str, prefix: str = "      ") -> str:
    return "\n".join(prefix + line for line in text.splitlines())


def _task_detail(result: TaskResult, show_todo: bool) -> str | None:
    problem = result.first_problem
    if problem is None or (problem.outcome == "todo" and not show_todo):
        return None
    if problem.outcome == "todo":
        return problem.message
    return f"{problem.check.description}\n{problem.message}"


def _next_step_line(result: StepResult) -> str:
    number = result.step.number
    if result.load_error:
        return "Nothing could be checked until the file imports."
    passing = sum(t.state == "passing" for t in result.tasks)
    total = len(result.tasks)
    if passing == total:
        return f"{total} of {total} tasks pass. Step {number} is done."
    task = next(t for t in result.tasks if t.state != "passing").task.number
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
        count = f"{task.passed}/{len(task.results)} checks" if state != "not started" else state
        lines.append(f"  {MARK[state]} task {task.task.number}  {task.task.title:<{width}} {count}")
        detail = _task_detail(task, show_todo=not shown_todo)
        shown_todo = shown_todo or (state == "not started")
        if detail:
            lines.append(_indent(detail))
        detail_html = ""
        if detail:
            detail_html = f"<pre style='margin:2px 0 6px 1.5em'>{_esc(detail)}</pre>"
        rows.append(
            f"<li style='list-style:none'><span style='color:{COLOUR[state]}'>{MARK[state]}</span> "
            f"<b>task {task.task.number}</b> {_esc(task.task.title)} "
            f"<span style='color:{COLOUR[state]}'>({_esc(count)})</span>{detail_html}</li>"
        )
    footer = _next_step_line(result)
    lines.append(footer)
    body = (f"<div><b>{_esc(head)}</b><ul style='padding-left:0.5em'>{''.join(rows)}</ul>"
            f"<i>{_esc(footer)}</i></div>")
    return Report("\n".join(lines), body, ok=result.ok)


def progress_report(results: list[StepResult]) -> Report:
    width = _title_width([r.step for r in results])
    lines = []
    rows = []
    for result in results:
        step = result.step
        lines.append(f"step {step.number}  {step.title}  (about {step.minutes} min)")
        rows.append(f"<tr><th colspan='2'>step {step.number} · "
                    f"{_esc(step.title)}</th></tr>")
        if result.load_error:
            lines.append(f"  ✗ {result.load_error}")
            rows.append(f"<tr><td colspan='2'>✗ {_esc(result.load_error)}</td></tr>")
        for task in result.tasks:
            state = task.state
            title = f"{task.task.title:<{width}}"
            lines.append(f"  {MARK[state]} task {task.task.number}  {title} {state}")
            rows.append(f"<tr><td>task {task.task.number} · {_esc(task.task.title)}</td>"
                        f"<td><span style='color:{COLOUR[state]}'>{MARK[state]} {state}</span>"
                        "</td></tr>")
    done = sum(t.state == "passing" for r in results for t in r.tasks)
    total = sum(len(r.step.tasks) for r in results)
    summary = f"{done} of {total} tasks pass."
    lines.append(summary)
    # JupyterLab right-aligns table cells unless each cell says otherwise.
    table = "".join(rows)
    for cell in ("<td", "<th"):
        table = table.replace(cell, f"{cell} style='{LEFT}'")
    return Report("\n".join(lines), f"<table>{table}</table><i>{summary}</i>")


def hint_report(step: Step, task: int, shown: int) -> Report:
    hints = step.task(task).hints
    title = f"Step {step.number}, task {task}: {step.task(task).title}"
    lines = [title]
    items = []
    for level, text in enumerate(hints[:shown], start=1):
        lines.append(f"  hint {level} of {len(hints)}: {text}")
        items.append(f"<li>{_esc(text)}</li>")
    if shown < len(hints):
        more = f"Ask again for hint {shown + 1}: `cqrs-kata hint {step.number} {task}`."
    else:
        more = (f"That was the last hint. The reference is solutions/{step.module}.py; "
                f"`cqrs-kata catchup` moves you past a step you want to leave.")
    lines.append(more)
    body = f"<b>{_esc(title)}</b><ol>{''.join(items)}</ol><i>{_esc(more)}</i>"
    return Report("\n".join(lines), body)


def error_report(message: str) -> Report:
    return Report(f"✗ {message}", f"<b style='color:{COLOUR['failing']}'>✗</b> "
                  f"{_esc(message)}", ok=False)
