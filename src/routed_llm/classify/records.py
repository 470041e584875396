"""Identity documents and health records: context words, number formats and check digits.

Called by `routed_llm.classify.pii.detect_pii`; reports `PIIMatch` kinds ``passport``,
``driving_licence``, ``national_id``, ``tax_id`` and ``health``. A bare 9-digit number is
never enough: a number is a document only when

- its format is distinctive and carries a check digit, so it is recognised anywhere:
  Italian codice fiscale (check letter), UK driving licence numbers (surname, birth date
  and initials layout), machine-readable passport and ID-card zones (ICAO 7-3-1 check
  digits), US Medicare beneficiary ids (``1EG4-TE5-MK73``); and, found by `detect_pii`'s
  own digit scans, US ITINs written ``9XX-7X-XXXX`` and French NIRs written in their usual
  groups (``1 85 05 78 006 084 91``, mod-97 key);
- or it follows a context word (`routed_llm.classify.cues.DOCUMENT_CONTEXTS`, several
  languages) and has the format of that document, with its check digit where there is one:
  US SSN (issuance rules), Canadian SIN (Luhn), Dutch BSN (11-proef), Indian Aadhaar
  (Verhoeff) and PAN, German Steuer-ID (ISO 7064 MOD 11,10) and Personalausweis, French
  NIR (mod 97), Polish PESEL, UK NHS numbers (mod 11); passports, driving licences,
  identity cards, tax ids, medical record numbers and health-plan member ids take the
  first number after their context word (at least five digits, not a date).

Health data is also a clinical term (`routed_llm.classify.cues.CLINICAL_TERMS`: a diagnosis,
a prescription, a medicine or dose, a lab result) tied to a person (`HEALTH_TIES`: "my", "I
was diagnosed", a relative, patient record fields, a date of birth, a named patient). "What
is metformin for?" has no tie and stays public.

Everything runs on one lower-cased scan of the text for the context words and clinical
terms; the number checks only run in the small windows after the (rare) hits.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Final

from routed_llm.classify.cueindex import CueIndex
from routed_llm.classify.cues import CLINICAL_TERMS, DOCUMENT_CONTEXTS, HEALTH_TIES, Cue
from routed_llm.classify.encoded import DIGIT_WORD_PATTERN

__all__ = [
    "RECORD_CUES",
    "RECORD_KINDS",
    "Lexicon",
    "aadhaar_is_valid",
    "bsn_is_valid",
    "codice_fiscale_is_valid",
    "find_records",
    "NIR_SPACED_RE",
    "icao_check_digit",
    "itin_is_valid",
    "nir_is_valid",
    "scan_lexicon",
    "same_length_lower",
    "steuer_id_is_valid",
    "verhoeff_is_valid",
]

RECORD_KINDS: Final = ("health", "passport", "driving_licence", "tax_id", "national_id")
"""Kinds this module reports (see `routed_llm.classify.pii.PII_KINDS` for the priority)."""

# A callback that records one finding: (kind, start, end, preview).
Report = Callable[[str, int, int, str], None]

Lexicon = list[tuple[str, int, int]]
"""Hits of `RECORD_CUES` in a text: (cue label, start, end), in order."""

RECORD_CUES: Final[tuple[Cue, ...]] = (
    *(Cue(family, pattern) for family, pattern in DOCUMENT_CONTEXTS.items()),
    Cue("clinical", CLINICAL_TERMS),
    Cue("digit word", DIGIT_WORD_PATTERN),
)
"""The words the record detectors look for. The heuristic classifier folds them into its own
cue scan and hands the hits over, so a classified text is scanned for words only once."""

_LEXICON_INDEX: Final = CueIndex([(0, None, RECORD_CUES)])


def scan_lexicon(lower: str) -> Lexicon:
    """Find `RECORD_CUES` in a lower-cased text (what the classifier's scan does in passing)."""
    hits: Lexicon = []
    for m in _LEXICON_INDEX.scanner.finditer(lower):
        pos = m.start()
        hits.extend((role.cue.label, pos, m.end()) for role in _LEXICON_INDEX.roles_at(lower, pos))
    return hits


# --------------------------------------------------------------------------- check digits

_LUHN_DOUBLED: Final = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        total += _LUHN_DOUBLED[d] if i % 2 else d
    return total % 10 == 0


_VERHOEFF_D: Final = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9), (1, 2, 3, 4, 0, 6, 7, 8, 9, 5), (2, 3, 4, 0, 1, 7, 8, 9, 5, 6),
    (3, 4, 0, 1, 2, 8, 9, 5, 6, 7), (4, 0, 1, 2, 3, 9, 5, 6, 7, 8), (5, 9, 8, 7, 6, 0, 4, 3, 2, 1),
    (6, 5, 9, 8, 7, 1, 0, 4, 3, 2), (7, 6, 5, 9, 8, 2, 1, 0, 4, 3), (8, 7, 6, 5, 9, 3, 2, 1, 0, 4),
    (9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
)  # fmt: skip
_VERHOEFF_P: Final = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9), (1, 5, 7, 6, 2, 8, 3, 0, 9, 4), (5, 8, 0, 3, 7, 9, 6, 1, 4, 2),
    (8, 9, 1, 6, 0, 4, 3, 5, 2, 7), (9, 4, 5, 3, 1, 2, 6, 8, 7, 0), (4, 2, 8, 6, 5, 7, 3, 9, 0, 1),
    (2, 7, 9, 3, 8, 0, 6, 4, 1, 5), (7, 0, 4, 6, 9, 1, 3, 2, 5, 8),
)  # fmt: skip


