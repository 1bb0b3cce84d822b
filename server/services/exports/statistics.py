"""The year's figures reported upward as XLSX: the same numbers as the console's statistics page."""

from __future__ import annotations

from datetime import date

from sqlalchemy.orm import Session

from server.models import FEEDBACK_RATINGS, GRADES, PROJECT_LEVELS, WARNING_STATUSES, User
from server.services import statistics
from server.services.exports.workbook import Download, Sheet, finish_workbook, new_workbook, xlsx_download

TOWNSHIP_COLUMNS = [
    ("乡镇", 14),
    ("申报", 7),
    ("立项", 7),
    ("实施", 7),
    ("验收", 7),
    ("未立项", 7),
    ("终止", 7),
    ("月报应交", 9),
    ("按时", 7),
    ("逾期补交", 9),
    ("未交", 7),
    ("按时率", 9),
    ("在建项目", 9),
    *((f"第{q}季度观摩", 11) for q in range(1, 5)),
    ("每季度均观摩", 12),
    ("已督导项目", 11),
    ("督导覆盖率", 11),
    ("暗访次数", 9),
    ("整改通知", 9),
    ("未办结", 7),
    ("其中逾期", 9),
    ("已复核", 7),
    ("已销号", 7),
    ("反馈条数", 9),
    *((r, 8) for r in FEEDBACK_RATINGS),
    ("满意率", 8),
    ("参评项目", 9),
    *((g, 7) for g in GRADES),
    ("后5%", 7),
]


def _rate(value: float | None) -> float | str:
    # A share as a number Excel can sum and chart; "" where nothing was counted.
    return "" if value is None else round(value, 4)


def _township_row(r: statistics.Row) -> list:
    return [
        r.name,
        r.applied,
        r.approved,
        r.running,
        r.accepted,
        r.rejected,
        r.closed,
        r.reports_due,
        r.reports_on_time,
        r.reports_late,
        r.reports_missing,
        _rate(r.on_time_rate),
        r.under_way,
        *r.observed,
        r.observed_every_quarter,
        r.inspected,
        _rate(r.inspected_rate),
        r.visits,
        r.orders,
        r.orders_open,
        r.orders_overdue,
        r.orders_verified,
        r.orders_closed,
        r.feedback,
        *(r.ratings[k] for k in FEEDBACK_RATINGS),
        _rate(r.satisfied),
        r.graded,
        *(r.grades[g] for g in GRADES),
        r.bottom,
    ]


def statistics_workbook(session: Session, user: User, f: statistics.Filters, today: date) -> Download:
    """The figures of `f.year` under the filters and the user's scope: summary, townships, 软弱涣散, deductions."""
    stats = statistics.build(session, user, f, today)
    t = stats.total
    wb = new_workbook()
    summary = Sheet(wb, "汇总", [("指标", 24), ("数值", 14), ("说明", 60)])
    for pair in (
        ("项目情况", stats.summary(), "每一阶段计入已到达该阶段的项目"),
        ("月报应交(份)", t.reports_due, "已过报送期限的月份"),
        ("月报按时报送(份)", t.reports_on_time, ""),
        ("月报逾期补交(份)", t.reports_late, ""),
        ("月报未交(份)", t.reports_missing, ""),
        ("月报按时率", _rate(t.on_time_rate), ""),
        *((f"第{q}季度观摩覆盖(个)", n, f"在建项目 {t.under_way} 个") for q, n in enumerate(t.observed, 1)),
        ("每季度均观摩(个)", t.observed_every_quarter, f"计入已结束的 {stats.quarters_done} 个季度"),
        ("已督导项目(个)", t.inspected, f"有已提交暗访记录的在建项目,共暗访 {t.visits} 次"),
        ("督导覆盖率", _rate(t.inspected_rate), ""),
        ("整改通知未办结(件)", t.orders_open, f"其中逾期 {t.orders_overdue} 件"),
        ("整改通知已销号(件)", t.orders_closed, f"已复核待销号 {t.orders_verified} 件"),
        ("群众满意率", _rate(t.satisfied), f"反馈 {t.feedback} 条"),
        *((f"{g}(个)", t.grades[g], "") for g in GRADES),
        ("后5%(个)", t.bottom, "" if stats.grading_finalized else "本年度评分尚未定等"),
        ("软弱涣散党组织(个)", len(stats.warnings), ""),
        ("考核扣分(分)", stats.deduction_points, f"{len(stats.deductions)} 个党组织"),
    ):
        summary.add(pair)
    townships = Sheet(wb, "分乡镇", TOWNSHIP_COLUMNS)
    for r in [*stats.rows, t]:
        townships.add(_township_row(r))
    weak = Sheet(
        wb,
        "软弱涣散",
        [("党组织", 24), ("乡镇", 12), ("事由", 40), ("列入日期", 12), ("整顿期限", 12), ("状态", 8), ("逾期", 6)],
    )
    for w in stats.warnings:
        status = WARNING_STATUSES.get(w.status, w.status)
        weak.add([w.organization, w.township, w.reason, w.listed_on, w.deadline, status, "是" if w.overdue else ""])
    cuts = Sheet(wb, "考核扣分", [("党组织", 24), ("乡镇", 12), ("扣分", 8), ("事由", 50)])
    for d in stats.deductions:
        cuts.add([d.organization, d.township, d.points, d.reason])
    described = f.as_dict()
    if f.level is not None:
        described["level"] = PROJECT_LEVELS[f.level]
    body = finish_workbook(
        session,
        user,
        wb,
        f"{f.year} 年书记项目统计",
        described,
        townships.rows,
        "export.statistics",
        note="比率为小数(0.85 即 85%)。",
    )
    return xlsx_download(f"{f.year}年书记项目统计", f"statistics-{f.year}", body)
