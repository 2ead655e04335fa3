"""Flask commands: `flask --app wsgi <command>`."""

import time

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from rq.job import Job

from app.extensions import db
from app.models.workspace import ROLES
from app.queueing import PERIODIC, PERIODIC_BY_NAME, last_runs


def register_cli(app: Flask) -> None:
    _register_account_commands(app)
    _register_listener_commands(app)
    _register_tracking_commands(app)
    _register_job_commands(app)


def _register_account_commands(app: Flask) -> None:
    """Workspaces and API keys, made from the shell (each prints what a script needs last)."""

    @app.cli.command("create-workspace")
    @click.argument("name")
    @click.option("--owner", "owner", required=True, help="The owner's email address.")
    @click.option("--password", required=True, help="The owner's password (10 characters or more).")
    def create_workspace_cmd(name, owner, password):
        """Create a workspace and its owner; prints the workspace's slug last."""
        from app.services.errors import DomainError
        from app.services.platform.workspaces import create_workspace

        try:
            ws = create_workspace(name, owner, password)
            db.session.commit()
        except DomainError as exc:
            details = "; ".join(f"{k}: {v}" for k, v in exc.fields.items())
            raise click.ClickException(f"{exc.message} {details}".strip()) from None
        click.echo(f"Created workspace '{ws.name}' owned by {owner}.")
        click.echo(ws.slug)

    @app.cli.command("create-api-key")
    @click.option("--workspace", "slug", required=True, help="The workspace's slug.")
    @click.option("--name", default="CLI key", help="A name to recognise the key by.")
    @click.option(
        "--role",
        type=click.Choice(ROLES),
        default="owner",
        show_default=True,
        help="What the key may do: owner and admin everything, marketer builds and sends, analyst only reads.",
    )
    def create_api_key_cmd(slug, name, role):
        """Create an API key for a workspace; prints the key last (it is shown only once)."""
        from app.services.errors import DomainError
        from app.services.platform.workspaces import create_api_key, workspace_by_slug

        try:
            ws = workspace_by_slug(slug)
            key, plain = create_api_key(ws.id, name, role=role)
        except DomainError as exc:
            raise click.ClickException(exc.message) from None
        db.session.commit()
        click.echo(
            f"API key '{key.name}' ({key.role}) for workspace '{ws.slug}' (store it now: it is not shown again):"
        )
        click.echo(plain)


def _register_listener_commands(app: Flask) -> None:
    """The SMTP listeners, each run in the foreground until interrupted."""

    @app.cli.command("mailcatcher")
    @click.option("--host", default=None)
    @click.option("--port", default=None, type=int)
    def mailcatcher_cmd(host, port):
        """Run the development mail catcher (SMTP) that fills the dashboard's Outbox."""
        from app.services.delivery.mailcatcher import start_catcher

        host = host or current_app.config["MAILCATCHER_HOST"]
        port = port or current_app.config["MAILCATCHER_PORT"]
        controller = start_catcher(current_app._get_current_object(), host, port)
        click.echo(f"Mail catcher listening on {host}:{port}")
        _run_until_interrupted(controller)

    @app.cli.command("mailin")
    @click.option("--host", default=None, help="Address to listen on (default: MAILIN_HOST, 127.0.0.1).")
    @click.option("--port", default=None, type=int, help="Port to listen on (default: MAILIN_PORT, 2525).")
    def mailin_cmd(host, port):
        """Run the inbound SMTP listener for bounces, complaints and replies sent to return paths."""
        from app.services.events.mailin import start_mailin

        host = host or current_app.config["MAILIN_HOST"]
        port = port or current_app.config["MAILIN_PORT"]
        controller = start_mailin(current_app._get_current_object(), host, port)
        click.echo(f"Mailin listening on {host}:{port}")
        _run_until_interrupted(controller)


