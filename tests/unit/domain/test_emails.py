"""E-mail normalisation, validation and masking."""

from __future__ import annotations

import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consent_sync.domain.emails import EmailProblem, InvalidEmail, mask_email, normalise_email, validate_email

ATEXT = string.ascii_letters + string.digits + "!#$%&'*+-/=?^_`{|}~"
LABEL_CHARS = string.ascii_letters + string.digits

EMAIL_SETTINGS = settings(max_examples=300, deadline=None)


@st.composite
def labels(draw: st.DrawFn, alphabet: str = LABEL_CHARS) -> str:
    """A domain label: letters/digits with optional inner hyphens."""
    body = draw(st.text(alphabet + "-", max_size=20))
    return draw(st.text(alphabet, min_size=1, max_size=3)) + body.strip("-") + draw(st.sampled_from(alphabet))


@st.composite
def addresses(draw: st.DrawFn, local_alphabet: str = ATEXT, label_alphabet: str = LABEL_CHARS) -> str:
    """Valid addresses of the accepted subset (any letter case)."""
    atoms = draw(st.lists(st.text(local_alphabet, min_size=1, max_size=10), min_size=1, max_size=3))
    local = ".".join(atoms)
    domain_labels = draw(st.lists(labels(label_alphabet), min_size=1, max_size=3))
    tld = draw(st.text(string.ascii_letters, min_size=2, max_size=6))
    return f"{local}@{'.'.join([*domain_labels, tld])}"


# --- normalisation -----------------------------------------------------------------------------


@EMAIL_SETTINGS
@given(raw=st.text())
def test_normalise_is_idempotent(raw: str) -> None:
    once = normalise_email(raw)
    assert normalise_email(once) == once


def test_normalise_trims_and_lower_cases() -> None:
    assert normalise_email("  Anna.Svensson@Example.SE \n") == "anna.svensson@example.se"


# --- validation --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "o'brien@example.com",
        "anna.svensson@example.se",
        "first+tag@sub.example.co.uk",
        "x@a.se",
        "user_name-1@xn--mller-kva.de",
        "a{b}c|d~e@example.org",
    ],
)
def test_practical_addresses_are_accepted(raw: str) -> None:
    assert validate_email(raw) == raw


def test_validation_returns_the_normalised_address() -> None:
    assert validate_email("  O'Brien@Example.COM\t") == "o'brien@example.com"


@EMAIL_SETTINGS
@given(address=addresses(), padding=st.sampled_from(["", " ", "\t", "\n", " \r\n"]))
def test_valid_addresses_survive(address: str, padding: str) -> None:
    assert len(address) <= 254
    result = validate_email(padding + address + padding)
    assert result == address.lower()
    assert validate_email(result) == result


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        pytest.param("", EmailProblem.EMPTY, id="empty"),
        pytest.param(" \t\n", EmailProblem.EMPTY, id="blank"),
        pytest.param("x' or '1' eq '1@a.se", EmailProblem.WHITESPACE, id="sql-ish"),
        pytest.param('"john doe"@example.com', EmailProblem.WHITESPACE, id="quoted-with-space"),
        pytest.param("a b@example.com", EmailProblem.WHITESPACE, id="inner-space"),
        pytest.param("a\u00a0b@example.com", EmailProblem.WHITESPACE, id="nbsp"),
        pytest.param("a\tb@example.com", EmailProblem.CONTROL_CHARACTER, id="tab"),
        pytest.param(
            "a@example.com\r\nBcc: x@evil.com", EmailProblem.CONTROL_CHARACTER, id="header-injection"
        ),
        pytest.param("a\x00@example.com", EmailProblem.CONTROL_CHARACTER, id="nul"),
        pytest.param("ab\u202e@example.com", EmailProblem.CONTROL_CHARACTER, id="bidi-override"),
        pytest.param("a\u200b@example.com", EmailProblem.CONTROL_CHARACTER, id="zero-width-space"),
        pytest.param("jörg@example.de", EmailProblem.NON_ASCII, id="non-ascii-local"),
        pytest.param("a@müller.de", EmailProblem.NON_ASCII, id="non-ascii-domain"),
        pytest.param("\u212a@example.com", EmailProblem.NON_ASCII, id="kelvin-sign-lowercases-to-k"),
        pytest.param("a@exаmple.com", EmailProblem.NON_ASCII, id="cyrillic-homoglyph"),
        pytest.param(
            "a" * 64 + "@" + "b" * 63 + "." + "c" * 63 + "." + "d" * 63 + ".se", EmailProblem.TOO_LONG
        ),
        pytest.param("no-at-sign.example.com", EmailProblem.NO_AT, id="no-at"),
        pytest.param("a@@example.com", EmailProblem.MULTIPLE_AT, id="double-at"),
        pytest.param("a@b@example.com", EmailProblem.MULTIPLE_AT, id="two-ats"),
        pytest.param("@example.com", EmailProblem.BAD_LOCAL_PART, id="empty-local"),
        pytest.param(".a@example.com", EmailProblem.BAD_LOCAL_PART, id="leading-dot"),
        pytest.param("a.@example.com", EmailProblem.BAD_LOCAL_PART, id="trailing-dot"),
        pytest.param("a..b@example.com", EmailProblem.BAD_LOCAL_PART, id="double-dot"),
        pytest.param('"ab"@example.com', EmailProblem.BAD_LOCAL_PART, id="quoted-local"),
        pytest.param("a(comment)@example.com", EmailProblem.BAD_LOCAL_PART, id="comment"),
        pytest.param("<a>@example.com", EmailProblem.BAD_LOCAL_PART, id="angle-brackets"),
        pytest.param("a" * 65 + "@example.com", EmailProblem.BAD_LOCAL_PART, id="local-too-long"),
        pytest.param("a@", EmailProblem.BAD_DOMAIN, id="empty-domain"),
        pytest.param("a@localhost", EmailProblem.BAD_DOMAIN, id="no-dot"),
        pytest.param("a@-example.com", EmailProblem.BAD_DOMAIN, id="leading-hyphen"),
        pytest.param("a@example-.com", EmailProblem.BAD_DOMAIN, id="trailing-hyphen"),
        pytest.param("a@example..com", EmailProblem.BAD_DOMAIN, id="empty-label"),
        pytest.param("a@example.com.", EmailProblem.BAD_DOMAIN, id="trailing-dot-domain"),
        pytest.param("a@ex_ample.com", EmailProblem.BAD_DOMAIN, id="underscore"),
        pytest.param("a@192.0.2.1", EmailProblem.BAD_DOMAIN, id="ip-address"),
        pytest.param("a@[192.0.2.1]", EmailProblem.BAD_DOMAIN, id="address-literal"),
        pytest.param("a@example.com<script>", EmailProblem.BAD_DOMAIN, id="markup"),
        pytest.param("a@" + "b" * 64 + ".com", EmailProblem.BAD_DOMAIN, id="label-too-long"),
    ],
)
def test_hostile_or_broken_addresses_are_rejected_with_a_reason(raw: str, reason: EmailProblem) -> None:
    with pytest.raises(InvalidEmail) as caught:
        validate_email(raw)
    assert caught.value.reason is reason
    assert isinstance(caught.value, ValueError)


