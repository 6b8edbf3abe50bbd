"""The simulated tenant: a seeded, deterministic, in-memory CRM with the indexes the API needs.

Everything here is plain data and plain functions; HTTP lives in `api.py`. The same seed always
gives the same CRM (ids, names, e-mails, consent rows, times): seeded times are laid out between
two fixed instants, never relative to "now".
"""

from __future__ import annotations

import bisect
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from devtools.simulator.clock import NEVER, to_stored, utc_now

#: Seeded persons are registered between these two instants (fixed so a seed is reproducible).
SEED_START = datetime(2019, 1, 1, 8, 0, 0)
SEED_END = datetime(2025, 6, 30, 16, 0, 0)

#: Associate ids: who wrote a consent row. The API user is the system user of the integration.
API_ASSOCIATE_ID = 1
UI_ASSOCIATE_IDS = (2, 3, 4, 5, 6)
CONTROL_ASSOCIATE_ID = 5

COMMENT_MAX = 255

#: Told of every consent row written after seeding: (row, changed columns, associate id).
ConsentListener = Callable[["ConsentRow", list[str], int], None]


class CrmError(ValueError):
    """A request the CRM refuses (unknown key, too long comment...); the API turns it into a 400."""


class UnknownPerson(LookupError):
    """No person with that id; the API turns it into a 404."""


@dataclass(frozen=True, slots=True)
class ListItem:
    """One item of a consent list (legal base, purpose or source)."""

    item_id: int
    key: str
    name: str
    rank: int
    tooltip: str


LEGAL_BASES: tuple[ListItem, ...] = (
    ListItem(1, "61A", "6.1.a Consent", 1, "The data subject has given consent"),
    ListItem(2, "61B", "6.1.b Contract", 2, "Necessary for the performance of a contract"),
    ListItem(3, "61C", "6.1.c Legal obligation", 3, "Necessary for compliance with a legal obligation"),
    ListItem(4, "61D", "6.1.d Vital interests", 4, "Necessary to protect vital interests"),
    ListItem(5, "61E", "6.1.e Public interest", 5, "Necessary for a task carried out in the public interest"),
    ListItem(6, "61F", "6.1.f Legitimate interest", 6, "Necessary for the purposes of legitimate interests"),
    ListItem(7, "WITHDRAWN", "Withdrawn", 7, "The consent has been withdrawn"),
)
PURPOSES: tuple[ListItem, ...] = (
    ListItem(1, "STORE", "Store and process", 1, "Sales and service"),
    ListItem(2, "EMARKETING", "Marketing sendouts", 2, "E-mail and SMS marketing"),
)
SOURCES: tuple[ListItem, ...] = (
    ListItem(1, "USER", "Registered by user", 1, "Registered manually by a SuperOffice user"),
    ListItem(2, "WEBFORM", "Web form", 2, "Submitted through a web form"),
    ListItem(3, "API", "API", 3, "Registered through the API"),
    ListItem(4, "UNKNOWN", "Unknown", 4, "Source unknown"),
)


def _index(items: tuple[ListItem, ...]) -> tuple[dict[str, ListItem], dict[int, ListItem]]:
    # Keys are matched case-insensitively, like SQL Server's default collation does.
    return {item.key.upper(): item for item in items}, {item.item_id: item for item in items}


LEGAL_BASE_BY_KEY, LEGAL_BASE_BY_ID = _index(LEGAL_BASES)
PURPOSE_BY_KEY, PURPOSE_BY_ID = _index(PURPOSES)
SOURCE_BY_KEY, SOURCE_BY_ID = _index(SOURCES)


@dataclass(slots=True)
class Company:
    """A contact (company) row."""

    contact_id: int
    name: str


@dataclass(slots=True)
class Email:
    """One e-mail row of a person; the list order on the person is the rank (first = primary)."""

    address: str
    description: str = ""


@dataclass(slots=True)
class Person:
    """A person row with the fields the API exposes."""

    person_id: int
    first_name: str
    last_name: str
    contact_id: int  # 0 = no company
    emails: list[Email]
    mobile: str  # formatted number, "" when none
    registered: datetime
    updated: datetime  # NEVER when never updated
    retired: bool = False
    no_mailing: bool = False

    @property
    def primary_email(self) -> str:
        """The primary (first-ranked) address, "" when the person has none."""
        return self.emails[0].address if self.emails else ""


