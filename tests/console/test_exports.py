"""Console exports: XLSX of visits, findings, rectifications and feedback; a visit's evidence as a ZIP."""

from __future__ import annotations

import hashlib
import io
import json
import re
import secrets
import zipfile
from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import quote

import pytest
from openpyxl import load_workbook

from server.db import db
from server.models import Feedback, RectificationOrder, ReviewDecision
from server.services import flag_words
from tests.factories import V1, V2, Api, checkin_body, now_iso, start_visit, uid
from tests.support.images import phone_jpeg
from tests.support.s3server import s3_settings
from tests.support.upload import upload

CHINA = timezone(timedelta(hours=8))
HOUSEHOLD = "罗焕敬家"
PHONE = "13812345678"


def visit_with_evidence(
    client, world, token: str, assignment: int, at: tuple[float, float], photos: list[bytes], household: str = HOUSEHOLD
) -> tuple[int, list[dict]]:
    """A submitted visit through the API: a check-in, ready photos and an interview; returns (id, photos)."""
    api = Api(client, world.tokens[token])
    visit = start_visit(api, assignment)
    assert api.post(f"/api/v1/visits/{visit['id']}/checkins", checkin_body(*at)).status_code == 201
    done = []
    for data in photos:
        r = api.post(
            f"/api/v1/visits/{visit['id']}/photos",
            {
                "client_id": uid(),
                "sent_at": now_iso(),
                "content_type": "image/jpeg",
                "size": len(data),
                "taken_at": now_iso(),
                "lat": at[0],
                "lng": at[1],
            },
        )
        assert r.status_code == 201, r.get_json()
        assert upload(client, r.get_json()["upload"], data) == 204
        photo = api.post(f"/api/v1/photos/{r.get_json()['photo_id']}/complete").get_json()
        assert photo["status"] == "ready", photo
        done.append(photo)
    r = api.post(
        f"/api/v1/visits/{visit['id']}/interviews",
        {"client_id": uid(), "sent_at": now_iso(), "household": household, "satisfaction": "基本满意"},
    )
    assert r.status_code == 201, r.get_json()
    r = api.post(f"/api/v1/visits/{visit['id']}/submit", {"client_id": uid(), "sent_at": now_iso()})
    assert r.status_code == 200, r.get_json()
    return visit["id"], done


def workbook(response):
    """The XLSX of a response, opened with openpyxl."""
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    assert response.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return load_workbook(io.BytesIO(response.data))


def rows(wb, sheet: str) -> list[dict]:
    """The rows of a sheet as dicts keyed by the header row."""
    values = list(wb[sheet].iter_rows(values_only=True))
    return [dict(zip(values[0], r, strict=True)) for r in values[1:]]


def every_cell(wb) -> str:
    """All cell text of every sheet, joined."""
    return "\n".join(str(v) for ws in wb.worksheets for r in ws.iter_rows(values_only=True) for v in r if v is not None)


@pytest.fixture
def two_visits(client, world):
    """Ids of a submitted visit in 永阳镇 and one in 桐坪镇, each with a photo and an interview."""
    t1_visit, _ = visit_with_evidence(client, world, "insp_a", world.a1, V1, [phone_jpeg(seed=11)])
    t2_visit, _ = visit_with_evidence(client, world, "insp_c", world.a2, V2, [phone_jpeg(seed=12)])
    return {"t1": t1_visit, "t2": t2_visit}


# ---- visits ------------------------------------------------------------------------------------


def test_visits_xlsx_holds_filtered_rows_without_household_names(console, world, two_visits):
    """Filtered by township, the workbook lists that township's visit only, with counts but no household names."""
    wb = workbook(console("admin").get(f"/console/exports/visits.xlsx?township_id={world.t1}"))
    listed = rows(wb, "暗访记录")
    assert [r["暗访编号"] for r in listed] == [two_visits["t1"]]
    assert listed[0]["乡镇"] == "永阳镇" and listed[0]["照片数"] == 1 and listed[0]["入户访谈"] == 1
    assert listed[0]["访谈基本满意"] == 1 and listed[0]["状态"] == "已提交"
    assert HOUSEHOLD not in every_cell(wb) and "罗焕敬" not in every_cell(wb)


def test_visits_xlsx_obeys_reviewer_scope(console, world, two_visits):
    """Without filters a reviewer's workbook still holds only their township's visits."""
    wb = workbook(console("reviewer2").get("/console/exports/visits.xlsx"))
    assert [r["暗访编号"] for r in rows(wb, "暗访记录")] == [two_visits["t2"]]


