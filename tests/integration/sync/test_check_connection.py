"""The connection check (`flows.check_connection`) in the operator's process: the stack's configuration
from its CloudFormation outputs and parameters, the account's settings and secret from the stack, the
simulator (on-site and Online) and a loopback TLS server whose certificate nobody trusts."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from consent_sync.config import FunctionConfig
from consent_sync.domain.settings import AccountSettings
from consent_sync.domain.webhook import WebhookState, WebhookStatus
from consent_sync.flows.check_connection import check_connection
from consent_sync.store.webhooks import WebhookStore
from consent_sync.superoffice import clear_caches
from devtools.stack import Stack
from tests.integration.sync.conftest import SyncWorld
from tests.loopback import loopback_server


@pytest.fixture
def config(world: SyncWorld) -> FunctionConfig:
    clear_caches()
    return Stack.resolve(world.stack.template.stack_name).function_config()


def test_the_stack_gives_the_functions_configuration(world: SyncWorld, config: FunctionConfig) -> None:
    outputs = world.stack.outputs
    assert config.table_name == outputs["ConsentTableName"]
    assert config.reconcile_queue_url == outputs["ReconcileQueueUrl"]
    assert config.secret_arn_prefix.endswith(f":secret:{outputs['SecretPrefix']}")
    assert config.secret_arn_prefix.startswith("arn:aws:secretsmanager:eu-west-1:")
    assert config.superoffice_requests_per_second == float(
        world.stack.template.parameter("SuperOfficeRequestsPerSecond")
    )
    assert config.chunk_size == int(world.stack.template.parameter("ChunkSize"))


def test_an_online_tenant_is_located_and_logged_in(world: SyncWorld, config: FunctionConfig) -> None:
    # Given an Online account (system user) on the simulator
    sim = world.simulator
    o = sim.online
    arn = world.platform.store_credentials(
        "check-online",
        {
            "client_id": o.client_id,
            "client_secret": o.client_secret,
            "system_user_token": o.system_user_token,
            "private_key": o.private_key_pem,
        },
    )
    world.accounts.save(
        AccountSettings.model_validate(
            {
                "account_id": "check-online",
                "integration": "superoffice",
                "legal_basis_sync": True,
                "superoffice": {
                    "kind": "online",
                    "context_id": o.context_id,
                    "environment": "sod",
                    "auth": "system_user",
                    "login_root": sim.root_url,
                    "allow_insecure": True,
                    "credentials_secret_arn": arn,
                },
            }
        )
    )
    # When it is checked
    check = check_connection(config, "check-online")
    # Then the tenant state was read, the system user logged in, and the API answered
    assert check.healthy, check.document()
    assert check.api_base == sim.api_url
    endpoints = [exchange.endpoint for exchange in check.exchanges]
    assert endpoints[0] == "GET /api/state/{cust}"
    assert "POST /Login/api/PartnerSystemUser/Authenticate" in endpoints
    assert check.purposes == {"STORE": True, "EMARKETING": True}
    # And no credential is in the report
    text = str(check.document())
    assert o.client_secret not in text
    assert o.system_user_token not in text


def test_a_refused_webhook_makes_the_account_unhealthy(world: SyncWorld, config: FunctionConfig) -> None:
    world.store_settings("check-hook")
    WebhookStore(config.table_name).put(
        WebhookState(
            account_id="check-hook",
            status=WebhookStatus.UNAVAILABLE,
            checked_at=dt.datetime.now(dt.UTC),
            detail="the webhook agent is not available to this app",
        )
    )
    check = check_connection(config, "check-hook")
    document = check.document()
    assert (document["error"], document["healthy"]) == ("webhook_unavailable", False)
    assert document["webhook"]["status"] == "unavailable"
    # The connection itself was fine: the report says so as well
    assert document["person_read"] is True
    assert document["purposes"]["EMARKETING"] is True


def _self_signed(directory: Path) -> tuple[Path, Path]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


class _Ok(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"[]")

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def untrusted_https(tmp_path: Path) -> Iterator[str]:
    cert, key = _self_signed(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    with loopback_server(_Ok, tls=context) as url:
        yield url


def test_an_untrusted_certificate_is_tls(
    world: SyncWorld, config: FunctionConfig, untrusted_https: str
) -> None:
    settings = world.settings("check-tls")
    settings["superoffice"].update(base_url=untrusted_https, allow_insecure=False)
    world.accounts.save(AccountSettings.model_validate(settings))
    check = check_connection(config, "check-tls", timeout_s=5)
    assert check.error == "tls", check.document()
    assert check.exchanges[0].error == "ConnectError"


def _recorded_webhook(config: FunctionConfig, account_id: str, webhook_id: int) -> None:
    WebhookStore(config.table_name).put(
        WebhookState(
            account_id=account_id,
            status=WebhookStatus.ACTIVE,
            webhook_id=webhook_id,
            target_url="https://hooks.example/consent-sync",
            checked_at=dt.datetime.now(dt.UTC),
        )
    )


def test_the_recorded_webhook_is_read_live(world: SyncWorld, config: FunctionConfig) -> None:
    # Given an account whose recorded webhook SuperOffice no longer has
    world.store_settings("check-live")
    _recorded_webhook(config, "check-live", 987654)
    # Then the check reads it and says it is gone (the 30-minute run repairs it)
    check = check_connection(config, "check-live")
    assert check.healthy, check.document()
    webhook = check.document()["webhook"]
    assert (webhook["status"], webhook["live"]) == ("active", {"state": None, "status": "deleted"})
    assert "GET /Webhook/{id}" in [exchange.endpoint for exchange in check.exchanges]


def test_a_tenant_that_forbids_webhooks_is_webhook_unavailable(
    world: SyncWorld, config: FunctionConfig
) -> None:
    world.store_settings("check-noagent")
    _recorded_webhook(config, "check-noagent", 1)
    world.simulator.control.set_webhook_settings(forbidden=True)
    try:
        check = check_connection(config, "check-noagent")
    finally:
        world.simulator.control.clear_webhook_settings()
    assert check.error == "webhook_unavailable", check.document()
    assert check.person_read is True
