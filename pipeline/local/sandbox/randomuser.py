"""The RandomUser 1.4 fake: ``/api/`` answers ``results`` people made with Faker.

Query parameters as the real API: ``results`` (1-5000), ``page``, ``seed``, ``nat`` (comma
list of codes; unknown ones are ignored), ``gender`` and ``inc``/``exc`` (fields to keep or
drop). A seed and page always give the same people; an unseeded call invents a seed and
reports it in ``info.seed``, so it can be replayed. What each nationality draws from Faker
is in ``_nationalities``.
"""

from __future__ import annotations

import contextlib
import hashlib
import random
import secrets
import string
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

from faker import Faker
from faker.decode import unidecode

from pipeline.local.sandbox._common import NOT_FOUND_BODY, dumps, fill, split
from pipeline.local.sandbox._nationalities import NATIONALITIES, Nationality

SOURCE = "randomuser"
PREFIX = "/randomuser"

VERSION = "1.4"
MAX_RESULTS = 5000
API_PATHS = frozenset({"/api", "/api/", f"/api/{VERSION}", f"/api/{VERSION}/"})

# RandomUser's timezone is drawn independently of the nationality; so is this one.
_TIMEZONES = (
    ("-12:00", "Eniwetok, Kwajalein"),
    ("-10:00", "Hawaii"),
    ("-9:00", "Alaska"),
    ("-8:00", "Pacific Time (US & Canada)"),
    ("-5:00", "Eastern Time (US & Canada), Bogota, Lima"),
    ("-3:00", "Brazil, Buenos Aires, Georgetown"),
    ("0:00", "Western Europe Time, London, Lisbon, Casablanca"),
    ("+1:00", "Brussels, Copenhagen, Madrid, Paris"),
    ("+2:00", "Kaliningrad, South Africa"),
    ("+3:30", "Tehran"),
    ("+5:30", "Bombay, Calcutta, Madras, New Delhi"),
    ("+5:45", "Kathmandu"),
    ("+9:00", "Tokyo, Seoul, Osaka, Sapporo, Yakutsk"),
    ("+10:00", "Eastern Australia, Guam, Vladivostok"),
    ("+12:00", "Auckland, Wellington, Fiji, Kamchatka"),
)
# RandomUser's usernames are adjective + animal + digits and its passwords come from a word
# list; Faker's user_name()/password() look nothing like them.
_ADJECTIVES = split("silver, lazy, brave, tiny, purple, heavy, happy, crazy, golden, ticklish")
_ANIMALS = split("panda, goose, tiger, swan, rabbit, frog, leopard, koala, peacock, wolf")
_PASSWORDS = split(
    "sunflower, marmalade, trombone, letmein, qwerty, blizzard, pumpkin, falcon, snickers, "
    "midnight, zeppelin, hockey, dolphin, copper, butterfly, rocket, 123456, pass1234"
)
_TITLES = {"male": ("Mr",), "female": ("Ms", "Mrs", "Miss")}
# Fixed windows (not relative to today) keep a seeded person's dates the same every day;
# born by 2003 means every person is an adult.
_DOB_WINDOW = (datetime(1946, 1, 1, tzinfo=UTC), datetime(2003, 12, 31, tzinfo=UTC))
_REGISTERED_WINDOW = (datetime(2002, 1, 1, tzinfo=UTC), datetime(2022, 12, 31, tzinfo=UTC))


