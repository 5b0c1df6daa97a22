"""Step 01: one model first — the dashboard from one SQLite table, GROUP BY and an index.

Every check makes its own database with the checks' own copy of the schema and fills it with
plain SQL, so each task is checked on its own code only. The learner writes the SQL, so the
query plan is read from what their ``summary`` actually ran (``set_trace_callback`` hands over
each statement as SQLite ran it, parameters filled in), passed to ``EXPLAIN QUERY PLAN``.
"""

from __future__ import annotations

import random
import re
import sqlite3
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import Any

from cqrs_kata.course.expect import expect_equal, expect_raises, fail, show
from cqrs_kata.course.structure import Step, Task
from cqrs_kata.steps.oracle import fold

STEP = Step(
    number="01",
    title="One model first",
    minutes=20,
    tasks=(
        Task(
            1,
            "Record a run in the one table",
            builds=("record",),
            hints=(
                "Three jobs in order: check both names, insert one row, commit. The row's "
                "`recorded_at` is the time of the call, `time.time()`.",
                "`validate_name(\"tenant\", tenant)` and `validate_name(\"status\", status)` "
                "raise on bad input before anything is written. Never put a name into the SQL "
                "text with an f-string: write `?` where a value goes and pass the values as a "
                "tuple. Without a commit, other connections never see the run.",
                "`with conn: conn.execute(\"INSERT INTO runs (tenant, status, recorded_at) "
                "VALUES (?, ?, ?)\", (tenant, status, time.time()))` after the two "
                "validate_name calls (`with conn:` commits, or rolls back on an error).",
            ),
        ),
        Task(
            2,
            "The dashboard from one GROUP BY",
            builds=("summary",),
            hints=(
                "One query does it all: pick this tenant's rows, group them by status, count "
                "each group. Turn the rows it returns into a dict.",
                "`WHERE tenant = ?` with `(tenant,)` as the parameters: not LIKE (it ignores "
                "case and treats % and _ as wildcards), not an f-string (a tenant named "
                "`x' OR '1'='1` would rewrite your query).",
                "`rows = conn.execute(\"SELECT status, COUNT(*) FROM runs WHERE tenant = ? "
                "GROUP BY status\", (tenant,)).fetchall()`, then `return dict(rows)`.",
            ),
        ),
        Task(
            3,
            "The index that answers the dashboard by itself",
            builds=("add_index",),
            hints=(
                "The query filters on tenant and groups on status. An index holding both "
                "columns lets SQLite answer without reading the table at all: a covering index.",
                "Column order matters: tenant first, so SQLite can jump straight to one "
                "tenant's entries, then status, so they come out already grouped. Make it safe "
                "to run twice, and not UNIQUE: many runs share a tenant and a status.",
                "`conn.execute(\"CREATE INDEX IF NOT EXISTS runs_by_tenant_status ON runs "
                "(tenant, status)\")`. Check with `EXPLAIN QUERY PLAN` followed by your "
                "summary's query: it should say `SEARCH runs USING COVERING INDEX`.",
            ),
        ),
    ),
    usual_mistakes=(
        "Building SQL with f-strings: a tenant named x' OR '1'='1 then reads every tenant's "
        "runs, and a name with a quote in it cannot be recorded at all. Always `?` parameters.",
        "Forgetting to commit in record(): the same connection sees the run, every other one "
        "(the dashboard's) does not.",
        "summary() with LIKE, or COLLATE NOCASE: 'Acme' and 'acme-eu' are counted as 'acme'.",
        "summary() fetching every row and counting in Python: right answers, but the "
        "database's GROUP BY is what the index speeds up.",
        "The index on (status, tenant), or on tenant alone: the plan still says SCAN, or reads "
        "each status from the table. EXPLAIN QUERY PLAN shows which.",
        "CREATE INDEX without IF NOT EXISTS (the second call fails), or a UNIQUE index (the "
        "second run of a tenant with the same status can no longer be recorded).",
    ),
)

# The contract: every sentence of the docstrings the learner implements -----------------------

INSERT = STEP.rule("record", "Insert one run into ``runs``: ``tenant``, ``status``, and "
                   "``time.time()`` as ``recorded_at``.")
COMMIT = STEP.rule("record", "Commit before returning, so that every other connection sees it.")
VALIDATE = STEP.rule("record", "Check both names with ``validate_name`` before writing "
                     "(``validate_name(\"tenant\", tenant)``: which name it is, then its value): "
                     "a bad one raises its ``TypeError`` or ``ValueError`` and writes nothing.")
