"""A settings event may name only its own account's secret, in this stack's region and AWS account."""

from __future__ import annotations

import pytest

from consent_sync.store.secrets import secret_arn_problem

PREFIX = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:consent-sync-prod/accounts/"


@pytest.mark.parametrize(
    ("arn", "problem"),
    [
        (f"{PREFIX}acme-AbCdEf", None),
        (f"{PREFIX}acme-9z8Y7x", None),
        # another tenant's secret of the same stack
        (f"{PREFIX}globex-AbCdEf", "credentials_secret_not_this_account"),
        (f"{PREFIX}acme2-AbCdEf", "credentials_secret_not_this_account"),
        (f"{PREFIX}acme/x-AbCdEf", "credentials_secret_not_this_account"),
        (f"{PREFIX}acme-evil12-AbCdEf", "credentials_secret_not_this_account"),
        # no suffix, or not Secrets Manager's: a partial ARN is matched by name
        (f"{PREFIX}acme", "credentials_secret_not_this_account"),
        (f"{PREFIX}acme-AbCd", "credentials_secret_not_this_account"),
        (f"{PREFIX}acme-AbCdEf?", "credentials_secret_not_this_account"),
        # another AWS account, region, partition or stack
        (PREFIX.replace("123456789012", "210987654321") + "acme-AbCdEf", "credentials_secret_outside_prefix"),
        (PREFIX.replace("eu-west-1", "us-east-1") + "acme-AbCdEf", "credentials_secret_outside_prefix"),
        (PREFIX.replace("arn:aws:", "arn:aws-cn:") + "acme-AbCdEf", "credentials_secret_outside_prefix"),
        (PREFIX.replace("consent-sync-prod", "other") + "acme-AbCdEf", "credentials_secret_outside_prefix"),
        (
            "arn:aws:secretsmanager:eu-west-1:123456789012:secret:other-app/db-AbCdEf",
            "credentials_secret_outside_prefix",
        ),
    ],
)
def test_only_the_accounts_own_secret_is_accepted(arn: str, problem: str | None) -> None:
    assert secret_arn_problem(arn, arn_prefix=PREFIX, account_id="acme") == problem
