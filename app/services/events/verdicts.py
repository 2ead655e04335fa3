"""Whose open or click is it: a person's, or a machine's (deliverability.md §4).

Every tracked open and click gets a verdict in the tracking drain (never on the request path):

    human      a person: counts in every human figure
    proxy      Gmail's or Yahoo's image proxy, which fetches when a person opens: a human open
    apple_mpp  Apple Mail Privacy Protection prefetching on delivery, read or not: not human
    scanner    a security gateway or link checker: HEAD requests, scanner user agents or ranges,
               clicks within seconds of the hand-off, a burst over several links, the honeypot
    unknown    no user agent to judge by: not counted as human

The rules, in the order they are tried, are RULES (the settings page lists them). The signals each
verdict rests on (method, seconds since the hand-off, the rule that decided) are stored with the
event, beside its user agent and IP, so `reclassify` can judge history again after a rule changes.

Two rules look past one hit: a click on the message's hidden honeypot link (position 0, which no
person sees) taints that recipient's clicks within HONEYPOT_SECONDS either side, and BURST_LINKS
distinct links clicked within BURST_SECONDS are a machine walking the message.
"""

import bisect
import functools
import ipaddress
import os
import re
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

VERDICTS = ("human", "proxy", "apple_mpp", "scanner", "unknown")
HUMAN_OPEN = ("human", "proxy")  # verdicts of an open a person caused
HUMAN_CLICK = ("human",)
FAST_CLICK_SECONDS = 5.0  # no person clicks a link this soon after the hand-off
FAST_OPEN_SECONDS = 2.0  # nor opens the message (it is barely in the mailbox)
BURST_LINKS, BURST_SECONDS = 3, 2.0
HONEYPOT_SECONDS = 30.0
HONEYPOT_POSITION = 0  # the Link row of a campaign's hidden honeypot (real links count from 1)
MPP_BARE_UA = "Mozilla/5.0"  # the bare user agent MPP fetched with from September 2021

_PROXIES = (("googleimageproxy", "gmail_proxy"), ("yahoomailproxy", "yahoo_proxy"))
_SCANNER_UA = re.compile(
    r"bot\b|bot/|spider|crawl|curl/|wget/|python-|go-http-client|java/|okhttp|libwww|headless|phantomjs|"
    r"bingpreview|barracuda|proofpoint|mimecast|urldefense|safelinks|trendmicro|fortinet|fortimail|"
    r"sophos|symantec|forcepoint|cisco|zscaler|checkpoint|scanner|preview",
    re.I,
)

RULES = (
    (
        "head",
        "scanner",
        "A HEAD request: link checkers ask whether a URL exists; a person's browser asks for the page.",
    ),
    ("gmail_proxy", "proxy", "Gmail's image proxy (user agent GoogleImageProxy): it fetches when a person opens."),
    ("yahoo_proxy", "proxy", "Yahoo's image proxy (YahooMailProxy): it fetches when a person opens."),
    ("scanner_ip", "scanner", "An address in the scanner ranges (machine_ranges/scanners.txt, SCANNER_RANGES_URL)."),
    ("scanner_ua", "scanner", "A crawler's, tool's or security gateway's user agent (bot, curl, Proofpoint, …)."),
    ("apple_ip", "apple_mpp", "An open from Apple's or iCloud Private Relay's addresses: Mail Privacy Protection."),
    ("bare_ua", "apple_mpp", f"An open with the bare user agent “{MPP_BARE_UA}”, as Mail Privacy Protection sends."),
    ("fast_click", "scanner", f"A click within {FAST_CLICK_SECONDS:g} s of the hand-off."),
    ("fast_open", "scanner", f"An open within {FAST_OPEN_SECONDS:g} s of the hand-off."),
    ("no_ua", "unknown", "No user agent at all: nothing to judge by."),
    (
        "honeypot",
        "scanner",
        f"The hidden honeypot link, and the recipient's clicks within {HONEYPOT_SECONDS:g} s of it.",
    ),
    ("burst", "scanner", f"{BURST_LINKS} or more links of a message clicked within {BURST_SECONDS:g} s."),
    ("person", "human", "None of the above."),
)