@dataclass(slots=True)
class ConsentRow:
    """A `consentperson` row: one per person and purpose."""

    consentperson_id: int
    person_id: int
    purpose_id: int
    legal_base_id: int
    source_id: int
    comment: str
    registered: datetime
    registered_associate_id: int
    updated: datetime = NEVER
    updated_associate_id: int = 0

    @property
    def changed(self) -> datetime:
        """The time of the row's last change: max(registered, updated)."""
        return max(self.registered, self.updated)


@dataclass(slots=True)
class Selection:
    """A static selection; members are (person_id, contact_id), person_id 0 for a company row."""

    selection_id: int
    name: str
    members: list[tuple[int, int]]


@dataclass(slots=True)
class ProjectMember:
    """A project member row."""

    project_member_id: int
    person_id: int
    contact_id: int


@dataclass(slots=True)
class Project:
    """A project; members sorted by project_member_id."""

    project_id: int
    name: str
    members: list[ProjectMember]


_FIRST_NAMES = (
    "Anna",
    "Lars",
    "Ingrid",
    "Ola",
    "Kari",
    "Erik",
    "Sofia",
    "Johan",
    "Maria",
    "Per",
    "Eva",
    "Nils",
    "Astrid",
    "Magnus",
    "Sara",
    "Henrik",
    "Lena",
    "Jonas",
    "Emma",
    "Anders",
    "Ida",
    "Mikael",
    "Hanna",
    "Fredrik",
    "Julia",
    "Oskar",
    "Elin",
    "Thomas",
    "Linnea",
    "Peter",
    "Siobhan",
    "Sean",
    "Zoë",
    "José",
)
_LAST_NAMES = (
    "Hansen",
    "Johansson",
    "Berg",
    "Larsen",
    "Nilsson",
    "Andersen",
    "Lindqvist",
    "Pedersen",
    "Karlsson",
    "Olsen",
    "Eriksson",
    "Dahl",
    "Holm",
    "Strand",
    "Lund",
    "Bakken",
    "Sandberg",
    "Nygaard",
    "Persson",
    "Svensson",
    "Moen",
    "Haugen",
    "Jensen",
    "Lie",
    "Ekström",
    "Smith",
    "Müller",
    "García",
    "Novak",
)
# Surnames with an apostrophe, so some addresses carry a quote (o'brien@...) that must be escaped.
_QUOTED_LAST_NAMES = ("O'Brien", "D'Angelo", "O'Neill")
_COMPANY_WORDS = (
    "Nordic",
    "Fjord",
    "Polar",
    "Granite",
    "Birch",
    "Harbour",
    "Summit",
    "Aurora",
    "Coastal",
    "Pine",
    "Silver",
    "Northern",
    "Lake",
    "River",
    "Meadow",
    "Glacier",
    "Iron",
    "Amber",
    "Cedar",
    "Falcon",
)
_COMPANY_NOUNS = (
    "Systems",
    "Logistics",
    "Consulting",
    "Foods",
    "Energy",
    "Media",
    "Design",
    "Health",
    "Travel",
    "Engineering",
    "Retail",
    "Analytics",
    "Marine",
    "Textiles",
    "Software",
    "Finance",
)
_COMPANY_SUFFIXES = ("AS", "AB", "ApS", "Oy", "Ltd", "GmbH", "BV")
_DOMAINS = ("example.com", "example.no", "example.se", "example.org", "mail.example.net")


def _mailbox(text: str) -> str:
    """Lower-case a name into an address local part (keeps apostrophes, drops spaces and accents)."""
    table = str.maketrans({"ö": "o", "ë": "e", "é": "e", "ü": "u", "í": "i", "á": "a", "ø": "o", " ": ""})
    return text.lower().translate(table)


