"""Writes aimed at two Galera nodes at once (scripts/cluster.py): each record exists once, nothing half-written.

Galera locks are local: a SELECT … FOR UPDATE on node 2 does not hold back a writer on node 1.
Each test runs one service call on node 2 up to its audit append (after every read it decides
on), runs a competing call on node 1 to its commit, then lets node 2 go on. A transaction that
conflicts is answered with 1213, rolled back and run again, as the API does; what is stored at
the end must be what one node alone would have stored. docs/galera.md reviews every locking write.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from scripts import bench_load
from tests.support.cluster import app_on

# One worker with tests/test_cluster.py (tests/support/scheduling.py: SHARED).
pytestmark = [pytest.mark.cluster]

_PAUSE_S = 60


@pytest.fixture(scope="module")
def database(cluster):
    """A database of this module's own on the cluster tests/test_cluster.py ran on: its rows stay apart."""
    return cluster.add_database("sp_galera_writes")


@pytest.fixture(scope="module")
def world(cluster, database):
    """An admin, two inspectors, a village and a project, made through the services (bench_load's world)."""
    return bench_load.build_world(cluster.env(database=database), 2)


@pytest.fixture(scope="module")
def app(cluster, database, world):
    """An app object with the cluster's configuration (services need its audit key), on the module's database."""
    with app_on(cluster, database) as app:
        yield app


@pytest.fixture
def nodes(cluster, database, app):
    """A session on Galera node 1 and one on node 2 (the module's database), inside the app's context."""
    from server.db import make_engine

    sessions = [Session(make_engine(cluster.galera[n].url(database)), expire_on_commit=False) for n in (0, 1)]
    with app.app_context():
        yield sessions
    for s in sessions:
        s.close()
        s.bind.dispose()


@dataclass
class Outcome:
    """What the node-2 call ended with: its result or refusal, and how many 1213s it was run again after."""

    result: Any = None
    refusal: Any = None
    conflicts: int = 0
    errors: list[BaseException] = field(default_factory=list)


def interleaved(
    app,
    s1: Session,
    s2: Session,
    first: Callable[[Session], Any],
    second: Callable[[Session], Any],
    pause_at: tuple[Any, str] | None = None,
):
    """Run `second` on node 2 up to its first call of `pause_at` (default: the audit append), all of
    `first` on node 1, then the rest of `second`.

    `second` is run again after a transaction conflict (1213), as server/api's endpoint does;
    returns (first's result, second's Outcome).
    """
    from server.errors import ApiError
    from server.services import audit
    from server.transactions import is_transaction_conflict

    owner, name = pause_at or (audit, "append")
    reached, go = threading.Event(), threading.Event()
    outcome = Outcome()
    real = getattr(owner, name)
    worker: list[threading.Thread] = []

    def pausing(*args, **kwargs):
        if threading.current_thread() is worker[0] and not reached.is_set():
            reached.set()
            assert go.wait(_PAUSE_S), "node 1's call did not finish"
        return real(*args, **kwargs)

    def run_second() -> None:
        with app.app_context():
            for _ in range(3):
                try:
                    outcome.result = second(s2)
                    return
                except OperationalError as exc:
                    s2.rollback()
                    if not is_transaction_conflict(exc):
                        outcome.errors.append(exc)
                        return
                    outcome.conflicts += 1
                except ApiError as exc:
                    s2.rollback()
                    outcome.refusal = exc
                    return
                except BaseException as exc:  # noqa: BLE001 - reported to the test thread
                    s2.rollback()
                    outcome.errors.append(exc)
                    return
                finally:
                    reached.set()

    setattr(owner, name, pausing)
    try:
        worker.append(threading.Thread(target=run_second))
        worker[0].start()
        assert reached.wait(_PAUSE_S), "node 2's call never reached its audit append"
        try:
            result = first(s1)
            _applied_on(s2)
        finally:
            go.set()
        worker[0].join(_PAUSE_S * 2)
    finally:
        setattr(owner, name, real)
    assert not worker[0].is_alive()
    assert not outcome.errors, outcome.errors
    return result, outcome


