"""Step 07's plain model and lab, written from the docstrings, never from the reference: what a
view version at a checkpoint holds, which alerts the log crosses, and the checks' own correct
writer and reader (for set-ups and for the other connection in a race).
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from cqrs_kata.db import Database
from cqrs_kata.steps.oracle import Counts, usable_name
from cqrs_kata.steps.step05.lab import checkpoint_of as checkpoint_of
from cqrs_kata.steps.step05.lab import dead_positions

STARTED = "started"
FINAL = ("ok", "fail", "cancelled")
RUN_STARTED, RUN_FINISHED = "run.started", "run.finished"
VERSION = 2
LEGACY_TENANT = "legacy"
ALERT_AT = 3
NAME = "board"
"""The view the checks project (not the default name, so a hard-coded one shows)."""
TENANTS = ("acme", "globex")

Row = tuple[int, Any, Any, Any, Any, Any]
"""``(position, type, version, run_id, tenant, status)``: one row of the log as written."""


class Unreadable(Exception):
    """The log holds a version newer than the code: the view must stop before it."""


def upcast(row: Row) -> tuple[str, str, str] | str:
    """``(type, tenant, status)`` of a row the view takes, or the reason it is poison (a str
    starting ``poison``); raises :class:`Unreadable` for a newer version."""
    position, kind, version, run_id, tenant, status = row
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        return "poison: no such version"
    if version > VERSION:
        raise Unreadable(f"position {position} is version {version}")
    if version == 1:
        if tenant is not None:
            return "poison: a version 1 event with a tenant"
        tenant = LEGACY_TENANT
    if not ((kind == RUN_STARTED and status == STARTED)
            or (kind == RUN_FINISHED and status in FINAL)):
        return "poison: type and status do not fit"
    if isinstance(run_id, bool) or not isinstance(run_id, int) or run_id < 1:
        return "poison: no run"
    if not usable_name(tenant):
        return "poison: no tenant"
    return kind, tenant, status


def alert_key(tenant: str, fails: int) -> str:
    """The key the docstring's given ``alert_key`` makes (the checks use the module's own)."""
    return f"failures/{tenant}/{fails}"


@dataclass
class Folded:
    """A view at a checkpoint: its counts, its dead letters, and the crossings it took."""

    counts: Counts = field(default_factory=dict)
    dead: list[int] = field(default_factory=list)
    crossings: dict[tuple[str, int], int] = field(default_factory=dict)
    """``(tenant, fails)`` of each crossing, with the position of the event that crossed."""

    def shown(self) -> Counts:
        """The counts as a reader sees them: zeros left out."""
        return {t: {s: n for s, n in sorted(per.items()) if n}
                for t, per in sorted(self.counts.items()) if any(per.values())}


def fold(rows: Sequence[Row], upto: int | None = None) -> Folded:
    """What a view that has taken ``rows`` up to position ``upto`` (all, when None) holds."""
    view = Folded()
    fails: dict[str, int] = {}
    for row in rows:
        if upto is not None and row[0] > upto:
            break
        taken = upcast(row)
        if isinstance(taken, str):
            view.dead.append(row[0])
            continue
        kind, tenant, status = taken
        per = view.counts.setdefault(tenant, {})
        if kind == RUN_FINISHED:
            per[STARTED] = per.get(STARTED, 0) - 1
        per[status] = per.get(status, 0) + 1
        if status == "fail":
            fails[tenant] = fails.get(tenant, 0) + 1
            if fails[tenant] % ALERT_AT == 0:
                view.crossings[(tenant, fails[tenant])] = row[0]
    return view


def tenant_counts(view: Folded, tenant: str) -> dict[str, int]:
    return view.shown().get(tenant, {})


# The checks' own correct writer ----------------------------------------------------------


def write_row(db: Database, kind: object, version: object, run_id: object, tenant: object,
              status: object, at: float = 0.0) -> int:
    """One log row as any writer (an old release, a buggy one) may have put it; its position."""
    with db.transaction():
        return insert_row(db, kind, version, run_id, tenant, status, at)


def insert_row(db: Database, kind: object, version: object, run_id: object, tenant: object,
               status: object, at: float = 0.0) -> int:
    return int(db.execute("INSERT INTO outbox (event_id, type, version, run_id, tenant, status, "
                          "recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING position",
                          (str(uuid.uuid4()), kind, version, run_id, tenant, status, at))
               .fetchone()[0])


def start(db: Database, tenant: str, at: float = 0.0, version: int = VERSION) -> int:
    """A correct start (a version 1 one writes no tenant in the event); the run's id."""
    with db.transaction():
        run_id = int(db.execute("INSERT INTO runs (tenant, status) VALUES (?, ?) RETURNING id",
                                (tenant, STARTED)).fetchone()[0])
        insert_row(db, RUN_STARTED, version, run_id, None if version == 1 else tenant,
                   STARTED, at)
        return run_id


