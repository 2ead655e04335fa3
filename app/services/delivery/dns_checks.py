"""The DNS checks behind "Verify" for a sending domain (deliverability.md §6): pure lookups, no database.

    check_spf    a single v=spf1 record, at most 10 DNS-querying terms across its include tree
                 (RFC 7208 §4.6.4), at most 2 void lookups, no loop, and Herald's terms reachable
    check_dkim   the key at <selector>._domainkey.<domain> (a CNAME to an ESP's zone works) is the
                 one Herald signs with
    check_dmarc  one valid v=DMARC1 record at _dmarc.<domain>, or inherited from a parent domain
                 (RFC 9989 tree walk); any policy passes: Gmail's bulk rule asks for a record, not
                 for enforcement
    check_mx     the return-path subdomain's lowest-preference MX is Herald's bounce host
    aligned      DMARC's relaxed/strict identifier alignment, for the message view

Each check returns a `Check` saying, in words a marketer reads, what was found and what is
wrong. A resolver that does not answer is not a missing record: `DnsUnavailable` (app/dns.py)
propagates out of every check unchanged, so the caller can keep the domain's state and try again
later instead of failing it. Every lookup goes through app/dns.py's one resolver (`using` lets a
caller or a test pass another).
"""

import ipaddress
import re
from dataclasses import dataclass, field

import dns.rdata

from app.dns import lookup

PURPOSES = ("spf", "dkim", "dmarc", "return_path_mx", "return_path_spf")

SPF_LOOKUP_LIMIT = 10  # RFC 7208 §4.6.4
SPF_VOID_LIMIT = 2  # RFC 7208 §4.6.4: more than two void lookups SHOULD be a permerror
DMARC_TREE_WALK_STEPS = 5  # parents tried above the domain when it has no DMARC record of its own

# A full Public Suffix List is not bundled: this covers the second-level suffixes customers
# actually send from (acme.co.uk, shop.com.au); anything else is taken as <name>.<tld>.
SECOND_LEVEL_SUFFIXES = frozenset(
    {
        *("co.uk", "org.uk", "me.uk", "ltd.uk", "plc.uk", "net.uk", "ac.uk", "gov.uk", "sch.uk"),
        *("com.au", "net.au", "org.au", "edu.au", "gov.au", "id.au", "asn.au"),
        *("co.nz", "net.nz", "org.nz", "ac.nz", "govt.nz", "geek.nz"),
        *("co.jp", "ne.jp", "or.jp", "ac.jp", "go.jp"),
        *("co.za", "org.za", "net.za", "gov.za"),
        *("com.br", "net.br", "org.br", "gov.br"),
        *("com.mx", "org.mx", "gob.mx", "com.ar", "com.co", "com.pe", "com.uy", "com.ve", "com.ec"),
        *("com.cn", "net.cn", "org.cn", "com.hk", "com.tw", "com.sg", "com.my", "com.ph", "com.vn"),
        *("co.in", "net.in", "org.in", "firm.in", "co.id", "co.kr", "or.kr", "co.th", "in.th"),
        *("co.il", "org.il", "com.tr", "com.ua", "com.pl", "com.eg", "com.sa", "co.ke", "com.ng"),
        *("co.at", "or.at", "com.cy", "com.mt", "com.gr", "com.pt", "com.es", "co.hu"),
    }
)


@dataclass(frozen=True)
class Check:
    """One verified record: what Herald asked for, what DNS holds, and a sentence about it.

    `facts` are machine-readable extras merged into `as_dict()` (DMARC: `policy`; SPF: `lookups`).
    """

    purpose: str  # spf | dkim | dmarc | return_path_mx | return_path_spf
    ok: bool
    found: str | None  # the record(s) as published, TXT strings joined; several on separate lines
    expected: str  # what Herald asked to publish
    detail: str
    facts: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {
            "purpose": self.purpose,
            "ok": self.ok,
            "found": self.found,
            "expected": self.expected,
            "detail": self.detail,
            **self.facts,
        }