def verhoeff_is_valid(digits: str) -> bool:
    """Return whether a string of ASCII digits passes the Verhoeff check."""
    c = 0
    for i, ch in enumerate(reversed(digits)):
        c = _VERHOEFF_D[c][_VERHOEFF_P[i % 8][ord(ch) - 48]]
    return c == 0


def aadhaar_is_valid(digits: str) -> bool:
    """Indian Aadhaar: 12 digits, not starting with 0 or 1, Verhoeff check digit."""
    return len(digits) == 12 and digits[0] not in "01" and verhoeff_is_valid(digits)


def bsn_is_valid(digits: str) -> bool:
    """Dutch BSN: 9 digits (8 with a leading zero dropped) passing the 11-proef."""
    if len(digits) == 8:
        digits = "0" + digits
    if len(digits) != 9 or digits == "000000000":
        return False
    total = sum((9 - i) * (ord(ch) - 48) for i, ch in enumerate(digits[:8])) - (ord(digits[8]) - 48)
    return total % 11 == 0


def _sin_is_valid(digits: str) -> bool:
    """Canadian SIN: 9 digits, not starting with 0 or 8, Luhn."""
    return len(digits) == 9 and digits[0] not in "08" and _luhn(digits)


def _ssn_is_valid(digits: str) -> bool:
    """US SSN issuance rules (area 000, 666, 9xx; group 00; serial 0000 never issued)."""
    if len(digits) != 9:
        return False
    area, group, serial = digits[:3], digits[3:5], digits[5:]
    return not (area in ("000", "666") or area[0] == "9" or group == "00" or serial == "0000")


def itin_is_valid(digits: str) -> bool:
    """US ITIN: 9XX-GG-XXXX with group 50-65, 70-88, 90-92 or 94-99."""
    if len(digits) != 9 or digits[0] != "9":
        return False
    g = int(digits[3:5])
    return 50 <= g <= 65 or 70 <= g <= 88 or 90 <= g <= 92 or 94 <= g <= 99


def steuer_id_is_valid(digits: str) -> bool:
    """German Steuer-ID: 11 digits, no leading zero, ISO 7064 MOD 11,10 check digit."""
    if len(digits) != 11 or digits[0] == "0":
        return False
    product = 10
    for ch in digits[:10]:
        total = (ord(ch) - 48 + product) % 10 or 10
        product = total * 2 % 11
    check = 11 - product
    return (0 if check == 10 else check) == ord(digits[10]) - 48


