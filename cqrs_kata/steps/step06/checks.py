"""Step 06: the alternatives, measured.

Tasks 1 and 2 run on SQLite files in a temporary folder, through :class:`cqrs_kata.db.Database`
(a check has 10 s; a PostgreSQL server takes seconds to start, so it is the notebook's). A
reader on another connection looks, or a crash is injected, through ``db.before`` before each
statement the learner's code runs, as in step 05. Task 3's answers follow from the documented
rules: the checks compute them with a plain copy of the rules, on scenarios generated around
every boundary.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from contextlib import suppress
from dataclasses import asdict, replace
from functools import partial
from types import MappingProxyType, ModuleType
from typing import Any

from hypothesis import HealthCheck, Phase, Verbosity, given, settings
from hypothesis import strategies as st

from cqrs_kata.course.expect import expect_equal, expect_raises, expect_returns, fail, show
from cqrs_kata.course.structure import Step, Task
from cqrs_kata.db import Database, backends, truth
from cqrs_kata.db.backends import BACKENDS
from cqrs_kata.steps.driver import here_count
from cqrs_kata.steps.step05.lab import (
    Clock,
    Lab,
    Tap,
    committing_before,
    crashed,
    cut_points,
    lab,
    numbered,
    run_tapped,
    statements_of,
)
from cqrs_kata.steps.step06.figures import OPTIONS, Figures

STEP = Step(
    number="06",
    title="The alternatives, measured",
    minutes=85,
    backends=BACKENDS,
    tasks=(
        Task(
            1,
            "Refresh a summary aside, swap it in whole",
            builds=("refresh_summary",),
            hints=(
                "Readers must never see the summary half-built or missing. Build the new one "
                "in a table of its own (`summary_next`) and make it THE summary with a rename, "
                "all inside one `with db.transaction():`; readers on another connection see "
                "the old summary until the commit. Read the clock once, first, and check it.",
                "`now = clock()`, refuse a bool, a non-number or a non-finite value; then in "
                "one transaction: `DROP TABLE IF EXISTS summary_next`; `CREATE TABLE "
                "summary_next (tenant TEXT NOT NULL, status TEXT NOT NULL, n INTEGER NOT NULL, "
                "PRIMARY KEY (tenant, status))`; fill it with `INSERT ... SELECT tenant, "
                "status, COUNT(*) FROM runs GROUP BY tenant, status`; then the swap and the "
                "refresh row.",
                "The swap: `DROP TABLE IF EXISTS summary`, `ALTER TABLE summary_next RENAME TO "
                "summary`, then `INSERT INTO summary_refresh (id, refreshed_at, runs) VALUES "
                "(1, ?, ?) ON CONFLICT (id) DO UPDATE SET refreshed_at = excluded.refreshed_at, "
                "runs = excluded.runs` with `(now, counted)`, where `counted` is `SELECT "
                "COALESCE(SUM(n), 0) FROM summary_next`. Return `counted`.",
            ),
        ),
        Task(
            2,
            "Read the summary with its age",
            builds=("staleness", "summary"),
            hints=(
                "The age is the clock minus the `refreshed_at` of the one `summary_refresh` "
                "row. A summary that was never refreshed has no such row: it is infinitely "
                "stale (`math.inf`), not 0 seconds old.",
                "`summary` must not read the counts and the refresh time in two statements: a "
                "refresh committing in between pairs new counts with the old time (or the "
                "other way round). One statement reads both: `SELECT r.refreshed_at, s.status, "
                "s.n FROM summary_refresh r LEFT JOIN summary s ON s.tenant = ? WHERE r.id = "
                "1`.",
                "No row from that query: `return {}, math.inf`. Otherwise the counts are "
                "`{status: n}` over the rows whose status is not None (a tenant the summary "
                "does not hold gives one row of NULLs), and the age `max(0.0, clock() - "
                "refreshed_at)`. Call `validate_name('tenant', tenant)` first.",
            ),
        ),
        Task(
            3,
            "The decision, as code",
            builds=("choose",),
            hints=(
                "Check the input first, all of it, whatever the answer will be: a "
                "`Workload`, a mapping whose keys are in `OPTIONS`, each value a `Figures` "
                "with that `option`, the workload's `rows` and no cost (`COSTS`) negative or "
                "NaN (`not value >= 0` catches both); the four `CHOICES` present, and a "
                "`refresh_s` on `etl summary` and `projector counters`.",
                "Then one loop over `CHOICES`, simplest first: an option serves when "
                "`staleness_s <= allowed_staleness_s` and its load `<= BUSY_CAP`. The load "
                "is `reads_per_s * read_mean_s + writes_per_s * write_s` (the mean, not "
                "`read_p50_s`), plus, for `etl summary`, `refresh_s / (allowed_staleness_s - "
                "refresh_s)`, and for `projector counters`, `writes_per_s * refresh_s / rows`.",
                "An ETL period (`allowed_staleness_s - refresh_s`) of 0 or less cannot keep up: "
                "treat its load as `math.inf` rather than dividing. With `allowed_staleness_s "
                "= math.inf` the period is infinite and the job adds 0. `at most` is `<=`. When "
                "no option serves, `raise NothingFits(...)` naming each option with its "
                "staleness and load; it is not bad input, so not a ValueError.",
            ),
        ),
    ),
    usual_mistakes=(
        "Refreshing in place (DELETE FROM summary, then INSERT ... SELECT) in two "
        "transactions, or dropping the summary in one transaction and building it in another: "
        "readers see an empty or missing summary meanwhile.",
        "Writing the refresh time in its own transaction, before or after the swap: a reader "
        "sees the new counts with the old time, or a crash leaves the time moved and the "
        "counts not.",
        "Recording the time the refresh ended instead of when it read the runs: the summary "
        "claims to be fresher than it is.",
        "Forgetting DROP TABLE IF EXISTS summary_next: a refresh that died after creating it "
        "(with its own transactions) makes every later refresh fail.",
        "Reading the counts and the refresh time in two statements in summary(): a refresh "
        "committing between them pairs one refresh's counts with another's age.",
        "Returning 0 (or None) for the age of a summary never refreshed: it is not fresh, it "
        "has no answer yet (math.inf).",
        "In choose(): weighing reads by their p50 instead of their mean; leaving out the "
        "writes' cost, or the refreshing; answering an option whose measured staleness is "
        "over the budget (a projector that sleeps 50 ms when idle cannot serve a 10 ms "
        "budget); `<` instead of `<=` at the boundaries; or validating the figures only on "
        "the path that reads them.",
    ),
)


# The contract: every sentence of the docstrings the learner implements -----------------------

COUNTS = STEP.rule("refresh_summary", "Rebuild ``summary`` from ``runs``; return how many runs "
                   "it counted.")
CLOCK_ONCE = STEP.rule("refresh_summary", "Call ``clock()`` once, before reading ``runs``: the "
                       "summary is as of that moment.")
CLOCK_BAD = STEP.rule("refresh_summary", "It must return an int or float (not a bool) that is "
                      "finite; otherwise raise TypeError or ValueError and change nothing.")
ONE_TXN = STEP.rule("refresh_summary", "In ONE transaction: build the new summary aside, in a "
                    "table ``summary_next`` (dropped first if it is there), one row per tenant "
                    "and status with ``n`` its number of runs; then drop ``summary``, rename "
                    "``summary_next`` to ``summary``, and set the ``summary_refresh`` row (``id "
                    "= 1``) to ``(clock's reading, runs counted)``.")
WHOLE = STEP.rule("refresh_summary", "A reader on another connection sees the old summary with "
                  "the old refresh row, or the new with the new, whole: never a missing table, a "
                  "half-built summary, or a summary with another refresh's time.")
CRASH = STEP.rule("refresh_summary", "A crash at any statement leaves the old ones.")
STEP.note("refresh_summary", "Build first and swap last: on PostgreSQL, dropping ``summary`` "
          "locks out its readers until the commit, so the swap should be the transaction's "
          "last, quick steps.")
STALE = STEP.rule("staleness", "Seconds since the last refresh: ``clock()`` minus the recorded "
                  "``refreshed_at``, never below 0.0; ``math.inf`` when the summary was never "
                  "refreshed.")
STALE_CLOCK = STEP.rule("staleness", "``clock()`` must return a finite number of seconds (an "
                        "int or a float, not a bool), even then; otherwise raise TypeError or "
                        "ValueError.")
READ = STEP.rule("summary", "``({status: runs}, age)`` for ``tenant``, read from ``summary`` "
                 "(``{}`` for a tenant it does not hold), with its age in seconds as "
                 "``staleness`` computes it.")
SAME_REFRESH = STEP.rule("summary", "The counts and the age must belong to the same refresh, "
                         "even when a refresh commits on another connection in the middle of "
                         "the call: read both in one statement (on PostgreSQL a transaction is "
                         "not enough: at READ COMMITTED each statement sees its own snapshot).")
TENANT_BAD = STEP.rule("summary", "``tenant`` must be a name ``validate_name`` accepts, and "
                       "``clock()`` must return a finite number of seconds as for "
                       "``staleness``; otherwise raise TypeError or ValueError.")
SIMPLEST = STEP.rule("choose", "The simplest option that serves ``workload``, from figures "
                     "measured at its size.")
FIGURES = STEP.rule("choose", "``figures`` maps option names (``cqrs_kata.alternatives."
                    "OPTIONS``) to their ``Figures``; it must hold the four ``CHOICES`` (others "
                    "are allowed, checked like these, and not used), each measured with "
                    "``rows`` equal to ``workload.rows`` and filed under its own ``option``, "
                    "and ``\"etl summary\"`` and ``\"projector counters\"`` with a "
                    "``refresh_s``.")
BAD_INPUT = STEP.rule("choose", "Otherwise raise TypeError (``workload`` not a ``Workload``, "
                      "``figures`` not a mapping, a value not a ``Figures``) or ValueError (a "
                      "name not in ``OPTIONS``, a missing one, a figure filed under another "
                      "name, measured at another size, without its ``refresh_s``, or with one "
                      "of the ``COSTS`` negative or NaN).")
SERVES = STEP.rule("choose", "An option serves the workload when it is fresh enough and light "
                   "enough.")
FRESH = STEP.rule("choose", "Fresh enough: its ``staleness_s`` is at most "
                  "``allowed_staleness_s``.")
LIGHT = STEP.rule("choose", "Light enough: its load, the seconds per second one connection "
                  "would spend serving it, one call at a time, is at most ``BUSY_CAP``.")
LOAD = STEP.rule("choose", "The load is ``reads_per_s * read_mean_s + writes_per_s * "
                 "write_s``, plus the refreshing for the two options that refresh.")
ETL = STEP.rule("choose", "The ETL job starts every ``allowed_staleness_s - refresh_s`` "
                "seconds, start to start, the longest period that keeps every answer within the "
                "allowed staleness, and adds ``refresh_s`` divided by that period (a period of 0 "
                "or less cannot keep up: not light enough).")
PROJECTOR = STEP.rule("choose", "The projector projects ``rows`` events in ``refresh_s``, and "
                      "adds ``writes_per_s * refresh_s / rows``.")
FIRST = STEP.rule("choose", "Answer the first of ``CHOICES`` that serves the workload; when "
                  "none does, raise ``NothingFits`` with a message that gives each one's "
                  "staleness and load.")
STEP.note("choose", "Why the mean: reads cost their number times their mean, and the median "
          "hides the slow reads that cost the most.", "Why staleness as measured: a projector "
          "that polls every 50 ms when idle cannot promise answers 10 ms old, however fast it "
          "folds (a notification may wake it sooner, but a notification is only a hint).",
          "Not weighed: whether a refresh blocks readers or writers (``blocks_readers``, "
          "``blocks_writers``), and what a projector's commits cost at a low write rate, when "
          "each event is a batch of its own; read those before you pick.")


# Helpers ---------------------------------------------------------------------------------------

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS summary (tenant TEXT NOT NULL, status TEXT NOT NULL, "
    "n INTEGER NOT NULL, PRIMARY KEY (tenant, status))",
    "CREATE TABLE IF NOT EXISTS summary_refresh (id INTEGER PRIMARY KEY CHECK (id = 1), "
    "refreshed_at DOUBLE PRECISION NOT NULL, runs BIGINT NOT NULL)",
)
"""What ``prepare(db)`` makes; the checks make it themselves, so a broken ``prepare`` (the
learner may edit it) does not show up as a failure of another task."""

Counts = dict[str, dict[str, int]]
State = tuple[Counts, tuple[float, int] | None]
HYPOTHESIS = dict(derandomize=True, database=None, deadline=None,
                  suppress_health_check=list(HealthCheck),
                  phases=(Phase.explicit, Phase.generate), verbosity=Verbosity.quiet)


def new_db(here: Lab) -> Database:
    db = here.new()
    for statement in SCHEMA:
        db.execute(statement)
    return db


def add_runs(db: Database, runs: list[tuple[str, str]]) -> None:
    with db.transaction():
        db.executemany("INSERT INTO runs (tenant, status) VALUES (?, ?)", runs)


def our_refresh(db: Database, at: float) -> None:
    """A correct refresh of the checks' own (never the learner's code), for set-ups."""
    with db.transaction():
        db.execute("DELETE FROM summary")
        db.execute("INSERT INTO summary SELECT tenant, status, COUNT(*) FROM runs "
                   "GROUP BY tenant, status")
        db.execute("INSERT INTO summary_refresh VALUES (1, ?, (SELECT COUNT(*) FROM runs)) "
                   "ON CONFLICT (id) DO UPDATE SET refreshed_at = excluded.refreshed_at, "
                   "runs = excluded.runs", (at,))


def summary_table(db: Database) -> Counts:
    found: Counts = {}
    for tenant, status, n in db.execute("SELECT tenant, status, n FROM summary "
                                        "ORDER BY tenant, status").fetchall():
        found.setdefault(tenant, {})[status] = int(n)
    return found


def refresh_row(db: Database) -> tuple[float, int] | None:
    row = db.execute("SELECT refreshed_at, runs FROM summary_refresh WHERE id = 1").fetchone()
    return None if row is None else (float(row[0]), int(row[1]))


def state(db: Database) -> State:
    return summary_table(db), refresh_row(db)


def total(counts: Counts) -> int:
    return sum(n for per in counts.values() for n in per.values())


LOCKED = re.compile(r"lock timeout|database is locked", re.IGNORECASE)
"""A reader's error that says it waited for a lock the refresh held (PostgreSQL: a dropped or
renamed table is locked until the commit)."""
READS_RUNS = re.compile(r"\b(from|join)\s+\"?runs\b")


def look(db: Database) -> State | str:
    """What a reader on ``db`` sees, or the error it gets."""
    try:
        return state(db)
    except Exception as error:  # a missing table is an answer too
        return f"an error: {error.__cause__ or error}"


RUNS_A = [("t1", "ok"), ("t1", "ok"), ("t2", "fail"), ("t1", "fail")]
RUNS_B = [("t2", "ok"), ("t3", "ok"), ("t1", "ok")]

names = st.sampled_from(["t1", "t2", "T1", "t_", "t%", "acme", "Zoë's",
                         "'); DROP TABLE runs; --", "x" * 100, " padded ", "%s ?"])
statuses = st.sampled_from(["ok", "fail", "queued", "it's \"done\""])
run_lists = st.lists(st.tuples(names, statuses), max_size=30)


def hypothesis_check(examples: int, strategy: Any, body: Callable[[Any], None]) -> None:
    """Run ``body`` on generated examples; the first failure (smallest found) is raised."""
    failures: list[BaseException] = []

    @settings(max_examples=here_count(examples), **HYPOTHESIS)  # type: ignore[arg-type]
    @given(strategy)
    def examples_of(value: Any) -> None:
        if failures:
            return
        try:
            body(value)
        except NotImplementedError:
            raise
        except Exception as error:
            failures.append(error)

    examples_of()
    if failures:
        raise failures[0]


# Task 1 ------------------------------------------------------------------------------------


@STEP.check(task=1, backs=(COUNTS, ONE_TXN))
def refresh_counts_every_run(impl: ModuleType) -> None:
    """refresh_summary() makes the summary equal GROUP BY over runs, on generated runs"""

    def body(runs: tuple[list[tuple[str, str]], list[tuple[str, str]]]) -> None:
        with lab() as here:
            db = new_db(here)
            for at, batch in ((100.0, runs[0]), (250.0, runs[1])):
                add_runs(db, batch)
                called = f"refresh_summary(db, clock at {at}) with runs {show(truth(db))}"
                n = total(truth(db))
                expect_equal(called, impl.refresh_summary(db, Clock(at)), n,
                             "it returns how many runs it counted")
                expect_equal(f"the summary table after {called}", summary_table(db),
                             truth(db), "one row per tenant and status, n its number of runs "
                             "(names are data, passed as ? parameters)")
                expect_equal(f"the summary_refresh row (refreshed_at, runs) after {called}",
                             refresh_row(db), (at, n), "the clock's reading and the runs "
                             "counted, in the row id = 1")

    # PostgreSQL runs fewer: the same SQL, each example a database of its own (~60 ms there).
    hypothesis_check(25 if backends.current() == "sqlite" else 8, st.tuples(run_lists, run_lists),
                     body)


@STEP.check(task=1, backs=(COUNTS, ONE_TXN))
def refresh_of_no_runs_and_a_leftover_summary_next(impl: ModuleType) -> None:
    """with no runs the summary is empty; a summary_next left by a dead refresh is replaced"""
    with lab() as here:
        db = new_db(here)
        expect_equal("refresh_summary(db, clock at 5.0) with no runs",
                     impl.refresh_summary(db, Clock(5.0)), 0)
        expect_equal("(summary table, summary_refresh row) afterwards", state(db),
                     ({}, (5.0, 0)))
        add_runs(db, RUNS_A)
        db.execute("CREATE TABLE summary_next (leftover TEXT)")
        db.execute("INSERT INTO summary_next VALUES ('from a refresh that died')")
        called = "refresh_summary(db, clock at 9.0) with a summary_next table left over"
        expect_equal(called, impl.refresh_summary(db, Clock(9.0)), 4,
                     "summary_next is dropped first if it is there")
        expect_equal(f"(summary table, summary_refresh row) after {called}", state(db),
                     (truth(db), (9.0, 4)))


class CountingClock:
    """Returns 100, 101, 102, ...; notes how many statements had run at each call."""

    def __init__(self, tap: Tap) -> None:
        self.tap = tap
        self.calls: list[list[str]] = []

    def __call__(self) -> float:
        self.calls.append(list(self.tap.seen))
        return 100.0 + len(self.calls) - 1


@STEP.check(task=1, backs=(CLOCK_ONCE,))
def the_time_is_read_once_before_the_runs(impl: ModuleType) -> None:
    """refresh_summary() calls clock() once, before reading runs, and records that reading"""
    with lab() as here:
        db = new_db(here)
        add_runs(db, RUNS_A)
        tap = Tap()
        clock = CountingClock(tap)
        db.before = tap
        try:
            impl.refresh_summary(db, clock)
        finally:
            db.before = None
        called = "refresh_summary(db, clock) with a clock that says 100, then 101, 102, ..."
        expect_equal(f"how many times {called} called clock()", len(clock.calls), 1,
                     "read the time once: the summary is as of one moment")
        before = [s for s in clock.calls[0] if "runs" in s.replace("summary_refresh", "")]
        if before:
            fail(called, f"clock() called after {before[0][:60]!r}",
                 "clock() called before any statement reads runs",
                 "runs written after the read would then be counted as older than they are, "
                 "the summary claims to be fresher than it is")
        expect_equal(f"the summary_refresh row after {called}", refresh_row(db), (100.0, 4))


BAD_CLOCKS: list[tuple[str, object]] = [
    ("'100' (a str)", "100"), ("None", None), ("True", True), ("nan", math.nan),
    ("inf", math.inf), ("-inf", -math.inf), ("[100]", [100]),
]


@STEP.check(task=1, backs=(CLOCK_BAD,))
def a_bad_clock_changes_nothing(impl: ModuleType) -> None:
    """refresh_summary() refuses a clock that returns no finite number, and changes nothing"""
    with lab() as here:
        db = new_db(here)
        add_runs(db, RUNS_A)
        our_refresh(db, 50.0)
        add_runs(db, RUNS_B)
        before = state(db)
        for what, value in BAD_CLOCKS:
            expect_raises(f"refresh_summary(db, clock) with clock() returning {what}",
                          partial(impl.refresh_summary, db, lambda value=value: value),
                          (TypeError, ValueError), "a refresh time must be a finite number")
            expect_equal(f"(summary, summary_refresh row) after a clock returning {what}",
                         state(db), before, "check the clock's reading before writing anything")


@STEP.check(task=1, backs=(WHOLE, ONE_TXN))
def readers_see_the_old_or_the_new_summary_whole(impl: ModuleType) -> None:
    """a reader on another connection, before each statement of a refresh, sees one whole state"""
    with lab() as here:
        db = new_db(here)
        add_runs(db, RUNS_A)
        our_refresh(db, 100.0)
        old = state(db)
        add_runs(db, RUNS_B)
        new = (truth(db), (200.0, total(truth(db))))
        reader = here.again(db, busy_seconds=0.05)
        seen: list[tuple[int, str, State | str]] = []
        tap = Tap(meanwhile=lambda n, sql: seen.append((n, sql, look(reader))))
        db.before = tap
        try:
            impl.refresh_summary(db, Clock(200.0))
        finally:
            db.before = None
        seen.append((len(tap.seen) + 1, "(after it returned)", look(reader)))
        for n, sql, got in seen:
            called = (f"refresh_summary(db, clock at 200.0): a reader on another connection, "
                      f"just before statement {n} ({sql[:50]!r}) of {numbered(tap.seen)}")
            if isinstance(got, str) and LOCKED.search(got):
                building = [s for s in tap.seen[n - 1:] if READS_RUNS.search(s)]
                if building:  # PostgreSQL: a reader waits for the swap's lock, but not this long
                    fail(called, f"it waited for a lock, and the refresh still had to run "
                         f"{building[0][:50]!r}", "it to read the old summary while the new "
                         "one is built", "build summary_next first, then drop summary and "
                         "rename: readers then wait for the swap, the transaction's last quick "
                         "steps, not for the build (DROP TABLE itself first waits for readers "
                         "already in summary)")
                continue
            if got != old and got != new:
                fail(called, f"it saw {got if isinstance(got, str) else show(got)}",
                     f"the old (summary, refresh row) {show(old)} or the new {show(new)}",
                     "build aside and swap in ONE transaction, the refresh row in it too: "
                     "until the commit others see the old state, after it the new")
        expect_equal("what the reader sees after refresh_summary() returned", seen[-1][2], new)


@STEP.check(task=1, backs=(COUNTS, ONE_TXN, WHOLE))
def a_run_committed_during_a_refresh_is_counted_whole(impl: ModuleType) -> None:
    """a run committed by another connection mid-refresh: the summary and its count agree"""

    def make(here: Lab) -> tuple[Database, Callable[[], object]]:
        db = new_db(here)
        add_runs(db, RUNS_A)
        our_refresh(db, 100.0)
        return db, partial(impl.refresh_summary, db, Clock(200.0))

    seen = statements_of(make)
    for k in cut_points(seen, 1):
        with lab() as here:
            db, action = make(here)
            run_tapped(db, committing_before(here, db, k, partial(add_runs, runs=[("t9", "ok")])),
                       action)
            called = (f"refresh_summary(db, clock at 200.0) while another connection committed "
                      f"a run (t9/ok) just before its statement {k} ({seen[k - 1][:50]!r})")
            got = state(db)
            counted = total(got[0])
            if got[1] is None or got[1][1] != counted:
                fail(f"(summary, refresh row) after {called}", show(got),
                     f"a refresh row whose runs is the summary's total, {counted}",
                     "count the runs from what the summary was built from (SUM(n) of "
                     "summary_next), not with a second SELECT COUNT(*) FROM runs: under "
                     "PostgreSQL's READ COMMITTED each statement sees the runs committed "
                     "before it, so two reads of runs can differ")


@STEP.check(task=1, backs=(CRASH, WHOLE))
def a_crash_anywhere_leaves_the_old_summary(impl: ModuleType) -> None:
    """killed before any statement of a refresh, the old summary and time stay; the next works"""

    def make(here: Lab) -> tuple[Database, Callable[[], object]]:
        db = new_db(here)
        add_runs(db, RUNS_A)
        our_refresh(db, 100.0)
        add_runs(db, RUNS_B)
        return db, partial(impl.refresh_summary, db, Clock(200.0))

    seen = statements_of(make)
    for k in range(1, len(seen) + 1):
        with lab() as here:
            db, action = make(here)
            old = state(db)
            run_tapped(db, Tap(crash_at=k), action)
            db = crashed(here, db)
            new = (truth(db), (200.0, total(truth(db))))
            called = (f"refresh_summary(db, clock at 200.0), killed just before statement {k} "
                      f"of {len(seen)} ({numbered(seen)})")
            got = look(db)
            if got != old and got != new:
                fail(f"(summary, summary_refresh row) after {called}",
                     got if isinstance(got, str) else show(got),
                     f"the old ones, {show(old)}", "the whole refresh is one transaction: a "
                     "crash before its COMMIT rolls all of it back")
            again = f"refresh_summary(db, clock at 300.0) after {called}"
            expect_equal(again, impl.refresh_summary(db, Clock(300.0)), total(truth(db)),
                         "whatever a dead refresh left behind, the next one works")
            expect_equal(f"(summary, summary_refresh row) after {again}", state(db),
                         (truth(db), (300.0, total(truth(db)))))


# Task 2 ------------------------------------------------------------------------------------


def with_summary(db: Database, counts: Counts, at: float | None) -> None:
    """Set the summary and refresh row directly (not from runs: readers must read these)."""
    with db.transaction():
        db.execute("DELETE FROM summary")
        db.execute("DELETE FROM summary_refresh")
        db.executemany("INSERT INTO summary VALUES (?, ?, ?)",
                       [(t, s, n) for t, per in counts.items() for s, n in per.items()])
        if at is not None:
            db.execute("INSERT INTO summary_refresh VALUES (1, ?, ?)", (at, total(counts)))


@STEP.check(task=2, backs=(STALE,))
def staleness_is_the_time_since_the_last_refresh(impl: ModuleType) -> None:
    """staleness() is now minus refreshed_at, never negative, inf before any refresh"""
    with lab() as here:
        db = new_db(here)
        expect_equal("staleness(db, clock at 50.0) before any refresh",
                     impl.staleness(db, Clock(50.0)), math.inf,
                     "a summary never refreshed has no age: math.inf, not 0")
        for at, now, age in [(100.0, 130.0, 30.0), (100.0, 100.0, 0.0), (100.0, 90.0, 0.0),
                             (200.5, 260.0, 59.5), (7, 19, 12.0)]:
            with_summary(db, {"t1": {"ok": 1}}, at)
            expect_equal(f"staleness(db, clock at {now}) after a refresh at {at}",
                         impl.staleness(db, Clock(now)), age,
                         "the clock minus refreshed_at, never below 0.0 (a clock behind the "
                         "refresh's), as a float")


@STEP.check(task=2, backs=(READ,))
def summary_reads_the_summary_table_with_its_age(impl: ModuleType) -> None:
    """summary() returns a tenant's counts from the summary table and their age"""
    with lab() as here:
        db = new_db(here)
        add_runs(db, RUNS_A)  # the truth differs from the summary: readers read the summary
        expect_equal("summary(db, 't1', clock at 10.0) before any refresh",
                     impl.summary(db, "t1", Clock(10.0)), ({}, math.inf),
                     "no refresh yet: nothing to show, and no age")

        def body(counts: Counts) -> None:
            with_summary(db, counts, 100.0)
            for tenant in sorted({*counts, "t1", "nobody"}):
                called = (f"summary(db, {tenant!r}, clock at 112.5), the summary holding "
                          f"{show(counts)} refreshed at 100.0")
                expect_equal(called, impl.summary(db, tenant, Clock(112.5)),
                             (counts.get(tenant, {}), 12.5), "the tenant's rows of the summary "
                             "table ({} for none), and the age since refreshed_at")

        counts = st.dictionaries(names, st.dictionaries(statuses, st.integers(1, 10**6),
                                                        min_size=1, max_size=3), max_size=4)
        hypothesis_check(25, counts, body)
        with_summary(db, {"t1": {"ok": 3}}, 100.0)
        expect_equal("summary(db, 't1', clock at 90.0) refreshed at 100.0",
                     impl.summary(db, "t1", Clock(90.0)), ({"ok": 3}, 0.0),
                     "the age as staleness computes it: never below 0.0")