def _register_tracking_commands(app: Flask) -> None:
    @app.cli.command("process-hits")
    def process_hits_cmd():
        """Move queued opens and clicks into the event log now."""
        from app.services.events.tracking import process_hits

        total = 0
        while n := process_hits():
            total += n
        click.echo(f"Processed {total} tracking hits.")

    @app.cli.command("reclassify-engagement")
    @click.option("--days", type=int, default=None, help="Only opens and clicks of the last N days (default: all).")
    def reclassify_cmd(days):
        """Judge stored opens and clicks again by today's rules (events/verdicts.py) and set each
        recipient's human figures again: after an upgrade, a rule change or a new address list."""
        from datetime import datetime, timedelta, timezone

        from app.extensions import db
        from app.models import Event
        from app.services.events import engagement

        since = datetime.now(timezone.utc) - timedelta(days=days) if days else None
        query = db.select(db.func.count()).where(
            Event.event_type.in_(("open", "click")), Event.recipient_id.is_not(None)
        )
        total = db.session.scalar(query.where(Event.occurred_at >= since) if since else query) or 0
        with click.progressbar(length=total, label="Judging opens and clicks") as bar:
            counts = engagement.reclassify(since, progress=bar.update)
        click.echo(", ".join(f"{verdict}: {n}" for verdict, n in sorted(counts.items())) or "Nothing to judge.")

    @app.cli.command("events-partitions")
    def partitions_cmd():
        """The event log's monthly partitions (PostgreSQL), with their rows (estimated) and size; the
        coming months are made first if missing."""
        from app.extensions import db
        from app.services.events import partitions

        partitions.ensure()
        db.session.commit()
        months = partitions.months()
        if not months:
            click.echo("The event log is one table here (SQLite): nothing is partitioned.")
        for m in months:
            click.echo(f"{m['name']:<16} {m['rows']:>12,} rows {m['bytes'] / 2**20:>10,.1f} MiB  {m['bounds']}")

    @app.cli.command("events-detach")
    @click.argument("month")
    def detach_cmd(month):
        """Detach a past MONTH (YYYY-MM) from the event log, to archive it: the insights keep its figures
        (hourly rollups); its events leave message search. The table stays until you drop it."""
        from app.extensions import db
        from app.services.errors import ValidationError
        from app.services.events import partitions

        try:
            name = partitions.detach(month)
        except ValidationError as exc:
            raise click.ClickException(exc.message) from None
        db.session.commit()
        click.echo(f"Detached {name}. Archive it, then drop it:\n  pg_dump --table={name} --format=custom "
                   f"--file={name}.dump \"$DATABASE_URL\"\n  psql \"$DATABASE_URL\" -c 'DROP TABLE {name}'")  # fmt: skip


def _run_until_interrupted(controller) -> None:
    """Keep the process alive while the listener's own thread serves; Ctrl-C stops it."""
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        controller.stop()


def _register_job_commands(app: Flask) -> None:
    """The periodic jobs, for an operator: what runs when, and running one now (after an outage)."""
    jobs = AppGroup("jobs", help="The periodic jobs: list them, or run one now.")
    app.cli.add_command(jobs)

    @jobs.command("list")
    def jobs_list_cmd():
        """Each periodic job, how often it runs, and its latest run."""
        from app.redis_client import get_redis

        runs = last_runs(get_redis())
        now = time.time()
        click.echo(f"{'job':<28}{'queue':<10}{'every':>8}  latest run")
        for p in PERIODIC:
            click.echo(f"{p.job:<28}{p.queue:<10}{_every(p.interval):>8}  {_latest(runs.get(p.job), now)}")

    @jobs.command("run")
    @click.argument("name")
    def jobs_run_cmd(name):
        """Run one periodic job now, in this process, as a worker would; prints what it returned."""
        from app.redis_client import get_redis

        if name not in PERIODIC_BY_NAME:
            known = ", ".join(p.job for p in PERIODIC)
            raise click.ClickException(f"No periodic job is called {name!r}. The jobs: {known}.")
        # Resolved by RQ from its name, as a worker resolves it: app/ never imports workers/.
        job = Job.create(f"workers.jobs.{name}", connection=get_redis())
        click.echo(f"{name}: {job.perform()!r}")


def _every(seconds: int) -> str:
    return f"{seconds // 60} min" if seconds >= 60 and seconds % 60 == 0 else f"{seconds} s"


def _latest(run: dict | None, now: float) -> str:
    if run is None:
        return "never (since Redis last lost its data)"
    ago = max(0, int(now - run["at"]))
    when = f"{ago} s ago" if ago < 120 else f"{ago // 60} min ago" if ago < 7200 else f"{ago // 3600} h ago"
    outcome = f"failed: {run['error']}" if run["error"] else f"ok in {run['seconds']} s"
    return f"{when}, {outcome}"
