"""Personal data encrypted at rest (households, phone numbers), and re-encrypting it to rotate DATA_KEY.

Rotation: set DATA_KEY to the new key and OLD_DATA_KEY to the old one, stop the app, run
`flask --app server reencrypt`, then start the app without OLD_DATA_KEY. A value the new key
already opens is left alone, so an interrupted run can simply be started again.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from server.crypto import PersonalDataCipher
from server.models import Feedback, Interview
from server.services import audit

# Every encrypted column: a new one must be added here, or rotation would leave it unreadable.
ENCRYPTED = ((Interview, "household_enc"), (Feedback, "phone_enc"))


@dataclass
class ReencryptReport:
    """What a re-encryption run did: rewritten, already under the new key, readable by neither key."""

    rewritten: int = 0
    current: int = 0
    unreadable: list[tuple[str, int]] = field(default_factory=list)


def reencrypt(session: Session, old: PersonalDataCipher, new: PersonalDataCipher, batch: int = 500) -> ReencryptReport:
    """Decrypt every encrypted value with the old key and store it encrypted with the new one, batch by batch."""
    report = ReencryptReport()
    for model, name in ENCRYPTED:
        column, last_id = getattr(model, name), 0
        while True:
            rows = session.execute(
                select(model.id, column).where(model.id > last_id, column.is_not(None)).order_by(model.id).limit(batch)
            ).all()
            if not rows:
                break
            for row_id, token in rows:
                last_id = row_id
                try:
                    new.decrypt(token)
                except ValueError:
                    pass
                else:
                    report.current += 1
                    continue
                try:
                    plain = old.decrypt(token)
                except ValueError:
                    report.unreadable.append((model.__tablename__, row_id))
                    continue
                session.execute(update(model).where(model.id == row_id).values({name: new.encrypt(plain)}))
                report.rewritten += 1
            session.commit()
    audit.append(
        session,
        None,
        "data_key.rotate",
        "personal_data",
        "all",
        {"rewritten": report.rewritten, "current": report.current, "unreadable": len(report.unreadable)},
    )
    session.commit()
    return report
