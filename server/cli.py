"""Command-line tasks: `flask --app server <command>`."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask import Flask, current_app

from server.db import db, upgrade
from server.errors import ApiError


def register_commands(app: Flask) -> None:
    """Attach the CLI commands to the app."""

    @app.cli.command("init-db")
    def init_db() -> None:
        """Apply every database migration (safe to run again)."""
        upgrade(current_app.config["DATABASE_URL"])
        click.echo("数据库已是最新结构 (database is at the latest migration)")

    @app.cli.command("create-user")
    @click.option("--username", required=True)
    @click.option("--password", default=None, help="omit to bind through WeChat with the invite code only")
    @click.option("--role", "roles", multiple=True, required=True, help="repeatable: admin, inspector, …")
    @click.option("--name", default=None)
    @click.option("--township", "townships", multiple=True, help="12-digit code of a township in scope; repeatable")
    @click.option("--home-township", default=None, help="12-digit code of the user's home township (recusal)")
    def create_user(username, password, roles, name, townships, home_township) -> None:
        """Create a staff account and print its one-time invite code."""
        from sqlalchemy import select

        from server.models import Township
        from server.services import users

        session = db.session
        codes = {t.code: t.id for t in session.scalars(select(Township))}
        missing = [c for c in (*townships, *([home_township] if home_township else [])) if c not in codes]
        if missing:
            raise click.ClickException(f"unknown township code(s): {', '.join(missing)}")
        try:
            user, invite = users.create_user(session, None, {
                "username": username, "password": password, "roles": list(roles), "name": name or username,
                "township_ids": [codes[c] for c in townships],
                "home_township_id": codes[home_township] if home_township else None,
            })
        except ApiError as exc:
            raise click.ClickException(exc.message) from None
        click.echo(f"created user {user.username} (id {user.id}, roles {', '.join(user.roles)})")
        if invite:
            click.echo(f"invite code: {invite}")

    @app.cli.command("import-places")
    @click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
    @click.option("--dry-run", is_flag=True, help="check every row, write nothing")
    def import_places(file: Path, dry_run: bool) -> None:
        """Import townships, villages and unit sites from XLSX or CSV (GCJ-02 converted to WGS-84)."""
        from server.services import places

        try:
            rows = places.read_rows(file)
            report = places.import_places(db.session, None, rows, dry_run=dry_run)
        except ApiError as exc:
            raise click.ClickException(exc.message) from None
        for err in report.errors:
            click.echo(f"第 {err['row']} 行:{err['message']}", err=True)
        if report.errors:
            click.echo(f"{len(report.errors)} 行有错误,未导入任何数据", err=True)
            sys.exit(1)
        verb = "would import" if dry_run else "imported"
        click.echo(f"{verb}: {report.townships} townships, {report.villages} villages, {report.sites} sites")

    @app.cli.command("demo-data")
    def demo_data() -> None:
        """Load a demo county (idempotent) and print the accounts to try."""
        from server.services import demo

        for line in demo.load(db.session):
            click.echo(line)

    @app.cli.command("remind-reports")
    def remind_reports() -> None:
        """Send monthly-report reminders that are due (run daily, e.g. from a systemd timer)."""
        from server.services import reports

        counts = reports.send_reminders(db.session)
        click.echo("report reminders: " + (", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none due"))

    @app.cli.command("rebuild-stats")
    def rebuild_stats() -> None:
        """Recount the dashboard's monthly visit/photo counts from the rows (after a bulk load)."""
        from server.services import visit_stats

        before = len(visit_stats.drift(db.session))
        rows = visit_stats.rebuild(db.session)
        db.session.commit()
        click.echo(f"visit stats rebuilt: {rows} rows ({before} differed from a fresh count)")

    @app.cli.command("rehash-photos")
    def rehash_photos() -> None:
        """Index ready photos stored before region hashes existed (run once after migration 0012)."""
        from server.services import photos

        counts = photos.rehash(db.session)
        click.echo(f"region hashes: {counts['hashed']} photos hashed, {counts['flat']} flat frames skipped, "
                   f"{counts['unreadable']} thumbnails unreadable")

    @app.cli.command("verify-audit")
    def verify_audit() -> None:
        """Recompute the audit log's hash chain; exit 1 at the first broken entry."""
        from server.services import audit

        report = audit.verify(db.session)
        if report.ok:
            click.echo(f"audit chain intact: {report.entries} entries")
            return
        click.echo(f"audit chain BROKEN at seq {report.first_bad_seq}: {report.reason} "
                   f"({report.entries} entries verified before it)", err=True)
        sys.exit(1)
