from __future__ import annotations

import itertools

import pytest

from keel_common import pii


def found(text: str, kinds: tuple[str, ...] = pii.KINDS) -> list[tuple[str, str]]:
    return [(s.kind, text[s.start : s.end]) for s in pii.find(text, kinds)]


# A GitHub token body and an AWS key id that only match the intended patterns.
GHP = "ghp_" + "x7Kq2Lm9Pw4Rt8Zy1Vb6Nc3Hd5Jf0Gs2Ae4T"
AWS = "AKIA" + "Q3ZK7L2M9P4R8T1V"
JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
    ".eyJzdWIiOiI0MiIsIm5hbWUiOiJBZGEifQ"
    ".Gq0aN4bR2xLk7vW9cT1yZ3mP5sD8fH6jQ0uE2iO4wXk"
)
PEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo\n-----END RSA PRIVATE KEY-----"


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        ("write to jane.doe+news@mail.example.co.uk today", "email", "jane.doe+news@mail.example.co.uk"),
        ("call +44 20 7946 0958 after lunch", "phone", "+44 20 7946 0958"),
        ("call (555) 123-4567 after lunch", "phone", "(555) 123-4567"),
        ("call 555.123.4567 after lunch", "phone", "555.123.4567"),
        ("text +14155552671 now", "phone", "+14155552671"),
        ("visa 4111 1111 1111 1111 exp 12/29", "credit_card", "4111 1111 1111 1111"),
        ("mastercard 5555-5555-5555-4444.", "credit_card", "5555-5555-5555-4444"),
        ("amex 378282246310005", "credit_card", "378282246310005"),
        ("pay to GB82 WEST 1234 5698 7654 32 please", "iban", "GB82 WEST 1234 5698 7654 32"),
        ("pay to GB82WEST12345698765432", "iban", "GB82WEST12345698765432"),
        ("konto DE89 3704 0044 0532 0130 00", "iban", "DE89 3704 0044 0532 0130 00"),
        ("my ssn is 123-45-6789", "national_id", "123-45-6789"),
        ("NINO AB 12 34 56 C", "national_id", "AB 12 34 56 C"),
        ("NINO AB123456C", "national_id", "AB123456C"),
        ("server at 8.8.4.4 answered", "ip_address", "8.8.4.4"),
        ("from 192.168.10.7", "ip_address", "192.168.10.7"),
        (
            "v6 2001:0db8:85a3:0000:0000:8a2e:0370:7334 up",
            "ip_address",
            "2001:0db8:85a3:0000:0000:8a2e:0370:7334",
        ),
        ("v6 2001:db8::8a2e:370:7334 up", "ip_address", "2001:db8::8a2e:370:7334"),
        ("key sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8t done", "secret", "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8t"),
        (
            "key sk-keel-abcdefghij12.s3cr3t_T0ken_value_xx",
            "secret",
            "sk-keel-abcdefghij12.s3cr3t_T0ken_value_xx",
        ),
        (f"aws {AWS} here", "secret", AWS),
        (f"token {GHP}", "secret", GHP),
        (f"bearer {JWT}", "secret", JWT),
        (f"key:\n{PEM}\nend", "secret", PEM),
        ("db password=Hunter2-swordfish", "secret", "password=Hunter2-swordfish"),
        ("API_KEY: 'q9w8e7r6t5'", "secret", "API_KEY: 'q9w8e7r6t5"),
    ],
)
def test_detects_each_kind(text: str, kind: str, value: str) -> None:
    assert found(text) == [(kind, value)]


def test_an_unterminated_private_key_block_is_caught_to_the_end() -> None:
    # A streamed answer may stop mid-key; everything after the header is secret.
    text = "here:\n-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA"
    assert found(text) == [("secret", text[6:])]


