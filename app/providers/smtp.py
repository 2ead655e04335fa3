"""SMTP: one reused connection per batch, STARTTLS or implicit TLS, optional AUTH, and (when a dedicated
IP is bound to the provider) connections that leave from that address."""

import errno
import ipaddress
import re
import smtplib
import socket
import ssl
from dataclasses import dataclass

from app.providers import SendResult, TransportUnavailable, checks
from app.providers.addresses import ascii_address, refusal
from app.providers.netguard import BlockedDestination, check_peer, check_resolved, host_refusal
from app.providers.spec import InvalidSettings, ProviderSpec, TransportOptions, credential, secret, setting, string

UNWRITABLE = (
    "This address cannot be written in a command to the mail server (it holds a line break or an "
    "unusable character). Nothing was sent to it."
)
SENDER_NOT_ASCII = (
    "The sender address has non-ASCII letters before the @ and the mail server does not accept "
    "such addresses (no SMTPUTF8): choose a sender address in plain ASCII letters."
)
# What `use_tls` may say, and what it means: False (plain), "starttls" or "ssl".
TLS_MODES = {False: False, "false": False, "none": False, "": False, "starttls": "starttls", "ssl": "ssl"}
_ENHANCED = re.compile(r"\b([245]\.\d{1,3}\.\d{1,3})\b")
# An address smtplib.quoteaddr would return as "<address>" unchanged (dot-atoms, ASCII):
# for these, MAIL FROM and RCPT TO skip its RFC 822 parser (~8 µs an address).
_PLAIN_ADDRESS = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"
)


@dataclass
class SMTPSettings:
    host: str
    port: int
    use_tls: str | bool = False  # False | "starttls" | "ssl"
    username: str | None = None
    password: str | None = None
    timeout: float = 30.0
    local_hostname: str | None = None
    source_address: str | None = None  # the dedicated IP the connection leaves from (None: the system's choice)


def _reply(code: int, msg) -> tuple[str, str | None]:
    text = msg.decode("utf-8", "replace") if isinstance(msg, bytes) else str(msg)
    m = _ENHANCED.search(text)
    return f"{code} {text}".strip(), (m.group(1) if m else None)


class CheckedSMTP(smtplib.SMTP):
    """smtplib.SMTP that refuses link-local and metadata addresses (netguard), before and after connecting."""

    def _get_socket(self, host, port, timeout):
        check_resolved(host, port)
        sock = super()._get_socket(host, port, timeout)
        check_peer(sock, host)
        return sock


class CheckedSMTPSSL(smtplib.SMTP_SSL, CheckedSMTP):
    """SMTP_SSL whose plain socket is checked (CheckedSMTP) before TLS starts."""


