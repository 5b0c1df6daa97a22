"""Steps 05 and 06's checks run the learner's SQL on SQLite and on PostgreSQL.

Each known-wrong solution here is the reference with one mistake that only PostgreSQL shows: SQL
SQLite alone runs, or a race READ COMMITTED allows and SQLite's single writer does not. Each
passes on SQLite only and is caught once PostgreSQL runs, with a message that names the bug;
the report names the databases the SQL ran on, and says so when PostgreSQL was left out.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cqrs_kata.course.structure import get_step
from cqrs_kata.db import backends
from cqrs_kata.db.handle import explained
from cqrs_kata.runner.report import step_report
from cqrs_kata.runner.run import StepResult, run_step
from cqrs_kata.steps.step05.lab import lab

# make quick leaves these out: each runs a step's checks on two databases.
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent

WRONG: dict[str, tuple[str, int, str, str, str]] = {
    # name: (step, task, reference text, wrong text, what the message must say)
    "dead letters with INSERT OR IGNORE": (
        "05", 2,
        '''db.executemany("INSERT INTO dead_letters (view, position, reason) "
                               "VALUES (?, ?, ?) ON CONFLICT (view, position) DO NOTHING", dead)''',
        '''db.executemany("INSERT OR IGNORE INTO dead_letters (view, position, reason) "
                               "VALUES (?, ?, ?)", dead)''',
        "INSERT OR IGNORE is SQLite's; write INSERT ... ON CONFLICT"),
    "the swap folds past the position it read": (
        "05", 4,
        '''            done = fold(done, latest)
            db.execute("DELETE FROM counts WHERE view = ?", (self.view,))''',
        '''            rows = db.execute("SELECT position, tenant, status FROM outbox WHERE "
                              "position > ?", (done,)).fetchall()
            added, _ = tally(rows)
            db.executemany("INSERT INTO counts (view, tenant, status, n) VALUES (?, ?, ?, ?) "
                           "ON CONFLICT (view, tenant, status) DO UPDATE SET n = counts.n + "
                           "excluded.n", [(scratch, t, s, n) for (t, s), n in added.items()])
            db.execute("DELETE FROM counts WHERE view = ?", (self.view,))''',
        "READ COMMITTED"),
    "the refresh counts the runs in a second statement": (
        "06", 1,
        'counted = int(db.execute("SELECT COALESCE(SUM(n), 0) FROM summary_next")'
        '.fetchone()[0])',
        'counted = int(db.execute("SELECT COUNT(*) FROM runs").fetchone()[0])',
        "two reads of runs can differ"),
    "the refresh drops the summary before building": (
        "06", 1,
        '''        db.execute("DROP TABLE IF EXISTS summary_next")''',
        '''        db.execute("DROP TABLE IF EXISTS summary")
        db.execute("DROP TABLE IF EXISTS summary_next")''',
        "it waited for a lock"),
}


def wrong_solution(folder: Path, name: str) -> tuple[str, int]:
    step, task, right, wrong, _ = WRONG[name]
    source = (ROOT / "solutions" / f"step{step}.py").read_text()
    assert source.count(right) == 1, f"the reference changed: update {name!r}"
    (folder / f"step{step}.py").write_text(source.replace(right, wrong))
    return step, task


def first_problem(result: StepResult) -> str:
    problems = [r for t in result.tasks for r in t.results if r.outcome != "pass"]
    return problems[0].message if problems else ""


@pytest.mark.parametrize("name", list(WRONG))
def test_a_postgresql_only_mistake_passes_sqlite_and_is_caught_on_postgresql(
        name: str, tmp_path: Path, pg_dsn: str, monkeypatch: pytest.MonkeyPatch) -> None:
    step, task = wrong_solution(tmp_path, name)
    monkeypatch.setenv(backends.BACKENDS_ENV, "sqlite")
    alone = run_step(get_step(step), tmp_path, tasks=[task])
    assert alone.ok, f"{name} fails on SQLite already: {first_problem(alone)}"
    assert "Not on PostgreSQL: CQRS_KATA_BACKENDS=sqlite" in step_report(alone).text
    monkeypatch.delenv(backends.BACKENDS_ENV)
    both = run_step(get_step(step), tmp_path, tasks=[task])
    assert not both.ok, f"{name} passes on PostgreSQL too"
    message = first_problem(both)
    assert message.startswith("on PostgreSQL: ") and WRONG[name][4] in message, message


def test_the_reference_passes_on_both_and_the_report_says_so(pg_dsn: str) -> None:
    for step in ("05", "06"):
        result = run_step(get_step(step), "solutions")
        assert result.ok, first_problem(result)
        ran = {b for t in result.tasks for r in t.results for b in r.backends}
        assert ran == {"sqlite", "postgresql"}
        assert "Your SQL ran on SQLite and PostgreSQL" in step_report(result).text


def test_a_bad_backends_setting_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(backends.BACKENDS_ENV, "sqlite,oracle")
    with pytest.raises(ValueError, match="oracle"):
        run_step(get_step("05"), "solutions", tasks=[3])


def test_what_one_check_leaves_in_its_schema_is_gone_for_the_next(pg_dsn: str) -> None:
    with lab("postgresql") as here:
        db = here.new()
        db.execute("CREATE TABLE mine (x INTEGER)")
        db.execute("INSERT INTO outbox (tenant, status) VALUES ('t1', 'ok')")
        db.execute("CREATE INDEX by_tenant ON counts (tenant)")
    with lab("postgresql") as here:
        db = here.new()
        tables = {r[0] for r in db.execute("SELECT tablename FROM pg_tables WHERE schemaname = "
                                           "current_schema()").fetchall()}
        assert tables == {"runs", "outbox", "counts", "checkpoints", "dead_letters"}
        assert db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] == 0
        position = db.execute("INSERT INTO outbox (tenant, status) VALUES ('t1', 'ok') "
                              "RETURNING position").fetchone()[0]
        assert position == 1
        assert db.execute("SELECT COUNT(*) FROM pg_indexes WHERE schemaname = current_schema() "
                          "AND indexname = 'by_tenant'").fetchone()[0] == 0


@pytest.mark.parametrize(("sql", "said"), [
    ("INSERT OR REPLACE INTO counts VALUES (?, ?, ?, ?)", "INSERT ... ON CONFLICT (key columns) "
     "DO UPDATE"),
    ("REPLACE INTO checkpoints VALUES (?, ?)", "DO UPDATE SET col = excluded.col"),
    ("SELECT IFNULL(MAX(position), 0) FROM outbox", "COALESCE()"),
])
def test_sqlite_only_sql_is_named_with_its_portable_form(sql: str, said: str) -> None:
    error = RuntimeError('syntax error at or near "OR"')
    assert said in str(explained(error, sql, "postgresql"))
    assert said not in str(explained(RuntimeError("database is locked"), sql, "sqlite"))


@pytest.mark.parametrize("said", [
    "UNIQUE constraint failed: outbox.event_id",  # SQLite
    'duplicate key value violates unique constraint "outbox_event_id_key"',  # PostgreSQL
])
def test_one_event_id_for_several_events_is_explained(said: str) -> None:
    message = str(explained(RuntimeError(said), "INSERT INTO outbox (event_id) VALUES (?)"))
    assert "an event_id of its own: call str(uuid.uuid4()) once per event" in message