@STEP.check(task=2, backs=(SAME_REFRESH, READ))
def counts_and_age_come_from_one_refresh(impl: ModuleType) -> None:
    """a refresh committing in the middle of summary() never mixes two refreshes' answers"""
    old_counts, new_counts = {"t1": {"ok": 2}}, {"t1": {"ok": 5, "fail": 1}}
    with lab() as here:
        db = new_db(here)
        with_summary(db, old_counts, 100.0)
        dry = Tap()
        run_tapped(db, dry, partial(impl.summary, db, "t1", Clock(300.0)))
        for k in range(1, len(dry.seen) + 1):
            with_summary(db, old_counts, 100.0)
            writer = here.again(db, busy_seconds=0.02)

            def refresh_meanwhile(n: int, sql: str, at: int = k,
                                  writer: Database = writer) -> None:
                if n == at:
                    # Locked out by the reader's own transaction: fine, nothing is mixed then.
                    with suppress(Exception):
                        with_summary(writer, new_counts, 200.0)

            tap = Tap(meanwhile=refresh_meanwhile)
            db.before = tap
            try:
                got = impl.summary(db, "t1", Clock(300.0))
            finally:
                db.before = None
            allowed = [(old_counts["t1"], 200.0), (new_counts["t1"], 100.0)]
            if not any(expect_same(got, a) for a in allowed):
                fail(f"summary(db, 't1', clock at 300.0), with a refresh (at 200.0, to "
                     f"{new_counts['t1']}) committed on another connection just before its "
                     f"statement {k} ({numbered(tap.seen)})", f"(counts, age) = {show(got)}",
                     f"{show(allowed[0])}: the old refresh's counts, made at 100.0, so 200.0 s "
                     f"old; or {show(allowed[1])}: the new one's, made at 200.0, so 100.0 s old",
                     "read the counts and refreshed_at in one statement (or one transaction): "
                     "read apart, one refresh's counts get another's age")


