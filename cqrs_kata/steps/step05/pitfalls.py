"""Step 05's counter-examples: code that looks right and loses or doubles runs when a process
dies at the wrong moment. Notebook 05 runs them next to the reference to show it happen.
Nothing here is for use; each says what it gets wrong.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cqrs_kata.db import EVENT_TYPE, EVENT_VERSION, Database
from cqrs_kata.steps.step05.lab import Crash

if TYPE_CHECKING:
    from cqrs_kata.steps.step05.broker import Broker


def dual_write_record(db: Database, broker: Broker, tenant: str, status: str, *,
                      die_before_publish: bool = False) -> int:
    """WRONG: commit the run to the database, then publish its event to the broker.

    Two systems, no transaction around both: a process that dies between the two (here
    ``die_before_publish=True`` raises :class:`Crash` there) leaves a run that no event
    announces. Nothing fed by the broker will ever count it. Returns the message's offset at
    the broker.
    """
    with db.transaction():
        run_id = db.execute("INSERT INTO runs (tenant, status) VALUES (?, ?) RETURNING id",
                            (tenant, status)).fetchone()[0]
    if die_before_publish:
        raise Crash(f"the service died after committing run {run_id}, before publishing it")
    return broker.publish({"event_id": str(uuid.uuid4()), "type": EVENT_TYPE,
                           "version": EVENT_VERSION, "run_id": run_id, "tenant": tenant,
                           "status": status})


def unserialised_record(db: Database, tenant: str, status: str) -> int:
    """WRONG on PostgreSQL: like ``record`` but without ``db.lock_appends()``.

    Two writers take positions 5 and 6 from the sequence; 6 commits first; a projector takes
    6 and moves its checkpoint past 5, which commits a moment later and is never read.
    """
    with db.transaction():
        run_id = db.execute("INSERT INTO runs (tenant, status) VALUES (?, ?) RETURNING id",
                            (tenant, status)).fetchone()[0]
        position = db.execute("INSERT INTO outbox (event_id, type, version, run_id, tenant, "
                              "status, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING "
                              "position", (str(uuid.uuid4()), EVENT_TYPE, EVENT_VERSION, run_id,
                                           tenant, status, time.time())).fetchone()[0]
    return int(position)


@dataclass
class NaiveProjector:
    """WRONG: commits the counts, then the checkpoint, in two transactions.

    Killed between the two, it has counted a batch without noting it; the next projector
    takes the same batch again and counts it twice.
    """

    db: Database
    view: str = "dashboard"

    def project_batch(self, limit: int = 1000) -> int:
        db = self.db
        row = db.execute("SELECT position FROM checkpoints WHERE view = ?",
                         (self.view,)).fetchone()
        after = int(row[0]) if row else 0
        events = db.execute("SELECT position, tenant, status FROM outbox WHERE position > ? "
                            "ORDER BY position LIMIT ?", (after, limit)).fetchall()
        if not events:
            return 0
        with db.transaction():
            for _, tenant, status in events:
                db.execute("INSERT INTO counts (view, tenant, status, n) VALUES (?, ?, ?, 1) "
                           "ON CONFLICT (view, tenant, status) DO UPDATE SET n = counts.n + 1",
                           (self.view, tenant, status))
        with db.transaction():
            db.execute("INSERT INTO checkpoints (view, position) VALUES (?, ?) ON CONFLICT "
                       "(view) DO UPDATE SET position = excluded.position",
                       (self.view, int(events[-1][0])))
        return len(events)