def nir_is_valid(compact: str) -> bool:
    """French NIR (numéro de sécurité sociale): 15 characters, key = 97 - number mod 97."""
    if len(compact) != 15 or compact[0] not in "12378":
        return False
    body = compact[:13].upper()
    if body[5:7] in ("2A", "2B"):
        number = int(body[:5] + "19" + body[7:]) - (1000000 if body[6] == "A" else 2000000)
    elif body.isdigit():
        number = int(body)
    else:
        return False
    month = int(body[3:5])
    if not (1 <= month <= 12 or 20 <= month <= 42 or 50 <= month <= 99):
        return False
    return compact[13:].isdigit() and 97 - number % 97 == int(compact[13:])


def _pesel_is_valid(digits: str) -> bool:
    if len(digits) != 11:
        return False
    weights = (1, 3, 7, 9, 1, 3, 7, 9, 1, 3)
    total = sum(w * (ord(ch) - 48) for w, ch in zip(weights, digits, strict=False))
    return (10 - total % 10) % 10 == ord(digits[10]) - 48


def _nhs_is_valid(digits: str) -> bool:
    if len(digits) != 10:
        return False
    total = sum((10 - i) * (ord(ch) - 48) for i, ch in enumerate(digits[:9]))
    check = 11 - total % 11
    if check == 11:
        check = 0
    return check != 10 and check == ord(digits[9]) - 48


def _icao_value(ch: str) -> int:
    if ch.isdigit():
        return ord(ch) - 48
    if ch == "<":
        return 0
    return ord(ch) - 55  # A=10 ... Z=35


def icao_check_digit(field: str) -> int:
    """ICAO 9303 check digit (weights 7, 3, 1) of a machine-readable-zone field."""
    weights = (7, 3, 1)
    return sum(weights[i % 3] * _icao_value(ch) for i, ch in enumerate(field)) % 10


_CF_ODD: Final = dict(
    zip(
        "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ",
        (1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16,
         10, 22, 25, 24, 23),
        strict=True,
    )
)  # fmt: skip


def codice_fiscale_is_valid(code: str) -> bool:
    """Italian codice fiscale: 16 characters whose last letter is the check character."""
    if len(code) != 16:
        return False
    total = 0
    for i, ch in enumerate(code[:15]):
        if i % 2 == 0:
            total += _CF_ODD[ch]
        else:
            total += ord(ch) - 48 if ch.isdigit() else ord(ch) - 65
    return chr(65 + total % 26) == code[15]


# --------------------------------------------------------------------------- context-free formats

_CF_RE: Final = re.compile(
    r"[A-Z]{6}[0-9LMNPQRSTUV]{2}[ABCDEHLMPRST][0-9LMNPQRSTUV]{2}[A-Z][0-9LMNPQRSTUV]{3}[A-Z](?![A-Za-z0-9])"
)
# Surname (5, padded with 9), decade, month (+50 for women), day, year digit, initials, check digit, 2 letters.
_UK_DL_RE: Final = re.compile(
    r"(?<![A-Za-z0-9])[A-Z9]{5}[0-9][0156][0-9][0-3][0-9]{2}[A-Z9]{2}[0-9][A-Z]{2}(?![A-Za-z0-9])"
)
NIR_SPACED_RE: Final = re.compile(r"[12378] [0-9]{2} [0-9]{2} (?:[0-9]{2}|2[AB]) [0-9]{3} [0-9]{3} [0-9]{2}(?![0-9])")
# Medicare Beneficiary Identifier: no S, L, O, I, B, Z letters.
_MBI_RE: Final = re.compile(
    r"(?<![A-Za-z0-9])[1-9][AC-HJKMNP-RT-Y][AC-HJKMNP-RT-Y0-9][0-9]-?[AC-HJKMNP-RT-Y][AC-HJKMNP-RT-Y0-9][0-9]-?"
    r"[AC-HJKMNP-RT-Y]{2}[0-9]{2}(?![A-Za-z0-9])"
)
# ICAO 9303 machine-readable zones: TD3 (passport) line 2, TD1 (ID card) line 1.
_MRZ_TD3_RE: Final = re.compile(r"[A-Z0-9<]{9}[0-9][A-Z<]{3}[0-9]{6}[0-9][MF<][0-9]{6}[0-9][A-Z0-9<]{14}[0-9<][0-9]")
_MRZ_TD1_RE: Final = re.compile(r"[ACI][A-Z<][A-Z<]{3}[A-Z0-9<]{9}[0-9][A-Z0-9<]{15}")