class Crm:
    """The tenant's data with indexes: dicts by id, by lower-cased primary e-mail, rows sorted by id."""

    def __init__(self) -> None:
        self.companies: dict[int, Company] = {}
        self.persons: dict[int, Person] = {}
        self.consent_rows: dict[int, ConsentRow] = {}
        # Row ids only ever grow, so appending keeps this sorted (bisect for keyset paging).
        self.consent_ids: list[int] = []
        self._rows_by_person: dict[int, dict[int, ConsentRow]] = {}
        self._email_index: dict[str, list[int]] = {}
        self.selections: dict[int, Selection] = {}
        self.projects: dict[int, Project] = {}
        self._next_person_id = 1
        self._next_contact_id = 1
        self._next_consent_id = 1
        self._next_project_member_id = 1
        self.on_consent_written: ConsentListener | None = None

    # ---- reads ---------------------------------------------------------------------------------

    def person(self, person_id: int) -> Person:
        """The person with that id; raises UnknownPerson."""
        try:
            return self.persons[person_id]
        except KeyError:
            raise UnknownPerson(person_id) from None

    def company_name(self, contact_id: int) -> str:
        """The company's name, "" for contact id 0 or an unknown company."""
        company = self.companies.get(contact_id)
        return company.name if company else ""

    def persons_by_email(self, email: str) -> list[Person]:
        """Persons whose primary address equals `email`, ignoring letter case and surrounding blanks."""
        return [self.persons[pid] for pid in self._email_index.get(email.strip().lower(), [])]

    def consent(self, person_id: int, purpose_id: int) -> ConsentRow | None:
        """The person's row for that purpose, if any."""
        return self._rows_by_person.get(person_id, {}).get(purpose_id)

    def consents_of(self, person_id: int) -> list[ConsentRow]:
        """All rows of a person, by purpose id."""
        rows = self._rows_by_person.get(person_id, {})
        return [rows[pid] for pid in sorted(rows)]

    def consent_rows_after(self, consentperson_id: int) -> Iterator[ConsentRow]:
        """Rows with an id strictly greater than `consentperson_id`, in id order (keyset paging)."""
        start = bisect.bisect_right(self.consent_ids, consentperson_id)
        for index in range(start, len(self.consent_ids)):
            yield self.consent_rows[self.consent_ids[index]]

    # ---- writes --------------------------------------------------------------------------------

    def add_company(self, name: str) -> Company:
        """Create a company."""
        company = Company(self._next_contact_id, name)
        self._next_contact_id += 1
        self.companies[company.contact_id] = company
        return company

    def company_named(self, name: str) -> Company:
        """The first company with that exact name, created when there is none."""
        for company in self.companies.values():
            if company.name == name:
                return company
        return self.add_company(name)

    def add_person(
        self,
        first_name: str,
        last_name: str,
        emails: list[str],
        contact_id: int = 0,
        mobile: str = "",
        registered: datetime | None = None,
        updated: datetime = NEVER,
        retired: bool = False,
    ) -> Person:
        """Create a person with its e-mails in rank order; it is indexed by its primary address."""
        person = Person(
            person_id=self._next_person_id,
            first_name=first_name,
            last_name=last_name,
            contact_id=contact_id,
            emails=[Email(address) for address in emails],
            mobile=mobile,
            registered=to_stored(registered) if registered else utc_now(),
            updated=updated,
            retired=retired,
        )
        self._next_person_id += 1
        self.persons[person.person_id] = person
        self._index_email(person)
        return person

    def create_person_like_api(
        self,
        first_name: str,
        last_name: str,
        email: str,
        company: str | None = None,
        registered_at: datetime | None = None,
    ) -> Person:
        """Create a person as the REST API does: it gets a STORE row (61F, source UNKNOWN)."""
        contact_id = self.company_named(company).contact_id if company else 0
        person = self.add_person(
            first_name, last_name, [email] if email else [], contact_id, registered=registered_at
        )
        self._write_row(
            person.person_id,
            PURPOSE_BY_KEY["STORE"],
            LEGAL_BASE_BY_KEY["61F"],
            SOURCE_BY_KEY["UNKNOWN"],
            "",
            person.registered,
            API_ASSOCIATE_ID,
        )
        return person

    def set_consent(
        self,
        person_id: int,
        purpose_key: str,
        legal_base_key: str,
        source_key: str,
        comment: str = "",
        at: datetime | None = None,
        associate_id: int = API_ASSOCIATE_ID,
    ) -> ConsentRow:
        """Create or overwrite the person's row for the purpose, as `PUT /Person/{id}/Consent/{key}` does.

        A new row gets `registered = at`; an existing row is overwritten with `updated = at`.
        Raises UnknownPerson, or CrmError for an unknown key or a comment over 255 characters.
        """
        self.person(person_id)
        purpose = PURPOSE_BY_KEY.get(purpose_key.upper())
        if purpose is None:
            raise CrmError(f"Unknown consent purpose key '{purpose_key}'")
        legal_base = LEGAL_BASE_BY_KEY.get(legal_base_key.upper())
        if legal_base is None:
            raise CrmError(f"Unknown legal base key '{legal_base_key}'")
        source = SOURCE_BY_KEY.get(source_key.upper())
        if source is None:
            raise CrmError(f"Unknown consent source key '{source_key}'")
        if len(comment) > COMMENT_MAX:
            raise CrmError(f"Comment is {len(comment)} characters; at most {COMMENT_MAX} are allowed")
        moment = to_stored(at) if at else utc_now()
        return self._write_row(person_id, purpose, legal_base, source, comment, moment, associate_id)

    def _write_row(
        self,
        person_id: int,
        purpose: ListItem,
        legal_base: ListItem,
        source: ListItem,
        comment: str,
        moment: datetime,
        associate_id: int,
    ) -> ConsentRow:
        rows = self._rows_by_person.setdefault(person_id, {})
        row = rows.get(purpose.item_id)
        if row is None:
            row = ConsentRow(
                consentperson_id=self._next_consent_id,
                person_id=person_id,
                purpose_id=purpose.item_id,
                legal_base_id=legal_base.item_id,
                source_id=source.item_id,
                comment=comment,
                registered=moment,
                registered_associate_id=associate_id,
            )
            self._next_consent_id += 1
            rows[purpose.item_id] = row
            self.consent_rows[row.consentperson_id] = row
            self.consent_ids.append(row.consentperson_id)
            changes = [
                "consentperson_id",
                "person_id",
                "consentpurpose_id",
                "legalBase_id",
                "consentSource_id",
                "comment",
                "registered",
                "registered_associate_id",
            ]
        else:
            changes = ["consentperson_id"]
            for column, old, new in (
                ("legalBase_id", row.legal_base_id, legal_base.item_id),
                ("consentSource_id", row.source_id, source.item_id),
                ("comment", row.comment, comment),
            ):
                if old != new:
                    changes.append(column)
            changes += ["updated", "updated_associate_id"]
            row.legal_base_id = legal_base.item_id
            row.source_id = source.item_id
            row.comment = comment
            row.updated = moment
            row.updated_associate_id = associate_id
        if self.on_consent_written is not None:
            self.on_consent_written(row, changes, associate_id)
        return row

    def _index_email(self, person: Person) -> None:
        if person.emails:
            bucket = self._email_index.setdefault(person.primary_email.lower(), [])
            bucket.append(person.person_id)
            bucket.sort()

    def _unindex_email(self, person: Person) -> None:
        if person.emails:
            key = person.primary_email.lower()
            bucket = self._email_index.get(key, [])
            if person.person_id in bucket:
                bucket.remove(person.person_id)
            if not bucket:
                self._email_index.pop(key, None)

    def set_primary_email(self, person: Person, address: str) -> None:
        """Replace the person's primary address, keeping the e-mail index right."""
        self._unindex_email(person)
        if person.emails:
            person.emails[0] = Email(address, person.emails[0].description)
        else:
            person.emails.insert(0, Email(address))
        self._index_email(person)

    def add_selection(self, name: str, person_ids: list[int]) -> Selection:
        """A new static selection of these persons (in this order, each once), with the next free id.

        Raises UnknownPerson for an id the CRM does not have.
        """
        members = [(person_id, self.person(person_id).contact_id) for person_id in dict.fromkeys(person_ids)]
        selection = Selection(max(self.selections, default=0) + 1, name, members)
        self.selections[selection.selection_id] = selection
        return selection

    def add_project_member(self, project: Project, person: Person) -> ProjectMember:
        """Append a member to a project with the next project member id."""
        member = ProjectMember(self._next_project_member_id, person.person_id, person.contact_id)
        self._next_project_member_id += 1
        project.members.append(member)
        return member

    # ---- seeding -------------------------------------------------------------------------------

    @classmethod
    def seeded(cls, persons: int, seed: int) -> Crm:
        """A CRM with `persons` persons, fully determined by `seed`."""
        return _Seeder(cls(), random.Random(seed), persons).run()