@dataclass(frozen=True)
class Hit:
    kind: str  # open | click
    method: str  # GET | HEAD
    user_agent: str | None
    ip: str | None
    seconds: float | None  # since the message was handed off (None: unknown)


def classify(hit: Hit, ranges: "MachineRanges") -> tuple[str, dict]:
    """(verdict, signals) of one hit by the rules that need no other hit."""
    rule = _rule(hit, ranges)
    signals = {"rule": rule, "method": hit.method}
    if hit.seconds is not None:
        signals["seconds"] = round(hit.seconds, 1)
    return VERDICT_OF[rule], signals


def _rule(hit: Hit, ranges: "MachineRanges") -> str:
    ua = (hit.user_agent or "").strip()
    if hit.method == "HEAD":
        return "head"
    kind = _ua_kind(ua)
    if kind in ("gmail_proxy", "yahoo_proxy"):
        return kind if hit.kind == "open" else "scanner_ua"
    if ranges.scanner(hit.ip):
        return "scanner_ip"
    if kind == "scanner_ua":
        return kind
    if hit.kind == "open" and ranges.apple(hit.ip):
        return "apple_ip"  # a click through Private Relay is a person in Safari
    if hit.kind == "open" and ua == MPP_BARE_UA:
        return "bare_ua"
    fast = FAST_CLICK_SECONDS if hit.kind == "click" else FAST_OPEN_SECONDS
    if hit.seconds is not None and 0 <= hit.seconds < fast:
        return "fast_click" if hit.kind == "click" else "fast_open"
    if not ua:
        return "no_ua"
    return "person"


VERDICT_OF = {rule: verdict for rule, verdict, _ in RULES}


@functools.lru_cache(maxsize=20_000)
def _ua_kind(ua: str) -> str | None:
    """What a user agent says on its own (proxy, scanner or nothing), cached: a campaign's opens come
    from a few hundred distinct user agents, and the scanner pattern is the costliest step."""
    low = ua.lower()
    for needle, rule in _PROXIES:
        if needle in low:
            return rule
    return "scanner_ua" if _SCANNER_UA.search(ua) else None


@dataclass
class Click:
    """A click being judged with the recipient's others: `key` is the caller's (an event id or a new row)."""

    key: object
    recipient_id: int
    link_id: int | None
    at: float  # epoch seconds
    verdict: str
    honeypot: bool = False
    rule: str | None = None  # set when judge_together changes the verdict


def judge_together(clicks: list[Click]) -> set:
    """The keys of the clicks that the honeypot or a burst makes scanners (their verdict is set here)."""
    by_recipient: dict[int, list[Click]] = {}
    for c in clicks:
        by_recipient.setdefault(c.recipient_id, []).append(c)
    changed = set()
    for own in by_recipient.values():
        own.sort(key=lambda c: c.at)
        traps = [c.at for c in own if c.honeypot]
        for c in own:
            tainted = c.honeypot or any(abs(c.at - t) <= HONEYPOT_SECONDS for t in traps)
            rule = "honeypot" if tainted else "burst" if _in_burst(c, own) else None
            if rule and c.verdict != "scanner":
                c.verdict, c.rule = "scanner", rule
                changed.add(c.key)
    return changed


def _in_burst(click: Click, own: list[Click]) -> bool:
    near = {c.link_id for c in own if abs(c.at - click.at) <= BURST_SECONDS and not c.honeypot}
    return len(near) >= BURST_LINKS


# ---- the address ranges ---------------------------------------------------------------------