def test_254_characters_is_the_limit() -> None:
    address = "a" * 64 + "@" + "b" * 63 + "." + "c" * 63 + "." + "d" * 58 + ".se"
    assert len(address) == 254
    assert validate_email(address) == address
    with pytest.raises(InvalidEmail) as caught:
        validate_email("a" + address)
    assert caught.value.reason is EmailProblem.TOO_LONG


def _outcome(raw: str) -> str | InvalidEmail:
    try:
        return validate_email(raw)
    except InvalidEmail as error:
        return error


@EMAIL_SETTINGS
@given(raw=st.text())
def test_any_text_is_either_a_clean_address_or_a_reasoned_rejection(raw: str) -> None:
    result = _outcome(raw)
    if isinstance(result, InvalidEmail):
        assert result.reason in EmailProblem
        # The message is safe to log: it never quotes the input (no message contains an @).
        assert "@" not in str(result)
    else:
        assert result.isascii()
        assert len(result) <= 254
        assert result.count("@") == 1
        assert not any(char.isspace() or not char.isprintable() for char in result)
        assert result == result.lower() == result.strip()


@EMAIL_SETTINGS
@given(
    address=addresses(),
    bad=st.sampled_from([" ", "\t", "\n", "\x00", "\x7f", "\u200b", "\u202e", "\u00a0", "\u2028", "é"]),
    data=st.data(),
)
def test_a_bad_character_inside_a_valid_address_is_rejected(
    address: str, bad: str, data: st.DataObject
) -> None:
    position = data.draw(st.integers(1, len(address) - 1))
    with pytest.raises(InvalidEmail) as caught:
        validate_email(address[:position] + bad + address[position:])
    assert caught.value.reason in {
        EmailProblem.WHITESPACE,
        EmailProblem.CONTROL_CHARACTER,
        EmailProblem.NON_ASCII,
    }


# --- masking -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("email", "masked"),
    [
        ("o'brien@example.com", "o***@e***.com"),
        ("Anna.Svensson@Mail.Example.SE", "a***@m***.se"),
        ("x@a.se", "x***@a***.se"),
        ("not-an-address", "n***"),
        ("", "***"),
        ("a@localhost", "a***@l***"),
        ("@example.com", "***@e***.com"),
        ("a@.com", "a***@.***"),
    ],
)
def test_mask_examples(email: str, masked: str) -> None:
    assert mask_email(email) == masked


@EMAIL_SETTINGS
@given(address=addresses())
def test_mask_shows_only_first_characters_and_top_level_domain(address: str) -> None:
    local, domain = address.lower().split("@")
    head, _, tld = domain.rpartition(".")
    assert mask_email(address) == f"{local[0]}***@{head[0]}***.{tld}"


@EMAIL_SETTINGS
@given(address=addresses(local_alphabet=LABEL_CHARS + ".-_'"))
def test_mask_never_reveals_local_part_or_domain(address: str) -> None:
    local, domain = address.lower().split("@")
    masked_local, _, masked_domain = mask_email(address).partition("@")
    if len(local) > 1:
        assert local not in masked_local
    assert domain not in masked_domain
    assert domain not in mask_email(address)


@EMAIL_SETTINGS
@given(raw=st.text())
def test_mask_never_raises(raw: str) -> None:
    assert "***" in mask_email(raw)
