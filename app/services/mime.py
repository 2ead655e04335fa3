"""A multipart/alternative message built from a skeleton: headers once, bodies per message.

`email.message.EmailMessage` per message costs ~1.7 ms; this costs a fraction of that and
produces the same wire format (RFC 5322 headers, quoted-printable UTF-8 parts, CRLF).
"""

import binascii
import secrets
from email.header import Header
from email.utils import formataddr, formatdate


def encode_header(value: str) -> str:
    if value.isascii() and len(value) < 900:
        return value
    return Header(value, "utf-8", maxlinelen=76).encode(linesep="\r\n")


def address(name: str | None, email: str) -> str:
    return formataddr((name or "", email), charset="utf-8") if name else email


def _qp(text: str) -> bytes:
    data = text.replace("\r\n", "\n").encode("utf-8")
    return binascii.b2a_qp(data, istext=True).replace(b"\n", b"\r\n")


class MessageSkeleton:
    """Headers shared by every message of one campaign."""

    def __init__(self, from_name: str, from_email: str, reply_to: str | None = None, extra_headers: dict | None = None):
        lines = [f"From: {address(from_name, from_email)}"]
        if reply_to:
            lines.append(f"Reply-To: {reply_to}")
        for k, v in (extra_headers or {}).items():
            lines.append(f"{k}: {v}")
        lines.append("MIME-Version: 1.0")
        self.fixed = "\r\n".join(lines)
        self.domain = from_email.rsplit("@", 1)[-1]

    def build(
        self,
        to_name: str | None,
        to_email: str,
        subject: str,
        html: str,
        text: str,
        message_id: str,
        headers: dict | None = None,
    ) -> bytes:
        boundary = "=_herald_" + secrets.token_hex(12)
        head = [
            self.fixed,
            f"To: {address(to_name, to_email)}",
            f"Subject: {encode_header(subject)}",
            f"Date: {formatdate(usegmt=True)}",
            f"Message-ID: {message_id}",
        ]
        for k, v in (headers or {}).items():
            head.append(f"{k}: {v}")
        head.append(f'Content-Type: multipart/alternative; boundary="{boundary}"')
        b = boundary.encode()
        return b"".join(
            [
                "\r\n".join(head).encode("utf-8"),
                b"\r\n\r\n",
                b"--",
                b,
                b"\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n",
                _qp(text),
                b"\r\n--",
                b,
                b"\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n",
                _qp(html),
                b"\r\n--",
                b,
                b"--\r\n",
            ]
        )
