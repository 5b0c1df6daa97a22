"""Step 07 under the fault harness (``cqrs_kata.steps.faults``): the learner's projector on the
log the checks write, held to the plain model of ``model``."""

from __future__ import annotations

import random
from collections.abc import Callable
from types import ModuleType
from typing import Any, ClassVar

from cqrs_kata.db import Database, backends
from cqrs_kata.steps import faults
from cqrs_kata.steps.step05.lab import Clock
from cqrs_kata.steps.step07 import model
from cqrs_kata.steps.step07.model import NAME


class Capstone(faults.Subject):
    """The learner's ``Projector`` on a log of starts, finishes, old shapes and poison."""

    WRITES: ClassVar[int] = 6

    def __init__(self, impl: ModuleType) -> None:
        self.impl = impl
        self.clock = Clock(100.0)
        self.rng = random.Random(0)

    def projector(self, db: Database) -> Any:
        return self.impl.Projector(db, name=NAME, clock=self.clock)

    def prepare(self, db: Database) -> None:
        self.impl.prepare(db)
        # a legacy run of the first release, finished, so old shapes are always in the log
        run_id = model.start(db, model.LEGACY_TENANT, 1.0, version=1)
        model.finish(db, run_id, "fail", 2.0, version=1)

    def write(self, db: Database, choice: int) -> str:
        started = [int(r) for (r,) in db.execute("SELECT id FROM runs WHERE status = 'started' "
                                                 "ORDER BY id").fetchall()]
        tenant = ("acme", "globex")[choice % 2]
        if choice < 2 or not started:
            run_id = model.start(db, tenant, 10.0)
            return f"start run {run_id} for {tenant}"
        if choice == 5:
            row = model.POISON[len(started) % len(model.POISON)]
            model.write_row(db, *row, at=10.0)
            return f"a buggy writer appends {row}"
        run_id = started[choice % len(started)]
        status = ("fail", "fail", "ok", "cancelled")[choice - 2]
        model.finish(db, run_id, status, 10.0)
        return f"finish run {run_id} as {status}"

    def project(self, db: Database, limit: int) -> object:
        return self.projector(db).project_batch(limit)

    def rebuild(self, db: Database, version: int) -> object:
        return self.projector(db).rebuild(version, every=3)

    def hand_on(self, db: Database, send: Callable[[Any], None]) -> object:
        return self.projector(db).send_alerts(send)

    def retryable(self, error: Exception) -> bool:
        return isinstance(error, self.impl.CheckpointMoved)

    def look(self, db: Database) -> list[tuple[str, object, object]]:
        rows = model.log(db)
        live = model.live_of(db) or f"{NAME}@1"
        cp, counts = model.snapshot(db, live)
        view = model.fold(rows, cp)
        return [(f"the live version {live} at checkpoint {cp}: its counts", counts,
                 view.shown()),
                (f"the dead letters of {live}", model.dead_of(db, live), view.dead),
                ("the keys in the effects ledger", sorted(model.ledger(db)),
                 sorted(self.effects(db)))]

    def _effects(self, view: model.Folded) -> dict[str, object]:
        return {self.impl.alert_key(t, f): (t, f) for (t, f) in view.crossings}

    def effects(self, db: Database) -> dict[str, object]:
        furthest = max((int(p) for (p,) in db.execute(
            "SELECT position FROM checkpoints WHERE view LIKE ?", (f"{NAME}@%",)).fetchall()),
            default=0)
        return self._effects(model.fold(model.log(db), furthest))

    def all_effects(self, db: Database) -> dict[str, object]:
        return self._effects(model.fold(model.log(db)))

    def marked(self, db: Database) -> set[str]:
        return {key for key, (_, _, _, sent) in model.ledger(db).items() if sent}

    def key_of(self, sent: Any) -> tuple[str, object]:
        return getattr(sent, "key", repr(sent)), (getattr(sent, "tenant", None),
                                                  getattr(sent, "fails", None))


EXAMPLES = {"sqlite": 12, "postgresql": 4}
"""Sequences tried per backend: a PostgreSQL play opens a schema and four connections, and
takes about four times as long as one on SQLite files."""


def check(impl: ModuleType) -> None:
    failure = faults.find(Capstone(impl), default=EXAMPLES[backends.current()])
    if failure is not None:
        failure.fail_check()