def finish(db: Database, run_id: int, status: str, at: float = 0.0,
           version: int = VERSION) -> int | None:
    """A correct finish: the position of its event, or None when the run is not started."""
    with db.transaction():
        row = db.execute("UPDATE runs SET status = ? WHERE id = ? AND status = ? RETURNING "
                         "tenant", (status, run_id, STARTED)).fetchone()
        if row is None:
            return None
        return insert_row(db, RUN_FINISHED, version, run_id,
                          None if version == 1 else row[0], status, at)


POISON: tuple[tuple[object, object, object, object, object], ...] = (
    (RUN_STARTED, 2, 7, None, STARTED),        # version 2 without a tenant
    (RUN_STARTED, 1, 7, "acme", STARTED),      # version 1 with a tenant
    (RUN_FINISHED, 2, 7, "acme", "done"),      # no such final status
    (RUN_FINISHED, 2, 7, "acme", STARTED),     # a finish to started
    ("run.paused", 2, 7, "acme", "paused"),    # no such type
    (RUN_STARTED, 0, 7, None, STARTED),        # no such version
    (RUN_STARTED, 2, None, "acme", STARTED),   # no run
    (RUN_STARTED, 2, 7, "", STARTED),          # a blank tenant
)


def history(db: Database, seed: int, size: int = 24, legacy: int = 4,
            poison: int = 2) -> list[Row]:
    """A log written by the checks: ``legacy`` version 1 runs first (the first release), then
    ``size`` moves of version 2 (starts and finishes, fails often enough to cross), with
    ``poison`` bad rows among them; returns the log's rows."""
    rng = random.Random(seed)
    open_runs: list[int] = []
    legacy_runs = [start(db, LEGACY_TENANT, 1.0, version=1) for _ in range(legacy)]
    for run_id in legacy_runs[: legacy // 2 + 1]:
        finish(db, run_id, rng.choice(("ok", "fail")), 2.0, version=1)
    open_runs.extend(legacy_runs[legacy // 2 + 1:])
    poison_at = set(rng.sample(range(size), min(poison, size)))
    for i in range(size):
        if i in poison_at:
            write_row(db, *rng.choice(POISON), at=10.0 + i)
        elif open_runs and rng.random() < 0.55:
            run_id = open_runs.pop(rng.randrange(len(open_runs)))
            finish(db, run_id, rng.choice(("fail", "fail", "ok", "cancelled")), 10.0 + i)
        else:
            open_runs.append(start(db, rng.choice(TENANTS), 10.0 + i))
    return log(db)


def log(db: Database) -> list[Row]:
    """Every row of the log, in position order."""
    return [(int(r[0]), *r[1:]) for r in db.execute(
        "SELECT position, type, version, run_id, tenant, status FROM outbox ORDER BY position"
    ).fetchall()]


# The checks' own reader ------------------------------------------------------------------


def live_of(db: Database, name: str = NAME) -> str | None:
    row = db.execute("SELECT view FROM live_views WHERE name = ?", (name,)).fetchone()
    return str(row[0]) if row else None


def counts_of(db: Database, view: str) -> Counts:
    found: Counts = {}
    for tenant, status, n in db.execute("SELECT tenant, status, n FROM counts WHERE view = ? "
                                        "AND n <> 0 ORDER BY tenant, status", (view,)).fetchall():
        found.setdefault(str(tenant), {})[str(status)] = int(n)
    return found


dead_of = dead_positions
"""A view's dead letters, by position (step 05's lab reads them; one home)."""


def ledger(db: Database) -> dict[str, tuple[str, int, int, bool]]:
    """The effects ledger: key -> (tenant, fails, position, sent)."""
    return {str(k): (str(t), int(f), int(p), s is not None) for k, t, f, p, s in db.execute(
        "SELECT key, tenant, fails, position, sent_at FROM effects ORDER BY key").fetchall()}


def snapshot(db: Database, view: str) -> tuple[int, Counts]:
    """``view``'s checkpoint and counts, read together (one transaction on SQLite, which is one
    snapshot there; on PostgreSQL one statement)."""
    rows = db.execute(
        "SELECT (SELECT position FROM checkpoints WHERE view = ?), c.tenant, c.status, c.n "
        "FROM (SELECT 1 AS one) o LEFT JOIN counts c ON c.view = ? AND c.n <> 0",
        (view, view)).fetchall()
    found: Counts = {}
    for _, tenant, status, n in rows:
        if tenant is not None:
            found.setdefault(str(tenant), {})[str(status)] = int(n)
    return int(rows[0][0] or 0), dict(sorted((t, dict(sorted(p.items())))
                                             for t, p in found.items()))
