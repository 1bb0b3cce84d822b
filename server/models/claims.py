"""Write locks a Galera cluster replicates: one row per object that transactions take turns on.

A SELECT … FOR UPDATE locks a row on its own node only, so on Galera it does not stop a writer on
another node. A transaction that first writes the object's claim row (server/services/common.py,
`claim`) puts that row in its write set: of two such transactions on two nodes, the later one is
aborted with 1213 (at certification, or when the first one's write reaches its node) and the API
runs it again, as one node's row lock would have made it wait.

The same rows hold the leases of jobs that every node runs on a timer (the daily reminders): a
run takes its job's lease (`held_until`) first, so that one run at a time sends (server/services/
leases.py), and a job that works through rows in order keeps where it got to in a JobCursor.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from server.models.base import Base


class RowClaim(Base):
    """How often an object (e.g. 'observation_event:12') was claimed; only the writing matters."""

    __tablename__ = "row_claims"
    name: Mapped[str] = mapped_column(String(96), primary_key=True)
    claims: Mapped[int] = mapped_column(BigInteger, default=0)
    # A job's lease ('lease:remind-reports'): held by one run until then; None when released.
    held_until: Mapped[datetime | None] = mapped_column()


class JobCursor(Base):
    """How far a job that works through rows in time order has got (e.g. 'cross-county-duplicates'):
    every row up to (done_until, last_id) is done; None: nothing yet."""

    __tablename__ = "job_cursors"
    name: Mapped[str] = mapped_column(String(96), primary_key=True)
    done_until: Mapped[datetime | None] = mapped_column()
    last_id: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime | None] = mapped_column()