VERBATIM = STEP.rule("record", "Pass the values as ``?`` parameters: a name is data, stored "
                     "exactly as given, even one like ``x' OR '1'='1`` or ``50%``.")
COUNTS = STEP.rule("summary", "``{status: count}`` for ``tenant``'s runs; ``{}`` for a tenant "
                   "with no runs.")
GROUP_BY = STEP.rule("summary", "Let the database count, with one ``SELECT`` and ``GROUP BY "
                     "status``, instead of fetching every run and counting in Python.")
EXACT = STEP.rule("summary", "Only runs whose tenant equals ``tenant`` exactly count: not another "
                  "case (``Acme`` is not ``acme``), not a longer name that starts the same "
                  "(``acme-eu`` is not ``acme``).")
PARAMETER = STEP.rule("summary", "Pass ``tenant`` as a ``?`` parameter, so no tenant's name can "
                      "change the query.")
STEP.note("add_index", "Create the index that lets ``summary`` answer from the index alone.")
COVERING = STEP.rule("add_index", "Index ``runs`` on ``(tenant, status)``, in that order: SQLite "
                     "finds one tenant's entries by the first column, and reads them already "
                     "grouped by status from the second, without touching the table (``EXPLAIN "
                     "QUERY PLAN`` says ``SEARCH runs USING COVERING INDEX``).")
TWICE = STEP.rule("add_index", "Calling it again changes nothing (``CREATE INDEX IF NOT "
                  "EXISTS``).")
ONLY_FASTER = STEP.rule("add_index", "The index only speeds reads up: every run that could be "
                        "recorded before can still be recorded.")

# The checks' own copy of the schema and the dashboard query: a learner's edits to either in
# the exercise change nothing here.
SCHEMA = ("CREATE TABLE runs (id INTEGER PRIMARY KEY, tenant TEXT NOT NULL, "
          "status TEXT NOT NULL, recorded_at REAL NOT NULL)")
DASHBOARD = "SELECT status, COUNT(*) FROM runs WHERE tenant = ? GROUP BY status"

ODD_NAMES = ["x' OR '1'='1", "'); DROP TABLE runs; --", 'say "hi"', "Zoë's tenant", "50%",
             "a_c_e", "?", "?1 :name $x", "Zürich ☕", " padded ", "x" * 100]
"""Names that a query built by pasting text breaks on, or that LIKE matches too widely."""

BAD_NAMES: tuple[tuple[Any, str], ...] = (
    ("", "an empty name"), ("   ", "a blank name"), ("x" * 101, "101 characters"),
    ("two\nlines", "a newline"), ("\ud800", "a lone surrogate"), (None, "None"),
    (42, "a number"), (b"acme", "bytes"),
)

Runs = Sequence[tuple[str, str]]


def fresh(path: str = ":memory:") -> sqlite3.Connection:
    conn = sqlite3.connect(path)
    conn.execute(SCHEMA)
    conn.commit()
    return conn


def fill(conn: sqlite3.Connection, runs: Runs) -> None:
    with conn:
        conn.executemany("INSERT INTO runs (tenant, status, recorded_at) VALUES (?, ?, 0.0)",
                         list(runs))


def stored(conn: sqlite3.Connection) -> list[tuple[Any, Any]]:
    return [tuple(r) for r in conn.execute("SELECT tenant, status FROM runs ORDER BY id")]


def truth(runs: Runs, tenant: str) -> dict[str, int]:
    return fold(runs).get(tenant, {})


def described(runs: Runs) -> str:
    return f"runs {show(list(runs))}" if runs else "no runs"


@contextmanager
def folder() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="cqrs-kata-01-") as name:
        yield Path(name)


@contextmanager
def traced(conn: sqlite3.Connection) -> Iterator[list[str]]:
    """The statements ``conn`` runs meanwhile, as SQLite ran them (parameters filled in)."""
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    try:
        yield statements
    finally:
        conn.set_trace_callback(None)


def selects(statements: list[str]) -> list[str]:
    return [s for s in statements if re.match(r"\s*(SELECT|WITH)\b", s, flags=re.I)]


# Task 1 ------------------------------------------------------------------------------------


