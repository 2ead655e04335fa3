"""The send pipeline's fast paths give what the stdlib gives: quoted-printable by line with a
memory, placeholders filled while encoding, cached headers, HMAC from prepared states, and
MAIL FROM / RCPT TO without smtplib's address parser."""

import base64
import binascii
import email
import hashlib
import hmac
import quopri
import random
import smtplib
from email import policy
from email.header import Header
from email.utils import formataddr

import pytest

from app.providers.smtp import _PLAIN_ADDRESS
from app.services import tokens
from app.services.content import mime
from app.services.content.mime import MessageSkeleton, QuotedPrintable
from app.services.content.rendering import _PLACEHOLDER_RE, CompiledMessage

ALPHABET = [
    "a", "b", "Z", "0", " ", " ", "\t", ".", "=", "-", "\n", "\n", "\r\n", "\r", "é", "ü", "✓", "€",
    "😀", "\x00", "\x7f", "_", "?", "<", ">", '"', "HERALDLINK0001X", "HERALDPIXELX", "HERALDPREHEADERX",
]  # fmt: skip


def _random_text(rng: random.Random, size: int) -> str:
    parts = []
    for _ in range(size):
        roll = rng.random()
        if roll < 0.05:
            parts.append("x" * rng.randint(60, 400))  # long lines: soft breaks
        elif roll < 0.08:
            parts.append("=" * rng.randint(1, 80))  # escapes at every column
        elif roll < 0.1:
            parts.append(" " * rng.randint(1, 5) + "\n")  # trailing whitespace
        elif roll < 0.12:
            parts.append("\n." + rng.choice(["", "\n", "x", "."]))  # dots at line starts
        else:
            parts.append(rng.choice(ALPHABET))
    return "".join(parts)


def _stdlib_qp(text: str) -> bytes:
    return binascii.b2a_qp(text.encode("utf-8"), istext=True).replace(b"\n", b"\r\n")


def _decoded(qp: bytes) -> bytes:
    return quopri.decodestring(qp.replace(b"\r\n", b"\n"))


