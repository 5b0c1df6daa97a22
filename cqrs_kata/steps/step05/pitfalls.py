"""Step 05's counter-examples: code that looks right and loses or doubles runs when a process
dies at the wrong moment. Notebook 05 runs them next to the reference to show it happen.
Nothing here is for use; each says what it gets wrong.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from cqrs_kata.db import Database


def dual_write_record(db: Database, tenant: str, status: str) -> int:
    """WRONG: the run commits in one transaction, its event in a second one.

    A crash between the two leaves a run that no projector will ever hear of: the view is
    short by one, forever, and a rebuild from the outbox cannot bring it back.
    """
    with db.transaction():
        run_id = db.execute("INSERT INTO runs (tenant, status) VALUES (?, ?) RETURNING id",
                            (tenant, status)).fetchone()[0]
    with db.transaction():  # the "publish" step
        position = db.execute("INSERT INTO outbox (run_id, tenant, status, recorded_at) "
                              "VALUES (?, ?, ?, ?) RETURNING position",
                              (run_id, tenant, status, time.time())).fetchone()[0]
    return int(position)


def unserialised_record(db: Database, tenant: str, status: str) -> int:
    """WRONG on PostgreSQL: like ``record`` but without ``db.lock_appends()``.

    Two writers take positions 5 and 6 from the sequence; 6 commits first; a projector takes
    6 and moves its checkpoint past 5, which commits a moment later and is never read.
    """
    with db.transaction():
        run_id = db.execute("INSERT INTO runs (tenant, status) VALUES (?, ?) RETURNING id",
                            (tenant, status)).fetchone()[0]
        position = db.execute("INSERT INTO outbox (run_id, tenant, status, recorded_at) "
                              "VALUES (?, ?, ?, ?) RETURNING position",
                              (run_id, tenant, status, time.time())).fetchone()[0]
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
