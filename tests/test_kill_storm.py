"""Kill storms: step 05's reference with real processes and real SIGKILLs, on SQLite and on
PostgreSQL (the logic lives in tests.support.storm, shared with benchmarks/step05_soak.py).

Each storm ends with a final catch-up and asks for the view to equal ``truth(db)`` exactly:
nothing lost, nothing counted twice, no run without its event. These are bounded versions of
the soak benchmark (10^4 runs, >= 20 kills), a few seconds each.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from cqrs_kata.db import open_database, view_counts
from cqrs_kata.steps.step05.projector_process import PROJECTOR
from solutions.step05 import DurableLog
from tests.support.storm import WRITER_KILL_POINTS, catch_up, check, storm

# make quick leaves these out: processes killed at random, on SQLite and PostgreSQL.
pytestmark = pytest.mark.slow


@pytest.fixture(params=["sqlite", "postgresql"])
def where(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "storm.db")
    return str(request.getfixturevalue("pg_dsn"))


def test_projectors_killed_at_random_lose_and_double_nothing(where: str) -> None:
    """4 writer processes, 10^4 runs, 2 projector processes on the one view at once, both
    SIGKILLed at random moments (or at a random statement) at least 20 times, writers killed
    too (some mid-transaction) and restarted, and two rebuilds (one killed) meanwhile."""
    result = storm(where, writers=4, runs=10_000, kills=20, projectors=2, seconds=3.0,
                   writer_kills=4, rebuilds=2, seed=5)
    print(result)
    assert not result.failures, result.failures
    assert result.kills >= 20
    assert result.final is not None and result.final.runs == 10_000
    assert result.final.exact, result


def test_two_projector_processes_on_one_view_at_once(where: str) -> None:
    """Both take small batches of the same 6000 events at once: each batch is taken by one
    of them (the other loses the race, is told CheckpointMoved and looks again); both end
    well and the view is exact."""
    db = open_database(where)
    DurableLog(db).record_many([(f"t{i % 9}", "ok") for i in range(6000)])
    command = [sys.executable, "-m", PROJECTOR, where, "--impl", "solutions", "--batch", "7",
               "--until-caught-up"]
    both = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True) for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in both]
    assert [p.returncode for p in both] == [0, 0], [err[-1500:] for _, err in outs]
    taken = [int(out.split()[1]) for out, _ in outs]
    assert sum(taken) == 6000 and check(db).exact, taken
    db.close()


def test_a_writer_killed_mid_transaction_leaves_no_half_written_run(where: str) -> None:
    """A writer process dies just before each statement of its transactions in turn (the
    1st and the 7th time it comes to it); the next one resumes. No run is ever without its
    event, nor an event without its run."""
    db = open_database(where)
    points = [p for p in WRITER_KILL_POINTS  # SQLite's BEGIN IMMEDIATE is its table lock
              if db.dialect == "postgresql" or not p.startswith("LOCK")]
    for kill_at in [f"{point}#{n}" for point in points for n in (1, 7)]:
        command = [sys.executable, "-m", "tests.support.storm", "write", where, "--writer",
                   "1", "--runs", "400", "--kill-at", kill_at]
        done = subprocess.run(command, capture_output=True, text=True, timeout=60,
                              check=False)
        assert done.returncode == -signal.SIGKILL, (kill_at, done.stderr[-2000:])
        after = check(db)
        assert after.orphans == 0 and after.runs == after.events < 400, (kill_at, after)
    catch_up(db)
    assert check(db).exact
    db.close()


def test_replays_and_rebuilds_again_and_again_change_nothing(where: str) -> None:
    """Once caught up, more projectors (killed or not, two at once) and rebuilds (killed
    mid-way or not) leave the view and its checkpoint exactly as they were."""
    first = storm(where, writers=2, runs=2000, kills=4, projectors=1, seconds=1.0, seed=9)
    assert first.final is not None and first.final.exact, first
    db = open_database(where)
    state = (view_counts(db, "dashboard"), check(db))

    def run(*args: str) -> int:
        done = subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True,
                              timeout=60, check=False)
        assert done.returncode in (0, -signal.SIGKILL), done.stderr[-2000:]
        return done.returncode

    projector = (PROJECTOR, where, "--impl", "solutions", "--until-caught-up", "--batch", "50")
    for i in range(3):
        assert run(*projector) == 0
        assert run("tests.support.storm", "rebuild", where, "--every", "300", "--kill-at",
                   ("DELETE FROM counts#2", "UPDATE counts", "COMMIT#4")[i]) == -9
        assert (view_counts(db, "dashboard"), check(db)) == state, f"round {i}"
        assert run("tests.support.storm", "rebuild", where, "--every", "700") == 0
        assert (view_counts(db, "dashboard"), check(db)) == state, f"round {i}"
    two = [subprocess.Popen([sys.executable, "-m", *projector], stdout=subprocess.DEVNULL)
           for _ in range(2)]
    assert [p.wait(60) for p in two] == [0, 0]
    assert (view_counts(db, "dashboard"), check(db)) == state
    db.close()


def test_a_storm_ends_when_its_writers_finish_before_every_writer_kill_is_spent(
        tmp_path: Path) -> None:
    """40 runs are written long before 6 writer kills can be spread over them: the storm
    ends with the writers (it once waited for a writer to kill until its time ran out)."""
    result = storm(tmp_path / "short.db", writers=1, runs=40, kills=1, projectors=1,
                   seconds=0.2, writer_kills=6, seed=3)
    assert not result.failures, result.failures
    assert result.final is not None and result.final.runs == 40 and result.final.exact
