"""Annual grading of 书记项目 by expert panels, and the rewards and penalties that follow.

A session per year runs draft → scoring → finalized. In draft, staff set the criteria (weights
summing to 100), whether one highest and one lowest expert total are dropped, the grade quotas
(counts or percentages) and the points deducted for two bottom years running. Opening takes
every gradable project of the year in and freezes the configuration; staff then seat experts
on each project's panel and experts score each criterion from 0 to 100 (one decimal).
Finalizing computes results and freezes everything.

The rules, in the order they are applied:
- An expert's total is Σ score × weight / 100. A project's final score is the mean of its
  experts' totals, rounded half up to two decimals. With dropping enabled, one highest and one
  lowest total are left out, so at least three still count; such a session needs five complete
  scores per project (three otherwise), and finalizing is refused while any project has fewer.
- Rank: by final score, best first; equal scores share a rank (1, 2, 2, 4).
- Grades: quotas are cumulative cut-offs down the ranking. A percentage becomes a count of
  round-half-up(cumulative % × N / 100), so rounding never hands out more places than there
  are projects. A tie that straddles a cut-off is resolved in the projects' favour: the
  whole tied group takes the better grade and the next grade's places shrink by as much.
  Projects beyond every quota are left without a grade (不列等次).
- Bottom 5%: the last ceil(5% × N) places. Ties again go in the projects' favour: a tied
  group is flagged only when its best place is inside the bottom zone.
- Bottom two years running (the seeds: 连续2年位于后5%的党组织予以扣分): an organization with a
  flagged project in year Y and in year Y-1 gets one point deduction for year Y, made when the
  later of the two sessions is finalized. Projects without an organization cannot be matched.

软弱涣散 warnings are listed by staff with a deadline three months on, and lifted once the
organization has been put right; 通报 each cost the secretary 200 yuan of performance pay.

The package's interface is the names re-exported here: callers write `grading.finalize(...)`
whichever module holds it; the helpers the modules share (`rules.invalid`,
`sessions.require_admin`, ...) are not part of it. The modules, by job, each importing only
the ones above it:
- rules: the numbers and the pure functions above (parsing, totals, ranks, grades, bottom 5%);
- sessions: a session's configuration in draft and opening it to scoring;
- panels: seating experts, their progress, and the experts' own scoring;
- results: finalizing, with the two-year deductions it makes;
- penalties: 软弱涣散 warnings and 通报;
- assessment: the annual assessment table (XLSX);
- dossier: what an expert scores with (application, 月报, visit findings, photos, feedback figures);
- outcomes: 年度考核加分 and 奖补资金 per grade, per organization and project (XLSX);
- roadshow: 路演评审, scored live and copied into the panels (used as `grading.roadshow`, not re-exported).
"""

from server.services.grading.assessment import (
    ASSESSMENT_COLUMNS,
    assessment_rows,
    assessment_workbook,
)
from server.services.grading.dossier import Dossier, dossier_for_expert
from server.services.grading.outcomes import (
    OrgOutcome,
    Outcomes,
    ProjectOutcome,
    outcomes,
    outcomes_workbook,
    set_outcome_tables,
)
from server.services.grading.panels import (
    Progress,
    assign_expert,
    experts,
    is_complete,
    panel_totals,
    progress,
    save_scores,
    seat_for_expert,
    seat_scores,
    seats_for_expert,
    seats_of,
    unassign_expert,
    user_names,
)
from server.services.grading.penalties import (
    create_notice,
    create_warning,
    is_warning_overdue,
    lift_warning,
    list_notices,
    list_warnings,
    organizations,
    secretaries,
    warning_candidates,
)
from server.services.grading.results import (
    deductions_of,
    finalize,
)
from server.services.grading.rules import (
    BOTTOM_PERCENT,
    DEFAULT_CRITERIA,
    DEFAULT_QUOTAS,
    GRADABLE_STATUSES,
    MAX_CRITERIA,
    MAX_TEXT,
    MIN_EXPERTS,
    MIN_EXPERTS_DROPPING,
    NOTICE_DEDUCTION_YUAN,
    WARNING_MONTHS,
    Placed,
    allocate,
    bottom_keys,
    bottom_size,
    expert_total_milli,
    final_centi,
    format_score,
    grade_cutoffs,
    parse_criteria,
    parse_quotas,
    parse_score,
    rank,
    required_experts,
)
from server.services.grading.sessions import (
    create_session,
    entries_of,
    get_session,
    gradable_projects,
    list_sessions,
    open_session,
    update_session,
)

__all__ = [
    "ASSESSMENT_COLUMNS",
    "assessment_rows",
    "assessment_workbook",
    "Progress",
    "assign_expert",
    "experts",
    "is_complete",
    "panel_totals",
    "progress",
    "save_scores",
    "seat_for_expert",
    "seat_scores",
    "seats_for_expert",
    "seats_of",
    "unassign_expert",
    "user_names",
    "create_notice",
    "create_warning",
    "is_warning_overdue",
    "lift_warning",
    "list_notices",
    "list_warnings",
    "organizations",
    "secretaries",
    "warning_candidates",
    "deductions_of",
    "finalize",
    "BOTTOM_PERCENT",
    "DEFAULT_CRITERIA",
    "DEFAULT_QUOTAS",
    "GRADABLE_STATUSES",
    "MAX_CRITERIA",
    "MAX_TEXT",
    "MIN_EXPERTS",
    "MIN_EXPERTS_DROPPING",
    "NOTICE_DEDUCTION_YUAN",
    "WARNING_MONTHS",
    "Placed",
    "allocate",
    "bottom_keys",
    "bottom_size",
    "expert_total_milli",
    "final_centi",
    "format_score",
    "grade_cutoffs",
    "parse_criteria",
    "parse_quotas",
    "parse_score",
    "rank",
    "required_experts",
    "create_session",
    "entries_of",
    "get_session",
    "gradable_projects",
    "list_sessions",
    "open_session",
    "update_session",
    "OrgOutcome",
    "Outcomes",
    "ProjectOutcome",
    "outcomes",
    "outcomes_workbook",
    "set_outcome_tables",
    "Dossier",
    "dossier_for_expert",
]
