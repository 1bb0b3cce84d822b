"""The staff web console under /console/: server-rendered pages (Jinja) with light JavaScript."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, request

from server import clock, geo
from server.console import maps
from server.services import flag_words
from server.transactions import run_again_on_conflict


def _rewind_uploads() -> None:
    """Ready an upload form for another run: its files are read from the start again."""
    for upload in request.files.values():
        upload.stream.seek(0)


class ConsoleBlueprint(Blueprint):
    """The console's blueprint: a form (POST) whose transaction loses to a concurrent one runs again.

    On a Galera cluster two staff acting at once on two nodes meet at commit (1213), not at a lock;
    the later one is run again (server/transactions.py) instead of showing a 503 page.
    """

    def add_url_rule(self, rule, endpoint=None, view_func=None, provide_automatic_options=None, **options):
        """Register a view; POST views run again after a transaction conflict."""
        if view_func is not None and "POST" in (options.get("methods") or ()):
            view_func = run_again_on_conflict(view_func, before_again=_rewind_uploads)
        super().add_url_rule(rule, endpoint, view_func, provide_automatic_options, **options)


console_bp = ConsoleBlueprint(
    "console", __name__, url_prefix="/console", static_folder="static", static_url_path="/static"
)

# Scripts only from the console's own static files: an injected <script> or on…= attribute
# does not run. Inline style attributes stay allowed; images come from the console, the photo
# storage's host and, only when a 天地图 key is set, the map tile host ({images}: maps.image_sources).
CONSOLE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:{images}; connect-src 'self'; object-src 'none'; "
    "base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)


@console_bp.after_request
def _security_headers(response):
    response.headers.setdefault("Content-Security-Policy", CONSOLE_CSP.format(images=maps.image_sources()))
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    return response


# The main navigation, grouped so the bar holds one row on a 1280 px screen: (menu label or None for
# links of their own, [(endpoint, label, roles that see it)]). Entries whose page is not there, or that
# the signed-in user's roles do not reach, are left out, and so are menus left empty; a menu with one
# entry left is shown as that entry's plain link.
STAFF = ("admin", "leader", "reviewer")
NAV = [
    (None, [("console.dashboard", "仪表盘", STAFF)]),
    (
        "督查",
        [
            ("console.visits", "暗访记录", STAFF),
            ("console.rectifications", "整改通知", STAFF),
            ("console.feedback_inbox", "群众反馈", STAFF),
            ("console.assignments", "督查任务", STAFF),
            ("console.rounds", "双随机抽查", STAFF),
            ("console.quarterly_schedule", "季度调度督导", STAFF),
            ("console.teams", "督查组", STAFF),
            ("console.conflicts", "回避申报", ("admin", "leader")),
        ],
    ),
    (
        "项目",
        [
            ("console.my_projects", "我的项目", ("secretary",)),
            ("console.applications", "申报审核", ("admin", "leader", "unit_reviewer")),
            ("console.unit_projects", "本单位项目", ("unit_reviewer",)),
            ("console.projects", "项目列表", STAFF),
            ("console.report_overview", "项目月报", STAFF),
            ("console.cases", "案例集", ("admin", "leader")),
            ("console.lead_items", "书记领办事项", ("admin", "leader")),
            ("console.liaison", "我的联系项目", ("cadre", "reviewer", "leader", "admin")),
            ("console.cadres", "联系组工干部", ("admin", "leader")),
            ("console.observations", "观摩活动", STAFF),
            ("console.peer_reviews", "中期互评", ("admin", "leader", "secretary")),
            ("console.my_rectifications", "我的整改通知", ("secretary",)),
        ],
    ),
    (
        "考核",
        [
            # Grading is the department's own business: reviewers have no part in it.
            ("console.grading", "评分与考核", ("admin", "leader")),
            ("console.expert_scoring", "专家评分", ("expert",)),
            ("console.roadshows", "路演评审", ("admin", "leader", "expert")),
            ("console.statistics_page", "统计报表", STAFF),
        ],
    ),
    (
        "基础数据",
        [
            ("console.places", "乡镇与村", STAFF),
            ("console.users", "人员与邀请码", STAFF),
            ("console.organizations", "党组织", STAFF),
            ("console.units", "归口单位", ("admin", "leader")),
            ("console.county", "本县信息", ("admin",)),
            ("console.counties_overview", "各县概况", ("leader",)),
        ],
    ),
]


@dataclass(frozen=True)
class NavLink:
    """One page in the navigation, as the signed-in user sees it."""

    endpoint: str
    label: str
    url: str
    current: bool  # the page shown is this one, or one below its address


@dataclass(frozen=True)
class NavMenu:
    """A menu of the bar (label None: links of their own), with the entries the user may open."""

    label: str | None
    links: list[NavLink]

    @property
    def current(self) -> bool:
        """The page shown is one of this menu's."""
        return any(link.current for link in self.links)


def menus_for(user, path: str = "", endpoint: str | None = None) -> list[NavMenu]:
    """The navigation `user` may open, by menu; `path`/`endpoint` (the page shown) mark the current entry."""
    from flask import current_app, url_for

    if user is None:
        return []
    menus = []
    for label, entries in NAV:
        links = []
        for e, text, roles in entries:
            if e in current_app.view_functions and user.has_role(*roles):
                url = url_for(e)
                links.append(NavLink(e, text, url, e == endpoint or path.startswith(url + "/")))
        if links:
            menus.append(NavMenu(label if len(links) > 1 else None, links))
    return menus


def nav_for(user) -> list[tuple[str, str]]:
    """The navigation entries `user` may open, as (endpoint, label), in the bar's order."""
    return [(link.endpoint, link.label) for menu in menus_for(user) for link in menu.links]


# How every page writes a stored time, a distance and a flag: registered once, used as filters.
console_bp.add_app_template_filter(clock.china_time, "china_time")
console_bp.add_app_template_filter(geo.format_metres, "metres")
console_bp.add_app_template_filter(flag_words.label, "flag_label")


@console_bp.app_context_processor
def _navigation():
    from flask import g, request

    staff = g.get("staff")  # set only inside the console's own requests
    menus = menus_for(staff, request.path, request.endpoint) if staff is not None else []
    # The current menu's pages also show as a section bar under the header, one click apart.
    section = next((m for m in menus if m.label is not None and m.current), None)
    return {"console_menus": menus, "console_section": section}


# The console's table of contents: each page module adds its routes to `console_bp` as it is
# imported. They come last because they use `console_bp` from above (pyproject.toml lets this file
# import them unused and late). A new page module is added here; server.app.register_blueprints
# registers the blueprint.
import server.console.assignments
import server.console.auth
import server.console.cadres
import server.console.cases
import server.console.counties
import server.console.dashboard
import server.console.documents
import server.console.exports
import server.console.feedback
import server.console.grading
import server.console.imports
import server.console.lead_items
import server.console.lifecycle
import server.console.observations
import server.console.organizations
import server.console.places
import server.console.projects
import server.console.quarterly
import server.console.rectifications
import server.console.roadshow
import server.console.rounds
import server.console.secretary
import server.console.statistics
import server.console.teams
import server.console.users
import server.console.visits
