# ruff: noqa: E501  (the mutants quote the reference's lines, indentation included)
"""Step 05's checks against wrong solutions a learner plausibly writes, and the counter-examples
of ``cqrs_kata.steps.step05.pitfalls``: each must be caught by the task whose code it breaks.

Each mutant is the reference with one realistic mistake (a text replacement, so that it fails
loudly here when the reference changes); the held-back mutants of ``tests/mutants/`` are
written apart from these.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cqrs_kata.course.expect import CheckFailed
from cqrs_kata.course.loading import load_module
from cqrs_kata.course.structure import get_step
from cqrs_kata.runner.run import run_step

# make quick leaves these out: step 05's wrong solutions, crashed at every statement.
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = (ROOT / "solutions" / "step05.py").read_text(encoding="utf-8")
STEP = get_step("05")

MUTANTS: dict[str, tuple[int, list[tuple[str, str]]]] = {
    "record_dual_write": (1, [(
        '''                run_id = self.db.execute("INSERT INTO runs (tenant, status) VALUES (?, ?) "
                                         "RETURNING id", (tenant, status)).fetchone()[0]
''', '''                run_id = self.db.execute("INSERT INTO runs (tenant, status) VALUES (?, ?) "
                                         "RETURNING id", (tenant, status)).fetchone()[0]
                self.db.execute("COMMIT")
                self.db.execute("BEGIN IMMEDIATE")
''')]),
    "record_one_transaction_per_run": (1, [(
        '''        with self.db.transaction():
            self.db.lock_appends()
            for tenant, status in checked:
''', '''        for tenant, status in checked:
          with self.db.transaction():
            self.db.lock_appends()
            if True:
''')]),
    "record_takes_a_single_pair": (1, [(
        "if not isinstance(run, tuple | list) or len(run) != 2:", "if len(run) != 2:")]),
    "record_validates_while_writing": (1, [(
        "checked.append((validate_name(\"tenant\", run[0]), validate_name(\"status\", run[1])))",
        "checked.append((run[0], run[1]))"), (
        "            for tenant, status in checked:\n",
        "            for tenant, status in checked:\n                validate_name('tenant', "
        "tenant); validate_name('status', status)\n                self.db.execute('COMMIT'); "
        "self.db.execute('BEGIN IMMEDIATE')\n")]),
    "record_formats_sql": (1, [(
        '''self.db.execute("INSERT INTO runs (tenant, status) VALUES (?, ?) "
                                         "RETURNING id", (tenant, status))''',
        '''self.db.execute(f"INSERT INTO runs (tenant, status) VALUES ('{tenant}', "
                                         f"'{status}') RETURNING id")''')]),
    "record_notifies_after_commit": (1, [(
        "                positions.append(int(position))\n            self.db.notify()\n",
        "                positions.append(int(position))\n        self.db.notify()\n")]),
    "record_returns_run_ids": (1, [(
        "positions.append(int(position))", "positions.append(int(run_id))")]),
    "batch_checkpoint_in_a_second_transaction": (2, [(
        '''            if moved != 1:''', '''            db.execute("COMMIT")
            db.execute("BEGIN IMMEDIATE")
            if moved != 1:''')]),
    "batch_unguarded_upsert": (2, [(
        '''                moved = db.execute("UPDATE checkpoints SET position = ? WHERE view = ? AND "
                                   "position = ?", (new, self.view, old)).rowcount''',
        '''                moved = db.execute("UPDATE checkpoints SET position = ? WHERE view = ?",
                                   (new, self.view)).rowcount''')]),
    "batch_reads_checkpoint_outside_unguarded": (2, [(
        '''        with db.transaction():
            row = db.execute("SELECT position FROM checkpoints WHERE view = ?",
                             (self.view,)).fetchone()
            old = int(row[0]) if row else None
''', '''        row = db.execute("SELECT position FROM checkpoints WHERE view = ?",
                         (self.view,)).fetchone()
        old = int(row[0]) if row else None
        with db.transaction():
'''), (
        '''                moved = db.execute("UPDATE checkpoints SET position = ? WHERE view = ? AND "
                                   "position = ?", (new, self.view, old)).rowcount''',
        '''                moved = db.execute("UPDATE checkpoints SET position = ? WHERE view = ?",
                                   (new, self.view)).rowcount''')]),
    "batch_drops_poison_silently": (2, [(
        "            dead = [(self.view, int(p), refused[(t, s)]) for p, t, s in events\n"
        "                    if (t, s) in refused] if refused else []\n",
        "            dead = []\n")]),
    "batch_checkpoint_at_last_counted": (2, [(
        "            new = int(events[-1][0])",
        "            new = max([int(p) for p, t, s in events if (self.view, int(p), "
        "'') not in [(v, q, '') for v, q, _ in dead]] or [old or 0])")]),
    "batch_accepts_true": (2, [(
        "if whole_number(\"limit\", limit, f\"pass 1 to {MAX_BATCH}\") < 1 or limit > MAX_BATCH:",
        "if not isinstance(limit, int) or limit < 1 or limit > MAX_BATCH:")]),
    "batch_returns_counted_only": (2, [(
        "        return len(events)\n        # END SOLUTION",
        "        return len(events) - len(dead)\n        # END SOLUTION")]),
    "batch_ignores_limit": (2, [("ORDER BY position LIMIT ?\", (old or 0, limit))",
                                 "ORDER BY position\", (old or 0,))")]),
    "batch_replaces_counts": (2, [("DO UPDATE SET n = counts.n + \"\n                           "
                                   "\"excluded.n\",\n                           [(self.view",
                                   "DO UPDATE SET n = \"\n                           "
                                   "\"excluded.n\",\n                           [(self.view")]),
    "lag_subtracts_positions": (3, [(
        "SELECT (SELECT COUNT(*) FROM outbox, cp WHERE position > cp.p)",
        "SELECT (SELECT COALESCE(MAX(position), 0) - cp.p FROM outbox, cp)")]),
    "lag_oldest_by_time": (3, [(
        "(SELECT recorded_at FROM outbox, cp WHERE position > cp.p ORDER BY position ",
        "(SELECT recorded_at FROM outbox, cp WHERE position > cp.p ORDER BY recorded_at ")]),
    "lag_can_be_negative": (3, [("max(0.0, self.clock() - float(first))",
                                  "self.clock() - float(first)")]),
    "rebuild_in_place": (4, [(
        "            db.execute(\"DELETE FROM counts WHERE view = ?\", (scratch,))\n",
        "            db.execute(\"DELETE FROM counts WHERE view = ?\", (scratch,))\n"
        "            db.execute(\"DELETE FROM counts WHERE view = ?\", (self.view,))\n"), (
        "        scratch = self.view + \"~rebuild\"", "        scratch = self.view")]),
    "rebuild_keeps_old_scratch": (4, [(
        "            db.execute(\"DELETE FROM counts WHERE view = ?\", (scratch,))\n", "")]),
    "rebuild_forgets_runs_recorded_meanwhile": (4, [(
        "            done = fold(done, latest)\n", "")]),
    "rebuild_swap_in_two_transactions": (4, [(
        "            db.execute(\"DELETE FROM counts WHERE view = ?\", (self.view,))\n",
        "            db.execute(\"DELETE FROM counts WHERE view = ?\", (self.view,))\n"
        "            db.execute(\"COMMIT\"); db.execute(\"BEGIN IMMEDIATE\")\n")]),
    "rebuild_checks_every_late": (4, [(
        "        if whole_number(\"every\", every, \"pass 1 or more\") < 1:\n            raise "
        "ValueError(f\"every must"
        " be 1 or more, got {every}\")\n", ""), (
        "        done = 0\n        while done < total:",
        "        whole_number(\"every\", every)\n        assert every >= 1\n"
        "        done = 0\n        while done < total:")]),
}


def mutant(name: str, folder: Path) -> Path:
    source = REFERENCE
    for old, new in MUTANTS[name][1]:
        assert old in source, f"{name}: the reference no longer has {old!r}"
        source = source.replace(old, new)
    path = folder / name / "step05.py"
    path.parent.mkdir()
    path.write_text(source, encoding="utf-8")
    return path


@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_mutant_is_caught_by_its_task(name: str, tmp_path: Path) -> None:
    task = MUTANTS[name][0]
    result = run_step(STEP, mutant(name, tmp_path).parent, {task})
    assert result.load_error is None, result.load_error
    failing = {t.task.number for t in result.tasks if t.state != "passing"}
    states = {t.task.number: (t.state, t.first_problem) for t in result.tasks}
    assert task in failing, states
    verdicts = {r.outcome for t in result.tasks if t.task.number == task for r in t.results}
    assert verdicts & {"wrong", "error", "timeout"}, states


NAIVE = '''

from cqrs_kata.steps.step05.pitfalls import NaiveProjector as _Naive


def _naive_batch(self, limit=BATCH):
    """The counter-example, with poison events handled, so only its two transactions differ."""
    db = self.db
    row = db.execute("SELECT position FROM checkpoints WHERE view = ?", (self.view,)).fetchone()
    after = int(row[0]) if row else 0
    events = db.execute("SELECT position, tenant, status FROM outbox WHERE position > ? "
                        "ORDER BY position LIMIT ?", (after, limit)).fetchall()
    if not events:
        return 0
    with db.transaction():
        for position, tenant, status in events:
            try:
                validate_name("tenant", tenant)
                validate_name("status", status)
            except (TypeError, ValueError) as error:
                db.execute("INSERT INTO dead_letters VALUES (?, ?, ?)",
                           (self.view, position, str(error)))
                continue
            db.execute("INSERT INTO counts (view, tenant, status, n) VALUES (?, ?, ?, 1) "
                       "ON CONFLICT (view, tenant, status) DO UPDATE SET n = counts.n + 1",
                       (self.view, tenant, status))
    with db.transaction():
        db.execute("INSERT INTO checkpoints (view, position) VALUES (?, ?) ON CONFLICT "
                   "(view) DO UPDATE SET position = excluded.position",
                   (self.view, int(events[-1][0])))
    return len(events)
'''


def loaded(tmp_path: Path, extra: str) -> object:
    path = tmp_path / "step05.py"
    path.write_text(REFERENCE + extra, encoding="utf-8")
    return load_module(path)


def failure_of(check_name: str, impl: object) -> str:
    check = next(c for c in STEP.checks if c.name == check_name)
    with pytest.raises(CheckFailed) as caught:
        check(impl)  # type: ignore[arg-type]
    return str(caught.value)


def test_the_naive_projector_fails_the_crash_checks(tmp_path: Path) -> None:
    impl = loaded(tmp_path, NAIVE + "\nDurableProjector.project_batch = _naive_batch\n")
    said = failure_of("a_crash_anywhere_in_a_batch_loses_and_doubles_nothing", impl)
    assert "killed just before statement" in said, said
    said = failure_of("killed_for_real_and_restarted", impl)
    assert "--kill-at" in said, said
    impl = loaded(tmp_path, "\nDurableProjector.project_batch = lambda self, limit=BATCH: "
                  "_Naive(self.db, self.view).project_batch(limit)\n"
                  "from cqrs_kata.steps.step05.pitfalls import NaiveProjector as _Naive\n")
    failure_of("a_crash_anywhere_in_a_batch_loses_and_doubles_nothing", impl)


def test_the_dual_write_fails_the_atomicity_checks(tmp_path: Path) -> None:
    impl = loaded(tmp_path, '''
def _dual(self, runs):
    positions = []
    for tenant, status in runs:  # the run in one transaction, its event in a second one
        with self.db.transaction():
            run_id = self.db.execute("INSERT INTO runs (tenant, status) VALUES (?, ?) "
                                     "RETURNING id", (tenant, status)).fetchone()[0]
        with self.db.transaction():
            positions.append(self.db.execute(
                "INSERT INTO outbox (event_id, type, version, run_id, tenant, status, "
                "recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING position",
                (str(uuid.uuid4()), EVENT_TYPE, EVENT_VERSION, run_id, tenant, status,
                 self.clock())).fetchone()[0])
    return positions


DurableLog.record_many = _dual
''')
    said = failure_of("a_failed_outbox_insert_leaves_no_run", impl)
    assert "dual write" in said, said
    said = failure_of("a_crash_anywhere_leaves_runs_with_their_events", impl)
    assert "killed just before statement" in said, said


def test_a_record_many_bug_met_by_task_4s_harness_points_to_task_1(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.support.mutants import mutant_source

    diff = next(Path(__file__).parent.glob("mutants/step05/m05_record_many_*.diff"))
    (tmp_path / "step05.py").write_text(mutant_source(diff))
    monkeypatch.setenv("CQRS_KATA_BACKENDS", "sqlite")  # the harness runs on SQLite only
    result = run_step(get_step("05"), tmp_path, tasks=[4])
    harness = next(r for t in result.tasks for r in t.results
                   if r.check.name == "fault_harness_finds_no_bug")
    assert harness.outcome == "wrong"
    assert "It showed up in record_many, which is task 1's" in harness.message, harness.message