class InvalidRecord(ValueError):
    """A record that receivers would reject; the message says why, in plain words."""


def _clean(name: str) -> str:
    return name.strip().rstrip(".").lower()


def txt_records(name: str, using=None) -> list[str]:
    """The TXT records at `name`, each with its character-strings joined without spaces (RFC 7208 §3.3)."""
    records = []
    for text in lookup(name, "TXT", using).records:
        strings = dns.rdata.from_text("IN", "TXT", text).strings  # app/dns.py hands records over as zone text
        records.append(b"".join(strings).decode("utf-8", "replace"))
    return records


def _found(records: list[str]) -> str | None:
    return "\n".join(records) if records else None


# ---- SPF ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SpfTerm:
    """A mechanism reached while walking an SPF tree; `value` is a domain or a network, lowercased."""

    qualifier: str  # + pass, - fail, ~ softfail, ? neutral
    mechanism: str  # all, include, a, mx, ptr, ip4, ip6, exists, redirect
    value: str
    source: str  # the domain whose record holds it
    authorizes: bool  # a match along this path means "pass" (every qualifier on the way is +)


@dataclass(frozen=True)
class SpfResult:
    """A domain's SPF record and what its include tree costs a receiver."""

    domain: str
    records: tuple[str, ...]  # every v=spf1 record at the domain (more than one is itself an error)
    lookups: int  # DNS-querying terms across the tree; a lower bound when `truncated`
    void_lookups: int
    includes: frozenset[str]  # domains reached through include: and redirect=
    terms: tuple[SpfTerm, ...]  # every mechanism reached in the tree
    all_qualifier: str | None  # the record's `all` (through redirect=); None: it has none
    error: str | None  # why receivers would give permerror; None when the record is valid
    truncated: bool = False  # past the lookup limit, includes were counted but not fetched

    @property
    def record(self) -> str | None:
        return self.records[0] if len(self.records) == 1 else None

    @property
    def ok(self) -> bool:
        return self.record is not None and self.error is None


_MECHANISMS = frozenset({"all", "include", "a", "mx", "ptr", "ip4", "ip6", "exists"})
_COUNTED = frozenset({"include", "a", "mx", "ptr", "exists", "redirect"})  # RFC 7208 §4.6.4
_MODIFIER = re.compile(r"^([a-z][a-z0-9_.\-]*)=(.*)$", re.I)
_MECHANISM = re.compile(r"^([+\-~?]?)([a-z][a-z0-9_.\-]*)(.*)$", re.I)
_QUALIFIER_WORDS = {"+": "pass", "-": "fail", "~": "softfail", "?": "neutral"}


def _spf_records(texts: list[str]) -> list[str]:
    return [t for t in texts if t[:6].lower() == "v=spf1" and (len(t) == 6 or t[6] == " ")]


def _parse_spf_term(term: str, domain: str) -> tuple[str | None, str, str]:
    """`~include:_spf.google.com` -> ("~", "include", "_spf.google.com"); a modifier -> (None, name, value).
    Raises InvalidRecord on a term receivers reject."""
    modifier = _MODIFIER.match(term)
    if modifier:
        return None, modifier.group(1).lower(), modifier.group(2)
    match = _MECHANISM.match(term)
    name = match.group(2).lower() if match else ""
    if name not in _MECHANISMS:
        raise InvalidRecord(f"SPF at {domain} has an unknown term “{term}”")
    qualifier, rest = match.group(1) or "+", match.group(3)
    if (name == "all" and rest) or rest[:1] not in ("", ":", "/"):
        raise InvalidRecord(f"SPF at {domain} has a malformed term “{term}”")
    if name == "all":
        return qualifier, name, ""
    if name in ("ip4", "ip6"):
        try:
            network = ipaddress.ip_network(rest.removeprefix(":"), strict=False)
        except ValueError:
            network = None
        if not rest.startswith(":") or network is None or f"ip{network.version}" != name:
            raise InvalidRecord(f"SPF at {domain}: “{term}” is not a valid {name} address")
        return qualifier, name, str(network)
    target, _, _cidr = rest.removeprefix(":").partition("/")
    if (rest.startswith(":") or name in ("include", "exists")) and not target:
        raise InvalidRecord(f"SPF at {domain}: “{term}” needs a domain")
    return qualifier, name, _clean(target) if rest.startswith(":") else domain