def test_visits_xlsx_date_filter(console, world, two_visits):
    """A date range before today leaves the workbook empty but for its header."""
    wb = workbook(console("admin").get("/console/exports/visits.xlsx?date_from=2001-01-01&date_to=2001-12-31"))
    assert rows(wb, "暗访记录") == []


def test_download_name_is_rfc5987_with_ascii_fallback(console, two_visits):
    """Content-Disposition carries an ASCII filename and the Chinese one as filename*=UTF-8''…."""
    r = console("admin").get("/console/exports/visits.xlsx")
    header = r.headers["Content-Disposition"]
    assert header.startswith('attachment; filename="visits-') and '.xlsx"' in header
    assert f"filename*=UTF-8''{quote('暗访记录')}-" in header
    assert r.headers["Cache-Control"] == "private, no-store"


# ---- findings ----------------------------------------------------------------------------------


def test_findings_xlsx_lists_flags_and_questioned_decisions(app, client, console, world):
    """A far photo, a far check-in and a questioned photo decision are findings; accepted ones are not."""
    far = (V1[0] + 0.05, V1[1])
    visit_id, photos = visit_with_evidence(client, world, "insp_a", world.a1, far, [phone_jpeg(seed=21)])
    with app.app_context():
        for decision in ("questioned", "accepted"):  # the latest decision counts
            db.session.add(
                ReviewDecision(
                    visit_id=visit_id,
                    target_kind="visit",
                    target_id=visit_id,
                    decision=decision,
                    reason="先存疑后确认",
                    reviewer_id=world.ids["reviewer1"],
                )
            )
        db.session.add(
            ReviewDecision(
                visit_id=visit_id,
                target_kind="photo",
                target_id=photos[0]["id"],
                decision="questioned",
                reason="照片像是去年的",
                reviewer_id=world.ids["reviewer1"],
            )
        )
        db.session.commit()
    wb = workbook(console("reviewer1").get(f"/console/exports/findings.xlsx?village_id={world.v1}"))
    found = {(r["对象"], r["问题"]) for r in rows(wb, "问题清单")}
    photo = f"照片 #{photos[0]['id']}"
    assert (photo, "拍摄地点偏远") in found and (photo, "审核存疑") in found
    assert any(obj.startswith("签到 #") and problem == "签到不在范围内" for obj, problem in found)
    assert ("整条暗访记录", "审核存疑") not in found
    assert all(r["暗访编号"] == visit_id for r in rows(wb, "问题清单"))


def test_findings_xlsx_names_flags_in_chinese_and_distances_with_units(client, console, world):
    """Flags in a workbook read as their Chinese labels, never codes, and the distances their sentences
    name carry a unit ('约 5.56 公里', not a bare '5560')."""
    far = (V1[0] + 0.05, V1[1])
    visit_with_evidence(client, world, "insp_a", world.a1, far, [phone_jpeg(seed=22)])
    wb = workbook(console("admin").get(f"/console/exports/findings.xlsx?village_id={world.v1}"))
    checkin = next(r for r in rows(wb, "问题清单") if r["对象"].startswith("签到 #"))
    assert checkin["问题"] == "签到不在范围内"
    assert re.search(r"中心约 5\.\d\d 公里,围栏半径 500 米", checkin["说明"]), checkin["说明"]
    visits = workbook(console("admin").get(f"/console/exports/visits.xlsx?village_id={world.v1}"))
    assert "签到不在范围内" in rows(visits, "暗访记录")[0]["完整性标记"]
    cells = every_cell(wb) + every_cell(visits)
    assert [code for code in flag_words.LABELS if code in cells] == []


# ---- rectifications and feedback ---------------------------------------------------------------


def test_rectifications_xlsx_follows_status_filter_and_scope(app, console, world):
    """?status=issued lists issued orders only, and a reviewer gets only their township's."""
    with app.app_context():
        for township, project, status in (("t1", "p1", "issued"), ("t1", "p1", "closed"), ("t2", "p2", "issued")):
            db.session.add(
                RectificationOrder(
                    project_id=getattr(world, project),
                    township_id=getattr(world, township),
                    items=["公示栏未更新"],
                    deadline=datetime.now(CHINA).date() - timedelta(days=1),
                    status=status,
                    issued_by_id=world.ids["admin"],
                )
            )
        db.session.commit()
    admin = rows(workbook(console("admin").get("/console/exports/rectifications.xlsx?status=issued")), "整改通知")
    assert sorted(r["乡镇"] for r in admin) == ["桐坪镇", "永阳镇"]
    assert all(r["状态"] == "已下发" and r["逾期"] == "是" and r["整改事项"] == "公示栏未更新" for r in admin)
    mine = rows(workbook(console("reviewer1").get("/console/exports/rectifications.xlsx")), "整改通知")
    assert sorted(r["状态"] for r in mine) == ["已下发", "已销号"] and {r["乡镇"] for r in mine} == {"永阳镇"}