def _normalized(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _check_lines(qp: bytes) -> None:
    assert b"\n" not in qp.replace(b"\r\n", b""), "a bare LF"
    assert b"\r" not in qp.replace(b"\r\n", b""), "a bare CR"
    for line in qp.split(b"\r\n"):
        assert len(line) <= 76, line
        assert not line.endswith((b" ", b"\t")), line
        assert all(32 <= c < 127 or c == 9 for c in line), line
        assert line != b".", "a lone dot must be escaped"


@pytest.mark.parametrize("seed", range(300))
def test_plain_encoding_matches_the_stdlib(seed):
    rng = random.Random(seed)
    qp = QuotedPrintable(max_bytes=rng.choice([2_000, 1 << 20]))  # a small memory empties itself often
    for _ in range(4):  # again and again: the remembered lines must give the same bytes
        text = _random_text(rng, rng.randint(0, 200))
        out = qp.encode(text)
        assert _decoded(out) == _normalized(text).encode("utf-8")
        _check_lines(out)
        if not any(line.endswith((" ", "\t")) for line in _normalized(text).split("\n")):
            # The same bytes; only whitespace at the end of a line may differ: within a whole
            # text b2a_qp escapes it after its line-length check and may write 77 characters.
            assert out == _stdlib_qp(_normalized(text))


@pytest.mark.parametrize("seed", range(300))
def test_placeholders_filled_while_encoding_decode_like_substituting_first(seed):
    rng = random.Random(seed)
    qp = QuotedPrintable(_PLACEHOLDER_RE, max_bytes=rng.choice([3_000, 1 << 20]))
    values = ["", "https://h.example/t/c/1.2.abc", "é=ü " * rng.randint(0, 30), "x" * 300, " ", ".", "a\nb", "\r\n"]
    for _ in range(4):
        text = _random_text(rng, rng.randint(0, 200))
        chosen = {k: rng.choice(values) for k in ("LINK", "PIXEL", "PREHEADER")}

        def fill(m, chosen=chosen):
            return chosen["LINK"] + m.group(2) if m.group(2) else chosen[m.group(1)]

        out = qp.encode(text, fill)
        expected = _normalized(_PLACEHOLDER_RE.sub(fill, _normalized(text)))
        assert _decoded(out) == expected.encode("utf-8")
        _check_lines(out)


def test_a_newsletter_with_lines_shared_across_messages():
    html = "\n".join(
        [
            f'<td style="padding:0 8px;font-family:Helvetica,Arial,sans-serif;color:#1b1f24">Row {i}</td>'
            for i in range(50)
        ]
        + ['  <a href="HERALDLINK0001X" style="display:inline-block;background-color:#1d6f42;color:#fff">Shop</a>']
        + ["HERALDPIXELX</body>"]
    )
    qp = QuotedPrintable(_PLACEHOLDER_RE)
    for rid in range(5):

        def fill(m, rid=rid):
            if m.group(2):
                return f"https://h.example/t/c/{rid}.{m.group(2)}.sig"
            return f'<img src="https://h.example/t/o/{rid}.gif" width="1" height="1" alt="">'

        out = qp.encode(html, fill)
        filled = _PLACEHOLDER_RE.sub(fill, html)
        assert _decoded(out) == filled.encode()
        _check_lines(out)
        shared = "\n".join(html.split("\n")[:50]) + "\n"
        assert out.startswith(_stdlib_qp(shared))  # lines without placeholders: the stdlib's bytes
    assert len(qp.lines) == 50 and len(qp.plans) == 2  # the link and pixel lines are remembered as plans


def test_render_encoded_is_render_encoded_with_the_stdlib():
    compiled = CompiledMessage(
        "Hi {{ subscriber.name }}",
        '<body><p>Hi {{ subscriber.name }}, <a href="https://shop.example.com/a?x=1&amp;y=2">shop</a></p>'
        + "<p>" + "long text " * 40 + "</p>\n.\n<p>trailing space </p>\n</body>",
        None,
        "Preview for {{ subscriber.name }}",
        link_ids={"https://shop.example.com/a?x=1&y=2": 7},
        track_opens=True,
    )  # fmt: skip
    ctx = {"subscriber": {"name": "Zoë <Z>"}}

    def link_url(lid):
        return f"https://h.example/t/c/{lid}.sig"

    plain = compiled.render(ctx, link_url=link_url, pixel_url="https://h.example/t/o/1.gif")
    for _ in range(2):
        enc = compiled.render_encoded(ctx, link_url=link_url, pixel_url="https://h.example/t/o/1.gif")
        assert enc.subject == plain.subject
        assert _decoded(enc.html) == _normalized(plain.html).encode()
        assert _decoded(enc.text) == _normalized(plain.text).encode()
        _check_lines(enc.html)
        _check_lines(enc.text)
    raw = MessageSkeleton("Shop", "news@shop.example.com").build(
        None, "z@example.com", enc.subject, enc.html, enc.text, "<1@shop.example.com>"
    )
    msg = email.message_from_bytes(raw, policy=policy.default)
    assert msg.get_body(("html",)).get_content().replace("\r\n", "\n") == _normalized(plain.html)
    assert msg.get_body(("plain",)).get_content().replace("\r\n", "\n") == _normalized(plain.text)


def test_qp_wrap_never_splits_an_escape():
    rng = random.Random(1)
    for _ in range(2000):
        line = "".join(rng.choice(["a", "=", "é", " "]) for _ in range(rng.randint(0, 400)))
        escaped = mime.qp_escape(line)
        wrapped = mime.qp_wrap(escaped)
        *parts, last = wrapped.split(b"=\r\n")
        assert all(len(part) <= 75 for part in parts) and len(last) <= 76  # with the "=": 76 at most
        assert quopri.decodestring(wrapped.replace(b"\r\n", b"\n")) == line.encode()


@pytest.mark.parametrize(
    "name",
    ["Chloé Silva", "Ana Müller", 'Jo "JJ" Smith', "O'Brien, Pat", "Plain Name", "日本 太郎", "é" * 80, "a" * 100],
)
def test_address_and_header_caches_give_the_stdlib_values(name):
    for addr in ("x@y.com", "user0000001@example.com"):
        assert mime.address(name, addr) == formataddr((name, addr), charset="utf-8")
        assert mime.address(name, addr) == formataddr((name, addr), charset="utf-8")  # cached
    assert mime.address(None, "x@y.com") == "x@y.com"
    subject = f"{name}, your picks"
    expected = subject if subject.isascii() else Header(subject, "utf-8", maxlinelen=76).encode(linesep="\r\n")
    assert mime.encode_header(subject) == expected
    assert mime.encode_header(subject) == expected
    # Internationalized addresses (RFC 6532): the local part stays UTF-8, the domain goes IDNA.
    assert (
        mime.address(name, "zoë@example.com") == f"{formataddr((name, 'a@b'), charset='utf-8')[:-6]} <zoë@example.com>"
    )
    assert mime.address(name, "zoe@exämple.com") == formataddr((name, "zoe@xn--exmple-cua.com"), charset="utf-8")


def test_tokens_sign_as_hmac_sha256():
    rng = random.Random(2)
    for _ in range(2000):
        key = rng.randbytes(rng.choice([0, 1, 32, 64, 65, 100]))
        payload = ".".join(tokens._b36(rng.randrange(10**12)) for _ in range(rng.randint(1, 3)))
        mac = hmac.new(key, payload.encode(), hashlib.sha256).digest()[:12]
        assert tokens._sign(key, payload) == base64.urlsafe_b64encode(mac).decode()
    maker = tokens.TokenMaker("s3cret")
    token = maker.make("click", 123456, 7)
    assert tokens.read_token("click", token, 2, secret="s3cret") == (123456, 7)
    assert tokens.read_token("open", token, 2, secret="s3cret") is None


def test_plain_addresses_are_quoted_as_smtplib_quotes_them():
    rng = random.Random(3)
    local = "abcXYZ019!#$%&'*+/=?^_`{|}~-"
    samples = ["user0000001@example.com", "a.b+c@x-y.example.org", "o'brien@x.ie", "a@b"]
    for _ in range(5000):
        parts = ["".join(rng.choice(local) for _ in range(rng.randint(1, 6))) for _ in range(rng.randint(1, 3))]
        host = ".".join("".join(rng.choice("abc-019") for _ in range(rng.randint(1, 5))) for _ in range(2))
        samples.append(".".join(parts) + "@" + host)
    for addr in samples:
        assert _PLAIN_ADDRESS.fullmatch(addr), addr
        assert smtplib.quoteaddr(addr) == f"<{addr}>", addr
    for addr in ["Ann <a@b.c>", "a..b@c.d", '"a b"@c.d', "a@b..c", "zoë@example.com", "a@[1.2.3.4]", " a@b.c"]:
        assert not _PLAIN_ADDRESS.fullmatch(addr), addr