class _SpfWalk:
    """One pass over an SPF include tree, counting as a receiver would (RFC 7208 §4.6.4)."""

    def __init__(self, using):
        self.using = using
        self.lookups = 0
        self.voids: list[str] = []
        self.includes: set[str] = set()
        self.terms: list[SpfTerm] = []
        self.truncated = False

    def fetch(self, domain: str) -> list[str]:
        try:
            return txt_records(domain, self.using)
        except ValueError:
            raise InvalidRecord(f"SPF refers to “{domain}”, which is not a domain name") from None

    def visit(self, domain: str, path: tuple[str, ...], authorizes: bool) -> str | None:
        """Walk the record at `domain` (the last of `path`, the chain that led here); returns its `all` qualifier."""
        texts = self.fetch(domain)
        records = _spf_records(texts)
        if not texts:
            self.voids.append(domain)
        if not records:
            raise InvalidRecord(f"SPF at {path[-2]} refers to {domain}, which has no SPF record")
        if len(records) > 1:
            raise InvalidRecord(f"{domain} has {len(records)} SPF records; receivers treat that as an error")
        return self.visit_record(records[0], domain, path, authorizes)

    def visit_record(self, record: str, domain: str, path: tuple[str, ...], authorizes: bool) -> str | None:
        redirect, all_qualifier = None, None
        seen_modifiers = set()
        for term in record.split()[1:]:
            qualifier, name, value = _parse_spf_term(term, domain)
            if qualifier is None:
                if name in ("redirect", "exp"):
                    if name in seen_modifiers:
                        raise InvalidRecord(f"SPF at {domain} has {name}= twice")
                    seen_modifiers.add(name)
                    redirect = _clean(value) if name == "redirect" else redirect
                continue  # unknown modifiers are ignored (RFC 7208 §6)
            if all_qualifier is not None:
                continue  # terms after `all` are never evaluated, so they cost nothing
            passing = authorizes and qualifier == "+"
            self.terms.append(SpfTerm(qualifier, name, value, domain, passing))
            if name == "all":
                all_qualifier = qualifier
            elif name in _COUNTED:
                self.follow(name, value, domain, path, passing)
        if redirect and all_qualifier is None:  # redirect= is ignored when the record has `all` (§6.1)
            self.terms.append(SpfTerm("+", "redirect", redirect, domain, authorizes))
            return self.follow("redirect", redirect, domain, path, authorizes)
        return all_qualifier

    def follow(self, name: str, target: str, domain: str, path: tuple[str, ...], authorizes: bool) -> str | None:
        """Count one DNS-querying term and, while under the limit, look its target up."""
        self.lookups += 1
        if self.lookups > SPF_LOOKUP_LIMIT:  # the answer is already permerror: stop asking
            self.truncated = self.truncated or name in ("include", "redirect")
            return None
        if "%{" in target:
            return None  # a macro needs the sender's address; nothing to look up here
        if name in ("include", "redirect"):
            if target in path:
                loop = " → ".join((*path, target))
                raise InvalidRecord(f"SPF include loop: {loop}")
            self.includes.add(target)
            return self.visit(target, (*path, target), authorizes)
        if name in ("a", "mx"):
            self.count_void(name, target)
        return None

    def count_void(self, name: str, target: str) -> None:
        try:
            if name == "mx":
                found = lookup(target, "MX", self.using).records
            else:
                found = lookup(target, "A", self.using).records or lookup(target, "AAAA", self.using).records
        except ValueError:
            raise InvalidRecord(f"SPF refers to “{target}”, which is not a domain name") from None
        if not found:
            self.voids.append(target)


