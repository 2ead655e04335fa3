"""The content checks a campaign's message gets before every send, read from the message as it
would go out (outgoing.py): size against Gmail's clipping, images and their alt text, the text
part, the preheader, link shorteners and link text naming another domain, the subject; and
SpamAssassin's score (spamassassin.py) as one more finding. An A/B test's variants get the same
checks, each finding named for its variant (`subject_caps:b`, "Variant B: …"), except those of the
parts a variant sends as the campaign does: the campaign's finding already says it.

Each finding is a dict {check, severity: info|warning|critical, message (plain words),
evidence (what was found, numbers with their denominators), fix: {action: "open_builder",
label, block?} | None}. A healthy message gives no findings.

check_message(msg: Outgoing, design=None) -> list[dict]        every content check (pure)
spam_finding(result: SpamResult) -> dict | None                 the SpamAssassin score as a finding
check_campaign(workspace_id, campaign_id, spam=True) -> list    the campaign (and each variant) rendered, then
                                                                all of the above
"""

import re
from html.parser import HTMLParser
from urllib.parse import urlsplit

from app.services.advisor import outgoing, spamassassin
from app.services.advisor.outgoing import Outgoing
from app.services.content.html_text import html_to_text
from app.services.designs.compiler import GMAIL_CLIP_BYTES
from app.services.errors import ValidationError

SIZE_WARNING_BYTES = 80 * 1024  # under Gmail's 102 KB with room for longer links and personal data
SUBJECT_MAX = 80
MIN_TEXT_PER_IMAGE = 100  # visible characters of text per image below which it reads as an image mail
IMAGE_ONLY_TEXT = 100  # fewer visible characters than this beside images: an image-only email
SHORTENERS = frozenset(
    "bit.ly bitly.com tinyurl.com t.co goo.gl ow.ly is.gd buff.ly rebrand.ly cutt.ly shorturl.at "
    "tiny.cc rb.gy t.ly v.gd bl.ink soo.gd s.id clck.ru lnkd.in db.tt qr.ae adf.ly shorte.st "
    "trib.al dlvr.it fb.me youtu.be amzn.to".split()
)
_DOMAIN_TEXT = re.compile(r"^(?:https?://)?((?:[a-z0-9-]+\.)+[a-z]{2,})(?:[/:?#]\S*)?$", re.I)
_CAPS_WORD = re.compile(r"\b[A-Z]{4,}\b")
_PUNCT_RUN = re.compile(r"[!?]{2,}|\${2,}")
_URL = re.compile(r"\S+://\S+")
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none", re.I)


def finding(check: str, severity: str, message: str, evidence: dict, fix: dict | None = None) -> dict:
    return {"check": check, "severity": severity, "message": message, "evidence": evidence, "fix": fix}


def builder_fix(label: str, block: str | None = None) -> dict:
    fix = {"action": "open_builder", "label": label}
    if block:
        fix["block"] = block
    return fix


# -- Reading the HTML ---------------------------------------------------------------------


class _Reader(HTMLParser):
    """The images (src, alt, size) and links (href, visible text) of an email, hidden parts skipped."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.images: list[dict] = []
        self.anchors: list[dict] = []
        self._open: list[tuple[str, bool]] = []  # (tag, hidden) of the elements we are inside
        self._anchor: dict | None = None

    def _hidden(self) -> bool:
        return any(h for _, h in self._open)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        hidden = bool(_HIDDEN_STYLE.search(a.get("style") or "")) or "hidden" in a
        if tag == "img":
            if not (hidden or self._hidden()):
                self.images.append(
                    {"src": a.get("src") or "", "alt": a.get("alt"), "w": a.get("width"), "h": a.get("height")}
                )
            return
        if tag in ("br", "hr", "meta", "link", "input", "source", "col", "area", "base", "wbr"):
            return
        self._open.append((tag, hidden))
        if tag == "a" and not self._hidden():
            self._anchor = {"href": a.get("href") or "", "text": ""}

    def handle_endtag(self, tag):
        if tag == "a" and self._anchor is not None:
            self.anchors.append(self._anchor)
            self._anchor = None
        for i in range(len(self._open) - 1, -1, -1):  # forgiving: close up to the matching tag
            if self._open[i][0] == tag:
                del self._open[i:]
                break

    def handle_data(self, data):
        if self._anchor is not None:
            self._anchor["text"] += data


def _read(html: str) -> _Reader:
    reader = _Reader()
    reader.feed(html or "")
    reader.close()
    return reader


def _is_pixel(img: dict) -> bool:
    """A tracking pixel or spacer: 1×1-ish, or Herald's own open pixel."""
    small = all(
        (v or "").strip().rstrip("px").isdigit() and int((v or "").strip().rstrip("px")) <= 2
        for v in (img["w"], img["h"])
    )
    return small or "/t/o/" in img["src"]