class SMTPTransport:
    """Sends raw messages over one connection, reconnecting when the server drops it."""

    def __init__(self, settings: SMTPSettings):
        self.settings = settings
        self.conn: smtplib.SMTP | None = None

    def open(self) -> None:
        s = self.settings
        source = (s.source_address, 0) if s.source_address else None
        try:
            if s.use_tls == "ssl":
                conn = CheckedSMTPSSL(
                    s.host,
                    s.port,
                    timeout=s.timeout,
                    local_hostname=s.local_hostname,
                    source_address=source,
                    context=ssl.create_default_context(),
                )
            else:
                conn = CheckedSMTP(
                    s.host, s.port, timeout=s.timeout, local_hostname=s.local_hostname, source_address=source
                )
                if s.use_tls == "starttls":
                    conn.starttls(context=ssl.create_default_context())
            if s.username:
                conn.login(s.username, s.password or "")
        except BlockedDestination as exc:
            raise TransportUnavailable(f"cannot connect to {s.host}:{s.port}: {exc}") from exc
        except smtplib.SMTPAuthenticationError as exc:
            raise TransportUnavailable(f"authentication failed: {_reply(exc.smtp_code, exc.smtp_error)[0]}") from exc
        except (OSError, smtplib.SMTPException, ssl.SSLError) as exc:
            raise TransportUnavailable(_connect_failure(s, exc)) from exc
        self.conn = conn

    def check(self) -> None:
        """Connect, greet, authenticate and quit; raises TransportUnavailable with the reason."""
        self.open()
        try:
            self.conn.noop()
        finally:
            self.close()

    def send(self, mail_from: str, rcpt: str, raw: bytes, ref: str | None = None) -> SendResult:
        """Hand one message to the server; the result says whether, and how, it failed.

        `ref` (Herald's message reference) is unused here: SMTP carries it in a VERP envelope sender.
        """
        for attempt in (1, 2):
            if self.conn is None:
                self.open()
            try:
                # Until the message itself is sent nothing has been handed off, so a dropped
                # connection (an idle timeout between two messages) is retried once on a fresh one.
                self.conn.ehlo_or_helo_if_needed()
                refused = self._envelope(mail_from, rcpt)
                if refused is not None:
                    return refused
                break
            except (smtplib.SMTPServerDisconnected, OSError) as exc:
                self.close()
                if attempt == 2:
                    raise TransportUnavailable(f"connection lost before hand-off: {exc}") from exc
            except (UnicodeError, ValueError):
                # An address no SMTP command can carry (smtplib refuses line breaks, for one):
                # raised before the command left, so this recipient fails and the session goes on.
                self._reset()
                return SendResult(False, failure="unsupported", detail=UNWRITABLE)
        try:
            code, resp = self._data(raw)
        except (smtplib.SMTPException, OSError) as exc:
            self.close()
            return SendResult(False, failure="unknown", detail=f"connection lost during hand-off: {exc}")
        if code != 250:
            self._reset()
            return self._failed(code, resp)
        return SendResult(True, detail=_reply(code, resp)[0])

    def _envelope(self, mail_from: str, rcpt: str) -> SendResult | None:
        """MAIL FROM, RCPT TO and DATA; None once the server waits for the message (354).

        Where the server offers PIPELINING (RFC 2920: Postfix, SES, the big ESPs do) the three
        commands go out together and their replies are read together: two round trips a
        message instead of four, which is most of the wall time of a hand-off on a fast link.
        """
        conn = self.conn
        options = ()
        if not (rcpt.isascii() and mail_from.isascii()):
            envelope = self._international(mail_from, rcpt)
            if envelope.__class__ is SendResult:
                return envelope
            mail_from, rcpt, options = envelope
        if (
            not options
            and conn.has_extn("pipelining")
            and _PLAIN_ADDRESS.fullmatch(mail_from)
            and _PLAIN_ADDRESS.fullmatch(rcpt)
        ):
            conn.send(f"MAIL FROM:<{mail_from}>\r\nRCPT TO:<{rcpt}>\r\nDATA\r\n")
            replies = [conn.getreply(), conn.getreply(), conn.getreply()]
        elif options:  # SMTPUTF8: smtplib's own mail() switches the command encoding to UTF-8
            replies = [conn.mail(mail_from, options)]
            if replies[0][0] == 250:
                replies.append(conn.rcpt(rcpt))
                if replies[1][0] in (250, 251):
                    replies.append(conn.docmd("data"))
        else:
            replies = [self._command("mail", "FROM:", mail_from)]
            if replies[0][0] == 250:
                replies.append(self._command("rcpt", "TO:", rcpt))
                if replies[1][0] in (250, 251):
                    replies.append(conn.docmd("data"))
        for (code, resp), ok in zip(replies, ((250,), (250, 251), (354,)), strict=False):
            if code not in ok:
                if replies[-1][0] == 354:  # the envelope was refused but DATA accepted: end it empty
                    conn.send(b".\r\n")
                    conn.getreply()
                self._reset()
                return self._failed(code, resp)
        return None

    def _international(self, mail_from: str, rcpt: str) -> tuple[str, str, tuple] | SendResult:
        """The envelope when an address is not ASCII: (mail_from, rcpt, MAIL FROM options), or
        the recipient's failure when this server cannot take it.

        A non-ASCII domain alone is written in IDNA (punycode), which every server reads; a
        non-ASCII local part needs SMTPUTF8 (RFC 6531), declared on MAIL FROM.
        """
        ascii_from, ascii_rcpt = ascii_address(mail_from), ascii_address(rcpt)
        if ascii_from is not None and ascii_rcpt is not None:
            return ascii_from, ascii_rcpt, ()
        if self.conn.has_extn("smtputf8"):
            options = ("SMTPUTF8", "BODY=8BITMIME") if self.conn.has_extn("8bitmime") else ("SMTPUTF8",)
            return mail_from, rcpt, options
        if ascii_rcpt is None:
            return refusal(rcpt)
        return SendResult(False, failure="unsupported", detail=SENDER_NOT_ASCII)

    def _command(self, cmd: str, prefix: str, addr: str) -> tuple[int, bytes]:
        """smtplib's mail()/rcpt() without options: the same command, the address quoted the same way."""
        if _PLAIN_ADDRESS.fullmatch(addr):
            self.conn.putcmd(cmd, f"{prefix}<{addr}>")
            return self.conn.getreply()
        return self.conn.mail(addr) if cmd == "mail" else self.conn.rcpt(addr)

    def _data(self, raw: bytes) -> tuple[int, bytes]:
        """The message after DATA's 354, dot-stuffed by bytes.replace (RFC 5321 §4.5.2).

        smtplib's own `data()` stuffs with a regex that costs ~150 µs on a 26 KB message,
        about a seventh of the whole pipeline's CPU; our messages are CRLF-only, so a plain
        replace does the same work in a few microseconds.
        """
        body = raw.replace(b"\r\n.", b"\r\n..")
        if body.startswith(b"."):
            body = b"." + body
        if not body.endswith(b"\r\n"):
            body += b"\r\n"
        self.conn.send(body + b".\r\n")
        return self.conn.getreply()

    def _failed(self, code: int, msg) -> SendResult:
        detail, enhanced = _reply(code, msg)
        kind = "temporary" if 400 <= code < 500 else "permanent"
        return SendResult(False, code=code, failure=kind, detail=detail, enhanced=enhanced)

    def _reset(self) -> None:
        try:
            self.conn.rset()
        except (OSError, smtplib.SMTPException):
            self.close()

    def close(self) -> None:
        if self.conn is not None:
            try:
                self.conn.quit()
            except (OSError, smtplib.SMTPException, socket.error):
                pass
            self.conn = None