def evaluate_spf(domain: str, using=None) -> SpfResult:
    """Fetch `domain`'s SPF record and walk its include:/redirect= tree as a receiver would.

    Raises DnsUnavailable when the resolver gives no answer for any name in the tree."""
    domain = _clean(domain)
    records = tuple(_spf_records(txt_records(domain, using)))
    walk = _SpfWalk(using)
    all_qualifier, error = None, None
    if len(records) > 1:
        error = f"{domain} has {len(records)} SPF records; receivers treat that as an error (publish exactly one)"
    elif records:
        try:
            all_qualifier = walk.visit_record(records[0], domain, (domain,), True)
        except InvalidRecord as exc:
            error = str(exc)
    if error is None and walk.lookups > SPF_LOOKUP_LIMIT:
        at_least = "at least " if walk.truncated else ""
        error = f"SPF needs {at_least}{walk.lookups} DNS lookups; receivers stop at {SPF_LOOKUP_LIMIT}"
    if error is None and len(walk.voids) > SPF_VOID_LIMIT:
        error = (
            f"SPF has {len(walk.voids)} lookups that find nothing ({', '.join(walk.voids)}); "
            f"receivers allow {SPF_VOID_LIMIT}"
        )
    return SpfResult(
        domain=domain,
        records=records,
        lookups=walk.lookups,
        void_lookups=len(walk.voids),
        includes=frozenset(walk.includes),
        terms=tuple(walk.terms),
        all_qualifier=all_qualifier,
        error=error,
        truncated=walk.truncated,
    )


def _normalize_required(term: str) -> tuple[str, str]:
    """`sendgrid.net` or `include:sendgrid.net` -> ("include", "sendgrid.net"); `ip4:1.2.3.4` -> ("ip4", "1.2.3.4/32")."""
    name, colon, value = term.strip().partition(":")
    if not colon:
        return "include", _clean(name)
    name = name.lower()
    if name in ("ip4", "ip6"):
        return name, str(ipaddress.ip_network(value, strict=False))
    return name, _clean(value)


def _satisfies(term: SpfTerm, mechanism: str, value: str) -> bool:
    if not term.authorizes:
        return False
    if mechanism == "include":
        return term.mechanism in ("include", "redirect") and term.value == value
    if mechanism in ("ip4", "ip6"):
        if term.mechanism != mechanism:
            return False
        return ipaddress.ip_network(value).subnet_of(ipaddress.ip_network(term.value))
    return term.mechanism == mechanism and term.value == value


def missing_spf_terms(result: SpfResult, required: list[str]) -> list[str]:
    """The required terms no passing branch of the tree provides (an ip4: requirement is met by a
    network that contains it, `sendgrid.net` means `include:sendgrid.net`)."""
    missing = []
    for term in required:
        mechanism, value = _normalize_required(term)
        if not any(_satisfies(t, mechanism, value) for t in result.terms):
            missing.append(f"{mechanism}:{value.removesuffix('/32').removesuffix('/128')}")
    return missing


def check_spf(purpose: str, name: str, required_includes: list[str], expected: str, using=None) -> Check:
    """SPF at `name` passes with one valid record, ≤ 10 lookups and every required term reachable.

    A required term is `include:x` (or bare `x`), `ip4:`/`ip6:` an address or network, or `a:host`."""
    result = evaluate_spf(name, using)
    facts = {"lookups": result.lookups, "all": result.all_qualifier}
    found = _found(list(result.records))
    if not result.records:
        detail = f"No SPF record (a TXT record starting v=spf1) at {result.domain}"
        return Check(purpose, False, None, expected, detail, facts)
    if result.error:
        return Check(purpose, False, found, expected, result.error, facts)
    missing = missing_spf_terms(result, required_includes)
    if missing:
        detail = f"SPF at {result.domain} lacks {', '.join(missing)}"
        return Check(purpose, False, found, expected, detail, facts)
    if result.all_qualifier == "+":
        detail = f"SPF at {result.domain} ends with +all, which lets any server on the internet send as it"
        return Check(purpose, False, found, expected, detail, facts)
    ending = f"{result.all_qualifier}all" if result.all_qualifier else "no all (neutral)"
    detail = f"SPF is valid: {result.lookups} of {SPF_LOOKUP_LIMIT} DNS lookups, ends with {ending}"
    return Check(purpose, True, found, expected, detail, facts)


