"""create_app(): the one place that wires config, extensions, blueprints and CLI."""

import logging
import os
import weakref

from flask import Flask, render_template, request
from sqlalchemy import event
from sqlalchemy.engine import Engine

from app.config import INSTANCE_DIR, Config
from app.extensions import csrf, db, limiter, login_manager, migrate
from app.http import BoundedInt, HeraldRequest

_apps: "weakref.WeakSet[Flask]" = weakref.WeakSet()


def _forget_connections_in_forked_children(app: Flask) -> None:
    """A forked RQ work-horse must never talk on its parent's pooled database connections: the
    worker keeps some open after running send jobs in-process, and two processes on one socket
    corrupt each other's state (psycopg's prepared statements: "_pg3_0 already exists"). SQLAlchemy's
    recipe: the child drops the inherited pool without closing the parent's sockets."""
    if not _apps:
        os.register_at_fork(after_in_child=_dispose_inherited_pools)
    _apps.add(app)


def _dispose_inherited_pools() -> None:
    for app in list(_apps):
        with app.app_context():
            for engine in db.engines.values():
                engine.dispose(close=False)


def create_app(config: Config | None = None) -> Flask:
    app = Flask(__name__, instance_path=str(INSTANCE_DIR))
    app.request_class = HeraldRequest
    app.url_map.converters["int"] = BoundedInt
    app.config.from_object(config or Config())
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every connection at INFO

    db.init_app(app)
    _forget_connections_in_forked_children(app)
    migrate.init_app(app, db, directory=str(app.root_path + "/../migrations"))
    login_manager.init_app(app)
    csrf.init_app(app)
    limiter.init_app(app)
    from app import models as _models  # noqa: F401  (every table known to Alembic)
    from app import transactions as _tx  # noqa: F401  (after-commit hooks)

    _register_blueprints(app)
    from app.services.events import reads

    app.teardown_appcontext(reads.close)  # the insights replica's session, when one is configured
    from app.blueprints.filters import register_filters

    register_filters(app)
    _register_security_headers(app)
    _register_favicon(app)
    _register_error_pages(app)
    from app.blueprints.public.pixel import OpenPixel

    app.wsgi_app = OpenPixel(app.wsgi_app, app.config["SECRET_KEY"], app.config["REDIS_URL"])
    if hops := app.config["TRUSTED_PROXY_COUNT"]:
        from werkzeug.middleware.proxy_fix import ProxyFix

        # Outermost, so the pixel too sees the visitor's address rather than the proxy's.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops)
    from app.cli import register_cli

    register_cli(app)
    from app.blueprints.auth.current import register_session

    register_session(app)
    from app.blueprints.roles import register_role_policy

    register_role_policy(app)  # after the session's hook: it reads the member's role
    return app


def _register_blueprints(app: Flask) -> None:
    from app.blueprints.advisor import bp as advisor_bp
    from app.blueprints.alerts import bp as alerts_bp
    from app.blueprints.api import bp as api_bp
    from app.blueprints.api_keys import bp as api_keys_bp
    from app.blueprints.audit_log import bp as audit_log_bp
    from app.blueprints.auth import bp as auth_bp
    from app.blueprints.campaigns import bp as campaigns_bp
    from app.blueprints.categories import bp as categories_bp
    from app.blueprints.customer_events import bp as customer_events_bp
    from app.blueprints.deliveries import bp as deliveries_bp
    from app.blueprints.domains import bp as domains_bp
    from app.blueprints.email_templates import bp as templates_bp
    from app.blueprints.flows import bp as flows_bp
    from app.blueprints.gift_cards import bp as gift_cards_bp
    from app.blueprints.insights import bp as insights_bp
    from app.blueprints.ips import bp as ips_bp
    from app.blueprints.lists import bp as lists_bp
    from app.blueprints.loyalty import bp as loyalty_bp
    from app.blueprints.media import bp as media_bp
    from app.blueprints.messages import bp as messages_bp
    from app.blueprints.outbox import bp as outbox_bp
    from app.blueprints.overview import bp as overview_bp
    from app.blueprints.pools import bp as pools_bp
    from app.blueprints.products import bp as products_bp
    from app.blueprints.providers import bp as providers_bp
    from app.blueprints.public import bp as public_bp
    from app.blueprints.referrals import bp as referrals_bp
    from app.blueprints.segments import bp as segments_bp
    from app.blueprints.settings import bp as settings_bp
    from app.blueprints.signup_forms import bp as signup_forms_bp
    from app.blueprints.sms import bp as sms_bp
    from app.blueprints.subscribers import bp as subscribers_bp
    from app.blueprints.suppressions import bp as suppressions_bp
    from app.blueprints.team import bp as team_bp
    from app.blueprints.validation import bp as validation_bp
    from app.blueprints.webhook_endpoints import bp as webhook_endpoints_bp
    from app.blueprints.webhooks import bp as webhooks_bp

    for bp in (
        auth_bp,
        overview_bp,
        lists_bp,
        segments_bp,
        categories_bp,
        subscribers_bp,
        signup_forms_bp,
        referrals_bp,
        loyalty_bp,
        gift_cards_bp,
        suppressions_bp,
        templates_bp,
        media_bp,
        campaigns_bp,
        messages_bp,
        sms_bp,
        flows_bp,
        customer_events_bp,
        products_bp,
        deliveries_bp,
        insights_bp,
        advisor_bp,
        providers_bp,
        domains_bp,
        pools_bp,
        ips_bp,
        alerts_bp,
        api_keys_bp,
        team_bp,
        audit_log_bp,
        webhook_endpoints_bp,
        validation_bp,
        settings_bp,
        outbox_bp,
        public_bp,
        webhooks_bp,
        api_bp,
    ):
        app.register_blueprint(bp)


