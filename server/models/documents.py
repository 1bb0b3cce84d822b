"""Official documents (公文) the department issues, and their 发文字号 sequences per kind and year."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from server.models.base import Base, CountyOwned, utcnow

# kind -> what the document is called; the numbers of each kind run 1, 2, 3 … within a year.
DOCUMENT_KINDS = {
    "round_notice": "督查通报",
    "rectification": "整改通知书",
    "approval": "立项通知",
    "grading_notice": "评审结果通报",
}


class DocumentSequence(CountyOwned, Base):
    """The last 发文顺序号 given to a kind of document in a year (the row is created by its first number)."""

    __tablename__ = "document_sequences"
    # Each county numbers its own documents.
    county_id: Mapped[int] = mapped_column(ForeignKey("counties.id"), primary_key=True, autoincrement=False)
    kind: Mapped[str] = mapped_column(String(24), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_number: Mapped[int] = mapped_column(Integer, default=0)


class OfficialDocument(CountyOwned, Base):
    """One issued document: the 文号 it was given the first time it was downloaded, kept for good.

    `subject` names what the document is about (a round id, an order id, "unit:year" …), so a
    second download finds the same row and prints the same number and 成文日期.
    """

    __tablename__ = "official_documents"
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(24))
    subject: Mapped[str] = mapped_column(String(64))
    # The 代字 as configured when the number was given: a later change of setting renumbers nothing.
    prefix: Mapped[str] = mapped_column(String(32))
    year: Mapped[int] = mapped_column(Integer)
    number: Mapped[int] = mapped_column(Integer)
    issued_on: Mapped[date] = mapped_column(Date)  # 成文日期, China calendar day
    issued_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        UniqueConstraint("county_id", "kind", "subject", name="uq_official_document_county_subject"),
        UniqueConstraint("county_id", "kind", "year", "number", name="uq_official_document_county_number"),
    )

    @property
    def reference(self) -> str:
        """The 发文字号 as printed, e.g. 吉县组字〔2026〕12号 (no 第, no leading zeros)."""
        return f"{self.prefix}〔{self.year}〕{self.number}号"