# ---- DKIM ---------------------------------------------------------------------------------


def _tags(text: str, what: str) -> dict[str, str]:
    """`v=DKIM1; k=rsa; p=MII…` -> {"v": "DKIM1", ...} in order; raises InvalidRecord on a malformed list."""
    tags: dict[str, str] = {}
    for part in text.split(";"):
        if not part.strip():
            continue
        name, eq, value = part.partition("=")
        name = name.strip().lower()
        if not eq or not name:
            raise InvalidRecord(f"The {what} record has a part that is not tag=value: “{part.strip()[:40]}”")
        if name in tags:
            raise InvalidRecord(f"The {what} record has the tag {name}= twice")
        tags[name] = value.strip()
    return tags


def _dkim_problem(tags: dict[str, str], public_key_b64: str, key_type: str, name: str) -> str | None:
    """Why this DKIM record does not let receivers verify Herald's signature, or None."""
    if "v" in tags and (next(iter(tags)) != "v" or tags["v"] != "DKIM1"):
        return f"The record at {name} is not a DKIM key: it must start with v=DKIM1"
    if "p" not in tags:
        return f"The record at {name} is not a DKIM key (it has no p= tag)"
    published_type = tags.get("k", "rsa").lower()
    if published_type != key_type:
        return f"The record at {name} says k={published_type}; Herald signs with an {key_type} key"
    if "h" in tags and "sha256" not in {h.strip().lower() for h in tags["h"].split(":")}:
        return f"The record at {name} allows only h={tags['h']}; Herald signs with sha256"
    key = re.sub(r"\s+", "", tags["p"])
    if not key:
        return f"The key at {name} is revoked (p= is empty)"
    if key != re.sub(r"\s+", "", public_key_b64):
        return f"The key published at {name} is not the one Herald signs with"
    return None


def check_dkim(name: str, public_key_b64: str, expected: str, key_type: str = "rsa", using=None) -> Check:
    """The TXT at `<selector>._domainkey.<domain>` (CNAMEs followed) publishes Herald's public key."""
    name = _clean(name)
    records = txt_records(name, using)
    found = _found(records)
    if not records:
        return Check("dkim", False, None, expected, f"No TXT record at {name}")
    if len(records) > 1:
        detail = f"{len(records)} TXT records at {name}; receivers pick one at random (publish exactly one)"
        return Check("dkim", False, found, expected, detail)
    try:
        tags = _tags(records[0], "DKIM")
    except InvalidRecord as exc:
        return Check("dkim", False, found, expected, f"{exc} ({name})")
    problem = _dkim_problem(tags, public_key_b64, key_type.lower(), name)
    if problem:
        return Check("dkim", False, found, expected, problem)
    testing = " (flagged t=y: testing)" if "y" in tags.get("t", "").split(":") else ""
    return Check("dkim", True, found, expected, f"The key at {name} is the one Herald signs with{testing}")


# ---- DMARC --------------------------------------------------------------------------------

_POLICIES = ("none", "quarantine", "reject")
_ALIGNMENT_WORDS = {"r": "relaxed", "s": "strict"}