def _unique(people: list[Person]) -> list[Person]:
    """Drop repeated persons, keeping the first occurrence."""
    return list({person.person_id: person for person in people}.values())


@dataclass
class _Seeder:
    """Builds a seeded CRM; one pass over the persons, then the edge cases and the member lists."""

    crm: Crm
    rng: random.Random
    count: int
    duplicates: list[Person] = field(default_factory=list)
    without_email: list[Person] = field(default_factory=list)
    quoted: list[Person] = field(default_factory=list)

    def run(self) -> Crm:
        self._companies()
        self._persons()
        self._duplicate_emails()
        self._selections()
        self._projects()
        return self.crm

    def _companies(self) -> None:
        rng = self.rng
        for index in range(max(2, self.count // 4)):
            name = (
                f"{rng.choice(_COMPANY_WORDS)} {rng.choice(_COMPANY_NOUNS)} {rng.choice(_COMPANY_SUFFIXES)}"
            )
            # Two companies may draw the same words; a number keeps names unique, as real data is.
            self.crm.add_company(name if index < 40 else f"{name} {index}")

    def _persons(self) -> None:
        rng, crm = self.rng, self.crm
        span = (SEED_END - SEED_START).total_seconds()
        company_ids = list(crm.companies)
        # The last few companies get no persons: selections list them as company rows (personId 0).
        with_persons = company_ids[: max(1, len(company_ids) - max(1, len(company_ids) // 20))]
        for index in range(self.count):
            first = rng.choice(_FIRST_NAMES)
            quoted = rng.random() < 0.005 or index in (7, 70)
            last = rng.choice(_QUOTED_LAST_NAMES) if quoted else rng.choice(_LAST_NAMES)
            # Ids grow with the registration time, as in a real database.
            offset = span * (index + rng.random()) / max(1, self.count)
            registered = to_stored(SEED_START + timedelta(seconds=offset))
            updated = NEVER
            if rng.random() < 0.4:
                updated = to_stored(
                    registered + timedelta(seconds=rng.random() * (SEED_END - registered).total_seconds())
                )
            emails: list[str] = []
            has_email = rng.random() >= 0.03 and index != 3
            if has_email:
                domain = rng.choice(_DOMAINS)
                local = f"{_mailbox(first)}.{_mailbox(last)}{index + 1}"
                if rng.random() < 0.1:
                    # Some addresses are stored with capitals; matching must ignore letter case.
                    local, domain = local.capitalize(), domain.capitalize()
                emails.append(f"{local}@{domain}")
                if rng.random() < 0.2:
                    emails.append(f"{_mailbox(first)[0]}{_mailbox(last)}{index + 1}@private.example.net")
            mobile = ""
            if rng.random() < 0.4:
                mobile = f"+47 9{rng.randint(10, 99)} {rng.randint(10, 99)} {rng.randint(100, 999)}"
            contact_id = rng.choice(with_persons) if rng.random() < 0.95 else 0
            person = crm.add_person(
                first, last, emails, contact_id, mobile, registered, updated, retired=rng.random() < 0.01
            )
            if not has_email:
                self.without_email.append(person)
            if quoted and has_email:
                self.quoted.append(person)
            self._consents(person)

    def _consents(self, person: Person) -> None:
        rng, crm = self.rng, self.crm
        store_base = "WITHDRAWN" if rng.random() < 0.01 else "61F"
        store_at = person.registered
        store = crm._write_row(
            person.person_id,
            PURPOSE_BY_KEY["STORE"],
            LEGAL_BASE_BY_KEY[store_base],
            SOURCE_BY_KEY["UNKNOWN" if store_base == "61F" else "USER"],
            "",
            store_at,
            API_ASSOCIATE_ID,
        )
        if store_base == "WITHDRAWN":
            store.legal_base_id = LEGAL_BASE_BY_KEY["61F"].item_id
            self._update(store, "WITHDRAWN", "USER")
        draw = rng.random()
        if draw < 0.30:
            return  # no EMARKETING row at all
        base, source = (
            ("61A", rng.choice(("WEBFORM", "USER")))
            if draw < 0.72
            else (("61F", "USER") if draw < 0.88 else ("WITHDRAWN", rng.choice(("USER", "WEBFORM"))))
        )
        at = to_stored(
            person.registered
            + timedelta(
                seconds=rng.random() * min(30 * 86400.0, (SEED_END - person.registered).total_seconds())
            )
        )
        row = crm._write_row(
            person.person_id,
            PURPOSE_BY_KEY["EMARKETING"],
            LEGAL_BASE_BY_KEY[base],
            SOURCE_BY_KEY[source],
            "Signed up" if base == "61A" else "",
            at,
            rng.choice(UI_ASSOCIATE_IDS),
        )
        if rng.random() < 0.3:
            self._update(row, base, source)

    def _update(self, row: ConsentRow, base: str, source: str) -> None:
        rng = self.rng
        room = (SEED_END - row.registered).total_seconds()
        row.legal_base_id = LEGAL_BASE_BY_KEY[base].item_id
        row.source_id = SOURCE_BY_KEY[source].item_id
        row.updated = to_stored(row.registered + timedelta(seconds=max(1.0, rng.random() * room)))
        row.updated_associate_id = rng.choice(UI_ASSOCIATE_IDS)

    def _duplicate_emails(self) -> None:
        """~2% of persons share an older person's primary address in another letter case."""
        rng, crm = self.rng, self.crm
        with_email = [p for p in crm.persons.values() if p.emails]
        if len(with_email) < 4:
            return
        wanted = max(2, round(len(with_email) * 0.02))
        chosen = sorted(rng.sample(range(1, len(with_email)), min(wanted, len(with_email) - 1)))
        copies: set[int] = set()
        for position in chosen:
            copy = with_email[position]
            original = with_email[rng.randrange(0, position)]
            if copy.primary_email.lower() == original.primary_email.lower() or original.person_id in copies:
                continue
            address = original.primary_email
            variant = address.upper() if rng.random() < 0.5 else address[0].swapcase() + address[1:]
            if variant == address:
                variant = address.upper() if address != address.upper() else address.lower()
            crm.set_primary_email(copy, variant)
            self.duplicates.append(copy)
            copies.add(copy.person_id)
            # Half of the duplicates disagree with the original on EMARKETING.
            if rng.random() < 0.5:
                theirs = crm.consent(original.person_id, PURPOSE_BY_KEY["EMARKETING"].item_id)
                conflicting = (
                    "WITHDRAWN" if theirs and LEGAL_BASE_BY_ID[theirs.legal_base_id].key == "61A" else "61A"
                )
                crm._write_row(
                    copy.person_id,
                    PURPOSE_BY_KEY["EMARKETING"],
                    LEGAL_BASE_BY_KEY[conflicting],
                    SOURCE_BY_KEY["USER"],
                    "",
                    to_stored(copy.registered + timedelta(hours=1)),
                    rng.choice(UI_ASSOCIATE_IDS),
                )

    def _company_rows(self, how_many: int) -> list[tuple[int, int]]:
        ids = sorted(self.crm.companies)
        return [(0, contact_id) for contact_id in self.rng.sample(ids, min(how_many, len(ids)))]

    def _sample(self, share: float) -> list[Person]:
        people = list(self.crm.persons.values())
        return self.rng.sample(people, max(1, min(len(people), round(len(people) * share))))

    def _selections(self) -> None:
        edge = self.duplicates[:10] + self.without_email[:5] + self.quoted[:5]
        originals = [self.crm.persons_by_email(p.primary_email)[0] for p in self.duplicates[:10]]
        plans: list[tuple[str, list[Person], int]] = [
            ("Newsletter", self._sample(0.10), 3),
            ("Customers", self._sample(0.30), 10),
            ("Edge cases", _unique(edge + originals), 2),
            ("Companies only", [], 4),
        ]
        for selection_id, (name, people, company_rows) in enumerate(plans, start=1):
            members = [(p.person_id, p.contact_id) for p in people] + self._company_rows(company_rows)
            members.sort(key=lambda member: (member[1], member[0]))
            self.crm.selections[selection_id] = Selection(selection_id, name, members)

    def _projects(self) -> None:
        edge = self.duplicates[:10] + self.without_email[:5] + self.quoted[:5]
        plans = [
            ("Autumn campaign", self._sample(0.60)),
            ("Partner event", self._sample(0.05)),
            ("Edge cases", _unique(edge)),
        ]
        for project_id, (name, people) in enumerate(plans, start=1):
            project = Project(project_id, name, [])
            self.crm.projects[project_id] = project
            for person in people:
                self.crm.add_project_member(project, person)