# The provider spec ------------------------------------------------------------------------------


def clean_settings(settings: dict, credentials: dict) -> tuple[dict, dict]:
    """The settings and credentials to store for an SMTP relay; raises InvalidSettings naming each wrong field."""
    errors = {}
    host = str(settings.get("host") or "").strip()
    if not host or len(host) > 255 or any(c.isspace() for c in host):
        errors["settings.host"] = "Give the SMTP server's host name."
    elif refused := host_refusal(host):
        errors["settings.host"] = refused
    try:
        port = int(settings.get("port") or 0)
        if not 0 < port < 65536:
            raise ValueError
    except (TypeError, ValueError, OverflowError):  # 1e999 in JSON is infinity
        errors["settings.port"] = "The port is a number between 1 and 65535 (587 for STARTTLS, 465 for TLS)."
        port = None
    tls = settings.get("use_tls", False)
    if isinstance(tls, str):
        tls = tls.lower()
    if not isinstance(tls, (str, bool)) or tls not in TLS_MODES:
        errors["settings.use_tls"] = "TLS mode is one of: none (false), starttls, ssl."
        tls = False
    return_path = checks.text(settings.get("return_path_domain"), 253).lower() or None
    if return_path and not checks.HOST_NAME.match(return_path):
        errors["settings.return_path_domain"] = (
            "A domain name whose MX points at Herald's mailin, e.g. bounces.example.com."
        )
    username = (credentials or {}).get("username") or None
    password = (credentials or {}).get("password") or None
    if password and not username:
        errors["credentials.username"] = "A password needs a username."
    if errors:
        raise InvalidSettings("Please correct the SMTP settings.", errors)
    clean = {"host": host, "port": port, "use_tls": TLS_MODES[tls]}
    if return_path:
        clean["return_path_domain"] = return_path
    return clean, {"username": username, "password": password}