class _Ranges:
    """CIDRs as sorted integer intervals per IP version: a lookup is one bisect."""

    def __init__(self, cidrs):
        spans: dict[int, list[tuple[int, int]]] = {4: [], 6: []}
        for net in cidrs:
            spans[net.version].append((int(net.network_address), int(net.broadcast_address)))
        self._starts, self._ends = {}, {}
        for version, items in spans.items():
            merged: list[list[int]] = []
            for start, end in sorted(items):
                if merged and start <= merged[-1][1] + 1:
                    merged[-1][1] = max(merged[-1][1], end)
                else:
                    merged.append([start, end])
            self._starts[version] = [s for s, _ in merged]
            self._ends[version] = [e for _, e in merged]

    def __contains__(self, ip) -> bool:
        starts = self._starts[ip.version]
        i = bisect.bisect_right(starts, int(ip)) - 1
        return i >= 0 and int(ip) <= self._ends[ip.version][i]

    def __len__(self) -> int:
        return sum(len(s) for s in self._starts.values())


def parse_cidrs(text: str) -> list:
    """CIDRs from a list: one per line, or a CSV whose first column is one; comments and junk skipped."""
    out = []
    for line in text.splitlines():
        first = line.split("#", 1)[0].split(",", 1)[0].strip()
        if not first:
            continue
        try:
            out.append(ipaddress.ip_network(first, strict=False))
        except ValueError:
            continue
    return out


class MachineRanges:
    """Apple's and the scanners' ranges: the repository's files plus the instance's refreshed copies."""

    def __init__(self, files: dict[str, list[Path]]):
        self._sets = {
            name: _Ranges(c for p in paths if p.exists() for c in parse_cidrs(p.read_text()))
            for name, paths in files.items()
        }
        self._seen: dict[tuple, bool] = {}  # (list, address) -> in it

    def _has(self, name: str, ip: str | None) -> bool:
        if not ip:
            return False
        key = (name, ip)
        hit = self._seen.get(key)
        if hit is None:
            try:
                hit = ipaddress.ip_address(ip.strip()) in self._sets[name]
            except ValueError:
                hit = False
            if len(self._seen) > 100_000:  # bounded: a scanner's rotating addresses never fill memory
                self._seen.clear()
            self._seen[key] = hit
        return hit

    def apple(self, ip: str | None) -> bool:
        return self._has("apple", ip)

    def scanner(self, ip: str | None) -> bool:
        return self._has("scanners", ip)

    def sizes(self) -> dict[str, int]:
        return {name: len(s) for name, s in self._sets.items()}


BUILT_IN = Path(__file__).with_name("machine_ranges")
RANGE_URLS = {"apple": "APPLE_RELAY_RANGES_URL", "scanners": "SCANNER_RANGES_URL"}
_loaded: dict = {}


def ranges_for(instance_dir: Path) -> MachineRanges:
    """The ranges, loaded once per process and again when a refreshed copy appears or changes."""
    files = {name: [BUILT_IN / f"{name}.txt", instance_dir / "machine_ranges" / f"{name}.txt"] for name in RANGE_URLS}
    stamp = tuple(p.stat().st_mtime if p.exists() else 0 for paths in files.values() for p in paths)
    if _loaded.get("stamp") != stamp:
        _loaded.update(stamp=stamp, ranges=MachineRanges(files))
    return _loaded["ranges"]


def refresh(instance_dir: Path, urls: dict[str, str | None], timeout: float = 30.0) -> dict[str, int]:
    """Download each configured list into the instance folder (atomically; a list that parses to
    nothing is not written, so a broken download never empties the ranges). {name: CIDRs kept}."""
    kept = {}
    folder = instance_dir / "machine_ranges"
    for name, url in urls.items():
        if not url:
            continue
        with urllib.request.urlopen(url, timeout=timeout) as answer:  # noqa: S310 (an operator's setting)
            cidrs = parse_cidrs(answer.read(50_000_000).decode("utf-8", "replace"))
        if not cidrs:
            continue
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=folder, delete=False, suffix=".tmp") as out:
            out.write(f"# from {url}\n" + "\n".join(str(c) for c in cidrs) + "\n")
        os.replace(out.name, folder / f"{name}.txt")
        kept[name] = len(cidrs)
    return kept