def expect_same(got: object, expected: object) -> bool:
    from cqrs_kata.course.expect import same

    return same(got, expected)


BAD_TENANTS: list[tuple[str, object]] = [("None", None), ("7", 7), ("''", ""), ("'  '", "  "),
                                         ("a 101-character name", "x" * 101),
                                         ("'t\\n1'", "t\n1"), ("b't1'", b"t1")]


@STEP.check(task=2, backs=(TENANT_BAD,))
def a_bad_tenant_is_refused(impl: ModuleType) -> None:
    """summary() refuses a tenant validate_name refuses"""
    with lab() as here:
        db = new_db(here)
        with_summary(db, {"t1": {"ok": 1}}, 1.0)
        for what, tenant in BAD_TENANTS:
            expect_raises(f"summary(db, {what})", partial(impl.summary, db, tenant, Clock(2.0)),
                          (TypeError, ValueError), "validate_name('tenant', tenant) first")


NO_TIME: list[object] = [None, "12:00", float("nan"), float("-inf"), True]


@STEP.check(task=2, backs=(STALE_CLOCK, TENANT_BAD))
def a_clock_that_says_no_time_is_refused(impl: ModuleType) -> None:
    """staleness() and summary() refuse a clock that returns None, text, NaN, -inf or a bool"""
    with lab() as here:
        db = new_db(here)
        expect_raises("staleness(db, clock returning None) before any refresh",
                      partial(impl.staleness, db, lambda: None), (TypeError, ValueError),
                      "even with no refresh to age, a clock that says no time is a bug to report")
        with_summary(db, {"t1": {"ok": 1}}, 1.0)
        for value in NO_TIME:
            def bad(v: object = value) -> object:
                return v

            for called, action in [
                    (f"staleness(db, clock returning {show(value)})",
                     partial(impl.staleness, db, bad)),
                    (f"summary(db, 't1', clock returning {show(value)})",
                     partial(impl.summary, db, "t1", bad))]:
                expect_raises(called, action, (TypeError, ValueError),
                              "an age computed from that is no age (NaN or -inf would read as "
                              "fresh): refuse the clock's reading, as refresh_summary does")


