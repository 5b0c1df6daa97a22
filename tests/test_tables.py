"""Results shown as tables (notebooks 05 and 06): the same rows and marks as text and as HTML."""

from __future__ import annotations

import pytest

from cqrs_kata.steps.step05.demo import counted_after_kills
from cqrs_kata.steps.tables import WRONG, Table


def test_a_wrong_count_is_marked_in_the_text_and_in_the_html() -> None:
    table = counted_after_kills([("COMMIT#1", [2500, 2500]), ("COMMIT#2", [3500, 2500])],
                                ["naive", "reference"], truth=2500)
    lines = str(table).splitlines()
    assert lines[0].split() == ["kill", "-9", "just", "before", "naive", "reference"]
    assert WRONG not in lines[1] and lines[2].split() == ["COMMIT#2", "3,500", WRONG, "2,500"]
    assert lines[-1] == f"{WRONG} the view's count is not the truth, 2,500 runs"
    html = table._repr_html_()
    assert html.count(WRONG) == 2  # the marked cell and the note
    assert "background:#fde2e1" in html.split("3,500")[0].rsplit("<td", 1)[1]


def test_rows_are_grouped_under_a_heading_and_escaped_in_html() -> None:
    rows = (("sqlite", "a<b", "1 µs"), ("sqlite", "c", "2 µs"), ("postgresql", "a<b", "3 µs"))
    table = Table(("backend", "option", "p50"), rows, right=frozenset({2}), group=0)
    assert str(table).splitlines() == ["option   p50", "sqlite:", "a<b     1 µs", "c       2 µs",
                                       "postgresql:", "a<b     3 µs"]
    html = table._repr_html_()
    assert "a&lt;b" in html and "a<b" not in html
    assert html.count("colspan='2'") == 2 and "<th" in html.split("sqlite")[0]


def test_a_row_of_the_wrong_length_is_refused_with_the_row() -> None:
    with pytest.raises(ValueError, match=r"row 1 has 1 values for 2 columns: \('x',\)"):
        Table(("a", "b"), (("1", "2"), ("x",)))