class _FakerPool:
    """Lends each request a set of per-locale Fakers, all drawing from the request's rng.

    The server is threaded and a Faker's draws go to whatever ``random`` it holds, so two
    requests never share a set at once. Building a Faker costs ~10 ms a locale, so sets are
    kept and reused rather than built per request.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle: list[dict[str, Faker]] = []

    @contextlib.contextmanager
    def lend(self, rng: random.Random) -> Iterator[Callable[[str], Faker]]:
        """A ``locale -> Faker`` lookup whose Fakers draw from ``rng`` until the block ends."""
        with self._lock:
            fakers = self._idle.pop() if self._idle else {}

        def faker_for(locale: str) -> Faker:
            fake = fakers.get(locale)
            if fake is None:
                fake = fakers[locale] = Faker(locale)
            # Rebinding (rather than seed_instance per locale) puts every draw of the request,
            # Faker's and ours, on one stream seeded from seed:page. (Faker's proxy.pyi lists
            # only provider methods; ``random`` is a real property of a one-locale Faker.)
            fake.random = rng  # type: ignore[attr-defined]
            return fake

        try:
            yield faker_for
        finally:
            with self._lock:
                self._idle.append(fakers)


_POOL = _FakerPool()


_EMAIL_CHARS = frozenset(string.ascii_lowercase + string.digits)


def _ascii(text: str) -> str:
    """Lowercase ASCII letters and digits of a name in any script, for e-mail addresses."""
    # Faker's own unidecode transliterates Cyrillic, Persian etc.; no extra dependency.
    return "".join(ch for ch in unidecode(text).lower() if ch in _EMAIL_CHARS)


def _name(fake: Faker, rng: random.Random, gender: str) -> tuple[dict[str, str], str]:
    """The name object (in the locale's script) and the ASCII e-mail address made from it."""
    first = fake.first_name_male() if gender == "male" else fake.first_name_female()
    last = fake.last_name()
    name = {"title": rng.choice(_TITLES[gender]), "first": first, "last": last}
    # A name could fold to nothing; an address still needs a local part.
    local = ".".join(part for part in (_ascii(first), _ascii(last)) if part) or "person"
    return name, f"{local}@example.com"


def _postcode(nat: Nationality, raw: str) -> int | str:
    # isascii: str.isdigit() also accepts Persian and other non-ASCII digits.
    if nat.postcode_is_text or not (raw.isascii() and raw.isdigit()):
        return raw
    return int(raw)


def _location(fake: Faker, rng: random.Random, nat: Nationality) -> dict[str, Any]:
    street = fake.street_name() if nat.faker_places else rng.choice(nat.streets)
    city = fake.city() if nat.faker_places else rng.choice(nat.cities)
    state = getattr(fake, nat.state_method)() if nat.state_method else rng.choice(nat.states)
    offset, description = rng.choice(_TIMEZONES)
    return {
        "street": {"number": rng.randint(1, 9999), "name": street},
        "city": city,
        "state": state,
        "country": nat.country,
        "postcode": _postcode(nat, str(fake.postcode())),
        # RandomUser sends coordinates as strings.
        "coordinates": {
            "latitude": f"{rng.uniform(-90, 90):.4f}",
            "longitude": f"{rng.uniform(-180, 180):.4f}",
        },
        "timezone": {"offset": offset, "description": description},
    }


def _login(rng: random.Random) -> dict[str, str]:
    password = rng.choice(_PASSWORDS)
    salt = "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(8))
    salted = (password + salt).encode("utf-8")
    return {
        # From the request's rng (not uuid4()) so seeded responses stay reproducible.
        "uuid": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "username": f"{rng.choice(_ADJECTIVES)}{rng.choice(_ANIMALS)}{rng.randint(100, 999)}",
        "password": password,
        "salt": salt,
        "md5": hashlib.md5(salted).hexdigest(),
        "sha1": hashlib.sha1(salted).hexdigest(),
        "sha256": hashlib.sha256(salted).hexdigest(),
    }


def _age(born: date, today: date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def _dated(rng: random.Random, window: tuple[datetime, datetime], today: date) -> dict[str, Any]:
    """A {date, age} pair; the date is ISO 8601 with milliseconds and 'Z' like the real API."""
    start, end = window
    span_ms = int((end - start).total_seconds() * 1000)
    moment = start + timedelta(milliseconds=rng.randrange(span_ms))
    stamp = moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{moment.microsecond // 1000:03d}Z"
    return {"date": stamp, "age": _age(moment.date(), today)}


def _phones(home: Faker, rng: random.Random, nat: Nationality) -> tuple[str, str]:
    phone, cell = nat.phones
    if phone:
        return fill(rng, phone), fill(rng, cell)
    return home.phone_number(), home.phone_number()


def _identity(home: Faker, rng: random.Random, nat: Nationality) -> dict[str, str | None]:
    # Draw unconditionally so the rng sequence does not depend on the outcome.
    is_null = rng.random() < nat.id_null_rate
    if is_null or not nat.id_name:
        return {"name": "", "value": None}
    value = getattr(home, nat.id_method)() if nat.id_method else fill(rng, nat.id_pattern)
    return {"name": nat.id_name, "value": str(value)}


def _picture(rng: random.Random, gender: str, base_url: str) -> dict[str, str]:
    folder = "men" if gender == "male" else "women"
    number = rng.randint(0, 99)
    root = f"{base_url}{PREFIX}/portraits"
    return {
        "large": f"{root}/{folder}/{number}.jpg",
        "medium": f"{root}/med/{folder}/{number}.jpg",
        "thumbnail": f"{root}/thumb/{folder}/{number}.jpg",
    }


def make_person(
    faker_for: Callable[[str], Faker],
    rng: random.Random,
    nat: Nationality,
    gender: str,
    base_url: str,
    today: date,
) -> dict[str, Any]:
    """One RandomUser 1.4 person, keys in the real API's order; every draw comes from ``rng``."""
    locale = nat.locales[0] if len(nat.locales) == 1 else rng.choice(nat.locales)
    fake, home = faker_for(locale), faker_for(nat.home_locale)
    name, email = _name(fake, rng, gender)
    location = _location(fake, rng, nat)
    login = _login(rng)
    dob = _dated(rng, _DOB_WINDOW, today)
    registered = _dated(rng, _REGISTERED_WINDOW, today)
    phone, cell = _phones(home, rng, nat)
    return {
        "gender": gender,
        "name": name,
        "location": location,
        "email": email,
        "login": login,
        "dob": dob,
        "registered": registered,
        "phone": phone,
        "cell": cell,
        "id": _identity(home, rng, nat),
        "picture": _picture(rng, gender, base_url),
        "nat": nat.code.upper(),
    }


def _first(query: dict[str, list[str]], key: str) -> str | None:
    values = query.get(key)
    return values[0] if values else None


def _int_param(query: dict[str, list[str]], key: str, low: int, high: int) -> int:
    """Like the real API: anything unparsable becomes ``low``, the rest is clamped."""
    try:
        value = int(_first(query, key) or "")
    except ValueError:
        return low
    return min(max(value, low), high)


def _csv_param(query: dict[str, list[str]], key: str) -> list[str]:
    return [part.strip().lower() for part in (_first(query, key) or "").split(",") if part.strip()]


def _select_fields(person: dict[str, Any], inc: list[str], exc: list[str]) -> dict[str, Any]:
    return {
        key: value for key, value in person.items() if (not inc or key in inc) and key not in exc
    }


def people_response(
    query: dict[str, list[str]], base_url: str, today: date | None = None
) -> tuple[int, bytes]:
    """Status and body for ``/randomuser/api/`` with the given query parameters."""
    results = _int_param(query, "results", 1, MAX_RESULTS)
    page = _int_param(query, "page", 1, 10**9)
    # Without a seed the real API invents one and reports it, so the set can be replayed.
    seed = _first(query, "seed") or secrets.token_hex(8)
    codes = [code for code in _csv_param(query, "nat") if code in NATIONALITIES]
    nats = [NATIONALITIES[code] for code in (codes or sorted(NATIONALITIES))]
    forced_gender = _first(query, "gender")
    inc, exc = _csv_param(query, "inc"), _csv_param(query, "exc")
    rng = random.Random(f"{seed}:{page}")
    today = today or datetime.now(UTC).date()
    people = []
    with _POOL.lend(rng) as faker_for:
        for _ in range(results):
            nat = rng.choice(nats)
            gender = rng.choice(("male", "female"))
            if forced_gender in ("male", "female"):
                gender = forced_gender
            made = make_person(faker_for, rng, nat, gender, base_url, today)
            people.append(_select_fields(made, inc, exc))
    info = {"seed": seed, "results": results, "page": page, "version": VERSION}
    return 200, dumps({"results": people, "info": info})


def respond(path: str, query: dict[str, list[str]], base_url: str) -> tuple[int, bytes]:
    """Status and body for a path below ``/randomuser``: the API paths, else 404 ``{}``."""
    if path not in API_PATHS:
        return 404, NOT_FOUND_BODY
    return people_response(query, base_url)