@STEP.check(task=1, backs=(INSERT,))
def records_one_row_per_call(impl: ModuleType) -> None:
    """record() inserts one row per call with tenant, status and the time of the call"""
    conn = fresh()
    calls = [("acme", "ok"), ("acme", "fail"), ("globex", "ok"), ("acme", "ok")]
    times: list[tuple[float, float]] = []
    for tenant, status in calls:
        # a pause longer than the slack: a stamp taken at import, or at the previous call,
        # cannot fall inside this call's window however fast the machine is
        time.sleep(0.005)
        before = time.time()
        impl.record(conn, tenant, status)
        times.append((before, time.time()))
    expect_equal("(tenant, status) of each row after record() of acme/ok, acme/fail, "
                 "globex/ok, acme/ok", stored(conn), calls,
                 "one row per run, the same run twice too: the table is every run ever recorded")
    stamps = [at for (at,) in conn.execute("SELECT recorded_at FROM runs ORDER BY id")]
    for i, (at, (before, after)) in enumerate(zip(stamps, times, strict=True), start=1):
        # 1 ms of slack for a clock that steps; a whole-second or import-time stamp is off by far
        if not isinstance(at, float) or not before - 0.001 <= at <= after + 0.001:
            fail(f"record() number {i}, then SELECT recorded_at FROM runs", show(at),
                 f"a float from {before:.6f} to {after:.6f} (time.time() during that call)",
                 "recorded_at is when the run was recorded, in seconds since 1970, as "
                 "time.time() gives it during the call (not rounded to a second, not taken "
                 "once at import, not time.monotonic(), not a text date)")


@STEP.check(task=1, backs=(COMMIT,))
def other_connections_see_the_run(impl: ModuleType) -> None:
    """a run record() wrote is committed: another connection sees it"""
    with folder() as here, closing(fresh(str(here / "runs.db"))) as conn, \
            closing(sqlite3.connect(here / "runs.db", timeout=0.5)) as dashboard:
        impl.record(conn, "acme", "ok")
        try:
            seen = stored(dashboard)
        except sqlite3.OperationalError as error:  # the writer still holds its lock
            seen = [("database is locked:", str(error))]
        expect_equal("record(conn, 'acme', 'ok'), then SELECT on a second connection", seen,
                     [("acme", "ok")], "without conn.commit() (or `with conn:`) the insert "
                     "stays in an open transaction that only this connection sees; the "
                     "dashboard reads on another")


@STEP.check(task=1, backs=(VALIDATE,))
def bad_names_write_nothing(impl: ModuleType) -> None:
    """record() refuses a bad tenant or status with validate_name's error and writes nothing"""
    conn = fresh()
    fill(conn, [("acme", "ok")])
    for bad, what in BAD_NAMES:
        for tenant, status in [(bad, "ok"), ("acme", bad)]:
            called = f"record(conn, {show(tenant)}, {show(status)})"
            expect_raises(called, partial(impl.record, conn, tenant, status),
                          (TypeError, ValueError), f"{what} is not a usable name, and "
                          "validate_name says so when called as validate_name(\"tenant\", "
                          "tenant) and validate_name(\"status\", status): which name it is "
                          "first, then its value")
            expect_equal(f"the rows after {called} ({what})", stored(conn), [("acme", "ok")],
                         "check both names before the INSERT: a refused run is not written, "
                         "not even uncommitted")
            if conn.in_transaction:
                fail(called, "a transaction left open on the connection",
                     "nothing pending", "a refused call must leave no half-done transaction")


@STEP.check(task=1, backs=(VERBATIM,))
def names_are_stored_verbatim(impl: ModuleType) -> None:
    """names with quotes, %, ?, accents and SQL text in them are stored exactly as given"""
    conn = fresh()
    expected = []
    for name in ODD_NAMES:
        for tenant, status in [(name, "ok"), ("acme", name)]:
            called = f"record(conn, {show(tenant)}, {show(status)})"
            try:
                impl.record(conn, tenant, status)
            except (sqlite3.Error, ValueError, TypeError) as error:
                fail(called, f"it raised {type(error).__name__}: {error}",
                     "the run to be stored", "a name with a quote or SQL text in it is valid; "
                     "pasted into the SQL text it breaks the query. Pass it as a ? parameter")
            expected.append((tenant, status))
            expect_equal(f"(tenant, status) of each row after {called}", stored(conn),
                         expected, "the name is data: stored exactly as given, never run as "
                         "SQL, never stripped or changed")


# Task 2 ------------------------------------------------------------------------------------