# Task 3 ------------------------------------------------------------------------------------

CAP = 0.5
"""``BUSY_CAP`` as the docstring gives it (the checks read the learner's, and say if it moved)."""
TRUTH_LIKE = ("table+index", "inline counters")
REFRESHING = ("etl summary", "projector counters")
CHOSEN = (*TRUTH_LIKE, *REFRESHING)


def figure(option: str, rows: int, mean: float = 0.001, write: float = 0.0001,
           stale: float = 0.0, refresh: float | None = None) -> Figures:
    return Figures(option=option, backend="sqlite", rows=rows, read_p50_s=mean / 2,
                   read_p99_s=mean * 4, read_mean_s=mean, write_s=write, staleness_s=stale,
                   refresh_s=refresh, blocks_readers=None if refresh is None else False,
                   blocks_writers=None if refresh is None else False)


def load_of(w: Any, f: Figures) -> float:
    """The documented load, written out plainly."""
    base: float = w.reads_per_s * f.read_mean_s + w.writes_per_s * f.write_s
    if f.option == "etl summary":
        wait = w.allowed_staleness_s - (f.refresh_s or 0.0)
        return base + (f.refresh_s or 0.0) / wait if wait > 0 else math.inf
    if f.option == "projector counters":
        return float(base + w.writes_per_s * (f.refresh_s or 0.0) / w.rows)
    return base


