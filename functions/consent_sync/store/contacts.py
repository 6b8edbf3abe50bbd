"""Contact items in the consent table, with optimistic locking and the three contact indexes.

Item: ``pk = CONTACT#<account>#<email>``, ``sk = CONTACT``, ``version`` (a number: the optimistic-lock
condition), ``contact`` (the whole contact as one JSON document, times as ISO UTC strings) and the
index attributes, rewritten on every write:

- ChangedIndex: ``gsi1pk = CHANGED#<account>``, ``gsi1sk = <latest platform-side change>#<email>``,
  present once the contact has had a platform-side change;
- PersonIndex: ``gsi2pk = LINKED#<account>``, ``gsi2sk = <person id, 12 digits>``, while linked;
  ``gsi2pk = UNLINKED#<account>``, ``gsi2sk = <email>`` otherwise, so the two partitions together hold
  every contact of the account and :meth:`ContactStore.counts` is two index counts, not a scan;
- PendingIndex: ``gsi3pk = PENDING#<account>``, ``gsi3sk = <email>``, only while a push is owed
  (sparse: the index holds exactly the contacts to retry).

One JSON attribute rather than a native map per field: the contact is always read and replaced
whole (never updated attribute by attribute), and one string is several times cheaper to encode and
decode than ~30 nested attribute values, on both sides of every ``BatchGetItem`` of a send-out check
(measured in ``docs/architecture.md``). Items written in the earlier native-map form are still read.

The helpers at the top (time format, value conversion, retries of unprocessed work) are shared by the other
consent-table stores (decision log, jobs).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from enum import Enum
from typing import Any, NamedTuple

from boto3.dynamodb.conditions import ConditionBase, Key
from botocore.exceptions import ClientError

from consent_sync.domain.contact import Contact
from consent_sync.domain.emails import normalise_email
from consent_sync.store.aws import dynamodb_table

CONTACT_SK = "CONTACT"
TRANSACTION_LIMIT = 100
"""DynamoDB's TransactWriteItems limit (items per transaction)."""
BATCH_GET_LIMIT = 100
"""DynamoDB's BatchGetItem limit (keys per request)."""
PERSON_ID_DIGITS = 12
CONTACT_ATTRIBUTE = "contact"
"""The item attribute holding the contact as one JSON document."""

# Unprocessed keys/items mean throttling: back off exponentially (with jitter so that concurrent
# workers do not retry in step), and give up loudly rather than return a partial answer.
RETRY_ATTEMPTS = 8
RETRY_BASE_SECONDS = 0.05
RETRY_MAX_SECONDS = 2.0

_INDEX_ATTRIBUTES = ("gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk", "gsi3pk", "gsi3sk")


# -- Shared helpers --------------------------------------------------------------------------------------


def stored_time(value: datetime) -> str:
    """``value`` as stored: ISO 8601 UTC with microseconds and ``Z``, always 27 characters.

    Fixed width, so string order is time order: these strings are used inside sort keys.
    """
    # isoformat (unlike strftime) zero-pads years below 1000 on every platform.
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def parse_stored_time(value: str) -> datetime:
    """The aware UTC time of a :func:`stored_time` string."""
    return datetime.fromisoformat(value).astimezone(UTC)


