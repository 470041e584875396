"""Tests for the PII / secret detectors: positives, negatives and properties."""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from routed_llm.classify import PIIMatch, classify, detect_pii
from routed_llm.classify.pii import PII_KINDS, iban_is_valid, luhn_is_valid


def kinds(text: str) -> list[str]:
    return [m.kind for m in detect_pii(text)]


def spans(text: str, kind: str) -> list[str]:
    return [text[m.start : m.end] for m in detect_pii(text) if m.kind == kind]


# --------------------------------------------------------------------------- email


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Write to jane.doe@example.com today", "jane.doe@example.com"),
        ("<j.o'brien+news@mail.example.co.uk>", "j.o'brien+news@mail.example.co.uk"),
        ("email: FOO_bar-9@sub.domain.io.", "FOO_bar-9@sub.domain.io"),
    ],
)
def test_email_positive(text: str, expected: str) -> None:
    assert spans(text, "email") == [expected]


@pytest.mark.parametrize(
    "text",
    [
        "Use the @property decorator",
        "ping me @alice on slack",
        "user@localhost is not routable",
        "npm install @scope/package",
        "a @ b.com",
        "x" * 5000 + "@",
    ],
)
def test_email_negative(text: str) -> None:
    assert "email" not in kinds(text)


# --------------------------------------------------------------------------- phone


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Call me on +44 20 7946 0958 tomorrow", "+44 20 7946 0958"),
        ("US office: +1 (415) 555-2671.", "+1 (415) 555-2671"),
        ("mobile +4915123456789", "+4915123456789"),
        ("ring +33 6 12 34 56 78", "+33 6 12 34 56 78"),
        ("Phone: (415) 555-2671", "(415) 555-2671"),
        ("Phone: 415-555-2671", "415-555-2671"),
        ("Phone: 415.555.2671", "415.555.2671"),
        ("toll free 1-800-555-0199", "1-800-555-0199"),
        ("London 020 7946 0958", "020 7946 0958"),
        ("portable 06 12 34 56 78", "06 12 34 56 78"),
        ("Berlin 030-1234567", "030-1234567"),
    ],
)
def test_phone_positive(text: str, expected: str) -> None:
    assert spans(text, "phone") == [expected]


@pytest.mark.parametrize(
    "text",
    [
        "Call me at 2024",
        "upgrade to version 1.2.3.4",
        "released 2024-01-15, see 01.02.2024 10:30",
        "dates 12/25/2024 and 2024/12/25",
        "price $1,234,567.89 or €12.50",
        "order 12345 and 654321",
        "ip 192.168.100.200",
        "between 555-123-4567 and 415-555.2671",  # exchange 123 invalid; mixed separators
        "score +12.50 points",
        "call 0612345678",  # no separator: too ambiguous
        "1 000 000 people",
    ],
)
def test_phone_negative(text: str) -> None:
    assert "phone" not in kinds(text)


# --------------------------------------------------------------------------- credit card


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("card 4111 1111 1111 1111 exp 12/26", "4111 1111 1111 1111"),
        ("card 4111-1111-1111-1111", "4111-1111-1111-1111"),
        ("card 4111111111111111.", "4111111111111111"),
        ("amex 3782 822463 10005", "3782 822463 10005"),
        ("mc 5555 5555 5555 4444 cvv 123", "5555 5555 5555 4444"),
        ("card 4111 1111 1111 1111 123", "4111 1111 1111 1111"),  # CVV right after it
    ],
)
def test_card_positive(text: str, expected: str) -> None:
    assert spans(text, "credit_card") == [expected]


@pytest.mark.parametrize(
    "text",
    [
        "card 4111 1111 1111 1112",  # fails Luhn
        "order number 1234567890123",  # fails Luhn
        "timestamp 1700000000000",  # Luhn-valid length but no card starts with 1
        "years 2019 2020 2021 2022",
        "id 79927398713",  # Luhn-valid but too short
        "hash 4111111111111111abc",
        "ISBN 978-0-306-40615-7",
    ],
)
def test_card_negative(text: str) -> None:
    assert "credit_card" not in kinds(text)


def test_luhn() -> None:
    assert luhn_is_valid("79927398713")
    assert not luhn_is_valid("79927398710")


# --------------------------------------------------------------------------- IBAN


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("IBAN GB82 WEST 1234 5698 7654 32 please", "GB82 WEST 1234 5698 7654 32"),
        ("IBAN: GB82WEST12345698765432", "GB82WEST12345698765432"),
        ("to DE89 3704 0044 0532 0130 00.", "DE89 3704 0044 0532 0130 00"),
        ("DE89370400440532013000", "DE89370400440532013000"),
        ("FR14 2004 1010 0505 0001 3M02 606 IS MINE", "FR14 2004 1010 0505 0001 3M02 606"),
        ("NL91ABNA0417164300", "NL91ABNA0417164300"),
    ],
)
def test_iban_positive(text: str, expected: str) -> None:
    assert spans(text, "iban") == [expected]


