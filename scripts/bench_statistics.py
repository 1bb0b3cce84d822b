"""How 统计报表's figures scale: services.statistics.build against the per-project way, at two sizes.

Builds a throw-away SQLite county (migrated like production) with N projects of one year spread over
20 townships, each with its 月报, feedback and rectification orders inserted in bulk, then times
`statistics.build` (GROUP BY queries) and a baseline that loads every project and asks
services/reports.report_state and per-project counts one by one, as a page written without
aggregates would. Prints milliseconds, the statement count of each, and baseline/build ratios.

    .venv/bin/python scripts/bench_statistics.py                 # 300 and 3000 projects
    .venv/bin/python scripts/bench_statistics.py --sizes 500 5000
"""

from __future__ import annotations

import argparse
import secrets
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import event, func, insert, select  # noqa: E402

from server.app import create_app  # noqa: E402
from server.db import db, upgrade  # noqa: E402
from server.models import (  # noqa: E402
    Feedback,
    Project,
    ProjectReport,
    RectificationOrder,
    Township,
    User,
    UserRole,
    Village,
    project_villages,
)
from server.services import reports, statistics  # noqa: E402

YEAR = 2025
TODAY = date(2025, 12, 20)


def fill(n: int) -> None:
    """N projects of YEAR over 20 townships, each with ten months of 月报, two feedback and one order."""
    s = db.session
    s.execute(insert(User), [{"username": "admin", "name": "管理员"}])
    s.execute(insert(UserRole), [{"user_id": 1, "role": "admin"}])
    s.execute(insert(Township), [{"code": f"3608211{i:02d}000", "name": f"乡镇{i}"} for i in range(20)])
    s.execute(
        insert(Village),
        [
            {"township_id": i + 1, "code": f"3608211{i:02d}201", "name": f"村{i}", "lat": 27.0, "lng": 114.9}
            for i in range(20)
        ],
    )
    started = datetime(2025, 2, 10, tzinfo=UTC)
    s.execute(
        insert(Project),
        [
            {
                "title": f"项目{i}",
                "year": YEAR,
                "status": "in_progress",
                "started_at": started,
                "steps": [],
                "targets": [],
                "responsible": {},
            }
            for i in range(n)
        ],
    )
    s.execute(insert(project_villages), [{"project_id": i + 1, "village_id": i % 20 + 1} for i in range(n)])
    s.execute(
        insert(ProjectReport),
        [
            {
                "project_id": p + 1,
                "month": f"2025-{m:02d}",
                "status": "submitted",
                "author_id": 1,
                "text": "",
                "submitted_at": datetime(2025, m + 1, 3 + (p + m) % 5, tzinfo=UTC),
            }
            for p in range(n)
            for m in range(2, 12)
            if (p + m) % 7
        ],
    )
    now = datetime(2025, 6, 1, tzinfo=UTC)
    s.execute(
        insert(Feedback),
        [
            {
                "project_id": p + 1,
                "user_id": 1,
                "client_id": secrets.token_hex(16),
                "receipt_no": secrets.token_hex(8),
                "rating": ("满意", "基本满意", "不满意")[(p + k) % 3],
                "category": "建议",
                "text": "",
                "status": "received",
                "due_at": now,
                "sent_at": now,
                "created_at": now,
            }
            for p in range(n)
            for k in range(2)
        ],
    )
    s.execute(
        insert(RectificationOrder),
        [
            {
                "project_id": p + 1,
                "items": ["台账"],
                "deadline": date(2025, 11, 1) + timedelta(days=p % 90),
                "status": "issued",
                "issued_by_id": 1,
                "issued_at": now,
            }
            for p in range(n)
        ],
    )
    s.commit()


def baseline(admin: User) -> int:
    """The per-project way: every project loaded, its report state and counts asked one by one."""
    s = db.session
    due = on_time = ratings = orders = 0
    for p in s.scalars(select(Project).where(Project.year == YEAR)):
        _ = p.villages[0].township_id if p.villages else None
        state = reports.report_state(s, p, TODAY)
        owed = [m for m in reports.owed_months(p, TODAY) if reports.due_date(m) < TODAY]
        due += len(owed)
        on_time += len(owed) - len(state.overdue_months)
        ratings += s.scalar(select(func.count(Feedback.id)).where(Feedback.project_id == p.id))
        orders += s.scalar(select(func.count(RectificationOrder.id)).where(RectificationOrder.project_id == p.id))
    return due + on_time + ratings + orders


def timed(fn) -> tuple[float, int]:
    """Milliseconds (best of three) and statements of one call."""
    statements = []
    listener = lambda *args: statements.append(1)  # noqa: E731
    best = float("inf")
    for _ in range(3):
        statements.clear()
        db.session.expire_all()
        event.listen(db.engine, "before_cursor_execute", listener)
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
        event.remove(db.engine, "before_cursor_execute", listener)
    return best * 1000, len(statements)


def main(argv: list[str] | None = None) -> int:
    """Run both ways at each size and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[300, 3000])
    args = parser.parse_args(argv)
    print(f"{'projects':>9} {'build ms':>9} {'stmts':>6} {'per-project ms':>15} {'stmts':>6} {'ratio':>6}")
    for n in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite:///{tmp}/bench.db"
            upgrade(url)
            app = create_app({"DATABASE_URL": url, "TESTING": True})
            with app.app_context():
                fill(n)
                admin = db.session.get(User, 1)
                f = statistics.Filters(YEAR)
                fast, fast_n = timed(lambda: statistics.build(db.session, admin, f, TODAY))  # noqa: B023
                slow, slow_n = timed(lambda: baseline(admin))  # noqa: B023
                print(f"{n:>9} {fast:>9.1f} {fast_n:>6} {slow:>15.1f} {slow_n:>6} {slow / fast:>6.1f}")
                db.engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
