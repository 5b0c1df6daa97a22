"""A notebook's hint cell: the hints seen so far, and a button for the next one.

Running the cell (Run All, nbval, nbconvert) only shows; a hint level moves up only when the
learner clicks the button, so a notebook run never hands out a hint nobody asked for. Its
plain-text form says the same in words, for saved notebooks and text-only front-ends.
"""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets

from cqrs_kata.course.expect import printable
from cqrs_kata.course.files import FileProblem
from cqrs_kata.course.structure import Step
from cqrs_kata.learner import kata
from cqrs_kata.runner.report import hint_html, hint_lines


class HintPanel(widgets.VBox):  # type: ignore[misc]
    """The hints of one task, shown up to the level the learner has asked for."""

    def __init__(self, step: Step, task: int) -> None:
        self.step, self.task = step, task
        self.view = widgets.HTML()
        self.button = widgets.Button(tooltip="shows one more hint, and remembers that you saw it")
        self.button.add_class("cqrs-next-hint")
        self.button.on_click(lambda _: self.show_next())
        self._problem = ""
        super().__init__(children=[self.view, self.button])
        self.add_class("cqrs-hints")
        self._render()

    @property
    def shown(self) -> int:
        return kata.hint_level(self.step, self.task)

    def show_next(self) -> None:
        """What the button does: one more level, remembered for the CLI and other notebooks."""
        try:
            kata.reveal(self.step, self.task)
            self._problem = ""
        except FileProblem as problem:
            self._problem = str(problem)
        self._render()

    def _render(self) -> None:
        shown, total = self.shown, len(self.step.task(self.task).hints)
        problem = f"<div style='color:#cf222e'>{self._problem}</div>" if self._problem else ""
        self.view.value = printable(hint_html(self.step, self.task, shown, in_notebook=True)
                                    + problem)
        self.button.description = (f"Show hint {shown + 1} of {total}" if shown < total
                                   else "No more hints")
        self.button.disabled = shown >= total

    def text(self) -> str:
        return printable("\n".join(hint_lines(self.step, self.task, self.shown, in_notebook=True)))

    def __repr__(self) -> str:
        return self.text()

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        bundle: dict[str, Any] = super()._repr_mimebundle_(**kwargs)
        bundle["text/plain"] = self.text()  # whole, where ipywidgets would cut it short
        return bundle
