"""A closed round's notice (通报) as DOCX and its workbook as XLSX.

Both read one `RoundReport`: coverage (drawn sites against visited ones, by township),
findings (failed check items and integrity flags of submitted visits), the rectification
orders issued from those visits, what is still outstanding, and the visits synced after the
round closed (补传: those arriving after the notice was first issued are marked). Like the other exports they
carry no personal data from interviews, and every download is in the audit log.
"""

from __future__ import annotations

import io
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server import clock
from server.errors import ApiError
from server.models import (
    RECTIFICATION_STATUSES,
    AuditEntry,
    InspectionRound,
    Project,
    RectificationOrder,
    User,
    Visit,
    utcnow,
)
from server.services import audit, rectification, rounds, visits
from server.services.documents import numbers
from server.services.documents.official import OfficialDocument, document_date, issuer
from server.services.exports.workbook import Download, Sheet, finish_workbook, new_workbook, xlsx_download
from server.services.flag_words import label as flag_label
from server.services.projects import place_of

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


@dataclass
class Site:
    """One drawn site: where, which project, which team, what became of it."""

    assignment_id: int
    group: int
    township: str
    place: str
    project: str
    team: str
    check_items: list[str]
    visit: Visit | None = None
    failed: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    # When the visit, synced late, was submitted after the round closed (补传), else None.
    late_at: datetime | None = None

    def late_note(self, issued_at: datetime | None) -> str:
        """'补传' or '通报印发后补传' for a late-synced visit; empty for one on time."""
        if self.late_at is None:
            return ""
        return "通报印发后补传" if issued_at is not None and self.late_at > issued_at else "补传"


@dataclass
class RoundReport:
    """Everything the notice and the workbook say about a round."""

    round: InspectionRound
    sites: list[Site]
    orders: list[tuple[RectificationOrder, str]]  # (order, project title)
    today: date
    issued_at: datetime | None = None  # when the notice was first downloaded (印发)

    def coverage(self) -> list[tuple[str, int, int]]:
        """(township, drawn, visited) per township, in name order."""
        drawn: dict[str, int] = defaultdict(int)
        done: dict[str, int] = defaultdict(int)
        for s in self.sites:
            drawn[s.township] += 1
            done[s.township] += s.visit is not None
        return [(t, drawn[t], done[t]) for t in sorted(drawn)]

    def findings(self) -> list[Site]:
        """Visited sites with failed items or flags."""
        return [s for s in self.sites if s.visit is not None and (s.failed or s.flags)]

    def unvisited(self) -> list[Site]:
        """Drawn sites without a submitted visit."""
        return [s for s in self.sites if s.visit is None]

    def late(self) -> list[Site]:
        """Visited sites whose records arrived after the round closed (补传), in arrival order."""
        return sorted((s for s in self.sites if s.late_at is not None), key=lambda s: s.late_at)

    def open_orders(self) -> list[tuple[RectificationOrder, str]]:
        """Orders not yet verified or closed, overdue ones first."""
        still = [(o, t) for o, t in self.orders if o.status in rectification.OPEN_STATUSES]
        return sorted(still, key=lambda pair: (not rectification.is_overdue(pair[0], self.today), pair[0].deadline))


def _group_of(r: InspectionRound) -> dict[str, int]:
    return {s["key"]: g["no"] for g in (r.result or {}).get("groups", []) for s in g["sites"]}


def build(session: Session, r: InspectionRound) -> RoundReport:
    """Collect the report of a closed round."""
    if r.status != "closed":
        raise ApiError("conflict", "轮次结束后才能生成通报", {"status": r.status})
    groups = _group_of(r)
    assignments = rounds.assignments_of(session, r)
    submitted: dict[int, Visit] = {}
    for v in session.scalars(
        select(Visit)
        .where(Visit.assignment_id.in_([a.id for a in assignments] or [-1]), Visit.status == "submitted")
        .order_by(Visit.id)
    ):
        submitted.setdefault(v.assignment_id, v)
    flags = visits.flags_by_visit(session, [v.id for v in submitted.values()])
    standing = rounds.drawn_teams(session, r)
    sites = []
    for a in assignments:
        place = place_of(session, a)
        visit = submitted.get(a.id)
        sites.append(
            Site(
                assignment_id=a.id,
                group=groups.get(rounds.site_key(a), 0),
                township=place.township_name or "(未定乡镇)",
                place=place.name,
                project=a.project.title,
                team=_team_text(standing.get(rounds.site_key(a)), a),
                check_items=list(a.check_items),
                visit=visit,
                failed=rectification.findings_of(session, visit) if visit else [],
                flags=[flag_label(f) for f in flags.get(visit.id, [])] if visit else [],
                # A late-synced visit counts once it is submitted: 补传 when that was after the round closed.
                late_at=(
                    visit.submitted_at
                    if visit is not None and visit.late_sync_s is not None and visit.submitted_at > r.closed_at
                    else None
                ),
            )
        )
    visit_ids = [v.id for v in submitted.values()] or [-1]
    orders = [
        (o, o_title)
        for o, o_title in session.execute(
            select(RectificationOrder, Project.title)
            .join(Project, Project.id == RectificationOrder.project_id)
            .where(RectificationOrder.visit_id.in_(visit_ids))
            .order_by(RectificationOrder.id)
        )
    ]
    issued_at = session.scalar(
        select(func.min(AuditEntry.at)).where(
            AuditEntry.object_type == "round",
            AuditEntry.object_id == str(r.id),
            AuditEntry.action == "export.round_notice",
        )
    )
    return RoundReport(r, sites, orders, clock.today(), issued_at)