def _applied_on(s: Session) -> None:
    """Wait until the session's node has applied what the cluster committed (a causal read, wsrep_sync_wait=1).

    Node 2 then goes on with node 1's commit already in its tables: the case where only a
    replicated write, not a local lock, can stop it.
    """
    from server.models import AuditHead

    with s.bind.connect() as conn:
        conn.execute(select(func.count()).select_from(AuditHead.__table__)).scalar()


def _admin(s: Session):
    from server.models import User

    return s.scalar(select(User).where(User.username == "bench-admin"))


def _project(s: Session):
    from server.models import Project

    return s.scalar(select(Project).order_by(Project.id))


def _count(s: Session, model, *where) -> int:
    s.commit()  # a fresh transaction: READ COMMITTED sees what both nodes committed
    return s.scalar(select(func.count()).select_from(model).where(*where))


def test_one_visit_started_on_two_nodes_at_once_is_stored_once(world, app, nodes):
    """The same client_id on node 1 and node 2: one visit, one client write; node 2 answers it as a retry."""
    from server.models import ClientWrite, User, Visit
    from server.services import visits

    s1, s2 = nodes
    username, _, assignment_id = world.inspectors[0]
    now = datetime.now(UTC).isoformat()
    body = {"client_id": str(uuid.uuid4()), "sent_at": now, "assignment_id": assignment_id, "started_at": now}

    def start(s: Session):
        inspector = s.scalar(select(User).where(User.username == username))
        return visits.start_visit(s, inspector, dict(body))

    (first, created), outcome = interleaved(app, s1, s2, start, start)
    second, again = outcome.result
    assert created and not again and outcome.conflicts >= 1
    assert second.id == first.id
    assert _count(s1, Visit, Visit.client_id == body["client_id"]) == 1
    assert _count(s1, ClientWrite, ClientWrite.client_id == body["client_id"]) == 1


def test_quarterly_generation_on_two_nodes_at_once_creates_each_task_once(app, nodes, monkeypatch):
    """Two admins generate the same year on two nodes: every (quarter, kind) task exists once.

    Node 2's generation is refused at commit (1213) and reads the year again: generate_year does
    that itself (a run claims the year each time it reads it), so the refusal shows as a second claim.
    """
    from server.models import QUARTERLY_KINDS, QuarterlyTask
    from server.services import quarterly

    s1, s2 = nodes
    year = datetime.now(UTC).year + 1
    claims_on_node2: list[str] = []
    real_claim = quarterly.claim

    def counted_claim(session: Session, kind: str, object_id) -> None:
        if session is s2:
            claims_on_node2.append(kind)
        real_claim(session, kind, object_id)

    monkeypatch.setattr(quarterly, "claim", counted_claim)

    def generate(s: Session):
        return quarterly.generate_year(s, _admin(s), year)[1]

    created_first, outcome = interleaved(app, s1, s2, generate, generate)
    assert created_first == 4 * len(QUARTERLY_KINDS)
    # Refused at commit once, it read the year again inside generate_year: two claims, no error out.
    assert outcome.result == 0 and not outcome.errors and outcome.conflicts == 0
    assert claims_on_node2.count("quarterly_year") == 2
    assert _count(s1, QuarterlyTask, QuarterlyTask.year == year) == 4 * len(QUARTERLY_KINDS)


def test_document_numbers_given_on_two_nodes_at_once_run_without_gaps_or_repeats(app, nodes):
    """Two 文号 of one kind given on two nodes at once get 1 and 2; the same document twice is numbered once."""
    from server.models import OfficialDocument
    from server.services.documents import numbers

    s1, s2 = nodes
    kind = "rectification"
    tag = uuid.uuid4().hex[:8]

    def number(subject: str):
        return lambda s: (lambda d: (d.id, d.number))(numbers.number(s, _admin(s), kind, subject))

    (_, first), outcome = interleaved(app, s1, s2, number(f"a-{tag}"), number(f"b-{tag}"))
    _, second = outcome.result
    assert {first, second} == {first, first + 1}
    (doc_id, _), outcome = interleaved(app, s1, s2, number(f"c-{tag}"), number(f"c-{tag}"))
    assert outcome.result[0] == doc_id
    assert _count(s1, OfficialDocument, OfficialDocument.subject == f"c-{tag}") == 1