def _uk_licence_is_valid(code: str) -> bool:
    month = int(code[6:8])
    day = int(code[8:10])
    return (1 <= month <= 12 or 51 <= month <= 62) and 1 <= day <= 31


def _find_formats(text: str, tokens: Sequence[tuple[int, int]], report: Report) -> None:
    """Context-free formats: the uppercase ones inside the text's long tokens, ITIN and NIR by digits."""
    for s, e in tokens:
        token = text[s:e]
        if len(token) >= 30 and "<" in token:
            for m in _MRZ_TD3_RE.finditer(token):
                line = m.group()
                if (
                    icao_check_digit(line[:9]) == int(line[9])
                    and icao_check_digit(line[13:19]) == int(line[19])
                    and icao_check_digit(line[21:27]) == int(line[27])
                ):
                    report("passport", s + m.start(), s + m.end(), "MRZ…")
            for m in _MRZ_TD1_RE.finditer(token):
                line = m.group()
                if icao_check_digit(line[5:14]) == int(line[14]):
                    report("national_id", s + m.start(), s + m.end(), "MRZ…")
            continue
        if e - s > 64:
            continue
        for m in _CF_RE.finditer(token):
            if (m.start() == 0 or not token[m.start() - 1].isalnum()) and codice_fiscale_is_valid(m.group()):
                report("tax_id", s + m.start(), s + m.end(), "…" + m.group()[-1])
        for m in _UK_DL_RE.finditer(token):
            if _uk_licence_is_valid(m.group()):
                report("driving_licence", s + m.start(), s + m.end(), "…" + m.group()[-2:])
        for m in _MBI_RE.finditer(token):
            report("health", s + m.start(), s + m.end(), "MBI…")


# --------------------------------------------------------------------------- context words


_HEALTH_WORD_RE: Final = re.compile(
    r"health|medical|dental|pharmacy|copay|deductible|clinic|hospital|insurer|insurance|aetna|cigna|humana"
    r"|kaiser|unitedhealth|anthem|bupa|kranken|mutuelle|sanitari|zorg"
)

# A candidate number after a context word: alphanumerics, dashes, and spaces or dots only
# between digits ("046 454 286", "1EG4-TE5-MK73", "A1234567").
_TOKEN_RE: Final = re.compile(r"[A-Za-z0-9]+(?:(?:[-/]|(?<=[0-9])[ .](?=[0-9]))[A-Za-z0-9]+)*")
_DATE_RE: Final = re.compile(
    r"(?:19|20)[0-9]{2}[-./](?:0?[1-9]|1[0-2])[-./][0-9]{1,2}|[0-9]{1,2}[-./][0-9]{1,2}[-./](?:19|20)?[0-9]{2}"
)
_WINDOW_AFTER: Final = 48
_WINDOW_BEFORE: Final = 28
_WINDOW_STOP: Final = re.compile(r"[?!;]|\n\s*\n")
_PAN_RE: Final = re.compile(r"[A-Z]{3}[ABCFGHJLPT][A-Z][0-9]{4}[A-Z]")
_ID_CARD_DE_RE: Final = re.compile(r"[CFGHJKLMNPRTVWXYZ0-9]{9}[0-9]?")


def _is_date(token: str, compact: str) -> bool:
    if _DATE_RE.fullmatch(token):
        return True
    if len(compact) == 8 and compact.isdigit():
        year, month, day = int(compact[:4]), int(compact[4:6]), int(compact[6:])
        return 1900 <= year <= 2099 and 1 <= month <= 12 and 1 <= day <= 31
    return False


def _digit_count(s: str) -> int:
    return sum(1 for c in s if "0" <= c <= "9")


def _generic_document(compact: str, *, min_len: int = 6, max_len: int = 16, max_letters: int = 4) -> bool:
    """Tell a document number after its context word: mostly digits (at least five), few letters."""
    if not (min_len <= len(compact) <= max_len):
        return False
    digits = _digit_count(compact)
    return digits >= 5 and len(compact) - digits <= max_letters