def expected_choice(w: Any, figures: dict[str, Figures]) -> str:
    """The documented rules, plainly; "NothingFits" when no option serves."""
    for name in CHOSEN:
        f = figures[name]
        if f.staleness_s <= w.allowed_staleness_s and load_of(w, f) <= CAP:
            return name
    return "NothingFits"


def answer(impl: ModuleType, w: Any, figures: dict[str, Figures]) -> str:
    try:
        got = impl.choose(w, figures)
    except NotImplementedError:
        raise
    except impl.NothingFits:
        return "NothingFits"
    except Exception as error:
        return f"it raised {type(error).__name__}: {error}"
    return str(got) if isinstance(got, str) else f"{got!r} (not a str)"


def why_for(w: Any, figures: dict[str, Figures], expected: str) -> str:
    """Each option before the expected one, and why it does not serve; then the expected."""
    said = []
    for name in CHOSEN:
        f = figures[name]
        fresh = f.staleness_s <= w.allowed_staleness_s
        load = load_of(w, f)
        verdict = ("serves" if fresh and load <= CAP else
                   "too stale" if not fresh else "too heavy")
        said.append(f"{name}: staleness {f.staleness_s:g} s, load {load:g} s/s, {verdict}")
        if name == expected:
            break
    return ("; ".join(said) + (": nothing serves, raise NothingFits" if expected ==
                               "NothingFits" else "") +
            ". Load = reads_per_s * read_mean_s + writes_per_s * write_s (+ refreshing); "
            "at most means <=")