@STEP.check(task=2, backs=(COUNTS,))
def counts_each_status(impl: ModuleType) -> None:
    """summary() counts each status of a tenant, and {} for a tenant with no runs"""
    conn = fresh()
    runs = [("acme", "ok"), ("acme", "ok"), ("acme", "fail"), ("globex", "ok")]
    fill(conn, runs)
    expect_equal(f"summary(conn, 'acme') on {described(runs)}", impl.summary(conn, "acme"),
                 {"ok": 2, "fail": 1}, "acme has two ok runs and one failed one")
    expect_equal(f"summary(conn, 'globex') on {described(runs)}",
                 impl.summary(conn, "globex"), {"ok": 1})
    expect_equal(f"summary(conn, 'initech') on {described(runs)}",
                 impl.summary(conn, "initech"), {},
                 "a tenant with no runs has no counts: an empty dict, not an error or None")
    expect_equal("summary(conn, 'acme') on an empty table", impl.summary(fresh(), "acme"), {})


@STEP.check(task=2, backs=(EXACT,))
def only_the_exact_tenant_counts(impl: ModuleType) -> None:
    """summary() counts the tenant named, not another case nor a name that starts the same"""
    conn = fresh()
    runs = [("acme", "ok"), ("Acme", "fail"), ("ACME", "fail"), ("acme-eu", "ok"),
            ("acme ", "ok"), ("acm", "fail"), ("acme", "fail")]
    fill(conn, runs)
    for tenant in ["acme", "Acme", "acm", "acme-eu", "ac%", "acm_", "ACM", "acm?", "ac*",
                   "[a]cme"]:
        expect_equal(f"summary(conn, {show(tenant)}) on {described(runs)}",
                     impl.summary(conn, tenant), truth(runs, tenant),
                     "WHERE tenant = ?: LIKE ignores case and reads % and _ as wildcards, GLOB "
                     "reads *, ? and [ ], COLLATE NOCASE ignores case; each tenant sees its "
                     "own runs only")


@STEP.check(task=2, backs=(PARAMETER,))
def a_tenant_name_cannot_change_the_query(impl: ModuleType) -> None:
    """summary() of tenants named like SQL (x' OR '1'='1, quotes, ?) counts only their runs"""
    conn = fresh()
    runs = [("acme", "ok"), ("globex", "fail"), ("x' OR '1'='1", "ok"), ('say "hi"', "ok")]
    fill(conn, runs)
    for tenant in ["x' OR '1'='1", "y' OR '1'='1", "' OR 1=1 --", "acme' --", 'say "hi"',
                   "'); DROP TABLE runs; --", "?", "Zoë's tenant"]:
        try:
            got = impl.summary(conn, tenant)
        except sqlite3.Error as error:
            fail(f"summary(conn, {show(tenant)}) on {described(runs)}",
                 f"it raised {type(error).__name__}: {error}", show(truth(runs, tenant)),
                 "the tenant's name was pasted into the SQL text; pass it as a ? parameter")
        expect_equal(f"summary(conn, {show(tenant)}) on {described(runs)}", got,
                     truth(runs, tenant), "a name is a value (a ? parameter), never part of "
                     "the SQL: pasted in, x' OR '1'='1 turns the WHERE into 'true' for every run")
    expect_equal("the rows after those calls", stored(conn), runs, "reading changes nothing")


@STEP.check(task=2, backs=(GROUP_BY,))
def the_database_counts(impl: ModuleType) -> None:
    """summary() runs one SELECT with GROUP BY status: the database counts, not Python"""
    conn = fresh()
    fill(conn, [("acme", "ok"), ("acme", "fail"), ("acme", "ok")])
    with traced(conn) as statements:
        impl.summary(conn, "acme")
    queries = selects(statements)
    if len(queries) != 1:
        fail("summary(conn, 'acme'), watching the SQL it ran",
             f"{len(queries)} SELECT statements: {show(queries)} (as SQLite ran them: a ? "
             "shows as the value bound to it)", "exactly one SELECT",
             "one query answers the dashboard; more means more round trips per page view")
    if not re.search(r"\bGROUP\s+BY\b", queries[0], flags=re.I):
        fail("summary(conn, 'acme'), watching the SQL it ran",
             f"{queries[0]!r} (as SQLite ran it: a ? shows as the value bound to it)",
             "a SELECT ... GROUP BY status", "fetching every run and counting in Python moves "
             "the whole history out of the database on each read; GROUP BY counts where the "
             "data is, and the index of task 3 then answers it without reading the runs")


TRICKY = ["acme", "Acme", "ACME", "acme-eu", "acm", "acme ", " acme", "a%", "a_me",
          "x' OR '1'='1", "?", "Zürich", "zürich", "ok", "OK", "fail", "fail'", "50%"]