def _connect_failure(s: SMTPSettings, exc: OSError) -> str:
    # The bind to the source address fails before any packet leaves: EADDRNOTAVAIL when no interface of
    # this machine holds the address, an address-family error when it is IPv6 and the relay IPv4 (or back).
    if s.source_address and (exc.errno == errno.EADDRNOTAVAIL or isinstance(exc, socket.gaierror)):
        return (
            f"cannot connect to {s.host}:{s.port} from {s.source_address} (the dedicated IP bound to this "
            f"provider): this machine does not hold that address, or the relay is not reachable from it ({exc})"
        )
    return f"cannot connect to {s.host}:{s.port}: {exc}"


def make_transport(settings: dict, credentials: dict, options: TransportOptions) -> SMTPTransport:
    return SMTPTransport(
        SMTPSettings(
            settings["host"],
            int(settings["port"]),
            settings.get("use_tls") or False,
            credentials.get("username"),
            credentials.get("password"),
            source_address=options.source_address,
        )
    )


def spf_term(settings: dict) -> str | None:
    """The relay's own SPF, when its host publishes one, else its address: what a sending domain's
    SPF must let through. A relay on this machine (development) needs nothing."""
    host = (settings.get("host") or "").strip().lower().rstrip(".")
    if not host or host == "localhost" or host.startswith("127.") or host == "::1":
        return None
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return f"a:{host}"
    return f"ip{ip.version}:{ip}"


SPEC = ProviderSpec(
    type="smtp",
    spf=spf_term,
    label="SMTP",
    blurb="Any SMTP relay: host, port and login. Bounces come back by VERP to Herald's mailin.",
    icon="mail-forward",
    fields=(
        setting(
            "host",
            "SMTP host",
            required=True,
            placeholder="smtp.example.com",
            width=8,
            schema=string(255, "The SMTP server's host name."),
        ),
        setting(
            "port",
            "Port",
            kind="number",
            required=True,
            width=4,
            default=587,
            schema={"type": "integer", "minimum": 1, "maximum": 65535, "description": "587 for STARTTLS, 465 for TLS."},
        ),
        setting(
            "use_tls",
            "Encryption",
            kind="select",
            choices=(
                ("starttls", "STARTTLS (usually port 587)"),
                ("ssl", "TLS from the start (usually port 465)"),
                ("", "None (only for a relay on this machine)"),
            ),
            default="starttls",
            empty=False,
            schema={"enum": [False, "starttls", "ssl"], "description": 'false, "starttls" or "ssl".'},
        ),
        credential("username", "Username", autocomplete="off", width=6, schema=string(320, nullable=True)),
        secret("password", "Password", width=6, strip=False, schema=string(1000, nullable=True)),
        setting(
            "return_path_domain",
            "Bounce domain (VERP)",
            placeholder="bounces.example.com",
            help="Optional. Messages go out with a return path at this domain, so bounces come back to Herald; "
            "its MX must point at the host running mailin.",
            schema=string(
                253, "Optional: send with a VERP return path on this domain (its MX points at `mailin`).", nullable=True
            ),
        ),
    ),
    clean=clean_settings,
    make_transport=make_transport,
    verp=True,
    binds_source_address=True,
    settings_doc="{host, port, use_tls, return_path_domain?}",
    credentials_doc="{username?, password?}",
)
