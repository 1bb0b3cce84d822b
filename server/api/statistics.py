"""The year's figures reported upward (staff): the numbers of the console's 统计报表 page as JSON."""

from __future__ import annotations

from server import clock
from server.api import endpoint
from server.api.schemas import ID, obj
from server.db import db
from server.models import CATEGORIES, DOMAINS, PROJECT_LEVELS, STAFF_ROLES
from server.services import statistics

COUNT = {"type": "integer", "minimum": 0}
RATE = {
    "type": ["number", "null"],
    "minimum": 0,
    "maximum": 1,
    "description": "a share (0.85 = 85%); null: nothing counted",
}
COUNTS = {"type": "object", "additionalProperties": COUNT}
ROW = obj(
    {
        "township_id": {
            "type": ["integer", "null"],
            "description": "null: the total, or projects placed in no township",
        },
        "name": {"type": "string"},
        "funnel": obj({k: COUNT for k in ("applied", "approved", "running", "accepted", "rejected", "closed")}),
        "reports": obj({**{k: COUNT for k in ("due", "on_time", "late", "missing")}, "on_time_rate": RATE}),
        "observation": obj(
            {
                "under_way": COUNT,
                "per_quarter": {"type": "array", "items": COUNT, "minItems": 4, "maxItems": 4},
                "every_quarter": COUNT,
            }
        ),
        "inspection": obj({"under_way": COUNT, "inspected": COUNT, "visits": COUNT, "rate": RATE}),
        "rectification": obj({k: COUNT for k in ("issued", "open", "overdue", "verified", "closed")}),
        "feedback": obj({"total": COUNT, "ratings": COUNTS, "satisfied_rate": RATE}),
        "grades": obj({"graded": COUNT, "by_grade": COUNTS, "bottom": COUNT}),
    }
)
STATISTICS = obj(
    {
        "filters": {"type": "object"},
        "today": {"type": "string", "format": "date"},
        "quarters_done": {"type": "integer", "minimum": 0, "maximum": 4},
        "grading_finalized": {"type": "boolean"},
        "summary": {"type": "string"},
        "townships": {"type": "array", "items": ROW},
        "total": ROW,
        "weak_organizations": {
            "type": "array",
            "items": obj(
                {
                    "organization": {"type": "string"},
                    "township": {"type": "string"},
                    "reason": {"type": "string"},
                    "listed_on": {"type": "string", "format": "date"},
                    "deadline": {"type": "string", "format": "date"},
                    "status": {"type": "string", "enum": ["rectifying", "lifted"]},
                    "overdue": {"type": "boolean"},
                }
            ),
        },
        "deductions": {
            "type": "array",
            "items": obj(
                {
                    "organization": {"type": "string"},
                    "township": {"type": "string"},
                    "points": {"type": "integer"},
                    "reason": {"type": "string"},
                }
            ),
        },
    }
)


@endpoint(
    "/statistics",
    "GET",
    summary="The year's figures per township and in total (funnel, 月报 on time, 观摩/督导 coverage, rectification, "
    "satisfaction, grades, 软弱涣散, deductions); reviewers get their townships only",
    tag="statistics",
    roles=STAFF_ROLES,
    query={
        "year": {"type": "integer", "minimum": statistics.FIRST_YEAR, "maximum": 2100},
        "township_id": ID,
        "domain": {"type": "string", "enum": list(DOMAINS)},
        "level": {"type": "string", "enum": list(PROJECT_LEVELS)},
        "category": {"type": "string", "enum": list(CATEGORIES)},
    },
    response=STATISTICS,
    errors=(400, 401, 403),
)
def get_statistics(user, query):
    today = clock.today()
    f = statistics.Filters(
        year=query.get("year") or today.year,
        township_id=query.get("township_id"),
        domain=query.get("domain"),
        level=query.get("level"),
        category=query.get("category"),
    )
    return statistics.to_json(statistics.build(db.session, user, f, today))
