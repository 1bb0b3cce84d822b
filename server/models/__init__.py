"""Typed SQLAlchemy 2 models, one module per area; everything is re-exported here.

Coordinates are always WGS-84 decimal degrees (`lat`, `lng`); the coordinates a phone sent
are kept beside them as `input_*` with their `input_coord_type`.
"""

from server.models.base import (
    CHECK_RESULTS,
    CONSOLE_ROLES,
    DOMAINS,
    ROLES,
    SATISFACTION,
    STAFF_ROLES,
    Base,
    UTCDateTime,
    assignment_members,
    project_villages,
    user_townships,
    utcnow,
)
from server.models.feedback import (
    FEEDBACK_CATEGORIES,
    FEEDBACK_RATINGS,
    FEEDBACK_STATUSES,
    Feedback,
    FeedbackReply,
)
from server.models.people import (
    User,
    UserRole,
)
from server.models.photos import (
    Photo,
    PhotoHashBand,
)
from server.models.places import (
    Organization,
    Site,
    Township,
    Village,
)
from server.models.projects import (
    Project,
    ProjectUpdate,
)
from server.models.records import (
    AuditEntry,
    AuditHead,
    ClientWrite,
    RateEvent,
)
from server.models.review import (
    RECTIFICATION_STATUSES,
    RectificationOrder,
    ReviewDecision,
)
from server.models.rounds import (
    ROUND_STATUSES,
    InspectionRound,
)
from server.models.visits import (
    Assignment,
    CheckIn,
    ChecklistResult,
    Interview,
    Visit,
    VisitFlag,
    VisitNote,
)

__all__ = [
    "Assignment",
    "AuditEntry",
    "AuditHead",
    "Base",
    "CHECK_RESULTS",
    "CONSOLE_ROLES",
    "CheckIn",
    "ChecklistResult",
    "ClientWrite",
    "DOMAINS",
    "FEEDBACK_CATEGORIES",
    "FEEDBACK_RATINGS",
    "FEEDBACK_STATUSES",
    "Feedback",
    "FeedbackReply",
    "InspectionRound",
    "Interview",
    "Organization",
    "Photo",
    "PhotoHashBand",
    "Project",
    "ProjectUpdate",
    "RECTIFICATION_STATUSES",
    "ROLES",
    "ROUND_STATUSES",
    "RateEvent",
    "RectificationOrder",
    "ReviewDecision",
    "SATISFACTION",
    "STAFF_ROLES",
    "Site",
    "Township",
    "UTCDateTime",
    "User",
    "UserRole",
    "Village",
    "Visit",
    "VisitFlag",
    "VisitNote",
    "assignment_members",
    "project_villages",
    "user_townships",
    "utcnow",
]