@pytest.mark.parametrize(
    "text",
    [
        "GB82 WEST 1234 5698 7654 33",  # one digit changed
        "DE89 3704 0044 0532 0130 01",
        "DE88370400440532013000",
        "XX82WEST12345698765432",  # no such country
        "GB82WEST1234569876543",  # wrong length for GB
        "gb82west12345698765432",  # lower case is not matched
        "ABCGB82WEST12345698765432",  # glued to a word
    ],
)
def test_iban_negative(text: str) -> None:
    assert "iban" not in kinds(text)


def test_iban_checksum() -> None:
    assert iban_is_valid("GB82WEST12345698765432")
    assert not iban_is_valid("GB82WEST12345698765433")
    assert not iban_is_valid("GB82WEST1234569876543")


# --------------------------------------------------------------------------- national ids


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("SSN 123-45-6789.", "123-45-6789"),
        ("ssn: 078-05-1120", "078-05-1120"),
        ("NINO AB 12 34 56 C", "AB 12 34 56 C"),
        ("NINO: JG103759A", "JG103759A"),
        ("DNI 12345678Z", "12345678Z"),
        ("DNI 12345678-Z", "12345678-Z"),
        ("NIE X1234567L", "X1234567L"),
    ],
)
def test_national_id_positive(text: str, expected: str) -> None:
    assert spans(text, "national_id") == [expected]


@pytest.mark.parametrize(
    "text",
    [
        "000-12-3456",  # area 000 never issued
        "666-12-3456",
        "912-12-3456",  # 9xx area
        "123-00-4567",  # group 00
        "123-45-0000",  # serial 0000
        "1123-45-67890",
        "phone 123 45 6789",  # spaces: too ambiguous for an SSN
        "QQ 12 34 56 C",  # HMRC specimen prefix (Q is never a first letter)
        "GB 12 34 56 C",  # reserved prefix
        "AB 12 34 56 E",  # suffix must be A-D
        "ABC123456C",
        "12345678A",  # wrong DNI control letter
        "X1234567A",
    ],
)
def test_national_id_negative(text: str) -> None:
    assert "national_id" not in kinds(text)


# --------------------------------------------------------------------------- API keys

OPENAI_KEY = "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAb7cDe"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"OPENAI_API_KEY={OPENAI_KEY}", OPENAI_KEY),
        ("key: sk-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAb7cDe0fGh1iJk", None),
        ("sk-ant-api03-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAb7cDe-_xyzAA", None),
        ("aws AKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLE"),
        ("ghp_Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAb7c", None),
        ("github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz0123", None),
        ("xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx", None),
        ("AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q", None),
        ("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", None),
        (
            "token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dBjftJeZ4CVPmB92K27uhbUJU1p1r_wW1gFWFOEjXk",
            None,
        ),
        ("Authorization: Bearer 8f3a9c2e71d04b6fa5e2c9d1b7e4f6a0", None),
    ],
)
def test_api_key_positive(text: str, expected: str | None) -> None:
    found = spans(text, "api_key")
    assert len(found) == 1
    if expected is not None:
        assert found == [expected]
    assert text.endswith(found[0])


@pytest.mark.parametrize(
    "text",
    [
        "sk-",
        "the sk- prefix marks OpenAI keys",
        "use sk-learn or sk-your-key-here-and-more-words",  # no digits: a placeholder
        "task-1234567890abcdefghij1234",  # 'sk-' inside a word
        "AKIA123",  # too short
        "AKIAIOSFODNN7EXAMPLEXYZ",  # too long to be an access key id
        "xoxb-",
        "Bearer token authentication is described below",
        "eyJhbGciOiJIUzI1NiJ9 alone",
        "ghp_short",
    ],
)
def test_api_key_negative(text: str) -> None:
    assert "api_key" not in kinds(text)


# --------------------------------------------------------------------------- private keys


@pytest.mark.parametrize(
    "header",
    [
        "PRIVATE KEY",
        "RSA PRIVATE KEY",
        "EC PRIVATE KEY",
        "OPENSSH PRIVATE KEY",
        "ENCRYPTED PRIVATE KEY",
    ],
)
def test_private_key_positive(header: str) -> None:
    block = f"-----BEGIN {header}-----\nMIIEowIBAAKCAQEAx4\nAbCd==\n-----END {header}-----"
    text = f"here is my key:\n{block}\nthanks"
    assert spans(text, "private_key") == [block]