def _validate(family: str, compact: str, upper: str) -> str | None:
    """Return the kind a token after a ``family`` context word is, or None."""
    digits_only = compact.isdigit()
    if family == "passport":
        if len(upper) == 9 and _digit_count(upper) >= 3 and compact == upper:
            return "passport"  # e.g. Dutch NXC1B2D34, German C01X00T47
        return "passport" if _generic_document(upper, max_len=10, max_letters=3) else None
    if family == "licence":
        return "driving_licence" if _generic_document(upper, max_len=18, max_letters=5) else None
    if family == "ssn":
        if digits_only and (_ssn_is_valid(compact) or itin_is_valid(compact)):
            return "national_id"
        return "national_id" if digits_only and len(compact) == 12 else None  # German SV-Nummer-like
    if family == "sin":
        return "national_id" if digits_only and _sin_is_valid(compact) else None
    if family == "bsn":
        return "national_id" if digits_only and bsn_is_valid(compact) else None
    if family == "aadhaar":
        return "national_id" if digits_only and aadhaar_is_valid(compact) else None
    if family == "nir":
        return "national_id" if nir_is_valid(upper) else None
    if family == "pesel":
        return "national_id" if digits_only and _pesel_is_valid(compact) else None
    if family == "idcard":
        if _ID_CARD_DE_RE.fullmatch(upper) and _digit_count(upper) >= 3:
            return "national_id"
        return "national_id" if _generic_document(upper, max_len=14, max_letters=4) else None
    if family == "taxid":
        if _PAN_RE.fullmatch(upper) or (len(upper) == 16 and codice_fiscale_is_valid(upper)):
            return "tax_id"
        if digits_only and (steuer_id_is_valid(compact) or 9 <= len(compact) <= 13):
            return "tax_id"
        return None
    if family == "steuerid":
        return "tax_id" if digits_only and steuer_id_is_valid(compact) else None
    if family == "nhs":
        return "health" if digits_only and _nhs_is_valid(compact) else None
    if family == "mrn":
        return "health" if 4 <= len(compact) <= 16 and _digit_count(compact) >= 4 else None
    # plan, member
    return "health" if 5 <= len(compact) <= 20 and _digit_count(compact) >= 4 else None


# Families whose numbers carry a check digit: every number near the word is tried, also just
# before it ("046 454 286 is my SIN"). Others take only the first number after the word.
_CHECKED_FAMILIES: Final = frozenset({"ssn", "sin", "bsn", "aadhaar", "nir", "pesel", "nhs", "taxid", "steuerid"})
_LOOK_BEFORE: Final = frozenset({"sin", "bsn", "aadhaar", "nir", "pesel", "nhs", "steuerid"})


def _find_near(text: str, family: str, start: int, end: int, report: Report) -> None:
    """Look for a ``family`` number after (and, for check-digit families, just before) a context word."""
    n = len(text)
    stop = _WINDOW_STOP.search(text, end, min(n, end + _WINDOW_AFTER))
    window_end = stop.start() if stop else min(n, end + _WINDOW_AFTER)
    checked = family in _CHECKED_FAMILIES
    spans: list[tuple[int, int]] = [(end, window_end)]
    if family in _LOOK_BEFORE:
        spans.append((max(0, start - _WINDOW_BEFORE), start))
    for lo, hi in spans:
        for m in _TOKEN_RE.finditer(text, lo, hi):
            token = m.group()
            if not any("0" <= c <= "9" for c in token):
                continue
            if m.end() == hi < n and text[hi].isalnum() and hi != start:
                continue  # cut off by the window: not the whole number
            compact = token.replace(" ", "").replace("-", "").replace(".", "").replace("/", "")
            upper = compact.upper()
            kind = None if _is_date(token, compact) else _validate(family, compact, upper)
            if kind is not None:
                report(kind, m.start(), m.end(), "…" + compact[-2:])
                return
            if not checked:
                return  # only the first number after a generic context word counts


# --------------------------------------------------------------------------- health ties