# Only Herald's own scripts run; marketer HTML is previewed in sandboxed iframes.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: https: http:; "
    "font-src 'self' data:; connect-src 'self'; frame-src 'self'; frame-ancestors 'self'; "
    "form-action 'self'; base-uri 'self'; object-src 'none'"
)


def _register_favicon(app: Flask) -> None:
    # Browsers ask for /favicon.ico whatever the page says.
    app.add_url_rule("/favicon.ico", "favicon", lambda: app.send_static_file("favicon.svg"))


def _register_security_headers(app: Flask) -> None:
    @app.after_request
    def headers(response):
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
        response.headers.setdefault("X-Frame-Options", "SAMEORIGIN")
        return response


def _register_error_pages(app: Flask) -> None:
    from flask_wtf.csrf import CSRFError

    from app.services.errors import DomainError

    def _wants_json() -> bool:
        return request.path.startswith("/api/")

    def _page(code: int, title: str, message: str):
        if _wants_json():
            return {"error": {"code": title.lower().replace(" ", "_"), "message": message, "fields": {}}}, code
        return render_template("errors/error.html", code=code, title=title, message=message), code

    @app.errorhandler(404)
    def not_found(e):
        if request.blueprint == "public":  # a recipient: no dashboard wording, no dashboard links
            return render_template("public/not_found.html", workspace=None), 404
        return _page(404, "Not found", "That page does not exist, or it belongs to another workspace.")

    @app.errorhandler(403)
    def forbidden(e):
        # workspace_view's answer to someone signed in who belongs to no workspace (removed from it).
        return _page(403, "Not allowed", "You are not a member of a workspace here: ask an owner to invite you.")

    @app.errorhandler(405)
    def not_allowed(e):
        return _page(405, "Method not allowed", "That address does not accept this kind of request.")

    @app.errorhandler(413)
    def too_large(e):
        return _page(413, "Too large", "The upload is larger than this server accepts.")

    @app.errorhandler(429)
    def too_many(e):
        return _page(429, "Too many requests", "Too many attempts: wait a minute and try again.")

    @app.errorhandler(CSRFError)
    def csrf_error(e):
        return _page(400, "Form expired", "The form expired or was sent from elsewhere: reload the page and try again.")

    @app.errorhandler(DomainError)
    def domain_error(e):
        # A view that did not catch its service's error still answers in the user's language.
        if _wants_json():
            return {"error": {"code": e.code, "message": e.message, "fields": e.fields}}, e.status
        if e.status == 404:
            return not_found(e)
        return render_template(
            "errors/error.html", code=e.status, title="That did not work", message=e.message
        ), e.status

    @app.errorhandler(500)
    def server_error(e):
        db.session.rollback()
        return _page(500, "Something went wrong", "Herald hit an error; nothing was changed. The error is logged.")


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, connection_record):
    # web, worker and scheduler write to one SQLite file at once: WAL and a busy timeout.
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        cur = dbapi_connection.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA busy_timeout=10000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()
