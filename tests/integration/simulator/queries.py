"""The `$select` lists consent-sync sends (api-notes §3)."""

CONSENT_SELECT = ",".join(
    f"consentperson.{column}"
    for column in (
        "consentperson_id",
        "person_id",
        "consentpurpose_id",
        "legalbase_id",
        "consentsource_id",
        "comment",
        "registered",
        "updated",
    )
)
PERSON_SELECT = (
    "personId,firstName,lastName,personContact/contactId,personContact/name,email/emailAddress,"
    "personMobilePhone/formattedNumber,personRegisteredDate,personUpdatedDate"
)
