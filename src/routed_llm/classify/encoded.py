r"""Text hidden in encodings: short base64, hex and percent-encoded runs, and digits spelled as words.

`detect_pii` scans what these decode to like plain text, so ``amFuZS5kb2VAZXhhbXBsZS5jb20=``
is an e-mail address and "four one one one, one one one one, ..." a card number. Decoding
is bounded so that it never costs more than a scan:

- a run is decoded only if it is 16 to 4,096 characters long (longer blobs are files, not
  prompts' PII), at most `MAX_RUNS` runs per text, and only when its first bytes decode to
  printable UTF-8 text (a quick look at a 48-character prefix rejects images, hashes,
  compressed data and random tokens before the whole run is decoded);
- base64 of a ``data:`` URL (``data:image/png;base64,...``) is never decoded: it is an image;
- hex runs are even-length runs of hex digits (``6a616e65``) or ``\x`` escapes (``\x6a\x61``);
  code's hex literals (``0xDEADBEEF``), hashes and UUIDs decode to bytes that are not text;
- percent-encoding is undone per whitespace-delimited token (``jane%40example.com``);
- spelled digits are runs of at least ten digit words (English, German, French, Spanish,
  Italian; "double"/"triple" and a leading "plus" understood, digits may be mixed in),
  turned into digits so the card and phone detectors can check them.
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Iterator, Sequence
from typing import Final
from urllib.parse import unquote_plus

__all__ = ["DIGIT_WORD_PATTERN", "MAX_RUNS", "decoded_runs", "long_tokens", "spelled_digit_runs"]

MAX_RUNS: Final = 8
"""At most this many encoded runs are decoded per text."""
_MIN_RUN: Final = 16
_MAX_RUN: Final = 4096
_PREFIX: Final = 48  # characters decoded first to decide whether a run is text at all

_PERCENT_RE: Final = re.compile(r"%[0-9A-Fa-f]{2}")
_ESCAPED_HEX_RE: Final = re.compile(r"(?:\\x[0-9A-Fa-f]{2}){6,}")
_PERCENT_TOKEN_RE: Final = re.compile(r"[^\s%]*(?:%[0-9A-Fa-f]{2}[^\s%]*)+")
_HEX_CHARS: Final = frozenset("0123456789abcdefABCDEF")
_TEXT_WHITESPACE: Final = dict.fromkeys(map(ord, "\n\r\t"), " ")
_URLSAFE: Final = str.maketrans("-_", "+/")


def _as_text(raw: bytes) -> str | None:
    """Return ``raw`` as text if it is printable UTF-8 (a cut-off character at the end is tolerated)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        if e.start < len(raw) - 3:
            return None
        text = raw[: e.start].decode("utf-8")
    text = text.translate(_TEXT_WHITESPACE)
    return text if len(text) >= 4 and text.isprintable() else None


def _b64(run: str) -> bytes | None:
    run = run.rstrip("=")
    run = run[: len(run) - len(run) % 4] if len(run) % 4 == 1 else run
    try:
        return binascii.a2b_base64(run.translate(_URLSAFE) + "=" * (-len(run) % 4))
    except binascii.Error:
        return None


def _decode_run(run: str) -> tuple[str, str] | None:
    """Decode one base64 or hex run to text; return (encoding, text) or None."""
    if len(run) % 2 == 0 and all(c in _HEX_CHARS for c in run):
        if _as_text(bytes.fromhex(run[:_PREFIX])) is None:
            return None
        text = _as_text(bytes.fromhex(run))
        return ("hex", text) if text is not None else None
    if run.isalpha() and (run.islower() or run.isupper()):
        return None  # a long word, not base64
    head = _b64(run[:_PREFIX])
    if head is None or _as_text(head) is None:
        return None
    raw = _b64(run)
    text = _as_text(raw) if raw is not None else None
    return ("base64", text) if text is not None else None


_TOKEN_CHARS: Final = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=_<-"
# bytes.translate table: token characters -> "a", everything else -> " " (one C pass, no regex).
_TOKEN_TABLE: Final = bytes(97 if chr(i) in _TOKEN_CHARS else 32 for i in range(256))
_LONG: Final = 11
_LONG_NEEDLE: Final = b"a" * _LONG
_LONG_TOKEN_RE: Final = re.compile(r"[A-Za-z0-9+/=_<-]{11,}")


def long_tokens(text: str) -> list[tuple[int, int]]:
    """Spans of the runs of at least 11 base64/ID characters (``A-Z a-z 0-9 + / = _ < -``).

    The runs every encoded-text and document-format check starts from. For ASCII text a
    byte translation and a substring search find them without a regex pass over the text.
    """
    if not text.isascii():
        return [m.span() for m in _LONG_TOKEN_RE.finditer(text)]
    mask = text.encode("ascii").translate(_TOKEN_TABLE)
    spans: list[tuple[int, int]] = []
    i = mask.find(_LONG_NEEDLE)
    while i != -1:
        end = mask.find(b" ", i + _LONG)
        if end == -1:
            end = len(mask)
        spans.append((i, end))
        i = mask.find(_LONG_NEEDLE, end)
    return spans


