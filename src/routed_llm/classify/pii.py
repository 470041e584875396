"""Fast, dependency-free detection of personal data and secrets in prompt text.

`detect_pii` returns the *kinds and positions* of what it finds, never the text
itself: a `PIIMatch` carries at most a short redacted preview such as
``"4111…1111"`` so that matches can be logged without leaking the secret.

Every detector is tuned for precision as much as for recall. Each one is a
pre-compiled regular expression, gated by a cheap substring test where the
shape allows it, followed by a validation step in Python that only runs on the
rare candidate matches:

``email``
    ``local@domain.tld``. Found by locating each ``@`` and expanding around it,
    so a long run of word characters can never make the scan quadratic.
``phone``
    International numbers written with a leading ``+CC`` (8 to 15 digits in
    all, E.164), North American numbers with separators (``(415) 555-2671``,
    ``415-555-2671``, ``415.555.2671``; area code and exchange start with 2-9)
    and European national numbers starting with a trunk ``0`` followed by
    groups separated by one kind of separator (``020 7946 0958``,
    ``06 12 34 56 78``, ``030-1234567``; 9 to 12 digits). Numbers without any
    separator, years, versions, prices and dates are not matched.
``credit_card``
    13 to 19 digits, optionally grouped by single spaces or dashes (a grouped
    number starts with a 4-digit group), that start like a payment card (3-6,
    or 2221-2720) and pass the Luhn check. Lists of years such as
    ``2019 2020 2021 2022`` therefore never match, and neither do runs of more
    than 8 digit groups (tables of numbers rather than a card).
``iban``
    ISO 13616: a country code with a known IBAN length, two check digits and
    the BBAN, optionally grouped by single spaces, passing the mod-97 check.
    Upper-case only.
``national_id``
    US Social Security numbers written ``AAA-GG-SSSS`` (area 000, 666 and
    900-999, group 00 and serial 0000 are never issued and are rejected; the
    dash-less 9-digit form is too ambiguous to match); UK National Insurance
    numbers (two prefix letters following the HMRC rules, so the ``QQ``
    specimen prefix and BG, GB, KN, NK, NT, TN, ZZ are rejected, six digits and
    a suffix A-D, spaces optional); Spanish DNI (8 digits and the mod-23
    control letter) and NIE (X/Y/Z, 7 digits and the control letter).
``api_key``
    OpenAI ``sk-…``/``sk-proj-…``, Anthropic ``sk-ant-…``, AWS access key ids
    ``AKIA``/``ASIA`` + 16, GitHub ``ghp_``/``gho_``/``ghu_``/``ghs_``/``ghr_``
    and ``github_pat_``, Slack ``xox[baprs]-``, Google ``AIza`` + 35, Groq
    ``gsk_``, JSON Web Tokens (three base64url segments, the first two starting
    with ``eyJ``) and ``Bearer <token>`` with a long token. Free-form key
    bodies must mix letters and digits, so ``sk-`` alone or
    ``sk-some-words-here`` is not a key.
``private_key``
    ``-----BEGIN … PRIVATE KEY-----`` blocks (PKCS#8, RSA, EC, DSA, OPENSSH,
    ENCRYPTED, PGP ``PRIVATE KEY BLOCK``) up to the matching END line, or to
    the end of the text when it is cut off.

``health``, ``passport``, ``driving_licence``, ``tax_id`` (and more ``national_id``)
    Health data and identity documents, found by `routed_llm.classify.records`:
    distinctive formats with check digits anywhere (Italian codice fiscale, UK driving
    licence, ICAO machine-readable zones, Medicare ids, US ITIN ``9XX-7X-XXXX``, French NIR
    in its groups), other document numbers only after a context word in one of several
    languages and with their check digit where there is one (SSN, SIN, BSN, Aadhaar,
    PESEL, NIR, Steuer-ID, NHS number ...), and clinical terms tied to a person.

Hidden values are looked for too (`routed_llm.classify.encoded`): base64, hex and
percent-encoded runs are decoded (bounded) and scanned like plain text, and digits
spelled as words are checked as card and phone numbers; such a match carries the
``encoding`` and a preview that names only the encoding.

When matches overlap, the more specific kind wins, in the order of `PII_KINDS`:
private_key, api_key, iban, credit_card, health, passport, driving_licence, tax_id,
national_id, email, phone (the digits of an IBAN can look like a card number; the
mod-97 check plus the length table is the stronger evidence).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from routed_llm.classify.encoded import decoded_runs, long_tokens, spelled_digit_runs
from routed_llm.classify.records import (
    NIR_SPACED_RE,
    Lexicon,
    find_records,
    itin_is_valid,
    nir_is_valid,
    same_length_lower,
    scan_lexicon,
)

__all__ = ["PII_KINDS", "PIIMatch", "detect_pii", "iban_is_valid", "luhn_is_valid"]

PII_KINDS: Final[tuple[str, ...]] = (
    "private_key",
    "api_key",
    "iban",
    "credit_card",
    "health",
    "passport",
    "driving_licence",
    "tax_id",
    "national_id",
    "email",
    "phone",
)
"""Every kind `detect_pii` reports, in overlap-resolution priority order."""

_PRIORITY: Final[dict[str, int]] = {kind: i for i, kind in enumerate(PII_KINDS)}
_ELLIPSIS: Final = "…"


@dataclass(frozen=True, slots=True)
class PIIMatch:
    """One piece of personal data or secret found in a text.

    Only the kind and the span are kept, plus a redacted ``preview`` (e.g.
    ``"4111…1111"``, ``"sk-proj-…"``, ``"j…@e….com"``); the matched text
    itself is never stored, so reprs and logs cannot leak it.
    """

    kind: str
    """One of `PII_KINDS`."""
    start: int
    """Offset of the first character of the match."""
    end: int
    """Offset just past the match (``text[start:end]`` is the match)."""
    preview: str = ""
    """A redacted hint of what matched; never the whole value."""
    encoding: str = ""
    """How the value was hidden, when it was: ``base64``, ``hex``, ``url-encoded`` or ``words``."""


# --------------------------------------------------------------------------- checksums


_LUHN_DOUBLED: Final = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)


def luhn_is_valid(digits: str) -> bool:
    """Return whether a string of ASCII digits passes the Luhn (mod 10) check."""
    raw = digits.encode("ascii")
    kept = raw[-1::-2]
    total = sum(kept) - 48 * len(kept)
    for byte in raw[-2::-2]:
        total += _LUHN_DOUBLED[byte - 48]
    return total % 10 == 0


# ISO 13616 registry: country code -> total IBAN length.
_IBAN_LENGTHS: Final[dict[str, int]] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22,
    "BH": 22, "BI": 27, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24,
    "DE": 22, "DJ": 27, "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18,
    "FK": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27,
    "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27,
    "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20,
    "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MN": 20, "MR": 27,
    "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23, "PK": 24, "PL": 28,
    "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24, "SC": 31,
    "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28,
    "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}  # fmt: skip


def iban_is_valid(iban: str) -> bool:
    """Return whether a compact upper-case IBAN has a known length and passes mod-97."""
    if _IBAN_LENGTHS.get(iban[:2]) != len(iban) or not iban.isalnum() or not iban.isascii():
        return False
    rearranged = iban[4:] + iban[:4]
    remainder = 0
    for ch in rearranged:
        # Letters count as two digits (A=10 ... Z=35).
        if ch <= "9":
            remainder = (remainder * 10 + ord(ch) - 48) % 97
        else:
            remainder = (remainder * 100 + ord(ch) - 55) % 97
    return remainder == 1


_DNI_LETTERS: Final = "TRWAGMYFPDXBNJZSQVHLCKE"


def _dni_is_valid(number: int, letter: str) -> bool:
    return _DNI_LETTERS[number % 23] == letter


# --------------------------------------------------------------------------- patterns
#
# Patterns start with a literal or a character class where possible so that the
# regex engine can skip ahead quickly; word-boundary checks that would defeat
# that are done in Python on the (rare) candidates instead.

_EMAIL_DOMAIN_RE: Final = re.compile(
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.){1,8}[A-Za-z]{2,24}(?![A-Za-z0-9-])"
)
_EMAIL_LOCAL_CHARS: Final = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._%+-'")

# Card candidates: a chunk of digits, spaces and dashes (a cheap single-class scan),
# then the runs of digits joined by single separators inside it.
_CARD_CHUNK_RE: Final = re.compile(r"[0-9][0-9 -]{11,}")
_DIGIT_RUN_RE: Final = re.compile(r"[0-9](?:[ -]?[0-9])*")
_CARD_MAX_GROUPS: Final = 8  # longer runs of digit groups are tables of numbers
_RUN_SPLIT_RE: Final = re.compile(r"[ -]")

_IBAN_RE: Final = re.compile(r"[A-Z][A-Z][0-9]{2}(?: ?[A-Z0-9]){11,30}")

_SSN_RE: Final = re.compile(r"[0-9][0-9]{2}-[0-9]{2}-[0-9]{4}")
_NINO_RE: Final = re.compile(r"[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?[0-9]{2} ?[0-9]{2} ?[0-9]{2} ?[A-D]")
_NINO_BAD_PREFIXES: Final = frozenset({"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"})
# Anchored on the control letter (rare in digit-heavy text), looking back for the number.
_DNI_RE: Final = re.compile(r"[A-Z](?<=[0-9XYZ][0-9]{7}[A-Z])")
_DNI_DASH_RE: Final = re.compile(r"-[A-Z](?<=[0-9XYZ][0-9]{7}-[A-Z])")

_PHONE_INTL_RE: Final = re.compile(r"\+[1-9][0-9]{0,3}(?:[ .-]?(?:\([0-9]{1,4}\)|[0-9]{1,5})){1,7}")
# "(415) 555-2671", "415-555-2671" (one kind of separator); a leading "1-" trunk
# prefix is picked up in Python. Two patterns, each with a fast first-character scan.
_PHONE_NANP_PAREN_RE: Final = re.compile(r"\([2-9][0-9]{2}\) ?[2-9][0-9]{2}[-. ][0-9]{4}(?![0-9])")
_PHONE_NANP_RE: Final = re.compile(r"[2-9][0-9]{2}([-. ])[2-9][0-9]{2}\1[0-9]{4}(?![0-9])")
_PHONE_EU_RE: Final = re.compile(r"0(?<![0-9.,/+-]0)[1-9][0-9]{0,4}(?:[ ./-][0-9]{2,8}){1,4}(?![ ./-]?[0-9])")
_PHONE_SEPARATORS: Final = frozenset(" .-/")
_NANP_TRUNK_SEPARATORS: Final = frozenset(" .-")
# Characters around a digit group that make it part of a larger number or an amount.
_NOT_BEFORE_PHONE: Final = frozenset("+-./$€£¥,:")
_NOT_AFTER_PHONE: Final = frozenset("-/$€£%")
_DECIMAL_POINTS: Final = frozenset(".,")

_PRIVATE_KEY_RE: Final = re.compile(
    r"-----BEGIN ([A-Z0-9]+ )*PRIVATE KEY( BLOCK)?-----"
    r"[\s\S]*?(?:-----END ([A-Z0-9]+ )*PRIVATE KEY( BLOCK)?-----|\Z)"
)

# (substring gate, pattern, whether the key body must mix letters and digits).
# Group 1 of each pattern is the fixed, non-secret prefix shown in the preview.
# Patterns only run when their gate occurs in the text, so most texts pay
# nothing but a few substring searches for the whole table.
_KEY_BODY: Final = r"[A-Za-z0-9_-]"
_API_KEY_PATTERNS: Final[tuple[tuple[str, re.Pattern[str], bool], ...]] = (
    (
        "sk-",
        re.compile(r"(sk-(?:ant-(?:api|admin|sid)[0-9]{2}-|proj-|svcacct-|admin-)?)" + _KEY_BODY + "{20,}"),
        True,
    ),
    ("AKIA", re.compile(r"(AKIA)[0-9A-Z]{16}"), False),
    ("ASIA", re.compile(r"(ASIA)[0-9A-Z]{16}"), False),
    ("gh", re.compile(r"(gh[pousr]_)[A-Za-z0-9]{36,255}"), True),
    ("github_pat_", re.compile(r"(github_pat_)[A-Za-z0-9_]{22,255}"), True),
    ("xox", re.compile(r"(xox[baprs]-)[A-Za-z0-9-]{10,}"), True),
    ("AIza", re.compile(r"(AIza)[0-9A-Za-z_-]{35}"), True),
    ("gsk_", re.compile(r"(gsk_)[A-Za-z0-9]{20,}"), True),
    ("eyJ", re.compile(r"(eyJ)[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{10,}"), False),
    ("earer", re.compile(r"([Bb]earer)[ \t]+[A-Za-z0-9._~+/-]{20,}=*"), True),
)
_KEY_CHARS: Final = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")


# --------------------------------------------------------------------------- helpers


def _is_word_char(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def _char_before(text: str, i: int) -> str:
    return text[i - 1] if i > 0 else ""


def _char_at(text: str, i: int) -> str:
    return text[i] if i < len(text) else ""


def _mixes_letters_and_digits(body: str) -> bool:
    has_digit = has_alpha = False
    for c in body:
        if "0" <= c <= "9":
            has_digit = True
        elif c.isalpha():
            has_alpha = True
        if has_digit and has_alpha:
            return True
    return False


def _tail(value: str, n: int) -> str:
    return _ELLIPSIS + value[-n:] if len(value) > n else _ELLIPSIS


# --------------------------------------------------------------------------- detectors


def _email_preview(first: str, domain: str) -> str:
    tld = domain.rsplit(".", 1)[1]
    return f"{first}{_ELLIPSIS}@{domain[0]}{_ELLIPSIS}.{tld}"


def _find_emails(text: str, out: list[PIIMatch]) -> None:
    at = text.find("@")
    while at != -1:
        start = at
        floor = max(0, at - 64)
        while start > floor and text[start - 1] in _EMAIL_LOCAL_CHARS:
            start -= 1
        while start < at and text[start] in ".'":
            start += 1
        domain = _EMAIL_DOMAIN_RE.match(text, at + 1)
        if start < at and domain is not None and text[at - 1] != ".":
            end = domain.end()
            out.append(PIIMatch("email", start, end, _email_preview(text[start], domain.group())))
            at = text.find("@", end)
        else:
            at = text.find("@", at + 1)


def _is_card_number(digits: str) -> bool:
    """Return whether 13-19 digits start like a payment card and pass the Luhn check."""
    first = digits[0]
    if first not in "3456" and not (first == "2" and "2221" <= digits[:4] <= "2720"):
        return False
    return 13 <= len(digits) <= 19 and luhn_is_valid(digits)


def _find_cards(text: str, out: list[PIIMatch]) -> None:
    for chunk in _CARD_CHUNK_RE.finditer(text):
        if chunk.end() - chunk.start() >= 21:  # long enough for a French NIR in its groups
            _find_spaced_nir(text, chunk.start(), chunk.end(), out)
        for m in _DIGIT_RUN_RE.finditer(text, chunk.start(), chunk.end()):
            start, end = m.start(), m.end()
            if end - start < 13:
                continue
            if _is_word_char(_char_before(text, start)) or _is_word_char(_char_at(text, end)):
                continue
            run = m.group()
            separators = run.count(" ") + run.count("-")
            if not separators:
                if _is_card_number(run):
                    out.append(PIIMatch("credit_card", start, end, _card_preview(run)))
            elif separators < _CARD_MAX_GROUPS:
                _find_grouped_cards(_RUN_SPLIT_RE.split(run), start, out)


def _find_spaced_nir(text: str, start: int, end: int, out: list[PIIMatch]) -> None:
    """French NIR written ``1 85 05 78 006 084 91`` (mod-97 key) inside a chunk of digits and spaces."""
    for m in NIR_SPACED_RE.finditer(text, start, end):
        s, e = m.span()
        if (s == 0 or not text[s - 1].isdigit()) and nir_is_valid(m.group().replace(" ", "")):
            out.append(PIIMatch("national_id", s, e, _tail(m.group(), 2)))


def _find_grouped_cards(groups: list[str], start: int, out: list[PIIMatch]) -> None:
    """Find cards in a run of digit groups ("4111 1111 1111 1111", maybe next to a CVV).

    A card starts at a 4-digit group and spans whole groups; the longest valid one
    wins and the search resumes after it.
    """
    i, pos = 0, start
    while i < len(groups):
        first = groups[i]
        best_j, best = -1, ""
        if len(first) == 4 and (first[0] in "3456" or "2221" <= first <= "2720"):
            length = 4
            for j in range(i + 1, len(groups)):
                length += len(groups[j])
                if length > 19:
                    break
                if length >= 13:
                    digits = "".join(groups[i : j + 1])
                    if luhn_is_valid(digits):
                        best_j, best = j, digits
        if best_j < 0:
            pos += len(first) + 1
            i += 1
            continue
        end = pos + sum(len(g) for g in groups[i : best_j + 1]) + (best_j - i)
        out.append(PIIMatch("credit_card", pos, end, _card_preview(best)))
        pos = end + 1
        i = best_j + 1


def _card_preview(digits: str) -> str:
    return f"{digits[:4]}{_ELLIPSIS}{digits[-4:]}"


def _find_ibans(text: str, out: list[PIIMatch]) -> None:
    pos = 0
    while True:
        m = _IBAN_RE.search(text, pos)
        if m is None:
            return
        start = m.start()
        pos = start + 1
        expected = _IBAN_LENGTHS.get(text[start : start + 2])
        if expected is None or _is_word_char(_char_before(text, start)):
            continue
        # Walk the candidate until `expected` alphanumerics are consumed; the
        # greedy pattern may have run on into following upper-case words.
        compact: list[str] = []
        i = start
        end = m.end()
        while i < end and len(compact) < expected:
            if text[i] != " ":
                compact.append(text[i])
            i += 1
        if len(compact) != expected or _is_word_char(_char_at(text, i)):
            continue
        iban = "".join(compact)
        if iban_is_valid(iban):
            out.append(PIIMatch("iban", start, i, f"{iban[:4]}{_ELLIPSIS}{iban[-2:]}"))
            pos = i


def _find_national_ids(text: str, out: list[PIIMatch]) -> None:
    has_dash = "-" in text
    for m in _SSN_RE.finditer(text) if has_dash else ():
        s, e = m.start(), m.end()
        before, after = _char_before(text, s), _char_at(text, e)
        if _is_word_char(before) or before == "-" or _is_word_char(after) or after == "-":
            continue
        ssn = m.group()
        area, group, serial = ssn[:3], ssn[4:6], ssn[7:]
        if area[0] == "9":  # never an SSN; an ITIN when the group is one the IRS issues
            if itin_is_valid(area + group + serial):
                out.append(PIIMatch("tax_id", s, e, _tail(serial, 2)))
            continue
        if area == "000" or area == "666" or group == "00" or serial == "0000":
            continue
        out.append(PIIMatch("national_id", s, e, _tail(serial, 2)))
    for m in _NINO_RE.finditer(text):
        s, e = m.start(), m.end()
        if _is_word_char(_char_before(text, s)) or _is_word_char(_char_at(text, e)):
            continue
        if text[s : s + 2] in _NINO_BAD_PREFIXES:
            continue
        out.append(PIIMatch("national_id", s, e, _tail(m.group(), 2)))
    dni = [(m.end() - 9, m.end()) for m in _DNI_RE.finditer(text)]
    if has_dash:
        dni.extend((m.end() - 10, m.end()) for m in _DNI_DASH_RE.finditer(text))
    for s, e in dni:
        if _is_word_char(_char_before(text, s)) or _is_word_char(_char_at(text, e)):
            continue
        raw = text[s:e].replace("-", "")
        number = raw[:-1]
        if number[0] in "XYZ":
            number = str("XYZ".index(number[0])) + number[1:]
        if _dni_is_valid(int(number), raw[-1]):
            out.append(PIIMatch("national_id", s, e, _tail(raw, 2)))


def _phone_bounded(text: str, s: int, e: int) -> bool:
    before, after = _char_before(text, s), _char_at(text, e)
    if _is_word_char(before) or before in _NOT_BEFORE_PHONE:
        return False
    if _is_word_char(after) or after in _NOT_AFTER_PHONE:
        return False
    # "415.555.2671.5" or "...2671,99" continue as a number, not a phone.
    return not (after in _DECIMAL_POINTS and _char_at(text, e + 1).isdigit())


def _find_phones(text: str, out: list[PIIMatch]) -> None:
    if "+" in text:
        for m in _PHONE_INTL_RE.finditer(text):
            s, e = m.start(), m.end()
            if not _phone_bounded(text, s, e):
                continue
            digits = sum(1 for c in m.group() if c.isdigit())
            if 8 <= digits <= 15:
                out.append(PIIMatch("phone", s, e, _tail(m.group(), 2)))
    nanp = list(_PHONE_NANP_RE.finditer(text))
    if "(" in text:
        nanp.extend(_PHONE_NANP_PAREN_RE.finditer(text))
    for m in nanp:
        s, e = m.start(), m.end()
        if s >= 2 and text[s - 2] == "1" and text[s - 1] in _NANP_TRUNK_SEPARATORS:
            s -= 2  # "1-800-555-0199"
        if _phone_bounded(text, s, e):
            out.append(PIIMatch("phone", s, e, _tail(m.group(), 2)))
    for m in _PHONE_EU_RE.finditer(text):
        s, e = m.start(), m.end()
        if not _phone_bounded(text, s, e):
            continue
        number = m.group()
        seps = {c for c in number if c in _PHONE_SEPARATORS}
        if len(seps) != 1:
            continue
        digits = len(number) - sum(1 for c in number if c in _PHONE_SEPARATORS)
        if 9 <= digits <= 12:
            out.append(PIIMatch("phone", s, e, _tail(number, 2)))


def _find_api_keys(text: str, out: list[PIIMatch]) -> None:
    for gate, pattern, check_mix in _API_KEY_PATTERNS:
        if gate not in text:
            continue
        for m in pattern.finditer(text):
            s, e = m.start(), m.end()
            # The key must be a whole token: "task-..." is not "sk-...". A bearer
            # token may legitimately end in "-" or "_", so only its start is checked.
            if _char_before(text, s) in _KEY_CHARS:
                continue
            if gate != "earer" and _char_at(text, e) in _KEY_CHARS:
                continue
            if check_mix and not _mixes_letters_and_digits(text[m.end(1) : e]):
                continue
            out.append(PIIMatch("api_key", s, e, m.group(1) + _ELLIPSIS))


def _find_private_keys(text: str, out: list[PIIMatch]) -> None:
    for m in _PRIVATE_KEY_RE.finditer(text):
        label = (m.group(1) or "") + "PRIVATE KEY"
        out.append(PIIMatch("private_key", m.start(), m.end(), label + _ELLIPSIS))


# --------------------------------------------------------------------------- entry point


def _has_digits(text: str, n: int) -> bool:
    """Cheap gate: whether the text holds at least ``n`` ASCII digits anywhere."""
    count = 0
    for d in "0123456789":
        count += text.count(d)
        if count >= n:
            return True
    return False


def detect_pii(text: str, *, lexicon: Lexicon | None = None, deep: bool = True) -> list[PIIMatch]:
    """Find personal data and secrets in ``text``.

    Args:
        text: Any string; nothing is assumed about its encoding or content.
        lexicon: The text's `routed_llm.classify.records.RECORD_CUES` hits, when the caller
            already scanned for them (the heuristic classifier does); found here otherwise.
        deep: Also look for identity documents, health data, encoded runs and spelled
            digits. ``False`` runs only the pattern detectors (email ... private_key), for a
            second look at a text whose deep scan is already done.

    Returns:
        Non-overlapping matches ordered by position. Overlaps are resolved in
        favour of the more specific kind (see `PII_KINDS`). What is found inside
        an encoded run (base64, hex, percent-encoding) or in digits spelled as
        words is reported over the span of the run, with ``encoding`` set.

    """
    if not text:
        return []
    found = _detect(text)
    if deep:
        _detect_deep(text, lexicon, found)
    if len(found) <= 1:
        return found
    found.sort(key=lambda m: (_PRIORITY[m.kind], m.start))
    kept: list[PIIMatch] = []
    for match in found:
        if all(match.end <= k.start or match.start >= k.end for k in kept):
            kept.append(match)
    kept.sort(key=lambda m: m.start)
    return kept


def _detect(text: str, *, keys: bool = True, emails: bool = True, numbers: bool = True) -> list[PIIMatch]:
    """Run the pattern detectors on ``text`` as written; overlaps are left for `detect_pii` to resolve.

    The flags select detector groups: secrets, e-mail addresses, and the number kinds
    (cards, IBANs, national ids, phones).
    """
    found: list[PIIMatch] = []
    if keys and "PRIVATE KEY" in text:
        _find_private_keys(text, found)
    if keys:
        _find_api_keys(text, found)
    if emails and "@" in text:
        _find_emails(text, found)
    # Every remaining kind needs at least six digits (NINO) - most prose has fewer.
    if numbers and _has_digits(text, 6):
        _find_cards(text, found)
        _find_ibans(text, found)
        _find_national_ids(text, found)
        _find_phones(text, found)
    return found


_MIN_SPELLED_WORDS: Final = 4  # a spelled number needs ten digits, at least four of them words
_SPELLED_GAP: Final = 4  # at most this many characters (", ", " - ") between two digit words of a number


def _has_spelled_run(lexicon: Lexicon) -> bool:
    """Cheap gate: at least four digit words in a row ("due" or "one" scattered in prose is not a number)."""
    run, last_end = 0, -_SPELLED_GAP - 1
    for family, start, end in lexicon:
        if family != "digit word":
            continue
        run = run + 1 if start - last_end <= _SPELLED_GAP else 1
        if run >= _MIN_SPELLED_WORDS:
            return True
        last_end = end
    return False


def detect_respelled(text: str, *, emails: bool, numbers: bool) -> list[str]:
    """Return the kinds the e-mail and/or number detectors find in a re-spelled copy of a text.

    For the classifier's second look at a text whose "at" / "dot" spellings or dotted digits
    were written out: only the detectors such a rewrite can affect run again.
    """
    return [m.kind for m in _detect(text, keys=False, emails=emails, numbers=numbers)]


def _detect_deep(text: str, lexicon: Lexicon | None, found: list[PIIMatch]) -> None:
    """Identity documents, health data, encoded runs and spelled digits."""
    if lexicon is None:
        lexicon = scan_lexicon(same_length_lower(text))
    tokens = long_tokens(text)
    find_records(
        text,
        lambda kind, s, e, preview: found.append(PIIMatch(kind, s, e, preview)),
        lexicon=lexicon,
        tokens=tokens,
        digits=_has_digits(text, 4),
    )
    for start, end, encoding, decoded in decoded_runs(text, tokens):
        inner = _detect(decoded)
        _detect_deep_inner(decoded, inner)
        found.extend(PIIMatch(m.kind, start, end, encoding + _ELLIPSIS, encoding) for m in inner)
    if _has_spelled_run(lexicon):
        _find_spelled(text, found)


def _detect_deep_inner(decoded: str, found: list[PIIMatch]) -> None:
    """Find records, and decode one level deeper (base64 of percent-encoding), inside a decoded run."""
    tokens = long_tokens(decoded)
    find_records(
        decoded,
        lambda kind, s, e, preview: found.append(PIIMatch(kind, s, e, preview)),
        tokens=tokens,
        digits=_has_digits(decoded, 4),
    )
    for _, _, _, twice in decoded_runs(decoded, tokens):
        found.extend(_detect(twice))


def _find_spelled(text: str, out: list[PIIMatch]) -> None:
    for start, end, number in spelled_digit_runs(same_length_lower(text)):
        digits = number.lstrip("+")
        if _is_card_number(digits):
            out.append(PIIMatch("credit_card", start, end, _card_preview(digits), "words"))
        elif _spelled_phone(number):
            out.append(PIIMatch("phone", start, end, _tail(digits, 2), "words"))


def _spelled_phone(number: str) -> bool:
    """Tell a phone number spelled as words: +CC and 8-15 digits, a NANP number or a trunk-0 national number."""
    if number.startswith("+"):
        return 8 <= len(number) - 1 <= 15
    if len(number) == 11 and number[0] == "1":
        number = number[1:]
    if len(number) == 10 and number[0] in "23456789" and number[3] in "23456789":
        return True
    if number.startswith("00"):  # international prefix: 00 44 ...
        return 10 <= len(number) <= 17
    return number[0] == "0" and 10 <= len(number) <= 12