def test_a_round_drawn_on_two_nodes_at_once_is_drawn_once(world, app, nodes):
    """The draw of one round on node 1 and node 2 at once: one set of assignments; node 2 is told it is drawn."""
    from server.models import Assignment, InspectionRound, User
    from server.services import rounds

    s1, s2 = nodes
    admin = _admin(s1)
    inspectors = list(s1.scalars(select(User.id).where(User.username.in_([w[0] for w in world.inspectors]))))
    r = rounds.create_round(
        s1,
        admin,
        {
            "name": f"双节点抽取 {uuid.uuid4().hex[:6]}",
            "check_items": ["公示栏是否张贴", "台账是否齐全"],
            "inspector_ids": inspectors,
            "groups": 1,
            "sites_per_group": 1,
            "team_size": 2,
            "items_per_visit": 1,
        },
    )
    tomorrow = (datetime.now(UTC) + timedelta(days=2)).date()
    rounds.freeze(s1, admin, r.id, {"description": "测试用公开随机数", "date": tomorrow.isoformat()})

    def draw(value: str):
        return lambda s: rounds.run_draw(s, _admin(s), r.id, value, today=tomorrow).id

    _, outcome = interleaved(app, s1, s2, draw("12345"), draw("67890"))
    assert outcome.refusal is not None and outcome.refusal.code == "conflict"
    s1.commit()
    drawn = s1.get(InspectionRound, r.id, populate_existing=True)
    assert drawn.status == "drawn" and drawn.public_value == "12345"
    assert _count(s1, Assignment, Assignment.round_id == r.id) == 1


def test_a_score_saved_while_another_node_closes_the_observation_is_in_its_ranking(world, app, nodes):
    """A score committed on node 1 while node 2 closes the event: the close runs again and counts it."""
    from server.models import ObservationScore, ObservationStop
    from server.services import observations

    s1, s2 = nodes
    admin, project = _admin(s1), _project(s1)
    if project.status not in observations.OBSERVABLE_STATUSES:
        project.status = "in_progress"
        s1.commit()
    today = datetime.now(UTC).date()
    event = observations.create_event(
        s1,
        admin,
        {
            "kind": "quarterly",
            "title": f"双节点观摩 {uuid.uuid4().hex[:6]}",
            "held_on": today - timedelta(days=1),
            "stops": [{"project_id": project.id}],
            "outside": [{"name": "县人大代表", "scoring": True}],
        },
    )
    observations.start_event(s1, admin, event.id)
    stop = s1.scalar(select(ObservationStop).where(ObservationStop.event_id == event.id))
    sheet = next(p for p in observations.participants_of(s1, event.id) if p.user_id is None)

    def score(s: Session):
        return observations.save_scores(s, _admin(s), event.id, sheet.id, [{"stop_id": stop.id, "score": 92}])

    def close(s: Session):
        return observations.close_event(s, _admin(s), event.id).status

    _, outcome = interleaved(app, s1, s2, score, close)
    assert outcome.result == "closed"
    assert _count(s1, ObservationScore, ObservationScore.stop_id == stop.id) == 1
    s1.commit()
    ranked = observations.observations_from(s1, event.id)
    assert [o.project_id for o in ranked] == [project.id]


def test_monthly_report_reminders_run_on_two_nodes_at_once_send_each_reminder_once(world, app, nodes, monkeypatch):
    """The daily 月报 job started on node 1 and node 2 together: the overdue reminder goes out once."""
    from server.models import ReportReminder, Village
    from server.services import leases, projects, reports, users

    s1, s2 = nodes
    admin = _admin(s1)
    tag = uuid.uuid4().hex[:6]
    secretary, _ = users.create_user(s1, admin, {"username": f"sec-{tag}", "name": "项目书记", "roles": ["secretary"]})
    project = projects.create_project(
        s1,
        admin,
        {
            "title": f"提醒测试项目 {tag}",
            "year": datetime.now(UTC).year,
            "village_ids": [s1.scalar(select(Village.id))],
        },
    )
    project.status, project.secretary_id = "in_progress", secretary.id
    project.started_at = datetime.now(UTC) - timedelta(days=75)
    s1.commit()
    sent: list[int] = []

    def send(session, user, project_, month, kind):
        sent.append(project_.id)
        return "sent"

    monkeypatch.setattr(reports, "_send", send)

    def run(s: Session):
        return reports.send_reminders(s)

    first, outcome = interleaved(app, s1, s2, run, run, pause_at=(reports, "_send"))
    assert sent.count(project.id) == 1
    assert leases.BUSY in first and outcome.result.get("sent", 0) >= 1
    assert _count(s1, ReportReminder, ReportReminder.project_id == project.id, ReportReminder.outcome == "sent") == 1


