"""Flask commands: `flask --app wsgi <command>`."""

import time

import click
from flask import Flask, current_app

from app.extensions import db


def register_cli(app: Flask) -> None:
    _register_account_commands(app)
    _register_listener_commands(app)
    _register_tracking_commands(app)


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
    def create_api_key_cmd(slug, name):
        """Create an API key for a workspace; prints the key last (it is shown only once)."""
        from app.services.errors import DomainError
        from app.services.platform.workspaces import create_api_key, workspace_by_slug

        try:
            ws = workspace_by_slug(slug)
        except DomainError as exc:
            raise click.ClickException(exc.message) from None
        key, plain = create_api_key(ws.id, name)
        db.session.commit()
        click.echo(f"API key '{key.name}' for workspace '{ws.slug}' (store it now: it is not shown again):")
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


def _run_until_interrupted(controller) -> None:
    """Keep the process alive while the listener's own thread serves; Ctrl-C stops it."""
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        controller.stop()
