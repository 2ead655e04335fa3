"""An SMTP server (aiosmtpd) that stores what it receives in the development outbox."""

from aiosmtpd.controller import Controller

from app.extensions import db
from app.services.delivery.outbox import store_caught_message


class AdvertisesPipelining:
    """An aiosmtpd handler mixin: EHLO offers PIPELINING (RFC 2920), as production relays
    (Postfix, SES, the big ESPs) do. aiosmtpd reads commands one line at a time in order,
    which is all pipelining asks of a server; it just does not say so."""

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname  # what aiosmtpd does itself when no hook is set
        return responses[:-1] + ["250-PIPELINING", responses[-1]]


class CatcherHandler(AdvertisesPipelining):
    def __init__(self, app):
        self.app = app

    async def handle_DATA(self, server, session, envelope):

        with self.app.app_context():
            try:
                store_caught_message(
                    envelope.mail_from or "", list(envelope.rcpt_tos), envelope.original_content or envelope.content
                )
                db.session.commit()
            except Exception as exc:  # the sender sees a temporary failure and keeps the message
                db.session.rollback()
                self.app.logger.exception("mail catcher could not store a message")
                return f"451 4.3.0 could not store message: {type(exc).__name__}"
        return "250 2.0.0 caught"


def start_catcher(app, host: str, port: int) -> Controller:
    controller = Controller(CatcherHandler(app), hostname=host, port=port, data_size_limit=30 * 1024 * 1024)
    controller.start()
    return controller