def test_a_job_lease_taken_on_two_nodes_at_the_same_moment_goes_to_one(app, nodes, monkeypatch):
    """Two nodes take one lease together (both write it before either commits): one commit is refused."""
    from server.services import leases

    s1, s2 = nodes
    job = f"test-{uuid.uuid4().hex[:6]}"
    taken: dict[str, bool] = {}
    both_wrote = threading.Barrier(2)

    def take(label: str, s: Session) -> None:
        real_commit = s.commit

        def commit_together() -> None:
            both_wrote.wait(30)
            if label == "node2":
                _applied_on(s)  # node 1's commit first
            real_commit()

        s.commit = commit_together
        with app.app_context():
            taken[label] = leases.take(s, job, 60)
        del s.commit

    threads = [threading.Thread(target=take, args=pair) for pair in (("node1", s1), ("node2", s2))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(taken.values()) == [False, True]
    assert leases.take(s1, job, 60) is False
    holder = s1 if taken["node1"] else s2
    leases.release(holder, job)
    # Released on node 1, node 2 may not have applied that yet: its take's claim (an INSERT, which
    # wsrep_sync_wait=1 does not hold back) then meets the release being applied and is refused
    # with 1213, or reads the lease still held. Either way that run answers BUSY, which is right for
    # a job another run has just finished; what is tested here is that once node 2 has caught up
    # the lease is free to take.
    _applied_on(s2)
    assert leases.take(s2, job, 60) is True


def test_a_suggestion_confirmed_on_two_nodes_at_once_lists_the_organization_once(app, nodes):
    """Two admins confirm one 软弱涣散 suggestion on two nodes: one decision, one open warning; the other is told."""
    from server.models import LeadItemDecision, WeakOrgWarning
    from server.services import lead_items, projects

    s1, s2 = nodes
    admin = _admin(s1)
    org = projects.create_organization(s1, admin, {"name": f"双节点党支部 {uuid.uuid4().hex[:6]}"})
    started = (datetime.now(UTC) - timedelta(days=3 * 365)).date()
    item = lead_items.create_item(
        s1,
        admin,
        {
            "title": "村集体经济破零",
            "started_on": started.isoformat(),
            "organization_id": org.id,
            "level": "village",
            "leader_name": "张书记",
        },
    )

    def confirm(s: Session):
        return lead_items.confirm_suggestion(s, _admin(s), item.id).id

    _, outcome = interleaved(app, s1, s2, confirm, confirm)
    assert outcome.refusal is not None and outcome.refusal.code == "conflict"
    assert _count(s1, LeadItemDecision, LeadItemDecision.item_id == item.id) == 1
    assert _count(s1, WeakOrgWarning, WeakOrgWarning.organization_id == org.id) == 1


def test_one_organization_listed_on_two_nodes_at_once_has_one_open_warning(app, nodes):
    """Two admins list one organization as 软弱涣散 on two nodes at once: one open warning, the other is told."""
    from server.models import WeakOrgWarning
    from server.services import projects
    from server.services.grading import penalties

    s1, s2 = nodes
    org = projects.create_organization(s1, _admin(s1), {"name": f"双节点预警 {uuid.uuid4().hex[:6]}"})

    def warn(s: Session):
        return penalties.create_warning(s, _admin(s), {"organization_id": org.id, "reason": "连续两年排名末位"}).id

    _, outcome = interleaved(app, s1, s2, warn, warn)
    assert outcome.refusal is not None and outcome.refusal.code == "conflict"
    assert _count(s1, WeakOrgWarning, WeakOrgWarning.organization_id == org.id) == 1
