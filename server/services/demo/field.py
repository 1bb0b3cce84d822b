"""The field side of the demo: one inspector's submitted visit with its check-in, photos and interview."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.models import Assignment, User
from server.services import photos, visits


def _demo_photo(seed: int, gps: tuple[float, float] | None = None) -> bytes:
    """A camera-sized JPEG with some structure, so thumbnails and hashes look real; `gps`: the camera's EXIF position."""
    import io
    import random

    from PIL import Image, ImageDraw
    from PIL.TiffImagePlugin import IFDRational

    rng = random.Random(seed)
    img = Image.new("RGB", (1600, 1200), (rng.randrange(80, 200), rng.randrange(120, 200), rng.randrange(60, 160)))
    draw = ImageDraw.Draw(img)
    for _ in range(30):
        x, y = rng.randrange(1600), rng.randrange(1200)
        draw.rectangle(
            (x, y, x + rng.randrange(400), y + rng.randrange(300)), fill=tuple(rng.randrange(256) for _ in range(3))
        )
    extra = {}
    if gps:
        exif = Image.Exif()
        # Degrees, minutes and seconds as EXIF rationals, the way a phone camera writes them.
        gps_ifd = exif.get_ifd(0x8825)
        for ref_tag, tag, value, refs in ((1, 2, gps[0], "NS"), (3, 4, gps[1], "EW")):
            d, rest = divmod(abs(value) * 3600, 3600)
            m, sec = divmod(rest, 60)
            gps_ifd[ref_tag] = refs[value < 0]
            gps_ifd[tag] = (IFDRational(int(d), 1), IFDRational(int(m), 1), IFDRational(round(sec * 1000), 1000))
        extra["exif"] = exif.tobytes()
    out = io.BytesIO()
    img.save(out, "JPEG", quality=85, **extra)
    return out.getvalue()


# 吉安市区 (WGS-84): where the camera of one demo photo says it was.
DEMO_EXIF_ELSEWHERE = (27.1135, 114.9760)


def add_visit(session: Session, inspector: User) -> None:
    """One submitted visit with a check-in, photos (one taken far away) and an interview."""
    import uuid
    from datetime import UTC, datetime

    # The last demo assignment (大栗村): 李督查, whose visit this is, declared relatives in 江南村.
    assignment = session.scalar(select(Assignment).order_by(Assignment.id.desc()).limit(1))
    if assignment is None:
        return
    now = datetime.now(UTC).isoformat()
    village = assignment.village
    visit, _ = visits.start_visit(
        session, inspector, {"client_id": str(uuid.uuid4()), "assignment_id": assignment.id, "started_at": now}
    )
    visits.add_checkin(
        session,
        inspector,
        visit.id,
        {
            "client_id": str(uuid.uuid4()),
            "sent_at": now,
            "lat": village.lat,
            "lng": village.lng + 0.001,
            "accuracy_m": 15.0,
            "coord_type": "wgs84",
            "client_time": now,
        },
    )
    # The third photo was taken at the village, but its camera says 吉安市区 (about 30 km off): the
    # evidence map draws that EXIF position as a dashed line with the distance.
    shots = [
        (village.lat, village.lng, None),
        (village.lat + 0.03, village.lng, None),
        (village.lat, village.lng, DEMO_EXIF_ELSEWHERE),
    ]
    for seed, (lat, lng, exif_gps) in enumerate(shots):
        data = _demo_photo(seed, exif_gps)
        photo, _ = visits.request_photo(
            session,
            inspector,
            visit.id,
            {
                "client_id": str(uuid.uuid4()),
                "sent_at": now,
                "content_type": "image/jpeg",
                "size": len(data),
                "taken_at": now,
                "lat": lat,
                "lng": lng,
            },
        )
        photos.storage().put(photo.upload_key, data, content_type="image/jpeg")
        photos.complete(session, inspector, photo.id)
    visits.add_interview(
        session,
        inspector,
        visit.id,
        {
            "client_id": str(uuid.uuid4()),
            "sent_at": now,
            "household": "彭家(演示)",
            "answers": {"是否知道本村书记项目": "知道", "项目实际进展": "流转中心已建成"},
            "satisfaction": "满意",
        },
    )
    visits.submit_visit(session, inspector, visit.id, {"client_id": str(uuid.uuid4()), "sent_at": now})