_RUN_IN_TOKEN_RE: Final = re.compile(r"[A-Za-z0-9+/_-]{16,}={0,2}")


def decoded_runs(text: str, tokens: Sequence[tuple[int, int]] | None = None) -> Iterator[tuple[int, int, str, str]]:
    """Yield ``(start, end, encoding, decoded text)`` for the encoded runs of ``text`` that decode to text.

    ``tokens`` are the text's `long_tokens` if the caller has them.
    """
    budget = MAX_RUNS
    for ts, te in long_tokens(text) if tokens is None else tokens:
        if te - ts < _MIN_RUN or te - ts > _MAX_RUN:
            continue
        m = _RUN_IN_TOKEN_RE.search(text, ts, te)
        if m is None:
            continue
        s, e = m.span()
        if text.endswith("base64,", 0, s) or text.endswith("0x", 0, s):
            continue  # a data: URL (an image), a hex literal
        decoded = _decode_run(m.group())
        if decoded is not None:
            yield s, e, decoded[0], decoded[1]
        budget -= 1
        if not budget:
            break
    if "\\x" in text:
        for m in _ESCAPED_HEX_RE.finditer(text):
            if m.end() - m.start() <= _MAX_RUN:
                decoded_text = _as_text(bytes.fromhex(m.group().replace("\\x", "")))
                if decoded_text is not None:
                    yield m.start(), m.end(), "hex", decoded_text
    if "%" in text and _PERCENT_RE.search(text):
        for m in _PERCENT_TOKEN_RE.finditer(text):
            if m.end() - m.start() <= _MAX_RUN:
                yield m.start(), m.end(), "url-encoded", unquote_plus(m.group())


# --------------------------------------------------------------------------- spelled digits

_DIGIT_WORDS: Final[dict[str, str]] = {
    # English
    "zero": "0", "oh": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6",
    "seven": "7", "eight": "8", "nine": "9",
    # German
    "null": "0", "eins": "1", "zwei": "2", "zwo": "2", "drei": "3", "vier": "4", "fünf": "5", "sechs": "6",
    "sieben": "7", "acht": "8", "neun": "9",
    # French
    "zéro": "0", "un": "1", "deux": "2", "trois": "3", "quatre": "4", "cinq": "5", "sept": "7", "huit": "8",
    "neuf": "9",
    # Spanish
    "cero": "0", "uno": "1", "dos": "2", "tres": "3", "cuatro": "4", "cinco": "5", "seis": "6", "siete": "7",
    "ocho": "8", "nueve": "9",
    # Italian
    "due": "2", "tre": "3", "quattro": "4", "cinque": "5", "sei": "6", "sette": "7", "otto": "8", "nove": "9",
}  # fmt: skip
_REPEATS: Final = {"double": 2, "triple": 3, "doppio": 2, "doppel": 2}
_WORD_ALT: Final = "|".join(sorted(map(re.escape, [*_DIGIT_WORDS, *_REPEATS]), key=len, reverse=True))
_ITEM: Final = rf"(?:{_WORD_ALT}|[0-9]{{1,4}})(?![a-zà-ü])"
DIGIT_WORD_PATTERN: Final = "|".join(rf"{re.escape(w)}\b" for w in sorted(_DIGIT_WORDS, key=len, reverse=True))
"""The digit words as a cue pattern (counted to decide whether to look for spelled numbers)."""
_SPELLED_RE: Final = re.compile(rf"(?<![a-zà-ü0-9])(?:plus )?{_ITEM}(?:[ ,.-]{{1,3}}{_ITEM}){{6,}}")
_ITEM_RE: Final = re.compile(_ITEM)
_MIN_SPELLED: Final = 10
_MIN_WORDS: Final = 4


def spelled_digit_runs(lower: str) -> Iterator[tuple[int, int, str]]:
    """Yield ``(start, end, digits)`` for runs of at least ten digits written mostly as words.

    ``lower`` is the lower-cased text. The digits come out as one group per word run, so
    "four one one one one one one one one one one one one one one one" gives
    ``4111111111111111``, and a leading "plus" gives ``+``.
    """
    for m in _SPELLED_RE.finditer(lower):
        run = m.group()
        digits: list[str] = ["+"] if run.startswith("plus ") else []
        words = 0
        repeat = 1
        for item in _ITEM_RE.findall(run):
            if item in _REPEATS:
                repeat = _REPEATS[item]
                continue
            value = _DIGIT_WORDS.get(item)
            if value is None:
                value = item
            else:
                words += 1
            digits.append(value * repeat)
            repeat = 1
        number = "".join(digits)
        if words >= _MIN_WORDS and len(number.lstrip("+")) >= _MIN_SPELLED:
            yield m.start(), m.end(), number