@dataclass(frozen=True)
class Dmarc:
    """A parsed DMARC record (RFC 7489 tags, and np/psd/t from RFC 9989); absent tags hold their defaults."""

    p: str
    sp: str | None = None  # as published; `subdomain_policy` applies the default
    np: str | None = None
    adkim: str = "r"
    aspf: str = "r"
    rua: tuple[str, ...] = ()
    ruf: tuple[str, ...] = ()
    pct: int = 100
    fo: str = "0"
    t: bool = False  # t=y: testing, receivers apply one step less than p (≈ the old pct=0)
    psd: str = "u"  # y: a public-suffix operator's record; n: an organizational domain; u: unsaid

    @property
    def subdomain_policy(self) -> str:
        return self.sp or self.p

    @property
    def nonexistent_policy(self) -> str:
        return self.np or self.subdomain_policy


def _policy(tags: dict[str, str], tag: str, required: bool = False) -> str | None:
    value = tags.get(tag)
    if value is None:
        if required:
            raise InvalidRecord("The DMARC record has no p= policy (none, quarantine or reject)")
        return None
    if value.lower() not in _POLICIES:
        raise InvalidRecord(f"The DMARC record says {tag}={value}; it must be none, quarantine or reject")
    return value.lower()


def _choice(tags: dict[str, str], tag: str, allowed: str, default: str) -> str:
    value = tags.get(tag, default).lower()
    if value not in allowed:
        raise InvalidRecord(f"The DMARC record says {tag}={tags[tag]}; it must be one of {', '.join(allowed)}")
    return value


def _uris(value: str | None) -> tuple[str, ...]:
    return tuple(u.strip() for u in (value or "").split(",") if u.strip())


def parse_dmarc(text: str) -> Dmarc:
    """Parse a DMARC record; raises InvalidRecord when receivers would not apply it. Unknown tags are ignored."""
    tags = _tags(text, "DMARC")
    if next(iter(tags), None) != "v" or tags["v"] != "DMARC1":
        raise InvalidRecord("A DMARC record must start with v=DMARC1")
    pct = tags.get("pct", "100")
    if not pct.isdigit() or int(pct) > 100:
        raise InvalidRecord(f"The DMARC record says pct={pct}; it must be a whole number from 0 to 100")
    return Dmarc(
        p=_policy(tags, "p", required=True),
        sp=_policy(tags, "sp"),
        np=_policy(tags, "np"),
        adkim=_choice(tags, "adkim", "rs", "r"),
        aspf=_choice(tags, "aspf", "rs", "r"),
        rua=_uris(tags.get("rua")),
        ruf=_uris(tags.get("ruf")),
        pct=int(pct),
        fo=tags.get("fo", "0"),
        t=_choice(tags, "t", "yn", "n") == "y",
        psd=_choice(tags, "psd", "ynu", "u"),
    )


def _dmarc_texts(name: str, using) -> list[str]:
    # A TXT that mentions DMARC1 anywhere was meant as DMARC: parse_dmarc then says what is wrong with it.
    return [t for t in txt_records(name, using) if "v=dmarc1" in t.lower().replace(" ", "")]


def _find_dmarc(domain: str, using) -> tuple[str, list[str]]:
    """The name holding `domain`'s DMARC policy and its records: its own, else the nearest parent's
    (a tree walk upward, stopping before the top-level label). Empty list: none found."""
    labels = domain.split(".")
    for start in range(0, min(len(labels) - 1, DMARC_TREE_WALK_STEPS + 1)):
        owner = ".".join(labels[start:])
        texts = _dmarc_texts(f"_dmarc.{owner}", using)
        if texts:
            return owner, texts
    return domain, []


def _address(uri: str) -> str:
    return uri.strip().lower().removeprefix("mailto:").split("!", 1)[0]