def test_private_key_pgp_and_truncated() -> None:
    pgp = "-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nlQOYBF\n-----END PGP PRIVATE KEY BLOCK-----"
    assert spans(pgp, "private_key") == [pgp]
    cut = "key: -----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAx4 AKIAIOSFODNN7EXAMPLE"
    assert kinds(cut) == ["private_key"]  # runs to the end; swallows what it contains


@pytest.mark.parametrize(
    "text",
    [
        "-----BEGIN PUBLIC KEY-----\nMIIBIjANBg\n-----END PUBLIC KEY-----",
        "-----BEGIN CERTIFICATE-----\nMIIC\n-----END CERTIFICATE-----",
        "Never paste a private key into a chat.",
    ],
)
def test_private_key_negative(text: str) -> None:
    assert "private_key" not in kinds(text)


# --------------------------------------------------------------------------- general


def test_several_kinds_in_order() -> None:
    text = "Mail bob@example.com, card 4111 1111 1111 1111, call +44 20 7946 0958."
    assert kinds(text) == ["email", "credit_card", "phone"]


def test_no_pii_in_plain_prose() -> None:
    text = (
        "In 2023 we shipped version 3.10.2 to 1,200 customers; revenue grew 12.5% to $4.2M. "
        "See section 4.1.3, ticket #48213 and RFC 7231. Meeting at 10:30 on 2024-05-01."
    )
    assert detect_pii(text) == []


def test_iban_digits_are_not_a_card() -> None:
    assert kinds("IBAN DE89 3704 0044 0532 0130 00") == ["iban"]


def test_match_never_stores_the_secret() -> None:
    card = "4111 1111 1111 1111"
    text = f"pay with {card} using {OPENAI_KEY} and AKIAIOSFODNN7EXAMPLE"
    matches = detect_pii(text)
    assert [m.kind for m in matches] == ["credit_card", "api_key", "api_key"]
    assert not hasattr(matches[0], "__dict__")  # slots: no room for a hidden copy
    for m in matches:
        for rendered in (repr(m), str(m)):
            assert card not in rendered and card.replace(" ", "") not in rendered
            assert OPENAI_KEY not in rendered and OPENAI_KEY[8:] not in rendered
            assert "AKIAIOSFODNN7EXAMPLE" not in rendered
    assert matches[0].preview == "4111…1111"
    assert matches[1].preview == "sk-proj-…"
    c = classify(text)
    for rendered in (repr(c), str(c)):
        assert card not in rendered and card.replace(" ", "") not in rendered
        assert OPENAI_KEY not in rendered and "AKIAIOSFODNN7EXAMPLE" not in rendered


@pytest.mark.parametrize(
    ("value", "preview"),
    [
        ("jane.doe@example.com", "j…@e….com"),
        ("+44 20 7946 0958", "…58"),
        ("GB82 WEST 1234 5698 7654 32", "GB82…32"),
        ("123-45-6789", "…89"),
        ("sk-ant-api03-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAb7cDe", "sk-ant-api03-…"),
        ("AKIAIOSFODNN7EXAMPLE", "AKIA…"),
        ("Bearer 8f3a9c2e71d04b6fa5e2c9d1b7e4f6a0", "Bearer…"),
        (
            "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----",
            "RSA PRIVATE KEY…",
        ),
    ],
)
def test_preview_is_redacted(value: str, preview: str) -> None:
    (match,) = detect_pii(f"value: {value}\n")
    assert match.preview == preview
    assert value not in repr(match)


def test_pii_match_is_frozen() -> None:
    m = PIIMatch("email", 0, 3)
    with pytest.raises(AttributeError):
        m.start = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    "text",
    [
        "a" * 100_000 + "@",
        "1 " * 20_000,
        "4111 " * 10_000,
        "9" * 100_000,
        "AB12" * 20_000,
        "+1" * 20_000,
        "sk-" * 20_000,
        "-----BEGIN RSA PRIVATE KEY-----" * 2_000,
        ("word.word@" * 5_000),
    ],
)
def test_pathological_inputs_stay_linear(text: str) -> None:
    # A guard against catastrophic regex backtracking, not a speed target (that is the
    # classify_speed benchmark): quadratic or worse behaviour on these 20-100k character
    # inputs costs minutes of CPU, linear scanning well under a second. CPU time, not wall
    # time, so a busy shared machine cannot fail it.
    t0 = time.thread_time()
    detect_pii(text)
    assert time.thread_time() - t0 < 10.0