"""Names that differ from another only in case, a prefix, a space or a wildcard of LIKE."""
ALPHABET = "aAbzZ09_%?'\" -.,;:!$€ßéÉüÜ漢\u00a0"
"""Letters, digits, punctuation, symbols and spaces for names made up at random."""


def _name(rng: random.Random) -> str:
    if rng.random() < 0.5:
        return rng.choice(TRICKY)
    made = "".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 6)))
    return made if made.strip() else "x" + made


def data_sets(count: int = 25, seed: int = 1) -> list[tuple[list[tuple[str, str]], list[str]]]:
    """``count`` sets of runs (up to 30) and absent tenants (up to 4), the same every time,
    smallest first: the first that fails is reported. Plain ``random``, not Hypothesis: in a
    browser, importing Hypothesis alone takes seconds, and this check is step 01's."""
    rng = random.Random(seed)
    sets = [([], ["acme"]), ([("acme", "ok")], ["Acme", "acm", "acme-eu"])]
    while len(sets) < count:
        runs = [(_name(rng), _name(rng)) for _ in range(rng.randint(1, 30))]
        sets.append((runs, [_name(rng) for _ in range(rng.randint(0, 4))]))
    return sorted(sets, key=lambda example: len(example[0]))


@STEP.check(task=2, backs=(COUNTS, EXACT))
def right_on_generated_data_sets(impl: ModuleType) -> None:
    """summary() is right on generated data: odd names, prefixes, cases, empty tenants"""
    for runs, absent in data_sets():
        for indexed in (False, True):
            with closing(fresh()) as conn:
                fill(conn, runs)
                if indexed:
                    conn.execute("CREATE INDEX checks_index ON runs (tenant, status)")
                for tenant in sorted({t for t, _ in runs} | set(absent)):
                    expect_equal(f"summary(conn, {show(tenant)}) on {described(runs)}"
                                 + (" (with an index on (tenant, status))" if indexed else ""),
                                 impl.summary(conn, tenant), truth(runs, tenant),
                                 "each status of exactly this tenant's runs, counted; {} for "
                                 "a tenant with none")


# Task 3 ------------------------------------------------------------------------------------

SAMPLE = [(f"tenant-{i % 20}", ("ok", "ok", "fail", "cancelled")[i % 4]) for i in range(400)]


