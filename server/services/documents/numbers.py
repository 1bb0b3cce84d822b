"""发文字号: numbers kept per document kind and year, given once per document and kept for good.

A document's number is given the first time it is downloaded and stored with it
(OfficialDocument), so every later download prints the same 文号 and 成文日期. The sequence row
of (kind, year) is bumped by one atomic upsert inside the transaction that stores the document:
concurrent downloads queue on that row (MariaDB's row lock; SQLite's BEGIN IMMEDIATE), and a
transaction that fails gives its number back by rolling back, so numbers run 1, 2, 3 … without
gaps or repeats.
"""

from __future__ import annotations

from flask import current_app
from sqlalchemy import select
from sqlalchemy.dialects import mysql, sqlite
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from server import clock, tenancy
from server.models import DOCUMENT_KINDS, County, DocumentSequence, OfficialDocument, User
from server.services import audit

ATTEMPTS = 3
# Deadlock, lock-wait timeout, duplicate key: another download of the same document or number won.
_RACE_CODES = {1213, 1205, 1062}


def prefix_of(kind: str, county: County | None = None) -> str:
    """The 代字 a new document of this kind gets: the county's own when set on its 本县信息 page, else
    the kind's when configured (DOC_NUMBER_KIND_PREFIXES), else DOC_NUMBER_PREFIX."""
    if county is not None and county.doc_prefix:
        return county.doc_prefix
    config = current_app.config
    return (config.get("DOC_NUMBER_KIND_PREFIXES") or {}).get(kind) or config["DOC_NUMBER_PREFIX"]


def find(session: Session, kind: str, subject: str, county_id: int) -> OfficialDocument | None:
    """The county's document of this kind about this subject, if it has been numbered."""
    return session.scalar(
        select(OfficialDocument).where(
            OfficialDocument.county_id == county_id, OfficialDocument.kind == kind, OfficialDocument.subject == subject
        )
    )


def next_number(session: Session, kind: str, year: int, county_id: int) -> int:
    """Bump the county's (kind, year) sequence by one in the current transaction and return the new number."""
    table = DocumentSequence.__table__
    values = {"county_id": county_id, "kind": kind, "year": year, "last_number": 1}
    if session.get_bind().dialect.name == "mysql":
        stmt = mysql.insert(table).values(values)
        stmt = stmt.on_duplicate_key_update(last_number=table.c.last_number + 1)
    else:
        stmt = sqlite.insert(table).values(values)
        stmt = stmt.on_conflict_do_update(
            index_elements=["county_id", "kind", "year"], set_={"last_number": table.c.last_number + 1}
        )
    session.connection().execute(stmt)
    return session.scalar(
        select(table.c.last_number).where(table.c.county_id == county_id, table.c.kind == kind, table.c.year == year)
    )


def _is_race(exc: Exception) -> bool:
    """A duplicate (another download stored the same document first), a deadlock or a lock-wait timeout."""
    if isinstance(exc, IntegrityError):
        return True
    args = getattr(getattr(exc, "orig", None), "args", ())
    return isinstance(exc, OperationalError) and bool(args) and args[0] in _RACE_CODES


def number(session: Session, actor: User, kind: str, subject: str) -> OfficialDocument:
    """The numbered document of `kind` about `subject`: the stored one, or a new number (committed, audited)."""
    if kind not in DOCUMENT_KINDS:
        raise ValueError(f"unknown document kind {kind!r}")
    county = tenancy.county_of_user(session, actor)
    if county is None:
        raise ValueError("a document is numbered in a county: this account acts in none")
    for attempt in range(1, ATTEMPTS + 1):
        found = find(session, kind, subject, county.id)
        if found is not None:
            return found
        today = clock.today()
        try:
            doc = OfficialDocument(
                county_id=county.id,
                kind=kind,
                subject=subject,
                prefix=prefix_of(kind, county),
                year=today.year,
                number=next_number(session, kind, today.year, county.id),
                issued_on=today,
                issued_by_id=actor.id,
            )
            session.add(doc)
            session.flush()
            audit.append(
                session,
                actor,
                "document.number",
                "official_document",
                doc.id,
                {"kind": kind, "subject": subject, "reference": doc.reference},
            )
            session.commit()
            return doc
        except Exception as exc:
            # Whatever failed, the rollback gives the number back: the sequence stays without gaps.
            session.rollback()
            if attempt == ATTEMPTS or not _is_race(exc):
                raise
    raise AssertionError("unreachable")