_TIE_RES: Final = {name: re.compile(pattern) for name, pattern in HEALTH_TIES.items()}
_CLOSE_BEFORE: Final = re.compile(r"(?:\s+\S+){0,2}\s+$|\s*$")
# Case-sensitive ties on the original text: a named patient, a person with an honorific.
_NAMED_RE: Final = re.compile(
    r"\b[Pp]atient(?:in|e|a)? (?:[A-Z][a-z]+|[A-Z]\.)"
    r"|\b(?:Mr|Mrs|Ms|Mx|Miss|Herr|Frau|Mme|Mlle|Sr|Sra|Srta|Sig|Dhr|Mevr)\.? [A-Z][a-zäöüéèáíóú]+"
    r"|\b[A-Z][a-z]+(?: [A-Z][a-z]+)? (?:was|has been|got|is being) (?:diagnosed|prescribed|admitted|treated)"
    r"|\b(?:[Hh]e|[Ss]he) (?:was|has been|got) (?:diagnosed|prescribed)"
)
_ME_AFTER: Final = re.compile(r" (?:me|mir|moi)\b")
_SENTENCE_END: Final = re.compile(r"[.?!\n](?:\s|$)")
_MAX_CLINICAL_HITS: Final = 24


def _clinical_tied(text: str, lower: str, start: int, end: int) -> bool:
    """Whether the clinical term at ``start:end`` is tied to a person in its sentence."""
    lo = max(0, start - 100)
    for m in _SENTENCE_END.finditer(lower, lo, start):
        lo = m.end()
    hi = min(len(lower), end + 80)
    stop = _SENTENCE_END.search(lower, end, hi)
    if stop is not None:
        hi = stop.start()
    for name in ("possessive", "first person"):
        for m in _TIE_RES[name].finditer(lower, lo, start):
            if _CLOSE_BEFORE.fullmatch(lower, m.end(), start):
                return True
    if _ME_AFTER.match(lower, end):
        return True  # "diagnosed me", "prescribed me", "hat mir ... verschrieben"
    return _TIE_RES["relative"].search(lower, lo, hi) is not None


def _find_health(text: str, lower: str, hits: list[tuple[int, int]], report: Report) -> None:
    if _TIE_RES["record"].search(lower) or _NAMED_RE.search(text):
        s, e = hits[0]
        report("health", s, e, "")
        return
    for s, e in hits[:_MAX_CLINICAL_HITS]:
        if _clinical_tied(text, lower, s, e):
            report("health", s, e, "")
            return


# --------------------------------------------------------------------------- entry point


def same_length_lower(text: str) -> str:
    """``text.lower()``, keeping every character at its offset."""
    lower = text.lower()
    if len(lower) == len(text):
        return lower
    return "".join(ch.lower()[:1] or ch for ch in text)  # "İ".lower() is two characters


def find_records(
    text: str,
    report: Report,
    *,
    lexicon: Lexicon | None = None,
    tokens: Sequence[tuple[int, int]] = (),
    digits: bool = True,
) -> None:
    """Report identity documents and health data in ``text`` through ``report(kind, start, end, preview)``.

    Args:
        text: The text, as written.
        report: Called once per finding.
        lexicon: `RECORD_CUES` hits on ``text`` when the caller has them; scanned here otherwise.
        tokens: Spans of the text's long tokens (see `routed_llm.classify.encoded.long_tokens`).
        digits: Whether the text has enough digits for any document number.

    """
    if digits:
        _find_formats(text, tokens, report)
    lower = same_length_lower(text)
    if lexicon is None:
        lexicon = scan_lexicon(lower)
    clinical: list[tuple[int, int]] = []
    members: list[tuple[int, int]] = []
    for family, start, end in lexicon:
        if family == "clinical":
            clinical.append((start, end))
        elif family == "member":
            members.append((start, end))
        elif family != "digit word" and digits:
            _find_near(text, family, start, end, report)
    if members and digits and (clinical or _HEALTH_WORD_RE.search(lower)):
        for s, e in members:
            _find_near(text, "member", s, e, report)
    if clinical:
        _find_health(text, lower, clinical, report)