def test_checksums() -> None:
    assert pii.luhn_ok("4111111111111111")
    assert not pii.luhn_ok("4111111111111112")
    assert pii.iban_ok("GB82 WEST 1234 5698 7654 32")
    assert not pii.iban_ok("GB83 WEST 1234 5698 7654 32")
    assert not pii.iban_ok("GB82 WEST")  # too short
    assert not pii.iban_ok("GB82 WEST 1234 5698 7654 3!")


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("card 4111 1111 1111 1112", "credit_card"),  # fails Luhn
        ("ref 1234567812345678", "credit_card"),
        ("pay to GB83 WEST 1234 5698 7654 32", "iban"),  # wrong check digits
        ("pay to DE88 3704 0044 0532 0130 00", "iban"),
        ("ssn 000-12-3456", "national_id"),  # area 000 is never issued
        ("ssn 666-12-3456", "national_id"),
        ("ssn 912-34-5678", "national_id"),  # 9xx areas are ITINs, not SSNs
        ("ssn 123-00-4567", "national_id"),
        ("ssn 123-45-0000", "national_id"),
        ("NINO QQ 12 34 56 C", "national_id"),  # QQ is the specimen prefix
        ("local 127.0.0.1 and 0.0.0.0", "ip_address"),
        ("no such 999.1.2.3", "ip_address"),
        ("sk-tooshort", "secret"),
        ("AKIA1234", "secret"),
        ("the password is long", "secret"),
        ("password: abc", "secret"),
        ("user@localhost", "email"),
    ],
)
def test_rejects_invalid_values(text: str, kind: str) -> None:
    assert found(text, (kind,)) == []


@pytest.mark.parametrize(
    "text",
    [
        "Upgrade from v1.2.3 to v2.10.0, then run Python 3.11.4 and node 20.11.1.",
        "Founded in 1998, relaunched in 2024; the 2019-2023 report covers 1999 2000 2001 too.",
        "It costs $1,299.99, or €49.50/month; 3 for 10.00.",
        "Order #123456789 and invoice INV-2024-000123 (ref 100234-55) have shipped.",
        "The meeting is on 2024-05-17 at 10:30, the launch on 17.05.2025 and 2024/06/01.",
        "See pages 12-13, room 101, ISBN 978-3-16-148410-0, score 3-2.",
        "uuid 123e4567-e89b-12d3-a456-426614174000 sha e3b0c44298fc1c149afbf4c8996fb924",
        "Serve on 127.0.0.1:8080; in C++ use std::vector and a::b.",
        "Tracking 1234 5678 9012 3456 is not a card.",
    ],
)
def test_no_false_positives_on_ordinary_numbers(text: str) -> None:
    assert found(text) == []


def test_overlaps_resolve_to_one_span_with_the_earlier_kind() -> None:
    # "123-45-6789" also has a phone's shape; an e-mail inside a password is part of the secret;
    # an IBAN's digits would make a phone number.
    text = "ssn 123-45-6789, password=alice@example.com and iban DE89 3704 0044 0532 0130 00"
    assert found(text) == [
        ("national_id", "123-45-6789"),
        ("secret", "password=alice@example.com"),
        ("iban", "DE89 3704 0044 0532 0130 00"),
    ]
    spans = pii.find(text)
    assert all(a.end <= b.start for a, b in itertools.pairwise(spans))


def test_kinds_filter() -> None:
    text = "bob@example.org, 4111 1111 1111 1111, 8.8.8.8"
    assert found(text, ("email", "ip_address")) == [("email", "bob@example.org"), ("ip_address", "8.8.8.8")]
    assert found(text, ()) == []


def test_redact() -> None:
    text = "Mail bob@example.org or call +44 20 7946 0958; card 4111 1111 1111 1111."
    assert pii.redact(text, pii.find(text)) == (
        "Mail [REDACTED:EMAIL] or call [REDACTED:PHONE]; card [REDACTED:CREDIT_CARD]."
    )
    assert pii.redact(text, []) == text
    assert pii.placeholder("national_id") == "[REDACTED:NATIONAL_ID]"