def _day(value: datetime | None) -> str:
    return document_date(clock.local_date(value)) if value else ""


def _minute(value: datetime) -> str:
    return clock.china_time(value)


def _order_state(o: RectificationOrder, today: date) -> str:
    late = rectification.is_overdue(o, today)
    return RECTIFICATION_STATUSES.get(o.status, o.status) + (
        f"(逾期 {rectification.days_overdue(o, today)} 天)" if late else ""
    )


# ---- the notice (DOCX) ----------------------------------------------------------------------

RECIPIENTS = ["各乡镇党委", "县直各单位党组织"]
ANNEX_TITLE = "随机抽取复核说明"


def _percent(part: int, whole: int) -> str:
    return f"{part * 100 // whole if whole else 0}%"


def _replay_annex(doc: OfficialDocument, r: InspectionRound, record_url: str) -> None:
    """The annex: what was published and how anyone replays the draw (the 正文 only points here)."""
    doc.annex(ANNEX_TITLE)
    doc.line(
        f"本轮于{document_date(clock.local_date(r.frozen_at))}冻结候选名单,并在抽取前公布输入哈希:{r.input_hash}。"
        if r.frozen_at
        else f"本轮输入哈希:{r.input_hash}。"
    )
    doc.line(f"抽取所用公开随机数为“{r.public_value}”,随机种子为 {r.seed}。")
    doc.line(f"本轮结束后,完整抽取记录(候选名单、参数、督查组、回避申报和抽取结果)已在以下地址公开:{record_url}")
    doc.line("复核方法:")
    doc.line("1.打开上述地址,将完整抽取记录保存为文件“记录.json”;")
    doc.line(
        "2.在装有 Python 3.11 或更高版本的电脑上,于本系统源代码目录中运行“python3 scripts/verify_draw.py 记录.json”;"
    )
    doc.line(
        "3.程序逐项重算输入哈希、随机种子和抽取结果,全部显示“OK”并以“一致”结束,即说明抽取结果与公布的输入完全对应、未被改动;"
        "再将记录中的公开随机数与官方公布的开奖结果核对。"
    )


