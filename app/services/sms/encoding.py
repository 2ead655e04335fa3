"""How many segments a text takes, which is what carriers bill and Twilio charges.

A text that fits the GSM 03.38 alphabet (7 bits a character) takes 160 characters in one
segment, or 153 per segment once split (each part carries a header); the extension table's
characters (€ [ ] { } ^ ~ \\ | and form feed) take two. One character outside it makes the whole
text UCS-2: 70 UTF-16 code units in one segment, 67 per segment once split. A character that
takes two units (or an escape pair) is never split across segments.
"""

from dataclasses import dataclass

GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿"
    "abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENDED = frozenset("^{}\\[~]|€\f")
LIMITS = {"GSM-7": (160, 153), "UCS-2": (70, 67)}
MAX_SEGMENTS = 10  # Twilio's own advice: longer texts deliver badly (and cost ten times)


@dataclass(frozen=True)
class Measure:
    encoding: str  # GSM-7 | UCS-2
    segments: int
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    per_segment: int  # what one segment holds at this length
    unicode_chars: tuple[str, ...] = ()  # the characters that made it UCS-2, in order of first use


def _gsm_units(ch: str) -> int | None:
    if ch in GSM_BASIC:
        return 1
    if ch in GSM_EXTENDED:
        return 2
    return None


def measure(text: str) -> Measure:
    """The encoding, segments and length of `text` as it would be sent."""
    text = text or ""
    units = [_gsm_units(ch) for ch in text]
    if all(u is not None for u in units):
        encoding = "GSM-7"
        offending: tuple[str, ...] = ()
    else:
        encoding = "UCS-2"
        offending = tuple(dict.fromkeys(ch for ch, u in zip(text, units, strict=True) if u is None))
        units = [2 if ord(ch) > 0xFFFF else 1 for ch in text]
    single, multi = LIMITS[encoding]
    total = sum(units)
    if total <= single:
        return Measure(encoding, 1 if total else 0, total, single, offending)
    segments, used = 1, 0
    for u in units:  # greedy, never splitting a character's units
        if used + u > multi:
            segments, used = segments + 1, 0
        used += u
    return Measure(encoding, segments, total, multi, offending)