def content_images(html: str) -> list[dict]:
    return [img for img in _read(html).images if not _is_pixel(img)]


def visible_text(msg: Outgoing) -> str:
    """The words a reader sees in the HTML: the hidden preheader left out."""
    text = html_to_text(_strip_hidden(msg.html_untracked or msg.html))
    return " ".join(text.split())


_HIDDEN_DIV = re.compile(r"<div[^>]*display\s*:\s*none[^>]*>.*?</div>", re.I | re.S)


def _strip_hidden(html: str) -> str:
    return _HIDDEN_DIV.sub("", html)


def _host(url: str) -> str:
    try:
        host = (urlsplit(url.strip()).hostname or "").lower()
    except ValueError:
        return ""
    return host[4:] if host.startswith("www.") else host


def _same_site(a: str, b: str) -> bool:
    return a == b or a.endswith("." + b) or b.endswith("." + a)


# -- The checks ---------------------------------------------------------------------------


def check_size(msg: Outgoing) -> list[dict]:
    size = len(msg.html.encode("utf-8"))
    evidence = {"html_bytes": size, "clip_limit_bytes": GMAIL_CLIP_BYTES}
    fix = builder_fix("Make the email shorter in the builder")
    if size > GMAIL_CLIP_BYTES:
        return [
            finding(
                "html_size",
                "critical",
                f"The email's HTML is {size / 1024:.0f} KB; Gmail shows only the first 102 KB and hides the rest, "
                "unsubscribe link and open tracking included. Shorten it or split it.",
                evidence,
                fix,
            )
        ]
    if size > SIZE_WARNING_BYTES:
        return [
            finding(
                "html_size",
                "warning",
                f"The email's HTML is {size / 1024:.0f} KB, close to the 102 KB where Gmail clips it.",
                evidence,
                fix,
            )
        ]
    return []


def check_alt_text(msg: Outgoing, design: dict | None = None) -> list[dict]:
    images = content_images(msg.html_untracked or msg.html)
    missing = [img["src"] for img in images if not (img["alt"] or "").strip()]
    if not missing:
        return []
    return [
        finding(
            "image_alt_text",
            "warning",
            f"{len(missing)} of {len(images)} images have no alt text. Many mail apps block images until the "
            "reader allows them: alt text is what they see meanwhile.",
            {"without_alt": len(missing), "images": len(images), "sources": missing[:10]},
            builder_fix("Add alt text in the builder", _image_block(design, missing)),
        )
    ]