def to_dynamo(value: Any) -> Any:
    """``value`` (a model dump) with times as stored strings and enums as their values.

    Floats are refused: DynamoDB numbers are decimals, and a float would come back changed.
    """
    if isinstance(value, datetime):
        return stored_time(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(k.value if isinstance(k, Enum) else k): to_dynamo(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_dynamo(v) for v in value]
    if isinstance(value, float):
        raise TypeError("floats are not stored (DynamoDB numbers are decimals)")
    return value


def from_dynamo(value: Any) -> Any:
    """``value`` as read through the resource API, with Decimals back as ints and sets as sorted lists."""
    if isinstance(value, Decimal):
        if value != value.to_integral_value():
            raise ValueError("a fractional number where only integers are stored")
        return int(value)
    if isinstance(value, Mapping):
        return {k: from_dynamo(v) for k, v in value.items()}
    if isinstance(value, list):
        return [from_dynamo(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted(from_dynamo(v) for v in value)
    return value


def until_processed(
    send: Callable[[dict[str, Any]], dict[str, Any]], request: dict[str, Any], what: str
) -> None:
    """Send a batch request, then what DynamoDB left unprocessed, until nothing is left.

    ``send`` makes one call and returns the unprocessed part (empty when done). Jittered exponential
    backoff between calls (tenacity), so concurrent workers do not retry in step. Raises
    :class:`StoreBusy` when something is still unprocessed after every retry.
    """
    # Imported at the first batch request, not with the store: a cold start pays tenacity only where
    # a function uses it (as the SuperOffice client imports it when opened).
    from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_random_exponential

    remaining = [request]
    retrying = Retrying(
        stop=stop_after_attempt(RETRY_ATTEMPTS + 1),
        wait=wait_random_exponential(multiplier=RETRY_BASE_SECONDS, max=RETRY_MAX_SECONDS),
        retry=retry_if_exception_type(_Unprocessed),
        sleep=lambda seconds: time.sleep(seconds),
        reraise=True,
    )
    try:
        for attempt in retrying:
            with attempt:
                remaining[0] = send(remaining[0])
                if remaining[0]:
                    raise _Unprocessed
    except _Unprocessed:
        raise StoreBusy(f"{what} left work unprocessed after {RETRY_ATTEMPTS} retries") from None


class _Unprocessed(Exception):
    """DynamoDB returned unprocessed keys or items (throttling): try again."""


def is_condition_failure(error: ClientError) -> bool:
    """True when ``error`` is a failed ConditionExpression (someone else wrote first)."""
    return bool(error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException")


class StoreBusy(RuntimeError):
    """DynamoDB kept returning unprocessed keys or items after every retry (sustained throttling)."""


class VersionConflict(Exception):
    """The contact was written by someone else since it was read: re-read it and decide again."""

    def __init__(self, account_id: str, email: str, expected_version: int) -> None:
        # The message leaves the address out: it is personal data and messages end up in logs.
        super().__init__(f"contact in account {account_id} is no longer at version {expected_version}")
        self.account_id = account_id
        self.email = email
        self.expected_version = expected_version


class ContactExists(VersionConflict):
    """``put_new`` found the contact already stored (another worker created it first)."""


class LinkedContact(NamedTuple):
    """A contact linked to a SuperOffice person, as listed by the PersonIndex."""

    person_id: int
    email: str


class ContactCounts(NamedTuple):
    """An account's contacts by link, and those with a push to SuperOffice owed (`ContactStore.counts`)."""

    linked: int
    unlinked: int
    pending: int

    @property
    def total(self) -> int:
        return self.linked + self.unlinked


# -- The store ---------------------------------------------------------------------------------------------


class ContactStore:
    """Reads and writes contacts; every write is conditional on the version read.

    ``requests`` counts the DynamoDB requests made, by operation name (``GetItem``, ``BatchGetItem``,
    ``PutItem``, ``Query``), retries included, so callers can report calls per contact.
    """

    def __init__(self, table_name: str) -> None:
        self._table_name = table_name
        self._table = dynamodb_table(table_name)
        self.requests: Counter[str] = Counter()

    # -- keys -----------------------------------------------------------------------------------------------

    @staticmethod
    def _pk_prefix(account_id: str) -> str:
        return f"CONTACT#{account_id}#"

    @classmethod
    def _key(cls, account_id: str, email: str) -> dict[str, str]:
        return {"pk": cls._pk_prefix(account_id) + normalise_email(email), "sk": CONTACT_SK}

    @classmethod
    def _email_of(cls, account_id: str, pk: str) -> str:
        # Strip the known prefix rather than split on '#': '#' is legal in an e-mail's local part.
        return pk.removeprefix(cls._pk_prefix(account_id))

    @staticmethod
    def _person_sort_key(person_id: int) -> str:
        if not 0 < person_id < 10**PERSON_ID_DIGITS:
            raise ValueError(f"person id out of range: {person_id}")
        return f"{person_id:0{PERSON_ID_DIGITS}d}"

    # -- reads ----------------------------------------------------------------------------------------------

    def get(self, account_id: str, email: str) -> Contact | None:
        """The contact with this e-mail in the account, or None (a strongly consistent read)."""
        self.requests["GetItem"] += 1
        item = self._table.get_item(Key=self._key(account_id, email), ConsistentRead=True).get("Item")
        return None if item is None else self._contact(item)

    def get_many(self, account_id: str, emails: Iterable[str]) -> dict[str, Contact]:
        """The stored contacts among ``emails``, keyed by normalised e-mail; unknown ones are left out.

        Strongly consistent BatchGetItem requests of up to 100 keys; unprocessed keys are retried with
        backoff. Raises :class:`StoreBusy` when some keys stay unprocessed after every retry.
        """
        wanted = list(dict.fromkeys(normalise_email(e) for e in emails))
        found: dict[str, Contact] = {}
        for start in range(0, len(wanted), BATCH_GET_LIMIT):
            keys = [self._key(account_id, e) for e in wanted[start : start + BATCH_GET_LIMIT]]
            for item in self._batch_get(keys):
                contact = self._contact(item)
                found[contact.email] = contact
        return found

    def _batch_get(self, keys: list[dict[str, str]]) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []

        def send(request: dict[str, Any]) -> dict[str, Any]:
            self.requests["BatchGetItem"] += 1
            # The resource's own client: it takes and returns plain Python values, like the Table.
            response = self._table.meta.client.batch_get_item(RequestItems=request)
            items.extend(response.get("Responses", {}).get(self._table_name, []))
            return dict(response.get("UnprocessedKeys") or {})

        until_processed(send, {self._table_name: {"Keys": keys, "ConsistentRead": True}}, "BatchGetItem")
        return items

    # -- writes ---------------------------------------------------------------------------------------------

    def put_new(self, contact: Contact) -> Contact:
        """Store a contact that was never stored (``version`` 0); returns it as stored (version 1).

        Raises :class:`ContactExists` when a contact with this e-mail already exists in the account.
        """
        if contact.version != 0:
            raise ValueError("put_new takes a contact never stored (version 0); use save")
        stored, item = self._prepared(contact, version=1)
        try:
            self.requests["PutItem"] += 1
            self._table.put_item(Item=item, ConditionExpression="attribute_not_exists(pk)")
        except ClientError as error:
            if is_condition_failure(error):
                raise ContactExists(contact.account_id, contact.email, 0) from error
            raise
        return stored

    def save(self, contact: Contact, expected_version: int | None = None) -> Contact:
        """Replace the stored contact if it is still at ``expected_version`` (default: ``contact.version``).

        Returns the contact as stored, its version one higher. Raises :class:`VersionConflict` when
        another writer got there first (nothing is written: no lost update).
        """
        expected = contact.version if expected_version is None else expected_version
        if expected < 1:
            raise ValueError("save takes a stored contact (version >= 1); use put_new")
        stored, item = self._prepared(contact, version=expected + 1)
        try:
            self.requests["PutItem"] += 1
            self._table.put_item(
                Item=item,
                ConditionExpression="version = :expected",
                ExpressionAttributeValues={":expected": expected},
            )
        except ClientError as error:
            if is_condition_failure(error):
                raise VersionConflict(contact.account_id, contact.email, expected) from error
            raise
        return stored

    def write(
        self,
        contact: Contact,
        *,
        expected_version: int | None,
        changed: bool,
        items: Sequence[Mapping[str, Any]],
    ) -> Contact:
        """Write the contact (when ``changed``) and ``items`` (its decision records) together, or neither.

        ``expected_version`` is the version read, None for a contact never stored. One
        ``TransactWriteItems``, conditional on that version (a condition check when only records are
        written), so a crash can never leave a written contact without the evidence of why, nor
        records of a decision taken on a contact that changed since. Without items it is a plain
        :meth:`put_new` or :meth:`save`. Raises :class:`VersionConflict` (:class:`ContactExists` for a
        new one) when another writer got there first; nothing is written then.
        """
        if not items:
            if not changed:
                return contact
            if expected_version is None:
                return self.put_new(contact)
            return self.save(contact, expected_version=expected_version)
        if len(items) >= TRANSACTION_LIMIT:
            raise ValueError(f"at most {TRANSACTION_LIMIT - 1} records are written with a contact")
        key = self._key(contact.account_id, contact.email)
        stored = contact
        operations: list[dict[str, Any]]
        if expected_version is None:
            stored, item = self._prepared(contact, version=1)
            operations = [{"Put": {"Item": item, "ConditionExpression": "attribute_not_exists(pk)"}}]
        elif changed:
            stored, item = self._prepared(contact, version=expected_version + 1)
            operations = [{"Put": {"Item": item, "ConditionExpression": "version = :expected"}}]
        else:
            operations = [{"ConditionCheck": {"Key": key, "ConditionExpression": "version = :expected"}}]
        if expected_version is not None:
            next(iter(operations[0].values()))["ExpressionAttributeValues"] = {":expected": expected_version}
        operations += [{"Put": {"Item": dict(item)}} for item in items]
        for operation in operations:
            next(iter(operation.values()))["TableName"] = self._table_name
        try:
            self.requests["TransactWriteItems"] += 1
            self._table.meta.client.transact_write_items(TransactItems=operations)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                raise
            reasons = error.response.get("CancellationReasons") or [{}]
            if reasons[0].get("Code") != "ConditionalCheckFailed":
                raise
            if expected_version is None:
                raise ContactExists(contact.account_id, contact.email, 0) from error
            raise VersionConflict(contact.account_id, contact.email, expected_version) from error
        return stored

    def _prepared(self, contact: Contact, version: int) -> tuple[Contact, dict[str, Any]]:
        """The contact as it will be stored, and its item (a full replacement, index attributes included)."""
        now = datetime.now(UTC)
        stored = contact.model_copy(
            update={
                "version": version,
                "created_at": contact.created_at or now,
                "updated_at": now,
                "platform_changed_at": contact.latest_platform_change(),
            }
        )
        account, email = stored.account_id, stored.email
        item: dict[str, Any] = {
            **self._key(account, email),
            "version": version,
            CONTACT_ATTRIBUTE: stored.model_dump_json(exclude_none=True),
        }
        # A PutItem replaces the whole item, so leaving an index attribute out removes it: that is
        # how a contact leaves the sparse PendingIndex or the PersonIndex when unlinked.
        if stored.platform_changed_at is not None:
            item["gsi1pk"] = f"CHANGED#{account}"
            item["gsi1sk"] = f"{stored_time(stored.platform_changed_at)}#{email}"
        if stored.superoffice_person_id is not None:
            item["gsi2pk"] = f"LINKED#{account}"
            item["gsi2sk"] = self._person_sort_key(stored.superoffice_person_id)
        else:
            item["gsi2pk"] = f"UNLINKED#{account}"
            item["gsi2sk"] = email
        if stored.pending:
            item["gsi3pk"] = f"PENDING#{account}"
            item["gsi3sk"] = email
        return stored, item

    @staticmethod
    def _contact(item: Mapping[str, Any]) -> Contact:
        document = item.get(CONTACT_ATTRIBUTE)
        if isinstance(document, str):
            return Contact.model_validate_json(document)
        # An item written before the contact became one JSON attribute: its fields as native values.
        body = {k: v for k, v in item.items() if k not in ("pk", "sk", *_INDEX_ATTRIBUTES)}
        return Contact.model_validate(from_dynamo(body))

    # -- index queries --------------------------------------------------------------------------------------

    def changed_since(self, account_id: str, since: datetime) -> Iterator[str]:
        """E-mails of contacts whose latest platform-side change is at or after ``since``, oldest first.

        Inclusive at the bound on purpose: reconciling a contact twice changes nothing, missing one would.
        """
        condition = Key("gsi1pk").eq(f"CHANGED#{account_id}") & Key("gsi1sk").gt(stored_time(since))
        for item in self._query("ChangedIndex", condition):
            yield self._email_of(account_id, item["pk"])

    def pending(self, account_id: str) -> Iterator[str]:
        """E-mails of contacts with a push to SuperOffice still owed, in e-mail order."""
        for item in self._query("PendingIndex", Key("gsi3pk").eq(f"PENDING#{account_id}")):
            yield self._email_of(account_id, item["pk"])

    def linked(self, account_id: str) -> Iterator[LinkedContact]:
        """Every contact linked to a SuperOffice person, in person-id order (for baseline runs)."""
        for item in self._query("PersonIndex", Key("gsi2pk").eq(f"LINKED#{account_id}")):
            yield LinkedContact(int(item["gsi2sk"]), self._email_of(account_id, item["pk"]))

    def counts(self, account_id: str) -> ContactCounts:
        """How many contacts the account has (linked, not linked) and how many owe a push.

        Counted on the indexes (``Select=COUNT``: only the key-only index entries are read, about
        10,000 per 1 MB page), never by scanning the table.
        """
        return ContactCounts(
            linked=self._count("PersonIndex", Key("gsi2pk").eq(f"LINKED#{account_id}")),
            unlinked=self._count("PersonIndex", Key("gsi2pk").eq(f"UNLINKED#{account_id}")),
            pending=self._count("PendingIndex", Key("gsi3pk").eq(f"PENDING#{account_id}")),
        )

    def _count(self, index: str, condition: ConditionBase) -> int:
        kwargs: dict[str, Any] = {"IndexName": index, "KeyConditionExpression": condition, "Select": "COUNT"}
        total = 0
        while True:
            self.requests["Query"] += 1
            page = self._table.query(**kwargs)
            total += int(page["Count"])
            if "LastEvaluatedKey" not in page:
                return total
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _query(self, index: str, condition: ConditionBase) -> Iterator[dict[str, Any]]:
        kwargs: dict[str, Any] = {"IndexName": index, "KeyConditionExpression": condition}
        while True:
            self.requests["Query"] += 1
            page = self._table.query(**kwargs)
            yield from page["Items"]
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
