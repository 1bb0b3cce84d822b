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
    user_organizations,
    user_townships,
    utcnow,
)
from server.models.cadres import (
    CONTACT_KINDS,
    CadreReminder,
    LiaisonContact,
)
from server.models.feedback import (
    FEEDBACK_CATEGORIES,
    FEEDBACK_RATINGS,
    FEEDBACK_STATUSES,
    Feedback,
    FeedbackReply,
)
from server.models.grading import (
    GRADES,
    GRADING_STATUSES,
    QUOTA_MODES,
    WARNING_STATUSES,
    GradingEntry,
    GradingScore,
    GradingSession,
    PanelSeat,
    PointDeduction,
    PublicNotice,
    WeakOrgWarning,
)
from server.models.lifecycle import (
    ACCEPTANCE_RATINGS,
    OBSERVATION_RATINGS,
    REPORT_STATUSES,
    ProjectAcceptance,
    ProjectObservation,
    ProjectReport,
    ProjectReview,
    ReportReminder,
    SubscribeCredit,
)
from server.models.people import (
    ConsoleSession,
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
    CATEGORIES,
    PROJECT_STATUSES,
    PUBLIC_STATUSES,
    SELECTIONS,
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
    DEFAULT_MIN_INTERVIEWS,
    DEFAULT_MIN_PHOTOS,
    ROUND_STATUSES,
    InspectionRound,
)
from server.models.stats import (
    VisitListCount,
    VisitMonthStat,
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
    "ConsoleSession",
    "user_organizations",
    "SELECTIONS",
    "CATEGORIES",
    "PROJECT_STATUSES",
    "PUBLIC_STATUSES",
    "REPORT_STATUSES",
    "OBSERVATION_RATINGS",
    "ACCEPTANCE_RATINGS",
    "ProjectReview",
    "ProjectReport",
    "ReportReminder",
    "SubscribeCredit",
    "ProjectObservation",
    "ProjectAcceptance",
    "Assignment",
    "AuditEntry",
    "AuditHead",
    "Base",
    "CHECK_RESULTS",
    "CONSOLE_ROLES",
    "CheckIn",
    "ChecklistResult",
    "ClientWrite",
    "DEFAULT_MIN_INTERVIEWS",
    "DEFAULT_MIN_PHOTOS",
    "DOMAINS",
    "FEEDBACK_CATEGORIES",
    "FEEDBACK_RATINGS",
    "FEEDBACK_STATUSES",
    "Feedback",
    "FeedbackReply",
    "GRADES",
    "GRADING_STATUSES",
    "GradingEntry",
    "GradingScore",
    "GradingSession",
    "InspectionRound",
    "Interview",
    "Organization",
    "PanelSeat",
    "Photo",
    "PhotoHashBand",
    "PointDeduction",
    "Project",
    "ProjectUpdate",
    "PublicNotice",
    "QUOTA_MODES",
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
    "VisitListCount",
    "VisitMonthStat",
    "VisitNote",
    "WARNING_STATUSES",
    "WeakOrgWarning",
    "assignment_members",
    "project_villages",
    "user_townships",
    "utcnow",
    "CONTACT_KINDS",
    "CadreReminder",
    "LiaisonContact",
]