# --------------------------------------------------------------------------- properties


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.text())
def test_detect_pii_never_raises_and_spans_are_sane(text: str) -> None:
    matches = detect_pii(text)
    last_end = 0
    for m in matches:
        assert m.kind in PII_KINDS
        assert 0 <= m.start < m.end <= len(text)
        assert m.start >= last_end  # sorted and non-overlapping
        last_end = m.end


_PII_ALPHABET = st.sampled_from(list("0123456789 -+()@.:/ABCDEFGHIJKLMNOPQRSTUVWXYZskxoghpEY_\n"))


@settings(max_examples=300)
@given(st.text(alphabet=_PII_ALPHABET, max_size=200))
def test_detect_pii_on_digit_heavy_text(text: str) -> None:
    for m in detect_pii(text):
        assert 0 <= m.start < m.end <= len(text)


def _luhn_complete(partial: str) -> str:
    for check in "0123456789":
        if luhn_is_valid(partial + check):
            return partial + check
    raise AssertionError("unreachable")


@st.composite
def card_numbers(draw: st.DrawFn) -> str:
    first = draw(st.sampled_from(["4", "51", "55", "34", "37", "6011", "35", "2221", "2720"]))
    length = draw(st.sampled_from([13, 15, 16, 19] if first == "4" else [16]))
    if first in ("34", "37"):
        length = 15
    body = first + "".join(
        draw(
            st.lists(
                st.sampled_from("0123456789"),
                min_size=length - len(first) - 1,
                max_size=length - len(first) - 1,
            )
        )
    )
    number = _luhn_complete(body)
    sep = draw(st.sampled_from(["", " ", "-"]))
    return sep.join(number[i : i + 4] for i in range(0, len(number), 4))


def _iban_check_digits(country: str, bban: str) -> str:
    numeric = "".join(str(int(c, 36)) for c in bban + country + "00")
    return f"{98 - int(numeric) % 97:02d}"


@st.composite
def ibans(draw: st.DrawFn) -> str:
    digits = st.sampled_from("0123456789")
    letters = st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
    country = draw(st.sampled_from(["DE", "GB", "NL", "FR", "ES", "BE"]))
    if country == "DE":
        bban = "".join(draw(st.lists(digits, min_size=18, max_size=18)))
    elif country == "GB":
        bban = "".join(draw(st.lists(letters, min_size=4, max_size=4))) + "".join(
            draw(st.lists(digits, min_size=14, max_size=14))
        )
    elif country == "NL":
        bban = "".join(draw(st.lists(letters, min_size=4, max_size=4))) + "".join(
            draw(st.lists(digits, min_size=10, max_size=10))
        )
    elif country == "FR":
        bban = (
            "".join(draw(st.lists(digits, min_size=10, max_size=10)))
            + "".join(draw(st.lists(st.one_of(digits, letters), min_size=11, max_size=11)))
            + "".join(draw(st.lists(digits, min_size=2, max_size=2)))
        )
    elif country == "ES":
        bban = "".join(draw(st.lists(digits, min_size=20, max_size=20)))
    else:
        bban = "".join(draw(st.lists(digits, min_size=12, max_size=12)))
    iban = country + _iban_check_digits(country, bban) + bban
    assert iban_is_valid(iban)
    if draw(st.booleans()):
        return " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))
    return iban


# The inserted value is set off from the random text the way it is in prose: by
# a newline, a colon and space, parentheses or a word and a space.
_LEFT = st.sampled_from(["\n", ": ", "(", " card ", "\t"])
_RIGHT = st.sampled_from(["\n", ", ", ")", " thanks", ". "])


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=300), card_numbers(), st.text(max_size=300), _LEFT, _RIGHT)
def test_inserted_card_is_always_found(before: str, card: str, after: str, left: str, right: str) -> None:
    text = before + left + card + right + after
    start = len(before) + len(left)
    found = [m for m in detect_pii(text) if m.kind == "credit_card"]
    assert any(m.start == start and m.end == start + len(card) for m in found), (card, found)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=300), ibans(), st.text(max_size=300), _LEFT, _RIGHT)
def test_inserted_iban_is_always_found(before: str, iban: str, after: str, left: str, right: str) -> None:
    text = before + left + iban + right + after
    start = len(before) + len(left)
    found = [m for m in detect_pii(text) if m.kind == "iban"]
    assert any(m.start == start and m.end == start + len(iban) for m in found), (iban, found)


@given(ibans(), st.integers(min_value=4, max_value=30), st.sampled_from("0123456789"))
def test_iban_with_one_digit_changed_is_rejected(iban: str, index: int, digit: str) -> None:
    compact = iban.replace(" ", "")
    index = index % len(compact)
    if not compact[index].isdigit() or compact[index] == digit:
        return
    changed = compact[:index] + digit + compact[index + 1 :]
    assert not iban_is_valid(changed)