@pytest.fixture
def feedback_rows(app, world):
    """Feedback in 永阳镇 with a phone, anonymous with a phone, and one in 桐坪镇."""
    from server.crypto import cipher

    now = datetime.now(UTC)
    with app.app_context():
        for township, project, anonymous, status in (
            ("t1", "p1", False, "received"),
            ("t1", "p1", True, "resolved"),
            ("t2", "p2", False, "received"),
        ):
            db.session.add(
                Feedback(
                    project_id=getattr(world, project),
                    township_id=getattr(world, township),
                    user_id=world.ids["villager"],
                    client_id=uid(),
                    receipt_no=f"FK{secrets.token_hex(6)}",
                    rating="满意",
                    category="建议",
                    text=f"{'匿名' if anonymous else '实名'}意见",
                    phone_enc=cipher().encrypt(PHONE),
                    anonymous=anonymous,
                    status=status,
                    due_at=now + timedelta(days=5),
                    sent_at=now,
                )
            )
        db.session.commit()


def test_feedback_xlsx_masks_phones_for_reviewers(console, feedback_rows):
    """A reviewer sees their township's feedback with masked phones and no phone of the anonymous author."""
    listed = rows(workbook(console("reviewer1").get("/console/exports/feedback.xlsx")), "群众反馈")
    assert {r["内容"]: r["联系电话"] for r in listed} == {"实名意见": "138****5678", "匿名意见": None}
    assert {r["乡镇"] for r in listed} == {"永阳镇"}


def test_feedback_xlsx_full_phone_for_leaders_but_anonymous_stays_hidden(console, feedback_rows):
    """County leaders get the full phone of named authors; an anonymous author has none even for them."""
    listed = rows(workbook(console("leader").get("/console/exports/feedback.xlsx")), "群众反馈")
    assert {(r["内容"], r["乡镇"]): (r["匿名"], r["联系电话"]) for r in listed} == {
        ("实名意见", "永阳镇"): (None, PHONE),
        ("匿名意见", "永阳镇"): ("是", None),
        ("实名意见", "桐坪镇"): (None, PHONE),
    }


def test_feedback_xlsx_follows_status_filter(console, feedback_rows):
    """?status=resolved lists resolved feedback only."""
    listed = rows(workbook(console("admin").get("/console/exports/feedback.xlsx?status=resolved")), "群众反馈")
    assert [(r["内容"], r["状态"]) for r in listed] == [("匿名意见", "已办结")]


# ---- evidence ZIP ------------------------------------------------------------------------------


def open_zip(response) -> zipfile.ZipFile:
    """The ZIP of a streamed response."""
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    assert response.is_streamed and response.mimetype == "application/zip"
    return zipfile.ZipFile(io.BytesIO(response.get_data()))


def check_evidence(console, world, client) -> None:
    """Make a visit with two photos and check its ZIP: originals byte for byte, manifest hashes and places."""
    originals = [phone_jpeg(seed=31, gps=V1, taken=datetime.now(CHINA)), phone_jpeg(seed=32)]
    visit_id, photos = visit_with_evidence(client, world, "insp_a", world.a1, V1, originals)
    zf = open_zip(console("reviewer1").get(f"/console/visits/{visit_id}/evidence.zip"))
    assert zf.testzip() is None
    manifest = json.loads(zf.read("manifest.json"))
    assert manifest["visit"]["id"] == visit_id and manifest["visit"]["place"] == "江南村"
    assert [e["photo_id"] for e in manifest["photos"]] == [p["id"] for p in photos]
    for entry, original, photo in zip(manifest["photos"], originals, photos, strict=True):
        data = zf.read(entry["file"])
        assert data == original
        assert entry["sha256"] == hashlib.sha256(data).hexdigest() == photo["sha256"] == entry["sha256_at_upload"]
        assert entry["intact"] is True and entry["distance_m"] == pytest.approx(0, abs=1)
        assert entry["completed_at"] and entry["taken_at"] and entry["lat"] == pytest.approx(V1[0])
    assert manifest["photos"][0]["exif_taken_at"] and manifest["photos"][1]["flags"] == ["no_exif"]
    assert manifest["checkins"][0]["within_geofence"] is True
    table = zf.read("manifest.csv").decode("utf-8-sig")
    assert "SHA-256" in table and photos[0]["sha256"] in table and "无EXIF信息" in table


def test_zip_holds_originals_and_a_matching_manifest(console, world, client):
    """The ZIP holds each original photo and a manifest whose SHA-256s match the bytes (local storage)."""
    check_evidence(console, world, client)