def describe(w: Any, figures: dict[str, Figures]) -> str:
    shown = ", ".join(
        f"{name}(mean={f.read_mean_s:g}, write={f.write_s:g}, stale={f.staleness_s:g}"
        + (f", refresh={f.refresh_s:g}" if f.refresh_s is not None else "") + ")"
        for name, f in figures.items())
    return (f"choose(Workload(reads_per_s={w.reads_per_s:g}, writes_per_s={w.writes_per_s:g}, "
            f"rows={w.rows}, allowed_staleness_s={w.allowed_staleness_s:g}), {shown})")


Costs = tuple[float, float, float, float | None]
"""read_mean_s, write_s, staleness_s, refresh_s of one option."""
Scenario = tuple[float, float, int, float, dict[str, Costs], list[str]]
"""reads_per_s, writes_per_s, rows, allowed_staleness_s, the four choices' costs, and the
other options present."""


def two(k: int) -> float:
    return math.ldexp(1.0, k)


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    """Every number a power of two (or a sum of two), so that every load is exact in floats and
    lands at, just under or just over ``BUSY_CAP``; staleness at, under and over the budget."""
    rows = draw(st.sampled_from([1024, 16384, 262144]))
    reads = two(draw(st.integers(0, 12)))
    writes = draw(st.sampled_from([0.0] + [two(j) for j in range(0, 12)]))
    allowed = draw(st.sampled_from([0.0, 0.25, 1.0, 8.0, 64.0, math.inf]))
    parts = st.sampled_from([0.0, 0.0625, 0.125, 0.25, 0.375, 0.5, 1.0])
    costs: dict[str, Costs] = {}
    for name in CHOSEN:
        mean = draw(parts) / reads
        write = draw(parts) / writes if writes else draw(parts)
        if name in TRUTH_LIKE:
            stale = 0.0 if draw(st.booleans()) or not math.isfinite(allowed) else allowed * 2
            costs[name] = (mean, write, stale, None)
            continue
        if name == "etl summary":
            refresh = two(-draw(st.integers(2, 6)))
            wait = draw(st.sampled_from([refresh, refresh * 2, refresh * 4, 0.0]))
            stale = draw(st.sampled_from([2 * refresh, refresh + wait, 4 * refresh]))
            if math.isfinite(allowed) and allowed > 0 and draw(st.booleans()):
                refresh = allowed / draw(st.sampled_from([1, 2, 4, 8]))
                stale = draw(st.sampled_from([allowed, allowed * 2, refresh * 2]))
        else:
            extra = draw(parts)
            refresh = extra * rows / writes if writes else two(-3)
            stale = draw(st.sampled_from([0.0, 0.0625, allowed if math.isfinite(allowed)
                                          else 1.0, 128.0]))
        costs[name] = (mean, write, stale, refresh)
    extra_names = draw(st.lists(st.sampled_from([o for o in OPTIONS if o not in CHOSEN]),
                                unique=True, max_size=2))
    return reads, writes, rows, allowed, costs, extra_names


