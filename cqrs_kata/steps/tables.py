"""Results as a table: styled HTML where a notebook shows them, aligned text in a terminal.

Notebooks 05 and 06 show measured results this way instead of printing fixed-width text, which
wraps mid-row at notebook width. A wrong value is marked (red, with a cross) in both forms, and
rows can be grouped under a heading row (by backend, say), so the eye finds what differs.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, field

WRONG = "✗"
_CELL = "padding:2px 10px;text-align:{align};white-space:nowrap"
_MARKED = "background:#fde2e1;color:#a40e0e;font-weight:bold"


@dataclass(frozen=True)
class Table:
    """``rows`` of text under ``columns``; ``marked`` holds (row, column) pairs of wrong values;
    ``right`` the columns of numbers (aligned right); rows whose ``group`` column changes get a
    heading row with its value (that column is then left out of the rows); ``note`` is a line
    under the table, e.g. what the marks mean."""

    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    marked: frozenset[tuple[int, int]] = field(default_factory=frozenset)
    right: frozenset[int] = field(default_factory=frozenset)
    group: int | None = None
    note: str = ""

    def __post_init__(self) -> None:
        for number, row in enumerate(self.rows):
            if len(row) != len(self.columns):
                raise ValueError(f"row {number} has {len(row)} values for "
                                 f"{len(self.columns)} columns: {row!r}")

    def _shown(self) -> list[int]:
        return [i for i in range(len(self.columns)) if i != self.group]

    def _heading(self, row: int) -> str | None:
        """The heading ``row`` starts a new group under, or None within a group."""
        if self.group is None:
            return None
        value = self.rows[row][self.group]
        return value if row == 0 or self.rows[row - 1][self.group] != value else None

    def _cell(self, row: int, column: int) -> str:
        value = self.rows[row][column]
        return f"{value} {WRONG}" if (row, column) in self.marked else value

    def __str__(self) -> str:
        shown = self._shown()
        cells = [[self._cell(r, c) for c in shown] for r in range(len(self.rows))]
        widths = [max([len(self.columns[c])] + [len(row[i]) for row in cells])
                  for i, c in enumerate(shown)]

        def line(values: Sequence[str]) -> str:
            return "  ".join(v.rjust(w) if c in self.right else v.ljust(w)
                             for v, w, c in zip(values, widths, shown, strict=True)).rstrip()

        lines = [line([self.columns[c] for c in shown])]
        for r, row in enumerate(cells):
            if (heading := self._heading(r)) is not None:
                lines.append(f"{heading}:")
            lines.append(line(row))
        return "\n".join(lines + ([self.note] if self.note else []))

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        shown = self._shown()

        def td(r: int, c: int) -> str:
            style = _CELL.format(align="right" if c in self.right else "left")
            if (r, c) in self.marked:
                style += ";" + _MARKED
            return f"<td style='{style}'>{html.escape(self._cell(r, c))}</td>"

        head = "".join(f"<th style='{_CELL.format(align='right' if c in self.right else 'left')}'>"
                       f"{html.escape(self.columns[c])}</th>" for c in shown)
        body = []
        for r in range(len(self.rows)):
            if (heading := self._heading(r)) is not None:
                body.append(f"<tr><th colspan='{len(shown)}' style='text-align:left;"
                            f"padding-top:8px'>{html.escape(heading)}</th></tr>")
            body.append("<tr>" + "".join(td(r, c) for c in shown) + "</tr>")
        note = f"<p><i>{html.escape(self.note)}</i></p>" if self.note else ""
        return (f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
                + note)