def notice_docx(session: Session, user: User, r: InspectionRound, *, record_url: str) -> Download:
    """The round's notice (通报) in the official form; its 文号 is given once, the download audited."""
    rep = build(session, r)
    number = numbers.number(session, user, "round_notice", str(r.id))
    doc = OfficialDocument(
        issuer=issuer(),
        reference=number.reference,
        title=f"关于{r.name}随机督查情况的通报",
        recipients=RECIPIENTS,
    )
    total, visited = len(rep.sites), sum(s.visit is not None for s in rep.sites)
    doc.line(
        f"按照“随机选取督查地点、随机确定督查事项”的要求,本轮于{_day(r.frozen_at)}冻结候选名单并公布输入哈希,"
        f"{_day(r.drawn_at)}以公开随机数“{r.public_value}”抽取 {total} 个点位,由 {r.groups} 个督查组"
        f"(每组 {r.team_size} 人,回避本人所在乡镇)开展暗访,每个点位随机确定 {r.items_per_visit} 项督查事项,"
        f"{_day(r.closed_at)}结束。抽取过程公开可复核(见附件)。现将有关情况通报如下。"
    )
    doc.heading1("一、覆盖情况")
    late = rep.late()
    doc.line(
        f"共抽取 {total} 个点位,已完成暗访 {visited} 个({_percent(visited, total)})"
        + (f",其中 {len(late)} 个为轮次结束后补传" if late else "")
        + "。"
    )
    doc.table(["乡镇", "抽取点位", "已暗访", "覆盖率"], [[t, n, v, _percent(v, n)] for t, n, v in rep.coverage()])
    doc.heading1("二、发现的问题")
    found = rep.findings()
    if found:
        doc.table(
            ["乡镇", "地点", "项目", "未通过的督查事项", "核查标记"],
            [[s.township, s.place, s.project, "\n".join(s.failed) or "—", "、".join(s.flags) or "—"] for s in found],
        )
    else:
        doc.line("本轮暗访未发现未通过的督查事项或核查标记。")
    doc.heading1("三、整改通知")
    if rep.orders:
        doc.table(
            ["编号", "项目", "整改事项", "整改期限", "状态"],
            [
                [f"#{o.id}", t, len(o.items or []), document_date(o.deadline), _order_state(o, rep.today)]
                for o, t in rep.orders
            ],
        )
    else:
        doc.line("本轮未下发整改通知。")
    doc.heading1("四、尚未解决的问题")
    outstanding = [f"{s.township} {s.place}({s.project}):抽取后未完成暗访。" for s in rep.unvisited()]
    outstanding += [
        f"整改通知 #{o.id}({t}):{_order_state(o, rep.today)},整改期限{document_date(o.deadline)}。"
        for o, t in rep.open_orders()
    ]
    for i, line in enumerate(outstanding, 1):
        doc.line(f"{i}.{line}")
    if not outstanding:
        doc.line("无。")
    doc.heading1("五、补传的暗访记录")
    if late:
        doc.line(
            "以下暗访在本轮结束前开始,因现场无网络等原因在结束后才上传(已计入覆盖情况和发现的问题);"
            "“通报印发后补传”的记录未包含在此前印发的通报中。"
        )
        doc.table(
            ["乡镇", "地点", "项目", "收到时间", "说明"],
            [[s.township, s.place, s.project, _minute(s.late_at), s.late_note(rep.issued_at)] for s in late],
        )
    else:
        doc.line("本轮没有结束后补传的暗访记录。")
    doc.line("本通报不含入户走访对象姓名、联系电话等个人信息。")
    doc.attachments_note([ANNEX_TITLE])
    doc.signature(number.issued_on)
    _replay_annex(doc, r, record_url)
    doc.print_record(issuer(), number.issued_on)
    body = io.BytesIO(doc.save())
    audit.append(
        session,
        user,
        "export.round_notice",
        "round",
        r.id,
        {"sites": total, "visited": visited, "reference": number.reference},
    )
    session.commit()
    stamp = clock.china_time(utcnow(), "%Y%m%d")
    return Download(f"督查通报-{r.name}-{stamp}.docx", f"round-{r.id}-notice-{stamp}.docx", DOCX, body)


# ---- the workbook (XLSX) --------------------------------------------------------------------


def round_workbook(session: Session, user: User, r: InspectionRound) -> Download:
    """The round's drawn sites, findings and orders as XLSX; the download is audited."""
    rep = build(session, r)
    wb = new_workbook()
    sites = Sheet(
        wb,
        "抽取点位",
        [
            ("任务编号", 9),
            ("工作组", 7),
            ("乡镇", 12),
            ("地点", 18),
            ("项目", 28),
            ("督查组", 20),
            ("督查事项", 40),
            ("暗访提交时间", 17),
            ("未通过事项", 40),
            ("核查标记", 24),
            ("补传", 16),
        ],
    )
    for s in rep.sites:
        sites.add(
            [
                s.assignment_id,
                s.group,
                s.township,
                s.place,
                s.project,
                s.team,
                "\n".join(s.check_items),
                s.visit.submitted_at if s.visit else None,
                "\n".join(s.failed),
                "、".join(s.flags),
                s.late_note(rep.issued_at),
            ]
        )
    cover = Sheet(wb, "覆盖情况", [("乡镇", 14), ("抽取点位", 10), ("已暗访", 10)])
    for row in rep.coverage():
        cover.add(list(row))
    orders = Sheet(wb, "整改通知", [("编号", 8), ("项目", 28), ("整改事项", 50), ("整改期限", 12), ("状态", 20)])
    for o, t in rep.orders:
        orders.add([o.id, t, "\n".join(str(i) for i in o.items or []), o.deadline, _order_state(o, rep.today)])
    body = finish_workbook(
        session,
        user,
        wb,
        f"双随机抽查:{r.name}",
        {"轮次": f"#{r.id} {r.name}"},
        sites.rows,
        "export.round",
        f"输入哈希 {r.input_hash}。",
    )
    return xlsx_download(f"双随机抽查-{r.name}", f"round-{r.id}", body)


def _team_text(standing: dict | None, a) -> str:
    """Who went: the members, after the standing team's name and its 组长 when a team was sent."""
    names = "、".join(m.name for m in a.members)
    return f"{standing['name']}(组长 {standing['leader']}):{names}" if standing else names