def figures_of(case: Scenario) -> tuple[tuple[float, float, int, float], dict[str, Figures]]:
    reads, writes, rows, allowed, costs, extra = case
    figures = {name: figure(name, rows, *costs[name]) for name in CHOSEN}
    figures.update({o: figure(o, rows) for o in extra})
    return (reads, writes, rows, allowed), figures


NAMED: list[tuple[str, Scenario]] = [
    ("reads dear, no staleness allowed: the writer's own transaction keeps counters",
     (1024.0, 8.0, 1024, 0.0, {"table+index": (0.01, 0.001, 0.0, None),
                               "inline counters": (2 ** -14, 2 ** -6, 0.0, None),
                               "etl summary": (2 ** -14, 2 ** -7, 0.5, 0.25),
                               "projector counters": (2 ** -14, 2 ** -6, 0.0625, 1.0)}, [])),
    ("table+index's load exactly BUSY_CAP",
     (64.0, 16.0, 1024, 0.0, {"table+index": (2 ** -8, 2 ** -6, 0.0, None),
                              "inline counters": (0.0, 0.0, 0.0, None),
                              "etl summary": (0.0, 0.0, 0.5, 0.25),
                              "projector counters": (0.0, 0.0, 0.0, 1.0)}, [])),
    ("the p50 is cheap, the mean is not",
     (64.0, 0.0, 1024, 10.0, {"table+index": (2 ** -6, 0.0, 0.0, None),
                              "inline counters": (2 ** -12, 2 ** -10, 0.0, None),
                              "etl summary": (0.0, 0.0, 0.5, 0.25),
                              "projector counters": (0.0, 0.0, 0.0, 1.0)}, [])),
    ("writes make inline counters too heavy; the ETL job fits exactly",
     (64.0, 1024.0, 1024, 1.25, {"table+index": (2 ** -6, 2 ** -10, 0.0, None),
                                 "inline counters": (2 ** -12, 2 ** -10, 0.0, None),
                                 "etl summary": (2 ** -9, 2 ** -13, 0.5, 0.25),
                                 "projector counters": (2 ** -12, 2 ** -12, 0.0625, 1.0)}, [])),
    ("the projector is light but sleeps longer than the budget",
     (64.0, 1024.0, 1024, 0.03125, {"table+index": (2 ** -6, 2 ** -10, 0.0, None),
                                    "inline counters": (2 ** -12, 2 ** -10, 0.0, None),
                                    "etl summary": (0.0, 0.0, 0.5, 0.25),
                                    "projector counters": (0.0, 2 ** -12, 0.0625, 0.125)}, [])),
    ("the projector's staleness exactly the budget, its load exactly BUSY_CAP",
     (64.0, 1024.0, 1024, 0.0625, {"table+index": (2 ** -6, 2 ** -10, 0.0, None),
                                   "inline counters": (2 ** -12, 2 ** -10, 0.0, None),
                                   "etl summary": (0.0, 0.0, 0.5, 0.25),
                                   "projector counters": (0.0, 2 ** -12, 0.0625, 0.25)}, [])),
    ("the ETL's period is 0 (a refresh as long as the budget)",
     (64.0, 1024.0, 1024, 0.25, {"table+index": (2 ** -6, 2 ** -10, 0.0, None),
                                 "inline counters": (2 ** -12, 2 ** -10, 0.0, None),
                                 "etl summary": (0.0, 0.0, 0.25, 0.25),
                                 "projector counters": (2 ** -12, 2 ** -12, 0.0625, 0.25)}, [])),
    ("a refresh longer than the budget: the ETL's period is below 0",
     (64.0, 1024.0, 1024, 0.25, {"table+index": (2 ** -6, 2 ** -10, 0.0, None),
                                 "inline counters": (2 ** -12, 2 ** -10, 0.0, None),
                                 "etl summary": (0.0, 0.0, 0.125, 0.5),
                                 "projector counters": (2 ** -12, 2 ** -12, 0.5, 0.25)}, [])),
    ("any staleness allowed (inf): the ETL job adds nothing",
     (64.0, 1024.0, 1024, math.inf, {"table+index": (2 ** -6, 2 ** -10, 0.0, None),
                                     "inline counters": (2 ** -12, 2 ** -10, 0.0, None),
                                     "etl summary": (2 ** -8, 2 ** -12, 100.0, 50.0),
                                     "projector counters": (0.0, 0.0, 0.0, 1.0)}, [])),
]


