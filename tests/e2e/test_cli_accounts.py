"""The operator CLI end to end: account settings, errors and exit codes, and what the logs never show."""

from __future__ import annotations

import json
import time

from devtools.simulator.testing import SimulatorHandle
from tests.e2e.conftest import Cli

PASSWORD = "e2e-Secret-Passw0rd!"
EMAIL = "Anna.Svensson@example.com"


def test_help_lists_the_commands_of_the_design(cli: Cli) -> None:
    result = cli("--help")
    assert result.returncode == 0
    for command in (
        "local",
        "simulator",
        "demo",
        "account",
        "import",
        "sync",
        "presend",
        "consent",
        "contact",
        "audit",
    ):
        assert command in result.stdout


def test_account_set_and_show(cli: Cli, simulator: SimulatorHandle) -> None:
    # When an operator configures an on-site account with Basic credentials
    result = cli(
        "account", "set", "acme", "--integration", "superoffice", "--legal-basis-sync",
        "--superoffice-url", simulator.api_url, "--allow-insecure", "--auth", "basic",
        "--username", simulator.username, "--password", PASSWORD, "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    settings = json.loads(result.stdout)
    # Then the settings hold where the secret is, never the secret itself
    assert (
        settings["superoffice"]["credentials_secret_arn"]
        .split(":secret:")[1]
        .startswith(f"{cli.stack}/accounts/acme")
    )
    assert PASSWORD not in result.stdout
    shown = cli.json("account", "show", "acme")
    assert shown == settings
    # And the password is in Secrets Manager
    sm = cli.aws("secretsmanager")
    secret = json.loads(
        sm.get_secret_value(SecretId=settings["superoffice"]["credentials_secret_arn"])["SecretString"]
    )
    assert secret == {"username": simulator.username, "password": PASSWORD}

    # When only the sync flag changes, the credentials need not be given again
    shown = cli.json("account", "set", "acme", "--integration", "superoffice", "--no-legal-basis-sync")
    assert shown["legal_basis_sync"] is False
    assert shown["superoffice"]["base_url"] == simulator.api_url

    # When the integration is switched to none, show says so
    assert cli.json("account", "set", "acme", "--integration", "none")["integration"] == "none"


def test_unknown_account_is_exit_1_with_a_json_error(cli: Cli) -> None:
    result = cli("account", "show", "nobody", "--json")
    assert result.returncode == 1
    assert json.loads(result.stdout) == {
        "error": "unknown_account",
        "message": "account 'nobody' has no settings",
    }


def test_usage_errors_exit_2(cli: Cli) -> None:
    assert cli("account", "set", "acme", "--integration", "maybe").returncode == 2
    # https is required unless --allow-insecure is given
    result = cli(
        "account", "set", "insecure", "--integration", "superoffice", "--superoffice-url",
        "http://crm.example.com/api/v1", "--username", "u", "--password", "p",
    )  # fmt: skip
    assert result.returncode == 2
    assert "https" in result.stderr
    assert cli("import", "acme").returncode == 2  # neither --selection nor --project


def test_later_capabilities_say_so_plainly(cli: Cli) -> None:
    # Every capability is there; what is asked of an unknown account still says so plainly.
    result = cli("sync", "nobody", "--json")
    assert result.returncode == 1
    assert json.loads(result.stdout)["error"] == "unknown_account"


def test_a_stack_that_is_not_there_is_reported(cli: Cli) -> None:
    result = cli("--stack", "no-such-stack", "account", "show", "acme", "--json")
    assert result.returncode == 1
    assert json.loads(result.stdout)["error"] == "stack_not_found"


def test_logs_never_show_a_secret_or_an_address(cli: Cli, simulator: SimulatorHandle) -> None:
    # Given an account and a platform event carrying an e-mail address
    cli(
        "account", "set", "logscan", "--integration", "superoffice", "--legal-basis-sync",
        "--superoffice-url", simulator.api_url, "--allow-insecure", "--username", "sim", "--password", PASSWORD,
    )  # fmt: skip
    events = cli.aws("events")
    outputs = cli.aws("cloudformation").describe_stacks(StackName=cli.stack)["Stacks"][0]["Outputs"]
    bus = next(o["OutputValue"] for o in outputs if o["OutputKey"] == "EventBusName")
    detail = {
        "account_id": "logscan",
        "email": EMAIL,
        "purpose": "EMARKETING",
        "legal_base": "WITHDRAWN",
        "source": "WEBFORM",
        "changed_at": "2026-11-22T10:00:00+00:00",
    }
    events.put_events(
        Entries=[
            {"EventBusName": bus, "Source": "marketing.platform", "DetailType": "Contact Consent Changed", "Detail": json.dumps(detail)},
            {"EventBusName": bus, "Source": "marketing.platform", "DetailType": "Contact Consent Changed", "Detail": json.dumps({**detail, "email": "broken " + EMAIL})},
        ]
    )  # fmt: skip
    # When the handlers have run (their JSON logs go to the local stack's output)
    deadline = time.monotonic() + 20
    while cli.log.read_text().count("PlatformConsentFunction") < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    log = cli.log.read_text()
    assert "PlatformConsentFunction" in log
    # Then neither the password nor the address appears anywhere, in any letter case
    assert PASSWORD not in log
    assert EMAIL.lower() not in log.lower()
    assert "svensson@" not in log.lower()
