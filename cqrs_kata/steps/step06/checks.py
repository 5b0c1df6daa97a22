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
from collections.abc import Callable
from contextlib import suppress
from functools import partial
from types import MappingProxyType, ModuleType
from typing import Any

from hypothesis import HealthCheck, Phase, Verbosity, given, settings
from hypothesis import strategies as st

from cqrs_kata.course.expect import expect_equal, expect_raises, expect_returns, fail, show
from cqrs_kata.course.structure import Step, Task
from cqrs_kata.db import Database, SQLiteDatabase, truth
from cqrs_kata.steps.step05.lab import (
    Clock,
    Lab,
    Tap,
    crashed,
    lab,
    numbered,
    run_tapped,
    statements_of,
)
from cqrs_kata.steps.step06.figures import OPTIONS, Figures

STEP = Step(
    number="06",
    title="The alternatives, measured",
    minutes=35,
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
                "with that `option` and the workload's `rows`, the three options of "
                "`CHOICES` present, and a `refresh_s` on the last two.",
                "Then the rules, in the docstring's order, each an `if` that returns: "
                "staleness 0; `reads_per_s * figures['table+index'].read_p50_s <= "
                "CHEAP_ENOUGH`; `figures['etl summary'].refresh_s <= allowed_staleness_s / 2`; "
                "`writes_per_s * figures['projector counters'].refresh_s <= rows / 2`; else "
                "`raise NothingFits(...)`.",
                "`at most` is `<=`: at exactly 0.1, exactly half, the rule holds. Keep the "
                "expressions as the docstring writes them. A mismatch of option or rows is a "
                "ValueError, a wrong type a TypeError; NothingFits is neither (it is not bad "
                "input, just a workload this machine cannot serve).",
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
        "In choose(): `<` instead of `<=` at the boundaries (exactly 0.1, exactly half); "
        "validating the figures only on the path that reads them, so bad figures pass when "
        "the staleness is 0; or answering \"projector counters\" when the projector cannot "
        "keep up, instead of raising NothingFits.",
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
READ = STEP.rule("summary", "``({status: runs}, age)`` for ``tenant``, read from ``summary`` "
                 "(``{}`` for a tenant it does not hold), with its age in seconds as "
                 "``staleness`` computes it.")
SAME_REFRESH = STEP.rule("summary", "The counts and the age must belong to the same refresh, "
                         "even when a refresh commits on another connection in the middle of "
                         "the call: read both in one statement (or one transaction).")
TENANT_BAD = STEP.rule("summary", "``tenant`` must be a name ``validate_name`` accepts; "
                       "otherwise raise TypeError or ValueError.")
SIMPLEST = STEP.rule("choose", "The simplest option that serves ``workload``, from figures "
                     "measured at its size.")
FIGURES = STEP.rule("choose", "``figures`` maps option names (``cqrs_kata.alternatives."
                    "OPTIONS``) to their ``Figures``; it must hold ``\"table+index\"``, ``\"etl "
                    "summary\"`` and ``\"projector counters\"`` (others are allowed, checked "
                    "like these, and not used), each measured with ``rows`` equal to "
                    "``workload.rows`` and filed under its own ``option``, and the last two "
                    "with a ``refresh_s``.")
BAD_INPUT = STEP.rule("choose", "Otherwise raise TypeError (``workload`` not a ``Workload``, "
                      "``figures`` not a mapping, a value not a ``Figures``) or ValueError (a "
                      "name not in ``OPTIONS``, a missing one, a figure filed under another "
                      "name, measured at another size, or without its ``refresh_s``).")
ORDER = STEP.rule("choose", "The rules, in this order, the first that holds deciding.")
STRONG = STEP.rule("choose", "Strong consistency first: when ``allowed_staleness_s == 0``, "
                   "answer ``\"table+index\"`` (only the truth is never stale).")
CHEAP = STEP.rule("choose", "Simplest wins: when ``reads_per_s * read_p50_s`` of "
                  "``\"table+index\"`` is at most ``CHEAP_ENOUGH`` (0.1 s of work per second, a "
                  "tenth of a core), answer ``\"table+index\"``.")
ETL = STEP.rule("choose", "When ``refresh_s`` of ``\"etl summary\"`` is at most half of "
                "``allowed_staleness_s``, answer ``\"etl summary\"``.")
PROJECTOR = STEP.rule("choose", "When ``writes_per_s * refresh_s`` of ``\"projector "
                      "counters\"`` is at most half of ``rows``, answer ``\"projector "
                      "counters\"``.")
NOTHING = STEP.rule("choose", "Otherwise raise ``NothingFits``.")
STEP.note("choose", "Why: a job started every half of the allowed staleness that takes at most "
          "as long keeps every answer within it.", "A projector's ``refresh_s`` projects "
          "``rows`` events, so at ``writes_per_s`` it is busy ``writes_per_s * refresh_s / "
          "rows`` of the time; at most half leaves room to catch up after a pause.")


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


def new_db(here: Lab) -> SQLiteDatabase:
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

    @settings(max_examples=examples, **HYPOTHESIS)  # type: ignore[arg-type]
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

    hypothesis_check(25, st.tuples(run_lists, run_lists), body)


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
        reader = here.open(db.path)
        seen: list[tuple[int, str, State | str]] = []
        tap = Tap(meanwhile=lambda n, sql: seen.append((n, sql, look(reader))))
        db.before = tap
        try:
            impl.refresh_summary(db, Clock(200.0))
        finally:
            db.before = None
        seen.append((len(tap.seen) + 1, "(after it returned)", look(reader)))
        for n, sql, got in seen:
            if got != old and got != new:
                fail(f"refresh_summary(db, clock at 200.0): a reader on another connection, "
                     f"just before statement {n} ({sql[:50]!r}) of {numbered(tap.seen)}",
                     f"it saw {got if isinstance(got, str) else show(got)}",
                     f"the old (summary, refresh row) {show(old)} or the new {show(new)}",
                     "build aside and swap in ONE transaction, the refresh row in it too: "
                     "until the commit others see the old state, after it the new")
        expect_equal("what the reader sees after refresh_summary() returned", seen[-1][2], new)


@STEP.check(task=1, backs=(CRASH, WHOLE))
def a_crash_anywhere_leaves_the_old_summary(impl: ModuleType) -> None:
    """killed before any statement of a refresh, the old summary and time stay; the next works"""

    def make(here: Lab) -> tuple[SQLiteDatabase, Callable[[], object]]:
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
            writer = here.open(db.path, busy_seconds=0.02)

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
                     f"statement {k} ({numbered(tap.seen)})", show(got),
                     f"{show(allowed[0])} or {show(allowed[1])}",
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


# Task 3 ------------------------------------------------------------------------------------


def figure(option: str, rows: int, p50: float = 0.001, refresh: float | None = 1.0) -> Figures:
    return Figures(option=option, backend="sqlite", rows=rows, read_p50_s=p50,
                   read_p99_s=p50 * 3, write_overhead=1.5, staleness_s=0.0,
                   refresh_s=refresh, blocks_readers=False if refresh is not None else None)


def expected_choice(impl: ModuleType, w: Any, p50: float, etl: float, projector: float) -> str:
    """The documented rules, plainly; "NothingFits" for the last."""
    if w.allowed_staleness_s == 0:
        return "table+index"
    if w.reads_per_s * p50 <= 0.1:
        return "table+index"
    if etl <= w.allowed_staleness_s / 2:
        return "etl summary"
    if w.writes_per_s * projector <= w.rows / 2:
        return "projector counters"
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


def why_for(expected: str) -> str:
    return {
        "table+index": "strong consistency (staleness 0) or cheap reads on the truth "
                       "(reads_per_s * read_p50_s <= 0.1): the simplest option",
        "etl summary": "reads are too dear on the truth, and the refresh takes at most half "
                       "the allowed staleness",
        "projector counters": "reads too dear, the refresh too slow, and writes_per_s * "
                              "refresh_s of the projector is at most rows / 2",
        "NothingFits": "no rule holds: raise NothingFits",
    }[expected]


Scenario = tuple[float, float, int, float, float, float, float, list[str]]
"""reads_per_s, writes_per_s, rows, allowed_staleness_s, table+index read_p50_s, etl summary
refresh_s, projector counters refresh_s, and the other options present."""


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    """Numbers around every boundary, chosen so the boundary products are exact in floats."""
    rows = draw(st.sampled_from([1000, 10_000, 250_000]))
    reads = float(2 ** draw(st.integers(0, 12)))
    writes = draw(st.sampled_from([0.0] + [float(2 ** j) for j in range(0, 14)]))
    factors = st.sampled_from([0.25, 0.5, 1.0, 2.0, 4.0])
    p50 = 0.1 / reads * draw(factors)
    stale = draw(st.sampled_from([0.0, 0.5, 1.0, 10.0, 60.0, 3600.0, math.inf]))
    etl = (stale / 2 if math.isfinite(stale) else 7.0) * draw(factors)
    projector = (rows / 2 / writes if writes else 3.0) * draw(factors)
    extra = draw(st.lists(st.sampled_from([o for o in OPTIONS if o not in
                                           ("table+index", "etl summary",
                                            "projector counters")]), unique=True, max_size=2))
    return reads, writes, rows, stale, p50, etl, projector, extra


@STEP.check(task=3, backs=(SIMPLEST, ORDER, STRONG, CHEAP, ETL, PROJECTOR, NOTHING, FIGURES))
def choose_follows_the_rules(impl: ModuleType) -> None:
    """choose() answers as the documented rules say, at and around every boundary"""
    named: list[tuple[str, Scenario]] = [
        ("staleness 0, reads dear", (1000.0, 10.0, 1000, 0.0, 0.01, 0.1, 0.1, [])),
        ("reads cost exactly 0.1 s/s", (64.0, 10.0, 1000, 10.0, 0.1 / 64, 0.1, 0.1, [])),
        ("reads cost just over 0.1 s/s, refresh exactly half", (64.0, 10.0, 1000, 10.0,
                                                                0.2 / 64, 5.0, 0.1, [])),
        ("refresh just over half, projector busy exactly half", (64.0, 8.0, 1000, 10.0,
                                                                 0.2 / 64, 5.5, 62.5, [])),
        ("any staleness allowed (inf)", (64.0, 8.0, 1000, math.inf, 0.2 / 64, 500.0, 1e9, [])),
        ("the projector cannot keep up", (64.0, 8.0, 1000, 10.0, 0.2 / 64, 5.5, 63.0, [])),
        ("an odd number of rows, projector busy exactly half", (64.0, 4.0, 1001, 10.0,
                                                                 0.2 / 64, 5.5, 125.125, [])),
    ]

    def play(what: str, case: Scenario) -> None:
        reads, writes, rows, stale, p50, etl, projector, extra = case
        w = impl.Workload(reads, writes, rows, stale)
        figures = {"table+index": figure("table+index", rows, p50, None),
                   "etl summary": figure("etl summary", rows, 0.0001, etl),
                   "projector counters": figure("projector counters", rows, 0.0001, projector)}
        figures.update({o: figure(o, rows) for o in extra})
        expected = expected_choice(impl, w, p50, etl, projector)
        got = answer(impl, w, figures)
        if got != expected:
            fail(f"choose(Workload(reads_per_s={reads:g}, writes_per_s={writes:g}, rows={rows}, "
                 f"allowed_staleness_s={stale:g}), figures with table+index read_p50_s={p50!r}, "
                 f"etl summary refresh_s={etl!r}, projector counters refresh_s={projector!r}"
                 + (f", and {', '.join(extra)}" if extra else "") + f") [{what}]",
                 got, "NothingFits raised" if expected == "NothingFits" else repr(expected),
                 why_for(expected) + "; the first rule that holds decides, at most means <=")

    for what, case in named:
        play(what, case)
    hypothesis_check(300, scenarios(), partial(play, "generated"))
    rows = 1000
    w = impl.Workload(64.0, 8.0, rows, 10.0)
    figures = {"table+index": figure("table+index", rows, 0.2 / 64, None),
               "etl summary": figure("etl summary", rows, 0.0001, 5.5),
               "projector counters": figure("projector counters", rows, 0.0001, 63.0)}
    try:
        impl.choose(w, figures)
    except impl.NothingFits as error:
        if len(str(error).split()) < 4:
            fail("choose() when nothing fits, then str() of the NothingFits it raised",
                 show(str(error)), "a message saying which rule ruled out what (e.g. the "
                 "reads' cost, the refresh against the staleness, the projector's load)",
                 "whoever sizes the system reads it to see what to change")


@STEP.check(task=3, backs=(BAD_INPUT, FIGURES))
def choose_refuses_what_it_cannot_decide_on(impl: ModuleType) -> None:
    """choose() raises TypeError or ValueError for a bad workload or figures, even at staleness 0"""
    rows = 1000

    def good() -> dict[str, Any]:
        return {o: figure(o, rows) for o in ("table+index", "etl summary",
                                             "projector counters")}

    def without(name: str) -> dict[str, Any]:
        return {k: v for k, v in good().items() if k != name}

    bad: list[tuple[str, Callable[[Any], object], object]] = [
        ("a workload given as a tuple", lambda w: (1.0, 1.0, rows, 0.0), good()),
        ("figures given as a list", lambda w: w, list(good().values())),
        ("figures with an unknown option 'cache'", lambda w: w,
         {**good(), "cache": figure("cache", rows)}),
        ("figures without 'etl summary'", lambda w: w, without("etl summary")),
        ("figures without 'table+index'", lambda w: w, without("table+index")),
        ("figures without 'projector counters'", lambda w: w, without("projector counters")),
        ("'etl summary' holding the figures of 'sql view'", lambda w: w,
         {**good(), "etl summary": figure("sql view", rows)}),
        ("'table+index' measured at 10 rows", lambda w: w,
         {**good(), "table+index": figure("table+index", 10)}),
        ("'sql view' measured at 10 rows", lambda w: w, {**good(), "sql view":
                                                        figure("sql view", 10)}),
        ("'etl summary' without a refresh_s", lambda w: w,
         {**good(), "etl summary": figure("etl summary", rows, refresh=None)}),
        ("'projector counters' without a refresh_s", lambda w: w,
         {**good(), "projector counters": figure("projector counters", rows, refresh=None)}),
        ("'table+index' given as a dict", lambda w: w, {**good(), "table+index": {"rows": rows}}),
    ]
    for stale in (0.0, 10.0):
        w = impl.Workload(1.0, 1.0, rows, stale)
        proxied = MappingProxyType(good())
        expect_returns(f"choose() with figures in a MappingProxyType (a Mapping, not a dict), "
                       f"allowed_staleness_s={stale}", partial(impl.choose, w, proxied),
                       "table+index", "figures may be any Mapping: check for collections.abc."
                       "Mapping, not dict")
        expect_raises(f"choose() with 'table+index' given as a dict, allowed_staleness_s={stale}",
                      partial(impl.choose, w, {**good(), "table+index": {"rows": rows}}),
                      (TypeError,), "a value that is not a Figures is of the wrong type: "
                      "TypeError, as the docstring says")
        for what, workload, figures in bad:
            expect_raises(f"choose() with {what}, allowed_staleness_s={stale}",
                          partial(impl.choose, workload(w), figures), (TypeError, ValueError),
                          "check all the input first, whatever rule will decide: figures that "
                          "pass at staleness 0 would be used wrongly at another")