def plan(conn: sqlite3.Connection, sql: str, params: Sequence[Any] = ()) -> list[str]:
    return [str(row[3]) for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", params)]


def indexes(conn: sqlite3.Connection) -> list[tuple[str, list[str], bool]]:
    """``(name, columns, unique)`` of each index on ``runs``, oldest first."""
    found = []
    for _, name, unique, *_ in conn.execute("PRAGMA index_list(runs)").fetchall()[::-1]:
        columns = [str(c[2]) for c in conn.execute(f"PRAGMA index_info({_quoted(name)})")]
        found.append((str(name), columns, bool(unique)))
    return found


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def why_not_covering(conn: sqlite3.Connection) -> str:
    """What is wrong with the indexes on ``runs``, in words, from their columns."""
    found = indexes(conn)
    if not found:
        return "add_index() made no index on runs, so SQLite reads every row of the table"
    shown = ", ".join(f"{name} on ({', '.join(cols) or 'an expression'})"
                      + (" UNIQUE" if unique else "") for name, cols, unique in found)
    if not any(cols[:1] == ["tenant"] for _, cols, _ in found):
        return (f"the indexes are {shown}: none starts with tenant, so SQLite cannot jump to "
                "one tenant's entries and reads the whole index or table (SCAN). Put tenant "
                "first, then status")
    if not any(cols[:2] == ["tenant", "status"] for _, cols, _ in found):
        return (f"the indexes are {shown}: with tenant first SQLite finds the tenant's entries, "
                "but without status right after it, it must read each run's status from the "
                "table, or sort the entries by status (a TEMP B-TREE). Index (tenant, status)")
    return (f"the indexes are {shown}; one starts (tenant, status), but SQLite does not use it "
            "for this query (a COLLATE or a WHERE on the index?). Make it a plain index on "
            "runs (tenant, status)")


def indexed(impl: ModuleType, conn: sqlite3.Connection) -> None:
    """``impl.add_index(conn)`` on a table where many runs share a tenant and a status."""
    try:
        impl.add_index(conn)
    except sqlite3.IntegrityError as error:
        fail("add_index(conn) on runs where many share a tenant and a status",
             f"IntegrityError: {error}", "the index made", UNIQUE_WHY)


UNIQUE_WHY = ("a UNIQUE index on (tenant, status) allows one run per tenant and status; the index "
              "is for reading faster, not a rule about what can be recorded: drop UNIQUE")


def covering(steps: list[str]) -> bool:
    """Whether a plan searches a covering index on runs, with no table scan and no sort."""
    return (any(s.startswith("SEARCH runs USING COVERING INDEX") for s in steps)
            and not any(s.startswith("SCAN") or "TEMP B-TREE" in s for s in steps))


def expect_covering(called: str, steps: list[str], conn: sqlite3.Connection) -> None:
    if covering(steps):
        return
    if covering(plan(conn, DASHBOARD, ("tenant-3",))):
        why = ("the index is right (the plain dashboard query searches it), but this query "
               "does not use it alone: filter with WHERE tenant = ?, group by status, and read "
               "no other column (COUNT(*), not SELECT * or COUNT(recorded_at))")
    else:
        why = why_not_covering(conn)
    fail(called, show(steps), "['SEARCH runs USING COVERING INDEX … (tenant=?)'], no SCAN "
         "and no TEMP B-TREE", why)


@STEP.check(task=3, backs=(COVERING,))
def the_index_covers_the_dashboard_query(impl: ModuleType) -> None:
    """after add_index(), the dashboard query searches a covering index: no SCAN, no sort"""
    conn = fresh()
    fill(conn, SAMPLE)
    indexed(impl, conn)
    expect_covering(f"add_index(conn), then EXPLAIN QUERY PLAN {DASHBOARD}",
                    plan(conn, DASHBOARD, ("tenant-3",)), conn)


@STEP.check(task=3, backs=(COVERING,))
def your_summary_uses_the_index(impl: ModuleType) -> None:
    """after add_index(), the query your summary() runs searches the covering index"""
    conn = fresh()
    fill(conn, SAMPLE)
    indexed(impl, conn)
    with traced(conn) as statements:
        impl.summary(conn, "tenant-3")
    queries = [q for q in selects(statements) if re.search(r"\bruns\b", q, flags=re.I)]
    if not queries:
        fail("summary(conn, 'tenant-3'), watching the SQL it ran", show(statements),
             "a SELECT on runs", "summary() answers from the runs table (task 2)")
    for query in queries:
        expect_covering("add_index(conn), summary(conn, 'tenant-3'), then EXPLAIN QUERY PLAN "
                        f"of the query it ran: {query}", plan(conn, query), conn)


@STEP.check(task=3, backs=(TWICE,))
def calling_it_twice_changes_nothing(impl: ModuleType) -> None:
    """add_index() a second time raises nothing and adds no second index"""
    conn = fresh()
    fill(conn, SAMPLE)
    indexed(impl, conn)
    once = indexes(conn)
    version = conn.execute("PRAGMA schema_version").fetchone()[0]  # moves on any DDL
    try:
        impl.add_index(conn)
    except sqlite3.Error as error:
        fail("add_index(conn) twice", f"the second call raised {type(error).__name__}: {error}",
             "nothing: the index is there already", "a deploy script runs it on every start; "
             "CREATE INDEX IF NOT EXISTS does nothing when the index exists")
    expect_equal("the indexes on runs (name, columns, unique) after a second add_index(conn)",
                 indexes(conn), once, "one index is enough; a second copy slows every write "
                 "and speeds up nothing")
    expect_equal("PRAGMA schema_version (SQLite counts every change to the schema) after a "
                 "second add_index(conn)", conn.execute("PRAGMA schema_version").fetchone()[0],
                 version, "a second call changes nothing: dropping and re-creating the index "
                 "rebuilds it from every row each time, which on a big table takes long and "
                 "locks writers out")


@STEP.check(task=3, backs=(ONLY_FASTER,))
def every_run_can_still_be_recorded(impl: ModuleType) -> None:
    """after add_index(), runs repeating a tenant and status can still be inserted"""
    conn = fresh()
    fill(conn, [("acme", "ok"), ("acme", "ok")])
    try:
        impl.add_index(conn)
        fill(conn, [("acme", "ok"), ("acme", "fail"), ("acme", "ok")])
    except sqlite3.IntegrityError as error:
        fail("add_index(conn) on runs with acme/ok twice, then insert acme/ok again",
             f"IntegrityError: {error}", "every run stored", UNIQUE_WHY)
    expect_equal("the rows after add_index(conn) and three more inserts", stored(conn),
                 [("acme", "ok")] * 3 + [("acme", "fail"), ("acme", "ok")])
