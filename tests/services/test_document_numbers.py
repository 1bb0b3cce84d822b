"""发文字号 sequences: per kind and year, given once per document, without gaps or repeats under load."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import date

import pytest
from sqlalchemy import select

from server import clock
from server.config import ConfigError, load_config
from server.db import db
from server.models import DocumentSequence, OfficialDocument, User
from server.services import audit
from server.services.documents import numbers

CONCURRENT = 10


def _allocate_at_once(app, admin_id: int, subjects: list[str]) -> list[str]:
    """Number one document per subject from as many threads, released together; the 文号 each got."""
    barrier = threading.Barrier(len(subjects))

    def one(subject: str) -> str:
        with app.app_context():
            admin = db.session.get(User, admin_id)
            db.session.rollback()  # start the numbering transaction after everyone is ready
            barrier.wait()
            return numbers.number(db.session, admin, "approval", subject).reference

    with ThreadPoolExecutor(max_workers=len(subjects)) as pool:
        return list(pool.map(one, subjects))


@pytest.mark.both_databases
def test_concurrent_documents_get_1_to_10_without_gap_or_repeat(app, world):
    """Ten documents numbered at the same moment get exactly 1..10, and the audit chain holds."""
    app.config["DOC_NUMBER_PREFIX"] = "吉县组字"
    refs = _allocate_at_once(app, world.ids["admin"], [f"unit:{i}" for i in range(CONCURRENT)])
    year = clock.today().year
    given = sorted(int(r.removeprefix(f"吉县组字〔{year}〕").removesuffix("号")) for r in refs)
    assert given == list(range(1, CONCURRENT + 1))
    with app.app_context():
        assert db.session.get(DocumentSequence, (1, "approval", year)).last_number == CONCURRENT
        assert audit.verify(db.session).ok


@pytest.mark.both_databases
def test_concurrent_downloads_of_one_document_share_one_number(app, world):
    """Six downloads of the same document at once store one document and use one number."""
    refs = _allocate_at_once(app, world.ids["admin"], ["unit:1"] * 6)
    assert len(set(refs)) == 1
    with app.app_context():
        assert len(db.session.scalars(select(OfficialDocument)).all()) == 1
        assert db.session.get(DocumentSequence, (1, "approval", clock.today().year)).last_number == 1


def test_a_failed_document_gives_its_number_back(app, world, monkeypatch):
    """When storing the document fails, its number is not used up: the next document gets it."""
    with app.app_context():
        admin = db.session.get(User, world.ids["admin"])
        real = audit.append

        def failing(*args, **kwargs):
            monkeypatch.setattr(audit, "append", real)
            raise RuntimeError("disk full")

        monkeypatch.setattr(audit, "append", failing)
        with pytest.raises(RuntimeError):
            numbers.number(db.session, admin, "rectification", "1")
        assert numbers.number(db.session, admin, "rectification", "2").number == 1
        assert numbers.find(db.session, "rectification", "1", county_id=1) is None


def test_numbers_restart_each_year_and_keep_their_date(app, world, monkeypatch):
    """A new year starts at 1 again; an old document keeps its year, number and 成文日期."""
    with app.app_context():
        admin = db.session.get(User, world.ids["admin"])
        monkeypatch.setattr(clock, "today", lambda: date(2026, 12, 30))
        old = numbers.number(db.session, admin, "grading_notice", "1")
        numbers.number(db.session, admin, "grading_notice", "2")
        monkeypatch.setattr(clock, "today", lambda: date(2027, 1, 4))
        new = numbers.number(db.session, admin, "grading_notice", "3")
        assert (new.year, new.number) == (2027, 1)
        again = numbers.number(db.session, admin, "grading_notice", "1")
        assert (again.id, again.year, again.number, again.issued_on) == (old.id, 2026, 1, date(2026, 12, 30))


def test_the_prefix_defaults_to_the_countys_abbreviation():
    """DOC_NUMBER_PREFIX wins; else 吉县组字 from 中共吉安县委组织部 (黔区组字 from a district's department)."""
    assert load_config({"DEPARTMENT_NAME": "中共吉安县委组织部"})["DOC_NUMBER_PREFIX"] == "吉县组字"
    assert load_config({"DEPARTMENT_NAME": "中共重庆市黔江区委组织部"})["DOC_NUMBER_PREFIX"] == "黔区组字"
    assert (
        load_config({"DOC_NUMBER_PREFIX": "岳组发", "DEPARTMENT_NAME": "中共吉安县委组织部"})["DOC_NUMBER_PREFIX"]
        == "岳组发"
    )
    assert load_config({})["DOC_NUMBER_PREFIX"] == "组字"


def test_demo_data_holds_numbered_documents(app):
    """The demo county has a numbered 整改通知书 and 永阳镇党委's 立项通知, once however often it is loaded."""
    from server.services import demo

    with app.app_context():
        demo.load(db.session)
        demo.load(db.session)
        docs = db.session.scalars(select(OfficialDocument).order_by(OfficialDocument.id)).all()
        assert [(d.kind, d.number) for d in docs] == [("rectification", 1), ("approval", 1)]


def test_a_kind_with_its_own_prefix_never_shares_a_reference(app, world):
    """With DOC_NUMBER_KIND_PREFIXES the first 整改通知书 and the first 立项通知 differ although both are 1."""
    app.config.update(DOC_NUMBER_PREFIX="吉县组字", DOC_NUMBER_KIND_PREFIXES={"rectification": "吉县组改"})
    with app.app_context():
        admin = db.session.get(User, world.ids["admin"])
        year = clock.today().year
        assert numbers.number(db.session, admin, "rectification", "1").reference == f"吉县组改〔{year}〕1号"
        assert numbers.number(db.session, admin, "approval", "1:2026").reference == f"吉县组字〔{year}〕1号"


def test_a_bad_kind_prefix_setting_stops_start_up():
    """An unknown kind in DOC_NUMBER_KIND_PREFIXES is named at start-up."""
    with pytest.raises(ConfigError, match="DOC_NUMBER_KIND_PREFIXES"):
        load_config({"DOC_NUMBER_KIND_PREFIXES": "notice=吉县组通"})