def _describe_dmarc(record: Dmarc, owner: str, domain: str, rua_required: str | None) -> str:
    inherited = owner != domain
    policy = record.subdomain_policy if inherited else record.p
    parts = [
        f"DMARC policy {policy}",
        f"alignment {_ALIGNMENT_WORDS[record.adkim]} (DKIM) / {_ALIGNMENT_WORDS[record.aspf]} (SPF)",
    ]
    if inherited:
        parts[0] += f", inherited from {owner} (no record at _dmarc.{domain})"
    if record.t:
        parts.append("testing (t=y): receivers apply one step less than the policy")
    elif record.pct < 100:
        parts.append(f"applied to {record.pct}% of failing mail (pct={record.pct})")
    parts.append(f"reports to {', '.join(record.rua)}" if record.rua else "no aggregate reports (no rua=)")
    if rua_required and _address(rua_required) not in {_address(u) for u in record.rua}:
        parts.append(f"note: add mailto:{_address(rua_required)} to rua= so Herald can show the reports")
    return "; ".join(parts)


def check_dmarc(domain: str, expected: str, rua_required: str | None = None, using=None) -> Check:
    """One valid DMARC record applies to `domain` (its own or a parent's); any policy passes.

    `facts`: `policy` (the one applying to `domain`; None when none applies) and `inherited_from`.
    A missing `rua_required` address is a note in the detail, not a failure."""
    domain = _clean(domain)
    owner, texts = _find_dmarc(domain, using)
    found = _found(texts)
    facts = {"policy": None, "inherited_from": owner if owner != domain else None}
    if not texts:
        detail = f"No DMARC record at _dmarc.{domain} or any parent domain"
        return Check("dmarc", False, None, expected, detail, facts)
    if len(texts) > 1:
        detail = f"{len(texts)} DMARC records at _dmarc.{owner}; receivers then apply none (publish exactly one)"
        return Check("dmarc", False, found, expected, detail, facts)
    try:
        record = parse_dmarc(texts[0])
    except InvalidRecord as exc:
        return Check("dmarc", False, found, expected, f"{exc} (at _dmarc.{owner})", facts)
    facts["policy"] = record.subdomain_policy if owner != domain else record.p
    return Check("dmarc", True, found, expected, _describe_dmarc(record, owner, domain, rua_required), facts)


# ---- Return path MX -----------------------------------------------------------------------


def check_mx(purpose: str, name: str, expected_host: str, expected: str, using=None) -> Check:
    """The lowest-preference MX at `name` is `expected_host` (case and the root dot do not matter)."""
    name, want = _clean(name), _clean(expected_host)
    records = lookup(name, "MX", using).records
    found = _found(list(records))
    if not records:
        return Check(purpose, False, None, expected, f"No MX record at {name}")
    exchanges = [(int(pref), _clean(host) or ".") for pref, _, host in (r.partition(" ") for r in records)]
    best = min(pref for pref, _ in exchanges)
    first = sorted(host for pref, host in exchanges if pref == best)
    if want in first:
        return Check(purpose, True, found, expected, f"Bounces for {name} come to {want}")
    if want in {host for _, host in exchanges}:
        detail = f"The MX at {name} tries {', '.join(first)} before {want}, so bounces go there first"
    else:
        detail = f"The MX at {name} points at {', '.join(first)}, not {want}"
    return Check(purpose, False, found, expected, detail)


# ---- Alignment ----------------------------------------------------------------------------


def organizational_domain(domain: str) -> str:
    """`mail.news.acme.com` -> `acme.com`; `shop.acme.co.uk` -> `acme.co.uk` (short suffix list, no full PSL)."""
    labels = _clean(domain).split(".")
    keep = 3 if len(labels) >= 3 and ".".join(labels[-2:]) in SECOND_LEVEL_SUFFIXES else 2
    return ".".join(labels[-keep:])


def aligned(from_domain: str, other_domain: str, strict: bool = False) -> bool:
    """DMARC identifier alignment: strict means the same domain, relaxed the same organizational domain."""
    a, b = _clean(from_domain), _clean(other_domain)
    if strict or a == b:
        return a == b
    return organizational_domain(a) == organizational_domain(b)