def check_image_ratio(msg: Outgoing) -> list[dict]:
    images = content_images(msg.html_untracked or msg.html)
    if not images:
        return []
    chars = len(visible_text(msg))
    evidence = {"text_characters": chars, "images": len(images), "characters_per_image": chars // len(images)}
    fix = builder_fix("Add text in the builder")
    if chars < IMAGE_ONLY_TEXT:
        return [
            finding(
                "image_only",
                "critical",
                f"The email is images with almost no text ({chars} characters beside {len(images)} images). "
                "Spam filters score image-only mail high, and readers with images off see nothing: add real text.",
                evidence,
                fix,
            )
        ]
    if chars < MIN_TEXT_PER_IMAGE * len(images):
        return [
            finding(
                "image_ratio",
                "warning",
                f"There is little text for the images ({chars} characters for {len(images)} images). "
                f"Aim for at least {MIN_TEXT_PER_IMAGE} characters of text per image.",
                evidence,
                fix,
            )
        ]
    return []


def check_text_part(msg: Outgoing) -> list[dict]:
    text = " ".join(_URL.sub("", msg.text).split())  # the words, not the links' addresses
    html_chars = len(visible_text(msg))
    evidence = {
        "text_part_characters": len(text),
        "html_text_characters": html_chars,
        "own_text_part": msg.has_own_text,
    }
    if len(text) < 20:
        return [
            finding(
                "text_part",
                "warning",
                "The plain-text part is empty: mail apps that show text, and spam filters, see a message with "
                "nothing in it. Add text to the email (or write a text version).",
                evidence,
                builder_fix("Add text in the builder"),
            )
        ]
    if msg.has_own_text and html_chars >= 200 and len(text) < html_chars * 0.3:
        return [
            finding(
                "text_part",
                "warning",
                f"The plain-text version is much shorter than the email ({len(text)} characters against "
                f"{html_chars}): filters read a mismatch as a sign of spam. Make it complete.",
                evidence,
                None,
            )
        ]
    return []


def check_preheader(msg: Outgoing) -> list[dict]:
    if msg.preheader.strip():
        return []
    return [
        finding(
            "preheader",
            "info",
            "The email has no preview text: inboxes show whatever text comes first instead (often "
            "“View in browser”). Write a line that makes people open it.",
            {"preheader_characters": 0},
            builder_fix("Add preview text"),
        )
    ]


def check_shorteners(msg: Outgoing) -> list[dict]:
    links = list(dict.fromkeys(msg.links + [a["href"] for a in _read(msg.html_untracked).anchors]))
    web = [u for u in links if u.lower().startswith(("http://", "https://"))]
    short = [u for u in web if _host(u) in SHORTENERS]
    if not short:
        return []
    return [
        finding(
            "link_shortener",
            "warning",
            f"{len(short)} of {len(web)} links go through a URL shortener, which hides where they lead; "
            "spammers use them, so filters distrust them. Link to the page itself.",
            {"shortened": len(short), "links": len(web), "urls": short[:10]},
            builder_fix("Replace the short links in the builder"),
        )
    ]


def check_link_text(msg: Outgoing) -> list[dict]:
    anchors = _read(msg.html_untracked or msg.html).anchors
    mismatched = []
    for a in anchors:
        shown = " ".join(a["text"].split())
        m = _DOMAIN_TEXT.match(shown)
        target = _host(a["href"])
        if not m or not target:
            continue
        claimed = m.group(1).lower().removeprefix("www.")
        if not _same_site(claimed, target):
            mismatched.append({"text": shown[:200], "href": a["href"][:500]})
    if not mismatched:
        return []
    return [
        finding(
            "link_text_mismatch",
            "critical",
            f"{len(mismatched)} of {len(anchors)} links show one web address and lead to another: this is how "
            "phishing looks, and filters treat it so. Make each link's text match where it goes.",
            {"mismatched": len(mismatched), "links": len(anchors), "examples": mismatched[:5]},
            builder_fix("Fix the links in the builder"),
        )
    ]


def check_subject(msg: Outgoing) -> list[dict]:
    subject = (msg.subject or "").strip()
    if not subject:
        return [finding("subject", "critical", "The email has no subject. Give it one.", {"characters": 0}, None)]
    out = []
    if len(subject) > SUBJECT_MAX:
        out.append(
            finding(
                "subject_length",
                "warning",
                f"The subject is {len(subject)} characters; inboxes cut it off around {SUBJECT_MAX} (phones sooner). "
                "Put what matters first, or shorten it.",
                {"characters": len(subject), "limit": SUBJECT_MAX},
                None,
            )
        )
    words = re.findall(r"[A-Za-z]{2,}", subject)
    caps = _CAPS_WORD.findall(subject)
    all_caps = len(words) >= 2 and all(w.isupper() for w in words)
    if all_caps or len(caps) >= 2:
        out.append(
            finding(
                "subject_caps",
                "warning",
                "The subject shouts in capital letters; filters and readers take that as spam. Write it in normal case.",
                {"capitalized_words": caps[:10], "words": len(words)},
                None,
            )
        )
    runs = _PUNCT_RUN.findall(subject)
    if runs:
        out.append(
            finding(
                "subject_punctuation",
                "warning",
                f"The subject has runs of punctuation ({', '.join(runs[:3])}), a classic spam sign. Use one mark at most.",
                {"runs": runs[:10]},
                None,
            )
        )
    return out


def _image_block(design: dict | None, sources: list[str]) -> str | None:
    """The builder block of the first image without alt text, when the template is a visual design."""
    if not design:
        return None
    wanted = set(sources)
    stack = list(design.get("blocks") or [])
    while stack:
        block = stack.pop(0)
        if not isinstance(block, dict):
            continue
        props = block.get("props") or {}
        if block.get("type") == "image" and not (props.get("alt") or "").strip():
            if not wanted or props.get("src") in wanted or any(s.endswith(str(props.get("src"))) for s in wanted):
                return block.get("id")
        stack[:0] = list(block.get("children") or []) + list(block.get("else") or [])
    return None


def check_message(msg: Outgoing, design: dict | None = None) -> list[dict]:
    """Every content check over one rendered message; `design`: its visual design, to name blocks."""
    return [
        *check_subject(msg),
        *check_size(msg),
        *check_image_ratio(msg),
        *check_alt_text(msg, design),
        *check_text_part(msg),
        *check_preheader(msg),
        *check_shorteners(msg),
        *check_link_text(msg),
    ]


def spam_finding(result: spamassassin.SpamResult) -> dict | None:
    """The score as a finding: at or over the threshold critical, over half of it a warning, spamd
    down an info with its sentence; None below half."""
    if not result.available:
        return finding("spamassassin", "info", result.message or "", {"available": False}, None)
    threshold = result.threshold or 5.0
    if result.score < threshold / 2:
        return None
    top = spamassassin.top_rules(result)
    reasons = [spamassassin.explain(r.name) or r.description for r in top]
    severity = "critical" if result.score >= threshold else "warning"
    verdict = "scores as spam" if severity == "critical" else "is getting close to the spam line"
    message = f"SpamAssassin gives it {result.score:g} points (spam from {threshold:g}): it {verdict}."
    if reasons:
        message += " Mostly: " + " ".join(reasons)
    evidence = {
        "score": result.score,
        "threshold": threshold,
        "rules": [{"name": r.name, "score": r.score, "description": r.description} for r in top],
    }
    return finding("spamassassin", severity, message, evidence, None)


def check_campaign(workspace_id: int, campaign_id: int, spam: bool = True) -> list[dict]:
    """The campaign's message as it would go out, for its first recipient, through every content
    check, and (`spam`) SpamAssassin; then each A/B variant's that differs from it. NotFound for
    another workspace's campaign; a template that fails to render is one critical finding, not an
    exception."""
    from app.services.campaigns.ab_tests import list_variants
    from app.services.campaigns.drafts import get_campaign

    campaign = get_campaign(workspace_id, campaign_id)
    person = outgoing.sample_person(campaign)
    content = outgoing.campaign_content(campaign)
    findings = _check_content(campaign, content, campaign.template_id, person, spam)
    for variant in list_variants(campaign.id) if campaign.ab_test else []:
        own = outgoing.variant_content(campaign, variant, content)
        shared = outgoing.shared_parts(campaign, content, own)
        if shared == set(outgoing.PARTS):
            continue  # the campaign's message itself: its findings are said already
        found = _check_content(campaign, own, variant.template_id or campaign.template_id, person, spam)
        findings += [_of_variant(f, variant.label) for f in found if _own(f, shared, findings)]
    return findings


# What part of the message each check reads; the others (SpamAssassin, rendering) read all of it.
_CHECKS_OF_PART = {
    "subject": ("subject", "subject_length", "subject_caps", "subject_punctuation"),
    "preheader": ("preheader",),
    "body": ("html_size", "image_only", "image_ratio", "image_alt_text", "text_part", "link_shortener",
             "link_text_mismatch"),
}  # fmt: skip
_PART_OF = {check: part for part, checks in _CHECKS_OF_PART.items() for check in checks}


def _check_content(campaign, content: dict, template_id: int, person: dict, spam: bool) -> list[dict]:
    try:
        msg = outgoing.build_outgoing(campaign, content, person)
    except ValidationError as exc:
        return [finding("template_renders", "critical", exc.message, {}, builder_fix("Fix the template"))]
    findings = check_message(msg, _design_of(campaign.workspace_id, content, template_id))
    if spam:
        found = spam_finding(spamassassin.score(msg.raw))
        if found:
            findings.append(found)
    return findings


def _own(f: dict, shared: set[str], campaigns: list[dict]) -> bool:
    """A variant's finding worth its own line: about a part it changed, or (a check of the whole
    message) not the very finding the campaign has, as spamd being down is."""
    part = _PART_OF.get(f["check"])
    if part is not None:
        return part not in shared
    return not any((c["check"], c["message"], c["evidence"]) == (f["check"], f["message"], f["evidence"])
                   for c in campaigns)  # fmt: skip


def _of_variant(f: dict, label: str) -> dict:
    return {**f, "check": f"{f['check']}:{label.lower()}", "message": f"Variant {label}: {f['message']}",
            "evidence": {"variant": label, **f["evidence"]}}  # fmt: skip


def _design_of(workspace_id: int, content: dict, template_id: int) -> dict | None:
    from app.services.content.templates import get_template

    if content.get("template_id") not in (None, template_id):
        return None  # sending an older copy: its blocks may not be the template's now
    return getattr(get_template(workspace_id, template_id), "design", None)
