"""Known-answer tests for PII and secret detection/redaction."""

from __future__ import annotations

import itertools

import pytest

from llmops_kit.safety.pii import PII_KINDS, PiiMatch, find_pii, redact_pii


def kinds(text: str) -> list[tuple[str, str]]:
    return [(m.kind, text[m.start : m.end]) for m in find_pii(text)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("write to john.doe+x@mail.example.co.uk today", [("email", "john.doe+x@mail.example.co.uk")]),
        ("call +1 415-555-0132 now", [("phone", "+1 415-555-0132")]),
        ("call (415) 555-0199 now", [("phone", "(415) 555-0199")]),
        ("call 415.555.0199", [("phone", "415.555.0199")]),
        ("uk +44 20 7946 0958", [("phone", "+44 20 7946 0958")]),
        ("card 4111 1111 1111 1111 ok", [("credit_card", "4111 1111 1111 1111")]),
        ("card 5500-0000-0000-0004", [("credit_card", "5500-0000-0000-0004")]),
        ("amex 378282246310005", [("credit_card", "378282246310005")]),
        ("ssn 123-45-6789", [("us_ssn", "123-45-6789")]),
        ("iban DE89 3704 0044 0532 0130 00 end", [("iban", "DE89 3704 0044 0532 0130 00")]),
        ("iban GB82WEST12345698765432", [("iban", "GB82WEST12345698765432")]),
        ("host 10.0.0.255 up", [("ipv4", "10.0.0.255")]),
        ("sk-proj-abc123DEF456ghi789JKL012mno", [("openai_key", "sk-proj-abc123DEF456ghi789JKL012mno")]),
        ("id AKIAIOSFODNN7EXAMPLE.", [("aws_access_key", "AKIAIOSFODNN7EXAMPLE")]),
        (
            "AccountName=a;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZ==;",
            [("azure_storage_key", "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZ==")],
        ),
        (
            "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.abc.DEF123",
            [("bearer_token", "eyJhbGciOiJIUzI1NiJ9.abc.DEF123")],
        ),
        ("password=hunter2", [("secret", "hunter2")]),
        ('{"api_key": "Zq8rT2mX9vL4pW7sK1nB"}', [("secret", "Zq8rT2mX9vL4pW7sK1nB")]),
        ("client_secret: 8f3Kd9_aQ2-Lm7Zp0xVw", [("secret", "8f3Kd9_aQ2-Lm7Zp0xVw")]),
        ("push with ghp_" + "A1b2C3d4E5" * 4 + " now", [("github_token", "ghp_" + "A1b2C3d4E5" * 4)]),
        ("pat github_pat_11ABCDEFG0abcdefghijkl_Mnop", [("github_token", "github_pat_11ABCDEFG0abcdefghijkl_Mnop")]),
        ("slack xoxb-1234567890-ABCDEFGHIJ", [("slack_token", "xoxb-1234567890-ABCDEFGHIJ")]),
        ('"SecretAccessKey": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"',
         [("secret", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")]),
    ],
)
def test_detects_known_items(text: str, expected: list[tuple[str, str]]) -> None:
    assert kinds(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "card 4111 1111 1111 1112",  # fails Luhn
        "0000 0000 0000 0000",  # all zeros pass Luhn but are not a card
        "iban DE00 3704 0044 0532 0130 00",  # fails mod-97
        "ssn 000-12-3456 and 666-12-3456 and 123-00-4567",  # invalid SSN ranges
        "version 1.2.3 released; pi is 3.14159",
        "ip 999.1.1.1 is not an address; 1.2.3.4.5 is a version",
        "How do I reset my password? The password: reset link expired.",
        "the key = value pair, token: abc",  # low-entropy assignments are prose
        "sk-learn-is-a-python-library-name",  # no digits: not a key
        "monkey=bananabananabanana",
        "order #12345 shipped on 2024-05-01",
    ],
)
def test_no_false_positives_on_lookalikes(text: str) -> None:
    assert find_pii(text) == []


def test_redaction_replaces_spans_and_keeps_the_rest() -> None:
    text = "mail a.b@example.org, password=s3cretPass AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT5=="
    assert redact_pii(text) == "mail [email], password=[secret] AccountKey=[azure_storage_key]"
    assert redact_pii(text, placeholder="<{kind}>").startswith("mail <email>,")
    assert redact_pii("nothing here") == "nothing here"


def test_overlap_prefers_longer_span() -> None:
    # The IBAN's digits alone are not reported as something shorter inside it.
    text = "DE89 3704 0044 0532 0130 00"
    assert [m.kind for m in find_pii(text)] == ["iban"]


def test_matches_are_sorted_and_disjoint() -> None:
    text = "x@y.io 10.1.1.1 4111111111111111 x@y.io " * 50
    matches = find_pii(text)
    assert len(matches) == 200
    assert all(a.end <= b.start for a, b in itertools.pairwise(matches))
    assert isinstance(matches[0], PiiMatch)


@pytest.mark.parametrize("text", ["", "   ", "\ud800 lone surrogate \udfff", "\x00\x01\x02"])
def test_odd_input_never_raises(text: str) -> None:
    assert find_pii(text) == []
    assert redact_pii(text) == text


def test_large_adversarial_inputs_complete() -> None:
    # Correctness on inputs shaped to trigger backtracking; timing lives in the benchmark.
    for big in ("a" * 1_000_000, "a@" * 500_000, "1 " * 500_000, "1.2." * 250_000, "password=" + "x" * 10**6):
        assert find_pii(big) == []
    tail = "z" * 1_000_000 + " call me at bob@example.com"
    assert kinds(tail) == [("email", "bob@example.com")]


def test_kinds_listed() -> None:
    for k in ("email", "phone", "credit_card", "us_ssn", "iban", "ipv4", "openai_key", "aws_access_key",
              "azure_storage_key", "bearer_token", "secret"):
        assert k in PII_KINDS
