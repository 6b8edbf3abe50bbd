"""Recipient lists through the real PresendFunction: only the account's own, and only within limits."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from consent_sync.domain.vocabulary import JobKind
from consent_sync.events import MAX_LIST_BYTES, MAX_LIST_RECIPIENTS, MAX_RECIPIENT_LENGTH
from consent_sync.store.aws import client
from consent_sync.store.jobs import JobStore
from devtools.local import LocalStack
from devtools.uploads import put_text_lines
from tests.integration.conftest import Platform

OWNER = "lists-owner"
OTHER = "lists-other"


@pytest.fixture(scope="module")
def accounts(consent_stack: LocalStack) -> None:
    platform = Platform(consent_stack)
    for account in (OWNER, OTHER):
        platform.send("Integration Settings Updated", {"account_id": account, "integration": "none"})
    consent_stack.runtime.drain()
    platform.dead_letters()


def _bucket(stack: LocalStack) -> str:
    return str(stack.outputs["ArtifactsBucketName"])


def _check(stack: LocalStack, platform: Platform, uri: str) -> tuple[dict[str, Any] | None, str]:
    """Send a check of `uri` for OWNER; the one dead letter it left (or None) and the check id."""
    check_id = f"lists-{uuid.uuid4().hex[:10]}"
    detail = {
        "account_id": OWNER,
        "sendout_id": "spring",
        "channel": "email",
        "recipients_uri": uri,
        "check_id": check_id,
    }
    platform.send("Sendout Checklist", detail)
    stack.runtime.drain(timeout=60)
    letters = platform.dead_letters()
    assert len(letters) <= 1, letters
    return (letters[0] if letters else None), check_id


def _refused(stack: LocalStack, platform: Platform, uri: str) -> dict[str, Any]:
    letter, check_id = _check(stack, platform, uri)
    assert letter is not None, "the check was not refused"
    # Nothing was queued: the check never became a job.
    assert JobStore(stack.outputs["ConsentTableName"]).get(OWNER, JobKind.SENDOUT, check_id) is None
    return letter


@pytest.mark.usefixtures("accounts")
def test_another_accounts_list_is_refused(consent_stack: LocalStack, platform: Platform) -> None:
    # Given the other tenant's recipient list in the same bucket
    uri = put_text_lines(_bucket(consent_stack), f"recipients/{OTHER}/vip.txt", ["ceo@other.example"])
    # When the owner names it, it is refused and not read
    letter = _refused(consent_stack, platform, uri)
    assert letter["reason"] == "recipients_forbidden"
    assert f"recipients/{OWNER}/" in letter["message"]


@pytest.mark.usefixtures("accounts")
@pytest.mark.parametrize(
    "key",
    [
        f"recipients/{OWNER}.txt",  # beside the account's place, not in it
        f"recipients/{OWNER}-x/list.txt",  # another account whose id starts alike
        f"verdicts/{OWNER}/list.txt",  # another kind of artifact
        f"results/{OTHER}/list.txt",
    ],
)
def test_a_list_outside_the_accounts_place_is_refused(
    consent_stack: LocalStack, platform: Platform, key: str
) -> None:
    uri = put_text_lines(_bucket(consent_stack), key, ["anna@example.com"])
    assert _refused(consent_stack, platform, uri)["reason"] == "recipients_forbidden"


@pytest.mark.usefixtures("accounts")
def test_a_list_in_another_bucket_is_refused(consent_stack: LocalStack, platform: Platform) -> None:
    other = f"not-the-artifacts-{uuid.uuid4().hex[:8]}"
    s3 = client("s3")
    s3.create_bucket(Bucket=other, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    uri = put_text_lines(other, f"recipients/{OWNER}/list.txt", ["anna@example.com"])
    assert _refused(consent_stack, platform, uri)["reason"] == "recipients_forbidden"


@pytest.mark.usefixtures("accounts")
def test_the_accounts_own_list_is_checked(consent_stack: LocalStack, platform: Platform) -> None:
    uri = put_text_lines(_bucket(consent_stack), f"recipients/{OWNER}/ok.txt", ["anna@example.com"])
    letter, check_id = _check(consent_stack, platform, uri)
    assert letter is None
    job = JobStore(consent_stack.outputs["ConsentTableName"]).get(OWNER, JobKind.SENDOUT, check_id)
    assert job is not None


@pytest.mark.usefixtures("accounts")
def test_a_list_of_more_than_100000_recipients_is_refused(
    consent_stack: LocalStack, platform: Platform
) -> None:
    assert MAX_LIST_RECIPIENTS == 100_000  # as documented (docs/events.md)
    lines = [f"r{n}@example.net" for n in range(MAX_LIST_RECIPIENTS + 1)]
    uri = put_text_lines(_bucket(consent_stack), f"recipients/{OWNER}/huge.txt", lines)
    letter = _refused(consent_stack, platform, uri)
    assert letter["reason"] == "recipients_too_many"
    assert "100,000" in letter["message"]


@pytest.mark.usefixtures("accounts")
def test_an_object_over_the_byte_budget_is_refused(consent_stack: LocalStack, platform: Platform) -> None:
    key = f"recipients/{OWNER}/big.txt"
    client("s3").put_object(Bucket=_bucket(consent_stack), Key=key, Body=b"\n" * (MAX_LIST_BYTES + 1))
    letter = _refused(consent_stack, platform, f"s3://{_bucket(consent_stack)}/{key}")
    assert letter["reason"] == "recipients_too_large"


@pytest.mark.usefixtures("accounts")
@pytest.mark.parametrize(
    "line",
    [
        "x" * 10_000,  # one endless line
        "a" * MAX_RECIPIENT_LENGTH + "@example.com",  # longer than an address can be
    ],
    ids=["endless line", "overlong recipient"],
)
def test_an_overlong_line_is_refused(consent_stack: LocalStack, platform: Platform, line: str) -> None:
    uri = put_text_lines(
        _bucket(consent_stack), f"recipients/{OWNER}/long.txt", ["anna@example.com", line, "b@example.com"]
    )
    assert _refused(consent_stack, platform, uri)["reason"] == "recipients_line_too_long"