@STEP.check(task=3, backs=(SIMPLEST, SERVES, FRESH, LIGHT, LOAD, ETL, PROJECTOR, FIRST,
                           FIGURES), backends=())
def choose_follows_the_rules(impl: ModuleType) -> None:
    """choose() answers as the documented rules say, at and around every boundary"""
    cap = getattr(impl, "BUSY_CAP", None)
    if cap != CAP:
        fail("BUSY_CAP in your module", show(cap), f"{CAP} (half of one core's time), as the "
             "docstring gives it", "keep the constant; the rules compare every load with it")

    def play(what: str, case: Scenario) -> None:
        (reads, writes, rows, allowed), figures = figures_of(case)
        w = impl.Workload(reads, writes, rows, allowed)
        expected = expected_choice(w, figures)
        got = answer(impl, w, figures)
        if got != expected:
            fail(f"{describe(w, figures)} [{what}]", got,
                 "NothingFits raised" if expected == "NothingFits" else repr(expected),
                 why_for(w, figures, expected))

    for what, case in NAMED:
        play(what, case)
    hypothesis_check(300, scenarios(), partial(play, "generated"))


@STEP.check(task=3, backs=(FIRST,), backends=())
def nothing_fits_says_why(impl: ModuleType) -> None:
    """When no option serves, NothingFits names every option it weighed"""
    (reads, writes, rows, allowed), figures = figures_of(
        (64.0, 1024.0, 1024, 0.03125, {"table+index": (2 ** -6, 2 ** -10, 0.0, None),
                                       "inline counters": (2 ** -12, 2 ** -8, 0.0, None),
                                       "etl summary": (0.0, 0.0, 0.5, 0.25),
                                       "projector counters": (0.0, 2 ** -8, 0.0625, 1.0)}, []))
    w = impl.Workload(reads, writes, rows, allowed)
    try:
        got = impl.choose(w, figures)
    except impl.NothingFits as error:
        text = str(error)
        missing = [name for name in CHOSEN if name not in text]
        numbers = re.findall(r"(?<![\w.])(?:\d+\.?\d*(?:e[-+]?\d+)?|inf)", text)
        if missing or len(numbers) < 2 * len(CHOSEN):
            fail(f"str() of the NothingFits that {describe(w, figures)} raised", show(text),
                 "a message giving every option with its staleness and load, two numbers "
                 "each" + (f" (it leaves out {', '.join(missing)})" if missing else
                           f" ({len(numbers)} numbers in all)"),
                 "whoever sizes the system reads it to see what to change")
        return
    fail(describe(w, figures), show(got), "NothingFits raised",
         why_for(w, figures, "NothingFits"))


@STEP.check(task=3, backs=(BAD_INPUT, FIGURES), backends=())
def choose_refuses_what_it_cannot_decide_on(impl: ModuleType) -> None:
    """choose() raises TypeError or ValueError for a bad workload or figures, never an answer"""
    rows = 1024

    def good() -> dict[str, Any]:
        return {o: figure(o, rows, refresh=1.0 if o in REFRESHING else None) for o in CHOSEN}

    def without(name: str) -> dict[str, Any]:
        return {k: v for k, v in good().items() if k != name}

    def costing(name: str, **change: float) -> dict[str, Any]:
        return {**good(), name: replace(good()[name], **change)}

    def same(w: Any) -> Any:
        return w

    wrong_type: list[tuple[str, Callable[[Any], object], object]] = [
        ("a workload given as a tuple", lambda w: (1.0, 1.0, rows, 0.0), good()),
        ("figures given as a list", same, list(good().values())),
        ("'table+index' given as a dict", same, {**good(), "table+index": {"rows": rows}}),
        ("'inline counters' given as a dict of every Figures field", same,
         {**good(), "inline counters": asdict(good()["inline counters"])}),
    ]
    wrong_value: list[tuple[str, Callable[[Any], object], object]] = [
        ("figures with an unknown option 'cache'", same,
         {**good(), "cache": figure("cache", rows)}),
        *[(f"figures without {name!r}", same, without(name)) for name in CHOSEN],
        ("'etl summary' holding the figures of 'sql view'", same,
         {**good(), "etl summary": figure("sql view", rows, refresh=1.0)}),
        ("'table+index' measured at 10 rows", same,
         {**good(), "table+index": figure("table+index", 10)}),
        ("'sql view' measured at 10 rows", same, {**good(), "sql view": figure("sql view", 10)}),
        ("'etl summary' without a refresh_s", same,
         {**good(), "etl summary": figure("etl summary", rows)}),
        ("'projector counters' without a refresh_s", same,
         {**good(), "projector counters": figure("projector counters", rows)}),
        ("'inline counters' with read_mean_s -0.001", same,
         costing("inline counters", read_mean_s=-0.001)),
        ("'table+index' with write_s NaN", same, costing("table+index", write_s=math.nan)),
        ("'projector counters' with staleness_s NaN", same,
         costing("projector counters", staleness_s=math.nan)),
        ("'etl summary' with refresh_s -1.0", same, costing("etl summary", refresh_s=-1.0)),
        ("'sql view' with read_mean_s NaN", same,
         {**good(), "sql view": figure("sql view", rows, mean=math.nan)}),
    ]
    for stale in (0.0, 10.0):
        w = impl.Workload(1.0, 1.0, rows, stale)
        proxied = MappingProxyType(good())
        expect_returns(f"choose() with figures in a MappingProxyType (a Mapping, not a dict), "
                       f"allowed_staleness_s={stale}", partial(impl.choose, w, proxied),
                       "table+index", "figures may be any Mapping: check for collections.abc."
                       "Mapping, not dict")
        for kind, cases in ((TypeError, wrong_type), (ValueError, wrong_value)):
            for what, workload, figures in cases:
                expect_raises(f"choose() with {what}, allowed_staleness_s={stale}",
                              partial(impl.choose, workload(w), figures), (kind,),
                              f"check all the input first, whatever rule will decide; the "
                              f"docstring names {kind.__name__} for this")
