"""Reading SuperOffice shapes: list items, archive rows, null and zero conventions."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from consent_sync.superoffice import queries as q
from consent_sync.superoffice.models import (
    ConsentArchiveRow,
    ConsentPurpose,
    ODataEnvelope,
    PersonRow,
    SelectionMemberRow,
    SystemUserLoginResponse,
    TenantState,
)


def test_purpose_active_is_an_int_flag() -> None:
    assert ConsentPurpose.model_validate({"ConsentPurposeId": 1, "Key": "STORE", "Active": 1}).active
    assert not ConsentPurpose.model_validate({"ConsentPurposeId": 1, "Key": "STORE", "Active": 0}).active
    assert ConsentPurpose.model_validate({"ConsentPurposeId": 1, "Key": "STORE", "Active": True}).active


def test_archive_rows_accept_numeric_strings_and_nulls() -> None:
    row = PersonRow.model_validate(
        {
            q.P_ID: "12",
            q.P_FIRST_NAME: None,
            q.P_CONTACT_ID: "0",
            q.P_EMAIL: "  ",
            q.P_MOBILE: "",
            q.P_REGISTERED: "2026-01-01T00:00:00",
            q.P_UPDATED: "0001-01-01T00:00:00",
            "PrimaryKey": 12,
            "EntityName": "person",
        }
    )
    assert row.person_id == 12
    assert row.first_name == ""
    assert row.contact_id is None
    assert row.email is None
    assert row.mobile is None
    assert row.registered == datetime(2026, 1, 1, tzinfo=UTC)
    assert row.updated is None


def test_consent_row_needs_its_ids() -> None:
    with pytest.raises(ValidationError):
        ConsentArchiveRow.model_validate({q.C_ID: 1, q.C_PERSON_ID: 2})


def test_company_rows_have_no_person() -> None:
    assert SelectionMemberRow.model_validate({"personId": 0, "contactId": 4}).person_id is None


def test_envelope_login_and_state() -> None:
    env = ODataEnvelope.model_validate({"odata.metadata": "m", "odata.nextLink": None, "value": [{"a": 1}]})
    assert env.value == [{"a": 1}]
    with pytest.raises(ValidationError):
        ODataEnvelope.model_validate({"rows": []})
    login = SystemUserLoginResponse.model_validate(
        {"IsSuccessful": False, "Token": None, "ErrorMessage": "no"}
    )
    assert not login.is_successful
    assert login.error_message == "no"
    state = TenantState.model_validate({"Api": "https://sod2.superoffice.com/Cust1/api", "IsRunning": True})
    assert state.api.endswith("/api")