@pytest.fixture
def storage_config(request, tmp_path):
    """Local storage, or the S3 HTTP server for tests marked `s3_storage`."""
    if request.node.get_closest_marker("s3_storage"):
        from tests.support.s3server import make_bucket, s3_endpoint

        endpoint, bucket = s3_endpoint(), f"exports-{uid()[:8]}"
        make_bucket(endpoint, bucket)
        return {
            **s3_settings(endpoint, bucket),
        }
    return {"STORAGE_BACKEND": "local", "STORAGE_DIR": str(tmp_path / "storage")}


@pytest.mark.s3_storage
def test_zip_streams_originals_from_s3(console, world, client):
    """With S3 storage the originals are read from the bucket and the manifest still matches."""
    check_evidence(console, world, client)


def test_zip_marks_a_changed_original(app, console, world, client):
    """If a stored original no longer has the recorded hash, the manifest says it is not intact."""
    visit_id, photos = visit_with_evidence(client, world, "insp_a", world.a1, V1, [phone_jpeg(seed=41)])
    with app.app_context():
        from server.models import Photo

        key = db.session.get(Photo, photos[0]["id"]).object_key
    app.extensions["storage"].put(key, b"not the photo that was uploaded", content_type="image/jpeg")
    manifest = json.loads(
        open_zip(console("admin").get(f"/console/visits/{visit_id}/evidence.zip")).read("manifest.json")
    )
    assert manifest["photos"][0]["intact"] is False
    assert manifest["photos"][0]["sha256_at_upload"] == photos[0]["sha256"] != manifest["photos"][0]["sha256"]


def test_reviewer_cannot_export_another_townships_zip(console, world, two_visits):
    """A reviewer of 永阳镇 gets 404 for a 桐坪镇 visit's evidence, and the ZIP of their own."""
    reviewer = console("reviewer1")
    assert reviewer.get(f"/console/visits/{two_visits['t2']}/evidence.zip").status_code == 404
    assert reviewer.get(f"/console/visits/{two_visits['t1']}/evidence.zip").status_code == 200
    assert reviewer.get("/console/visits/999999/evidence.zip").status_code == 404


def test_exports_are_audited(app, console, two_visits):
    """Each export leaves an audit entry naming who took what."""
    from sqlalchemy import select

    from server.models import AuditEntry

    admin = console("admin")
    admin.get("/console/exports/visits.xlsx?status=submitted")
    admin.get(f"/console/visits/{two_visits['t1']}/evidence.zip").get_data()
    with app.app_context():
        actions = db.session.scalars(select(AuditEntry.action).where(AuditEntry.action.like("export.%"))).all()
    assert actions == ["export.visits", "export.evidence"]


def test_console_shows_the_last_check_and_rechecks_on_demand(app, console, world, client):
    """The evidence page shows when the sealed original was last re-hashed; 重新核验 re-hashes it now."""
    from tests.console.conftest import csrf

    visit_id, photos = visit_with_evidence(client, world, "insp_a", world.a1, V1, [phone_jpeg(seed=43)])
    admin = console("admin")
    assert "封存后未复核" in admin.get(f"/console/visits/{visit_id}").get_data(as_text=True)
    r = admin.post(f"/console/visits/{visit_id}/photos/{photos[0]['id']}/check", data={"csrf_token": csrf(admin)})
    assert r.status_code == 303
    assert "完好,与封存时的指纹一致" in admin.get(f"/console/visits/{visit_id}").get_data(as_text=True)
    with app.app_context():
        from server.models import Photo

        key = db.session.get(Photo, photos[0]["id"]).object_key
    app.extensions["storage"].put(key, b"not the photo that was sealed", content_type="image/jpeg")
    r = admin.post(
        f"/console/visits/{visit_id}/photos/{photos[0]['id']}/check",
        data={"csrf_token": csrf(admin)},
        follow_redirects=True,
    )
    assert "与封存时的指纹不一致" in r.get_data(as_text=True)
    with app.app_context():
        from sqlalchemy import select

        from server.models import AuditEntry, Photo

        assert db.session.get(Photo, photos[0]["id"]).check_result == "altered"
        actions = db.session.scalars(
            select(AuditEntry.action).where(
                AuditEntry.object_id == str(photos[0]["id"]), AuditEntry.action == "photo.recheck"
            )
        ).all()
        assert len(actions) == 2
    leader = console("leader")
    r = leader.post(f"/console/visits/{visit_id}/photos/{photos[0]['id']}/check", data={"csrf_token": csrf(leader)})
    assert r.status_code == 403
