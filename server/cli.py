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
        upgrade(current_app.config["DATABASE_URL"], audit_key=current_app.config["AUDIT_KEY"])
        click.echo("数据库已是最新结构 (database is at the latest migration)")

    @app.cli.command("create-user")
    @click.option("--username", required=True)
    @click.option("--password", default=None, help="omit to bind through WeChat with the invite code only")
    @click.option("--role", "roles", multiple=True, required=True, help="repeatable: admin, inspector, …")
    @click.option("--name", default=None)
    @click.option("--township", "townships", multiple=True, help="12-digit code of a township in scope; repeatable")
    @click.option("--home-township", default=None, help="12-digit code of the user's home township (recusal)")
    @click.option("--invite", is_flag=True, help="also issue a one-time invite code (inspectors and secretaries)")
    @click.option("--county", default=None, help="6-digit code of the account's county (needed when there are several)")
    @click.option("--city", is_flag=True, help="a city or province leader: reads every county, writes nothing")
    def create_user(username, password, roles, name, townships, home_township, invite, county, city) -> None:
        """Create a staff account; with --invite print its one-time invite code for the mini-program."""
        from sqlalchemy import func, select

        from server.models import County, Township
        from server.services import users

        session = db.session
        county_id = None
        if county:
            county_id = session.scalar(select(County.id).where(County.code == county))
            if county_id is None:
                raise click.ClickException(f"unknown county code: {county}")
        elif not city and session.scalar(select(func.count(County.id))) > 1:
            raise click.ClickException("this deployment has several counties: name one with --county, or --city")
        codes = {t.code: t.id for t in session.scalars(select(Township))}
        missing = [c for c in (*townships, *([home_township] if home_township else [])) if c not in codes]
        if missing:
            raise click.ClickException(f"unknown township code(s): {', '.join(missing)}")
        try:
            user, code = users.create_user(
                session,
                None,
                {
                    "username": username,
                    "password": password,
                    "roles": list(roles),
                    "name": name or username,
                    "township_ids": [codes[c] for c in townships],
                    "home_township_id": codes[home_township] if home_township else None,
                    "issue_invite": invite,
                    "county_id": county_id,
                    "deployment_wide": city,
                },
            )
        except ApiError as exc:
            raise click.ClickException(exc.message) from None
        click.echo(f"created user {user.username} (id {user.id}, roles {', '.join(user.roles)})")
        if code:
            click.echo(f"invite code: {code}")

    @app.cli.command("add-county")
    @click.option("--code", required=True, help="6-digit administrative division code, e.g. 360821")
    @click.option("--name", required=True, help="e.g. 吉安县")
    @click.option("--department", default="", help="the issuing department, e.g. 中共吉安县委组织部")
    @click.option("--doc-prefix", default="", help="the 发文字号's 代字, e.g. 吉县组字")
    def add_county(code, name, department, doc_prefix) -> None:
        """Add a county to a city's or province's deployment (then: create-user --county CODE --role admin)."""
        from server.services import counties

        try:
            county = counties.add_county(
                db.session, None, {"code": code, "name": name, "department_name": department, "doc_prefix": doc_prefix}
            )
        except ApiError as exc:
            raise click.ClickException(exc.message) from None
        click.echo(f"added county {county.name} ({county.code}, id {county.id})")

    @app.cli.command("import-places")
    @click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
    @click.option("--dry-run", is_flag=True, help="check every row, write nothing")
    def import_places(file: Path, dry_run: bool) -> None:
        """Import townships, villages and unit sites from XLSX or CSV (GCJ-02 converted to WGS-84)."""
        from server.services import imports
        from server.services.imports.places import PlacesImporter

        try:
            rows = imports.read_rows(file, PlacesImporter.columns)
            report = imports.run(db.session, None, PlacesImporter(), rows, dry_run=dry_run)
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

    @app.cli.command("remind-quarterly")
    @click.option("--days", default=7, show_default=True, type=click.IntRange(0, 60), help="days before a task is due")
    def remind_quarterly(days: int) -> None:
        """Remind owners of quarterly tasks (调度/实地督导/反馈通报) due soon or overdue, and secretaries of a 调度 (daily)."""
        from server.services import quarterly

        counts = quarterly.send_reminders(db.session, days_before=days)
        click.echo("quarterly reminders: " + (", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none due"))

    @app.cli.command("remind-cadres")
    def remind_cadres() -> None:
        """Remind liaison cadres of the 1+1 蹲点 routine items due or overdue (run daily; once per item and period)."""
        from server.services import cadres

        counts = cadres.send_reminders(db.session)
        click.echo("cadre reminders: " + (", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none due"))

    @app.cli.command("rebuild-stats")
    def rebuild_stats() -> None:
        """Recount the dashboard's monthly visit/photo counts from the rows (after a bulk load)."""
        from server.services import visit_stats

        before = len(visit_stats.drift(db.session))
        rows = visit_stats.rebuild(db.session)
        db.session.commit()
        click.echo(f"visit stats rebuilt: {rows} rows ({before} differed from a fresh count)")

    @app.cli.command("cross-county-duplicates")
    def cross_county_duplicates() -> None:
        """Look for photos completed since the last run that reuse another county's (nightly; a complete searches its own county)."""
        from server.services import cross_county

        counts = cross_county.run(db.session)
        click.echo("cross-county duplicates: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))

    @app.cli.command("rehash-photos")
    def rehash_photos() -> None:
        """Index ready photos stored without canonical region hashes (run once after migrations 0012 and 0017)."""
        from server.services import photos

        counts = photos.rehash(db.session)
        click.echo(
            f"region hashes: {counts['hashed']} photos hashed, {counts['flat']} flat frames skipped, "
            f"{counts['unreadable']} thumbnails unreadable"
        )

    @app.cli.command("expire-uploads")
    def expire_uploads() -> None:
        """Clean up uploads left behind (abandoned, or re-sent with a used ticket): S3 gets its lifecycle rule, local storage is swept now."""
        from server.storage import UPLOAD_PREFIX, UPLOAD_RETENTION_DAYS

        storage = current_app.extensions["storage"]
        removed = storage.expire_uploads()
        if storage.name == "s3":
            click.echo(f"lifecycle rule set: {UPLOAD_PREFIX} objects expire after {UPLOAD_RETENTION_DAYS} days")
        else:
            click.echo(f"removed {removed} uploads older than {UPLOAD_RETENTION_DAYS} days")

    @app.cli.command("reencrypt")
    @click.option(
        "--old-key-env",
        default="OLD_DATA_KEY",
        show_default=True,
        help="the environment variable holding the previous DATA_KEY (kept off the command line)",
    )
    def reencrypt(old_key_env: str) -> None:
        """Re-encrypt personal data from the previous DATA_KEY to the configured one (key rotation)."""
        import os

        from server.crypto import PersonalDataCipher
        from server.services import personal_data

        old_key = os.environ.get(old_key_env, "").strip()
        if not old_key:
            raise click.ClickException(f"set {old_key_env} to the previous DATA_KEY")
        if old_key == current_app.config["DATA_KEY"]:
            raise click.ClickException(f"{old_key_env} equals DATA_KEY: set DATA_KEY to the new key first")
        report = personal_data.reencrypt(db.session, PersonalDataCipher(old_key), current_app.extensions["cipher"])
        click.echo(f"re-encrypted {report.rewritten} values; {report.current} were already under the new key")
        if report.unreadable:
            listed = ", ".join(f"{table} #{row_id}" for table, row_id in report.unreadable[:20])
            click.echo(f"{len(report.unreadable)} values open with neither key: {listed}", err=True)
            sys.exit(1)

    @app.cli.command("verify-audit")
    @click.option(
        "--anchor",
        "anchor_texts",
        multiple=True,
        metavar="SEQ:HASH",
        help="a head copied earlier (e.g. from the public page /audit); repeatable",
    )
    @click.option("--chain", type=int, default=None, help="only this chain (a county's id; 0: the deployment's)")
    def verify_audit(anchor_texts: tuple[str, ...], chain: int | None) -> None:
        """Recompute every keyed audit chain and compare each with its checkpoints; exit 1 on any mismatch.

        Anchors (--anchor) are heads of one chain: --chain's, else the first county's (chain 1).
        """
        from server.services import audit

        chains = [chain] if chain is not None else audit.chains(db.session)
        anchored = chain if chain is not None else 1
        broken = [c for c in chains if not _verify_chain(c, anchor_texts if c == anchored else (), len(chains) > 1)]
        if broken:
            sys.exit(1)

    def _verify_chain(chain: int, anchor_texts: tuple[str, ...], named: bool) -> bool:
        """Verify one chain against its checkpoints and the anchors; print the outcome; True when intact."""
        from server.services import audit, checkpoints
        from server.storage import StorageError

        label = f"chain {chain}: " if named else ""
        anchors = []
        for text in anchor_texts:
            seq, _, head_hash = text.partition(":")
            if not seq.isdigit() or len(head_hash) != 64:
                raise click.BadParameter(f"expected SEQ:HASH (64 hex digits), got {text!r}", param_hint="--anchor")
            anchors.append(audit.Anchor(int(seq), head_hash.lower(), f"--anchor {seq}"))
        try:
            stored, problems = checkpoints.read_all(
                current_app.extensions["storage"], current_app.config["AUDIT_KEY"], chain
            )
        except StorageError as exc:
            raise click.ClickException(f"checkpoints cannot be read from storage: {exc}") from None
        report = audit.verify(db.session, chain=chain, anchors=[*checkpoints.anchors(stored), *anchors])
        for line in problems:
            click.echo(f"{label}checkpoint INVALID: {line}", err=True)
        if report.ok and not problems:
            newest = max((cp for _, cp in stored), key=lambda cp: cp.seq, default=None)
            since = f", newest at seq {newest.seq} ({newest.at})" if newest else ""
            click.echo(
                f"{label}audit chain intact: {report.entries} entries, agrees with {len(stored)} checkpoints"
                f"{since} and {len(anchors)} anchors"
            )
            return True
        if not report.ok:
            click.echo(
                f"{label}audit chain BROKEN at seq {report.first_bad_seq}: {report.reason} "
                f"({report.entries} entries verified before it)",
                err=True,
            )
        return False

    @app.cli.command("audit-checkpoint")
    @click.option("--reason", default="scheduled", show_default=True, help="recorded in the checkpoint")
    def audit_checkpoint(reason: str) -> None:
        """Sign every audit chain's head and write each to object storage (run at least hourly)."""
        from server.services import audit, checkpoints
        from server.storage import StorageError

        chains = audit.chains(db.session)
        for chain in chains:
            try:
                cp = checkpoints.write(
                    db.session, current_app.extensions["storage"], current_app.config["AUDIT_KEY"], reason, chain
                )
            except StorageError as exc:
                raise click.ClickException(f"checkpoint not written: {exc}") from None
            label = f"chain {chain}: " if len(chains) > 1 else ""
            click.echo(f"{label}audit checkpoint: seq {cp.seq} hash {cp.hash} at {cp.at} -> {cp.object_key()}")
