# ruff: noqa: RUF001
# (RUF001 flags Cyrillic/Persian letters as "confusable"; the non-Latin names are deliberate.)
"""Offline, API-compatible copies of JSONPlaceholder and RandomUser 1.4 served on loopback.

Start one with ``SandboxServer().start()`` (or ``python -m pipeline.local.sandbox``)
and point the source base URLs at ``server.jsonplaceholder_url`` and
``server.randomuser_url``. Faults (latency, error statuses, malformed bodies,
connection resets) can be switched on in-process via ``server.faults`` or over
HTTP at ``/_sandbox/faults`` to exercise the client's retry and error handling.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import logging
import random
import secrets
import socket
import string
import struct
import threading
import time
import unicodedata
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal, get_args
from urllib.parse import parse_qs, urlsplit

logger = logging.getLogger(__name__)

JSON_CONTENT_TYPE = "application/json; charset=utf-8"
JSONPLACEHOLDER_PREFIX = "/jsonplaceholder"
RANDOMUSER_PREFIX = "/randomuser"
CONTROL_PREFIX = "/_sandbox"
RANDOMUSER_VERSION = "1.4"
RANDOMUSER_MAX_RESULTS = 5000
NOT_FOUND_BODY = b"{}"
DEFAULT_ERROR = (
    "Uh oh, something has gone wrong. Please tweet us @randomapi about the issue. Thank you."
)

FaultKind = Literal["latency", "status", "malformed", "error_body", "reset"]
FAULT_KINDS: tuple[str, ...] = get_args(FaultKind)


# --------------------------------------------------------------------------- faults


@dataclass
class Fault:
    """One switchable misbehaviour applied to requests whose path starts with ``path_prefix``."""

    path_prefix: str = ""
    kind: FaultKind = "status"
    status: int = 500
    retry_after: str | None = None
    delay: float = 0.0
    times: int | None = 1
    error: str = DEFAULT_ERROR

    def __post_init__(self) -> None:
        # Validate here so a bad POST to /_sandbox/faults becomes a 400, not a broken server.
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"kind must be one of {', '.join(FAULT_KINDS)}, got {self.kind!r}")
        if not 100 <= int(self.status) <= 599:
            raise ValueError(f"status must be an HTTP status code, got {self.status!r}")
        if float(self.delay) < 0:
            raise ValueError("delay must be >= 0")
        if self.times is not None and int(self.times) < 1:
            raise ValueError("times must be >= 1 or null (until cleared)")
        if self.retry_after is not None:
            self.retry_after = str(self.retry_after)


@dataclass
class _ActiveFault:
    fault: Fault
    remaining: int | None


class FaultRegistry:
    """Thread-safe set of active faults; each matching request consumes one use."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._active: list[_ActiveFault] = []
        self._hits = 0

    def add(self, fault: Fault) -> Fault:
        """Activate ``fault``; faults added earlier win when several match."""
        with self._lock:
            self._active.append(_ActiveFault(fault, fault.times))
        return fault

    def clear(self) -> int:
        """Deactivate all faults and reset the hit count; returns how many were active."""
        with self._lock:
            count = len(self._active)
            self._active.clear()
            self._hits = 0
        return count

    @property
    def hits(self) -> int:
        """How many requests have been faulted since the last clear."""
        with self._lock:
            return self._hits

    def active(self) -> list[dict[str, Any]]:
        """The active faults as JSON-ready dicts, with their remaining uses."""
        with self._lock:
            return [{**asdict(a.fault), "remaining": a.remaining} for a in self._active]

    def take(self, path: str) -> Fault | None:
        """The first fault matching ``path``, consuming one of its uses."""
        with self._lock:
            for entry in self._active:
                if path.startswith(entry.fault.path_prefix):
                    self._consume(entry)
                    return entry.fault
        return None

    def _consume(self, entry: _ActiveFault) -> None:
        self._hits += 1
        if entry.remaining is None:
            return
        entry.remaining -= 1
        if entry.remaining <= 0:
            self._active.remove(entry)


# --------------------------------------------------------------------------- helpers


def _dumps(obj: Any, *, pretty: bool = False) -> bytes:
    """JSON bytes; non-ASCII kept literal like the real APIs."""
    if pretty:
        return json.dumps(obj, ensure_ascii=False, indent=2).encode("utf-8")
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _fill(rng: random.Random, pattern: str) -> str:
    """Expand a pattern: '#' becomes a digit, '@' an uppercase letter, the rest stays."""
    out = []
    for ch in pattern:
        if ch == "#":
            out.append(rng.choice(string.digits))
        elif ch == "@":
            out.append(rng.choice(string.ascii_uppercase))
        else:
            out.append(ch)
    return "".join(out)


# Letters NFKD does not decompose into ASCII.
_FOLD_EXTRA = str.maketrans({"ł": "l", "Ł": "L", "ø": "o", "Ø": "O", "æ": "ae", "ß": "ss"})
_FOLD_EXTRA.update(str.maketrans({"ı": "i", "đ": "dj", "Đ": "Dj", "å": "a", "Å": "A"}))


def _fold(text: str) -> str:
    """Lowercase ASCII form of a Latin-script name, for e-mail addresses and usernames."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_FOLD_EXTRA))
    ascii_only = decomposed.encode("ascii", "ignore").decode("ascii")
    return "".join(ch for ch in ascii_only.lower() if ch.isalnum())


def _status_phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"HTTP {status}"


def _split(csv: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in csv.split(",") if part.strip())


# --------------------------------------------------------------------------- JSONPlaceholder

# Invented pseudo-Latin filler; deliberately not the real lorem ipsum or JSONPlaceholder text.
_LOREM = _split(
    "vala, quorim, sentes, dolvira, maren, tuvis, orbanto, ficus, lenta, permis, "
    "caltro, dunem, siva, ostrum, velocar, impe, narda, quissa, tolmen, ruvia, "
    "egrata, hobis, lunare, mirva, pectus, sorbe, tandum, ulvis, varro, zetta, "
    "amblis, bruta, cenova, dorsit, elvam, fornix, galdra, hestur, ivora, jundo, "
    "kelsam, lorvis, mundi, nesto, oppra, plevis, quanta, rosmar, stilla, trevo"
)
_JP_FIRST = _split("Ada, Bruno, Celia, Dario, Edda, Fabian, Greta, Hugo, Ilse, Jonas")
_JP_LAST = _split("Marwick, Oldcastle, Penrose, Quill, Rainer, Stroud, Tolland, Upton, Vance, Wren")
_JP_CITIES = _split("Brightwater, Elmsford, Kestrel Bay, Northmoor, Quarry Hill, Redfern")
_JP_STREETS = _split("Alder Lane, Birch Row, Cobble Way, Dune Road, Ember Court, Flint Street")
_JP_TLDS = _split("net, org, info, biz, io, com")
_JP_SIZES = {"posts": 100, "comments": 500, "users": 10, "todos": 200, "albums": 100}
_JP_SIZES["photos"] = 5000
# Parent collection -> the foreign key children carry, for /posts/1/comments style routes.
_JP_PARENT_KEY = {"posts": "postId", "users": "userId", "albums": "albumId"}


def _words(rng: random.Random, low: int, high: int) -> str:
    return " ".join(rng.choice(_LOREM) for _ in range(rng.randint(low, high)))


def _paragraph(rng: random.Random) -> str:
    return "\n".join(_words(rng, 6, 11) for _ in range(4))


def _jp_posts(rng: random.Random) -> list[dict[str, Any]]:
    return [
        {"userId": (i - 1) // 10 + 1, "id": i, "title": _words(rng, 3, 9), "body": _paragraph(rng)}
        for i in range(1, _JP_SIZES["posts"] + 1)
    ]


def _jp_email(rng: random.Random) -> str:
    local = f"{rng.choice(_JP_FIRST)}_{rng.choice(_JP_LAST)}".lower()
    return f"{local}@{rng.choice(_LOREM)}.{rng.choice(_JP_TLDS)}"


def _jp_comments(rng: random.Random) -> list[dict[str, Any]]:
    return [
        {
            "postId": (i - 1) // 5 + 1,
            "id": i,
            "name": _words(rng, 3, 7),
            "email": _jp_email(rng),
            "body": _paragraph(rng),
        }
        for i in range(1, _JP_SIZES["comments"] + 1)
    ]


def _jp_address(rng: random.Random) -> dict[str, Any]:
    return {
        "street": rng.choice(_JP_STREETS),
        "suite": f"{rng.choice(['Apt.', 'Suite'])} {rng.randint(100, 999)}",
        "city": rng.choice(_JP_CITIES),
        "zipcode": _fill(rng, "#####-####"),
        # JSONPlaceholder ships coordinates as strings; keep that quirk.
        "geo": {"lat": f"{rng.uniform(-90, 90):.4f}", "lng": f"{rng.uniform(-180, 180):.4f}"},
    }


def _jp_user(rng: random.Random, user_id: int) -> dict[str, Any]:
    first, last = _JP_FIRST[user_id - 1], _JP_LAST[user_id - 1]
    site = f"{rng.choice(_LOREM)}.{rng.choice(_JP_TLDS)}"
    return {
        "id": user_id,
        "name": f"{first} {last}",
        "username": f"{first}.{last[:3]}".lower(),
        "email": f"{first}@{site}".lower(),
        "address": _jp_address(rng),
        "phone": _fill(rng, "1-###-###-#### x####"),
        "website": site,
        "company": {
            "name": f"{last} {rng.choice(['Group', 'LLC', 'and Sons', 'Works'])}",
            "catchPhrase": _words(rng, 3, 4).capitalize(),
            "bs": _words(rng, 3, 3),
        },
    }


def _jp_users(rng: random.Random) -> list[dict[str, Any]]:
    return [_jp_user(rng, i) for i in range(1, _JP_SIZES["users"] + 1)]


def _jp_todos(rng: random.Random) -> list[dict[str, Any]]:
    return [
        {
            "userId": (i - 1) // 20 + 1,
            "id": i,
            "title": _words(rng, 2, 7),
            "completed": rng.random() < 0.45,
        }
        for i in range(1, _JP_SIZES["todos"] + 1)
    ]


def _jp_albums(rng: random.Random) -> list[dict[str, Any]]:
    return [
        {"userId": (i - 1) // 10 + 1, "id": i, "title": _words(rng, 2, 6)}
        for i in range(1, _JP_SIZES["albums"] + 1)
    ]


def _jp_photos(rng: random.Random) -> list[dict[str, Any]]:
    photos = []
    for i in range(1, _JP_SIZES["photos"] + 1):
        colour = f"{rng.randrange(0x1000000):06x}"
        photos.append(
            {
                "albumId": (i - 1) // 50 + 1,
                "id": i,
                "title": _words(rng, 3, 8),
                "url": f"https://placehold.example/600/{colour}",
                "thumbnailUrl": f"https://placehold.example/150/{colour}",
            }
        )
    return photos


_JP_BUILDERS: dict[str, Callable[[random.Random], list[dict[str, Any]]]] = {
    "posts": _jp_posts,
    "comments": _jp_comments,
    "users": _jp_users,
    "todos": _jp_todos,
    "albums": _jp_albums,
    "photos": _jp_photos,
}


@cache
def jsonplaceholder_items(resource: str) -> tuple[dict[str, Any], ...]:
    """The fixed items of one collection, built once from a per-collection seed."""
    # A seed per collection keeps each one stable even if another's generator changes.
    rng = random.Random(f"twl-sandbox:jsonplaceholder:{resource}")
    return tuple(_JP_BUILDERS[resource](rng))


@cache
def _jp_collection_body(resource: str) -> bytes:
    # Cached bytes make "identical on every call" literally true, and fast for /photos.
    return _dumps(list(jsonplaceholder_items(resource)), pretty=True)


def _jp_filter(
    items: Sequence[dict[str, Any]], query: dict[str, list[str]]
) -> list[dict[str, Any]]:
    """json-server style equality filter: ?userId=1&userId=2 keeps either; unknown keys ignored."""
    known = {key: values for key, values in query.items() if items and key in items[0]}
    return [item for item in items if all(str(item[k]) in v for k, v in known.items())]


def _jp_item(resource: str, raw_id: str) -> tuple[int, bytes]:
    for item in jsonplaceholder_items(resource):
        if str(item["id"]) == raw_id:
            return 200, _dumps(item, pretty=True)
    return 404, NOT_FOUND_BODY


def _jp_children(parent: str, raw_id: str, child: str) -> tuple[int, bytes]:
    key = _JP_PARENT_KEY.get(parent)
    items = jsonplaceholder_items(child) if child in _JP_BUILDERS else ()
    if key is None or not items or key not in items[0]:
        return 404, NOT_FOUND_BODY
    return 200, _dumps(_jp_filter(items, {key: [raw_id]}), pretty=True)


def jsonplaceholder_response(path: str, query: dict[str, list[str]]) -> tuple[int, bytes]:
    """Status and body for a path below ``/jsonplaceholder`` (e.g. ``/posts/1``)."""
    parts = [part for part in path.split("/") if part]
    if not parts or parts[0] not in _JP_BUILDERS:
        return 404, NOT_FOUND_BODY
    resource = parts[0]
    if len(parts) == 1:
        if not query:
            return 200, _jp_collection_body(resource)
        return 200, _dumps(_jp_filter(jsonplaceholder_items(resource), query), pretty=True)
    if len(parts) == 2:
        return _jp_item(resource, parts[1])
    if len(parts) == 3:
        return _jp_children(resource, parts[1], parts[2])
    return 404, NOT_FOUND_BODY


# --------------------------------------------------------------------------- RandomUser


@dataclass(frozen=True)
class NatProfile:
    """What varies by nationality in a RandomUser person."""

    code: str
    country: str
    male: tuple[str, ...]
    female: tuple[str, ...]
    last: tuple[str, ...]
    states: tuple[str, ...]
    cities: tuple[str, ...]
    streets: tuple[str, ...]
    postcode: str
    postcode_int: bool
    phone: str
    cell: str
    id_name: str
    id_pattern: str
    id_null_rate: float


def _nat(
    code: str,
    country: str,
    names: tuple[str, str, str],
    places: tuple[str, str, str],
    *,
    postcode: str,
    phone: str,
    cell: str | None = None,
    postcode_int: bool = True,
    id_name: str = "",
    id_pattern: str = "",
    id_null_rate: float = 0.0,
) -> NatProfile:
    """One table row: names = (male, female, last), places = (states, cities, streets)."""
    male, female, last = (_split(x) for x in names)
    states, cities, streets = (_split(x) for x in places)
    return NatProfile(
        code=code,
        country=country,
        male=male,
        female=female,
        last=last,
        states=states,
        cities=cities,
        streets=streets,
        postcode=postcode,
        postcode_int=postcode_int,
        phone=phone,
        cell=cell or phone,
        id_name=id_name,
        id_pattern=id_pattern,
        id_null_rate=id_null_rate,
    )


# Names are "native:latin" where the script is not Latin, so e-mail addresses stay ASCII.
# An empty id_pattern or id_null_rate > 0 yields {"name": "", "value": null} like the real API.
# fmt: off
_NAT_TABLE: tuple[NatProfile, ...] = (
    _nat("au", "Australia",
         ("Lachlan, Mitchell, Jayden, Nathan, Cody, Riley",
          "Chloe, Savannah, Jasmine, Tahlia, Kiara, Holly",
          "Walsh, Nguyen, Harper, Dawson, Sutton, Fraser"),
         ("Victoria, Queensland, Tasmania, New South Wales",
          "Ballarat, Cairns, Hobart, Wagga Wagga",
          "Bay Street, Hillside Ave, Ocean View Rd, Wattle Lane"),
         postcode="####", phone="0#-####-####", cell="04##-###-###",
         id_name="TFN", id_pattern="#########"),
    _nat("br", "Brazil",
         ("Ícaro, João, Caio, Anderson, Otávio, Sebastião",
          "Luíza, Iara, Débora, Raíssa, Lívia, Mônica",
          "da Silva, Ribeiro, Araújo, Gonçalves, Moreira, Barros"),
         ("Paraná, Bahia, Goiás, Pará",
          "Maringá, Uberlândia, São Luís, Niterói",
          "Rua Três, Rua São José, Rua da Paz, Avenida Brasil"),
         postcode="#####", phone="(##) ####-####", cell="(##) #####-####",
         id_name="CPF", id_pattern="###.###.###-##"),
    _nat("ca", "Canada",
         ("Liam, Noah, Étienne, Félix, Logan, Mathis",
          "Chloé, Olivia, Maëlle, Abigail, Amélie, Jade",
          "Tremblay, Gagnon, Côté, Bouchard, MacDonald, Wong"),
         ("Québec, Manitoba, Yukon, Nova Scotia",
          "Laval, Brandon, Kelowna, Trois-Rivières",
          "Maple Ave, Rue Principale, King St, Dufferin St"),
         postcode="@#@ #@#", postcode_int=False, phone="###-###-####",
         id_name="SIN", id_pattern="### ### ###"),
    _nat("ch", "Switzerland",
         ("Noé, Luca, Dario, Jérôme, Urs, Beat",
          "Chiara, Sélina, Nadine, Léonie, Mélanie, Ursula",
          "Meier, Dubois, Schneider, Rochat, Fontana, Gerber"),
         ("Zürich, Vaud, Ticino, Graubünden",
          "Lausanne, Bülach, Locarno, Chur",
          "Rue du Lac, Bahnhofstrasse, Via Cantonale, Dorfstrasse"),
         postcode="####", phone="07# ### ## ##",
         id_name="AVS", id_pattern="756.####.####.##"),
    _nat("de", "Germany",
         ("Jürgen, Lukas, Sönke, Björn, Matthias, Jörg",
          "Jördis, Käthe, Lena, Annegret, Helene, Maren",
          "Müller, Schäfer, Köhler, Brandt, Weiß, Hoffmann"),
         ("Bayern, Sachsen, Hessen, Thüringen",
          "Düsseldorf, Lübeck, Gießen, Würzburg",
          "Schulstraße, Gartenweg, Lindenstraße, Am Bahnhof"),
         postcode="#####", phone="0###-#######", cell="017#-#######",
         id_name="SVNR", id_pattern="## ###### @ ###"),
    _nat("dk", "Denmark",
         ("Søren, Mads, Frederik, Asger, Jørgen, Mikkel",
          "Maja, Freja, Ida, Sofie, Astrid, Birgitte",
          "Jørgensen, Sørensen, Nielsen, Mølgaard, Kjær, Dahl"),
         ("Hovedstaden, Nordjylland, Syddanmark, Sjælland",
          "Aarhus, Odense, Aalborg, Køge",
          "Skovvej, Kirkevej, Bækkevej, Østergade"),
         postcode="####", phone="########",
         id_name="CPR", id_pattern="######-####"),
    _nat("es", "Spain",
         ("Álvaro, Andrés, Joaquín, Rubén, Jesús, Íñigo",
          "Begoña, Inés, María, Nuria, Sofía, Aránzazu",
          "Núñez, Ibáñez, Gómez, Muñoz, Peña, Castaño"),
         ("Galicia, Navarra, Aragón, Cantabria",
          "Cádiz, Logroño, Ávila, Málaga",
          "Calle de Alcalá, Avenida de Castilla, Calle Mayor, Paseo de Extremadura"),
         postcode="#####", phone="9##-###-###", cell="6##-###-###",
         id_name="DNI", id_pattern="########-@"),
    _nat("fi", "Finland",
         ("Väinö, Eetu, Onni, Jyrki, Aapo, Lauri",
          "Aino, Siiri, Elina, Päivi, Veera, Kyllikki",
          "Mäkinen, Hämäläinen, Korhonen, Järvinen, Nieminen, Lehtonen"),
         ("Pirkanmaa, Lappi, Kainuu, Uusimaa",
          "Tampere, Jyväskylä, Hämeenlinna, Oulu",
          "Hämeenkatu, Pispalan Valtatie, Aleksanterinkatu, Mannerheimintie"),
         postcode="#####", phone="0#-###-###", cell="04#-###-##-##",
         id_name="HETU", id_pattern="######-###@"),
    _nat("fr", "France",
         ("Théo, Clément, Noé, Mathéo, Loïc, Gaëtan",
          "Zoë, Léa, Chloé, Maëlys, Inès, Océane",
          "Lefèvre, Girard, Rousseau, Bérard, Mercier, Fabre"),
         ("Bretagne, Gironde, Vendée, Hérault",
          "Nantes, Limoges, Besançon, Orléans",
          "Rue de la Gare, Place du Château, Avenue Jean-Jaurès, Rue des Écoles"),
         postcode="#####", phone="0#-##-##-##-##",
         id_name="INSEE", id_pattern="#############"),
    _nat("gb", "United Kingdom",
         ("Oliver, Harry, Callum, Rhys, Owen, Alfie",
          "Zoë, Ellie, Isla, Freya, Niamh, Megan",
          "Whitfield, Barker, Pryce, Holloway, Ashworth, Kendall"),
         ("Cumbria, Devon, Lothian, Powys",
          "Leeds, Bangor, Truro, Perth",
          "Church Road, Station Road, Victoria Street, Mill Road"),
         postcode="@## #@@", postcode_int=False, phone="0#### ######", cell="07### ######",
         id_name="NINO", id_pattern="@@ ## ## ## @"),
    _nat("ie", "Ireland",
         ("Cian, Oisín, Darragh, Seán, Ciarán, Eoin",
          "Aoife, Saoirse, Síle, Niamh, Róisín, Orla",
          "O'Sullivan, Byrne, Kavanagh, Doyle, Whelan, Nolan"),
         ("Wexford, Galway, Kerry, Sligo",
          "Ennis, Tralee, Kilkenny, Athlone",
          "Main Street, Bridge Street, Castle Road, Strand Road"),
         postcode="#####", phone="0##-###-####", cell="08#-###-####",
         id_name="PPS", id_pattern="#######@", id_null_rate=0.5),
    _nat("in", "India",
         ("Aarav, Vihaan, Rohan, Kabir, Arjun, Ishaan",
          "Ananya, Diya, Saanvi, Kavya, Meera, Priya",
          "Sharma, Iyer, Reddy, Nair, Kulkarni, Bhat"),
         ("Kerala, Punjab, Odisha, Gujarat",
          "Pune, Mysuru, Nagpur, Kochi",
          "MG Road, Park Street, Station Road, Nehru Marg"),
         postcode="######", phone="#####-#####", cell="9#########",
         id_name="UIDAI", id_pattern="############"),
    _nat("ir", "Iran",
         ("آرمین:armin, امیرعلی:amirali, پارسا:parsa, کیان:kian, سپهر:sepehr, رضا:reza",
          "نیایش:niayesh, یاسمین:yasmin, مهسا:mahsa, ترانه:taraneh, نازنین:nazanin, پریا:parya",
          "رضایی:rezaei, کریمی:karimi, احمدی:ahmadi, موسوی:mousavi, سلطانی:soltani"),
         ("تهران, اصفهان, فارس, گیلان",
          "شیراز, تبریز, رشت, کرج",
          "میدان انقلاب, شهید رجایی, کارگر شمالی, ولیعصر"),
         postcode="#####", phone="0##-########", cell="09##-###-####"),
    _nat("mx", "Mexico",
         ("Jesús, Tadeo, Ángel, Rogelio, Efraín, Joaquín",
          "Ximena, Guadalupe, Itzel, Maricela, Dulce, Araceli",
          "Hernández, Ramírez, Cázares, Zúñiga, Olvera, Téllez"),
         ("Jalisco, Oaxaca, Sonora, Yucatán",
          "Mérida, Querétaro, Mazatlán, Tuxtla",
          "Avenida Juárez, Calle Hidalgo, Privada Morelos, Callejón Zaragoza"),
         postcode="#####", phone="(###) ### ####",
         id_name="NSS", id_pattern="## ## ## #### #"),
    _nat("nl", "Netherlands",
         ("Daan, Sem, Thijs, Bram, Joep, Ruud",
          "Zoë, Fenna, Noëlle, Sanne, Lotte, Anouk",
          "de Vries, van Dijk, Bakker, Visser, Smit, Jansen"),
         ("Utrecht, Gelderland, Friesland, Zeeland",
          "Zwolle, Haarlem, Delft, Almere",
          "Kerkstraat, Dorpsstraat, Molenweg, Stationsplein"),
         postcode="#### @@", postcode_int=False, phone="(0##) #######", cell="(06) ########",
         id_name="BSN", id_pattern="########", id_null_rate=0.5),
    # Digits but a string: Norwegian postcodes keep their leading zero.
    _nat("no", "Norway",
         ("Håkon, Ørjan, Sindre, Eirik, Magnus, Kåre",
          "Ingrid, Sølvi, Åse, Tuva, Ragnhild, Marte",
          "Haugen, Bråten, Løken, Solberg, Åsheim, Nygård"),
         ("Vestland, Nordland, Innlandet, Agder",
          "Bergen, Tromsø, Bodø, Ålesund",
          "Storgata, Kirkeveien, Skolegata, Fjellveien"),
         postcode="####", postcode_int=False, phone="########",
         id_name="FN", id_pattern="###########"),
    _nat("nz", "New Zealand",
         ("Nikau, Tama, Hunter, Blake, Connor, Ari",
          "Aroha, Mia, Ruby, Maia, Hana, Grace",
          "Ngata, Walker, Tipene, Campbell, Harris, Moana"),
         ("Otago, Canterbury, Waikato, Northland",
          "Napier, Nelson, Rotorua, Dunedin",
          "Riddell Road, Karangahape Road, Queen Street, Cuba Street"),
         postcode="####", phone="(###)-###-####"),
    _nat("rs", "Serbia",
         ("Miloš, Đorđe, Nemanja, Dušan, Vuk, Žarko",
          "Jelena, Milica, Dragana, Snežana, Ljiljana, Teodora",
          "Petrović, Jovanović, Đukić, Marković, Savić, Živković"),
         ("Šumadija, Zlatibor, Braničevo, Toplica",
          "Niš, Čačak, Kraljevo, Užice",
          "Knez Mihailova, Vojvode Stepe, Cara Dušana, Njegoševa"),
         postcode="#####", phone="0##-####-###",
         id_name="SID", id_pattern="#########"),
    _nat("tr", "Turkey",
         ("Çağan, Oğuz, İsmail, Barış, Şükrü, Yiğit",
          "Gülşen, Ayşe, Özlem, Şebnem, Nazlı, İpek",
          "Çelik, Öztürk, Yıldız, Kılıç, Aydın, Şahin"),
         ("İzmir, Muğla, Kütahya, Çanakkale",
          "Bursa, Eskişehir, Şanlıurfa, Kırşehir",
          "Atatürk Cd, Bağdat Cd, Kushimoto Sk, Istiklal Cd"),
         postcode="#####", phone="(###)-###-####"),
    _nat("ua", "Ukraine",
         ("Тарас:taras, Богдан:bohdan, Остап:ostap, Ярослав:yaroslav, Назар:nazar",
          "Оксана:oksana, Леся:lesia, Соломія:solomiia, Ганна:hanna, Ірина:iryna",
          "Шевченко:shevchenko, Коваленко:kovalenko, Ткачук:tkachuk, Мельник:melnyk"),
         ("Київська, Львівська, Полтавська, Волинська",
          "Львів, Полтава, Чернігів, Ужгород",
          "Шевченка, Січових Стрільців, Лесі Українки, Садова"),
         postcode="#####", phone="(0##) ###-##-##"),
    _nat("us", "United States",
         ("James, Michael, Tyler, Dwayne, Carl, Wyatt",
          "Jennifer, Brooke, Sherry, Alicia, Kaylee, Renée",
          "Carter, Reyes, Hughes, Graham, Fleming, Lambert"),
         ("Oregon, Texas, Ohio, Nevada",
          "Fresno, Toledo, Rochester, Provo",
          "Lakeview Dr, Mill Lane, Hickory Creek Dr, Parker Rd"),
         postcode="#####", phone="(###) ###-####",
         id_name="SSN", id_pattern="###-##-####"),
)
# fmt: on
NATS: dict[str, NatProfile] = {profile.code: profile for profile in _NAT_TABLE}

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
_ADJECTIVES = _split("silver, lazy, brave, tiny, purple, heavy, happy, crazy, golden, ticklish")
_ANIMALS = _split("panda, goose, tiger, swan, rabbit, frog, leopard, koala, peacock, wolf")
_PASSWORDS = _split(
    "sunflower, marmalade, trombone, letmein, qwerty, blizzard, pumpkin, falcon, snickers, "
    "midnight, zeppelin, hockey, dolphin, copper, butterfly, rocket, 123456, pass1234"
)
_DOB_WINDOW = (datetime(1946, 1, 1, tzinfo=UTC), datetime(2003, 12, 31, tzinfo=UTC))
_REGISTERED_WINDOW = (datetime(2002, 1, 1, tzinfo=UTC), datetime(2022, 12, 31, tzinfo=UTC))


def _split_name(entry: str) -> tuple[str, str]:
    """(display name, ASCII form) from a "native:latin" or plain Latin-script entry."""
    native, _, latin = entry.partition(":")
    return native, _fold(latin or native)


def _name(rng: random.Random, profile: NatProfile, gender: str) -> tuple[dict[str, str], str]:
    """The name object and the e-mail address derived from it."""
    first, first_ascii = _split_name(
        rng.choice(profile.male if gender == "male" else profile.female)
    )
    last, last_ascii = _split_name(rng.choice(profile.last))
    titles = ("Mr",) if gender == "male" else ("Ms", "Mrs", "Miss")
    name = {"title": rng.choice(titles), "first": first, "last": last}
    return name, f"{first_ascii}.{last_ascii}@example.com"


def _postcode(rng: random.Random, profile: NatProfile) -> int | str:
    value = _fill(rng, profile.postcode)
    return int(value) if profile.postcode_int else value


def _location(rng: random.Random, profile: NatProfile) -> dict[str, Any]:
    offset, description = rng.choice(_TIMEZONES)
    return {
        "street": {"number": rng.randint(1, 9999), "name": rng.choice(profile.streets)},
        "city": rng.choice(profile.cities),
        "state": rng.choice(profile.states),
        "country": profile.country,
        "postcode": _postcode(rng, profile),
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


def _identity(rng: random.Random, profile: NatProfile) -> dict[str, str | None]:
    # Draw unconditionally so the rng sequence does not depend on the outcome.
    is_null = rng.random() < profile.id_null_rate
    value = _fill(rng, profile.id_pattern)
    if is_null or not profile.id_pattern:
        return {"name": "", "value": None}
    return {"name": profile.id_name, "value": value}


def _picture(rng: random.Random, gender: str, base_url: str) -> dict[str, str]:
    folder = "men" if gender == "male" else "women"
    number = rng.randint(0, 99)
    root = f"{base_url}{RANDOMUSER_PREFIX}/portraits"
    return {
        "large": f"{root}/{folder}/{number}.jpg",
        "medium": f"{root}/med/{folder}/{number}.jpg",
        "thumbnail": f"{root}/thumb/{folder}/{number}.jpg",
    }


def random_person(
    rng: random.Random, nat: str, gender: str, base_url: str, today: date
) -> dict[str, Any]:
    """One RandomUser 1.4 person; every random draw comes from ``rng``."""
    profile = NATS[nat]
    name, email = _name(rng, profile, gender)
    return {
        "gender": gender,
        "name": name,
        "location": _location(rng, profile),
        "email": email,
        "login": _login(rng),
        "dob": _dated(rng, _DOB_WINDOW, today),
        "registered": _dated(rng, _REGISTERED_WINDOW, today),
        "phone": _fill(rng, profile.phone),
        "cell": _fill(rng, profile.cell),
        "id": _identity(rng, profile),
        "picture": _picture(rng, gender, base_url),
        "nat": nat.upper(),
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


def randomuser_response(
    query: dict[str, list[str]], base_url: str, today: date | None = None
) -> tuple[int, bytes]:
    """Status and body for ``/randomuser/api/`` with the given query parameters."""
    results = _int_param(query, "results", 1, RANDOMUSER_MAX_RESULTS)
    page = _int_param(query, "page", 1, 10**9)
    # Without a seed the real API invents one and reports it, so the set can be replayed.
    seed = _first(query, "seed") or secrets.token_hex(8)
    nats = [code for code in _csv_param(query, "nat") if code in NATS] or sorted(NATS)
    forced_gender = _first(query, "gender")
    inc, exc = _csv_param(query, "inc"), _csv_param(query, "exc")
    rng = random.Random(f"{seed}:{page}")
    today = today or datetime.now(UTC).date()
    people = []
    for _ in range(results):
        nat = rng.choice(nats)
        gender = rng.choice(("male", "female"))
        if forced_gender in ("male", "female"):
            gender = forced_gender
        person = random_person(rng, nat, gender, base_url, today)
        people.append(_select_fields(person, inc, exc))
    info = {"seed": seed, "results": results, "page": page, "version": RANDOMUSER_VERSION}
    return 200, _dumps({"results": people, "info": info})


_RANDOMUSER_API_PATHS = {
    "/api",
    "/api/",
    f"/api/{RANDOMUSER_VERSION}",
    f"/api/{RANDOMUSER_VERSION}/",
}


def route(path: str, query: dict[str, list[str]], base_url: str) -> tuple[int, bytes]:
    """Status and JSON body for a GET of ``path`` on the sandbox."""
    if path == JSONPLACEHOLDER_PREFIX or path.startswith(JSONPLACEHOLDER_PREFIX + "/"):
        return jsonplaceholder_response(path[len(JSONPLACEHOLDER_PREFIX) :], query)
    if (
        path.startswith(RANDOMUSER_PREFIX)
        and path[len(RANDOMUSER_PREFIX) :] in _RANDOMUSER_API_PATHS
    ):
        return randomuser_response(query, base_url)
    return 404, NOT_FOUND_BODY


# --------------------------------------------------------------------------- HTTP server


class _HTTPServer(ThreadingHTTPServer):
    """ThreadingHTTPServer that knows its SandboxServer and logs errors quietly."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], sandbox: SandboxServer) -> None:
        self.sandbox = sandbox
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients hanging up mid-response are routine here (timeouts, reset tests).
        logger.debug("sandbox request from %s failed", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    """Routes data requests, applies faults and serves the /_sandbox control endpoint."""

    server: _HTTPServer
    protocol_version = "HTTP/1.1"  # keep-alive, like the real APIs behind a CDN
    server_version = "TWLSandbox/1.0"
    timeout = 30  # idle keep-alive connections must not pin threads forever

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s - " + format, self.address_string(), *args)

    def do_GET(self) -> None:
        self._handle()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    # ---- plumbing

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", JSON_CONTENT_TYPE)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, _dumps(obj), headers)

    def _read_body(self) -> bytes:
        # Always drain the body: unread bytes would corrupt the next request on a keep-alive
        # connection.
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    # ---- dispatch

    def _handle(self) -> None:
        url = urlsplit(self.path)
        body = self._read_body()
        if url.path == CONTROL_PREFIX or url.path.startswith(CONTROL_PREFIX + "/"):
            self._control(url.path.rstrip("/"), body)
            return
        sandbox = self.server.sandbox
        sandbox._count(url.path)
        fault = sandbox.faults.take(url.path)
        if fault is not None and self._apply_fault(fault):
            return
        if self.command != "GET":
            self._send_json(405, {"error": "Method Not Allowed"}, {"Allow": "GET"})
            return
        status, payload = route(url.path, parse_qs(url.query), sandbox.url)
        if fault is not None and fault.kind == "malformed":
            # Half of a JSON document is never valid JSON (brackets stay open).
            status, payload = 200, payload[: max(1, len(payload) // 2)]
        self._send(status, payload)

    def _apply_fault(self, fault: Fault) -> bool:
        """Apply a fault; True when the response has been dealt with entirely."""
        if fault.kind == "latency":
            time.sleep(fault.delay)
            return False
        if fault.kind == "status":
            headers = {"Retry-After": fault.retry_after} if fault.retry_after else None
            self._send_json(fault.status, {"error": _status_phrase(fault.status)}, headers)
            return True
        if fault.kind == "error_body":
            self._send_json(200, {"error": fault.error})
            return True
        if fault.kind == "reset":
            self._reset_connection()
            return True
        return False  # malformed: handled after routing

    def _reset_connection(self) -> None:
        # SO_LINGER 0 makes close() send RST: the client sees a reset, not a clean empty reply.
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()

    # ---- control endpoint

    def _control(self, path: str, body: bytes) -> None:
        sandbox = self.server.sandbox
        actions: dict[tuple[str, str], Callable[[], None]] = {
            ("GET", "/_sandbox/faults"): lambda: self._send_json(
                200, {"faults": sandbox.faults.active(), "hits": sandbox.faults.hits}
            ),
            ("POST", "/_sandbox/faults"): lambda: self._add_fault(body),
            ("DELETE", "/_sandbox/faults"): lambda: self._send_json(
                200, {"cleared": sandbox.faults.clear()}
            ),
            ("GET", "/_sandbox/stats"): lambda: self._send_json(200, sandbox.stats()),
            ("DELETE", "/_sandbox/stats"): lambda: self._send_json(
                200, {"cleared": sandbox.reset_stats()}
            ),
        }
        action = actions.get((self.command, path))
        if action is not None:
            action()
        elif any(known == path for _, known in actions):
            self._send_json(405, {"error": "Method Not Allowed"})
        else:
            self._send(404, NOT_FOUND_BODY)

    def _add_fault(self, body: bytes) -> None:
        try:
            data = json.loads(body or b"{}")
            if not isinstance(data, dict):
                raise TypeError("the fault must be a JSON object")
            fault = Fault(**data)
        except (ValueError, TypeError) as exc:
            self._send_json(400, {"error": f"invalid fault: {exc}"})
            return
        self.server.sandbox.faults.add(fault)
        self._send_json(201, {"added": asdict(fault)})


class SandboxServer:
    """Loopback HTTP server hosting the JSONPlaceholder and RandomUser sandboxes."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, poll_interval: float = 0.05) -> None:
        self.host = host
        self._port = port
        # stop() waits up to one poll interval: short for tests, longer for an idle demo server.
        self._poll_interval = poll_interval
        self.faults = FaultRegistry()
        self._counts: Counter[str] = Counter()
        self._counts_lock = threading.Lock()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle

    def start(self) -> SandboxServer:
        """Bind and serve in a daemon thread; returns self. Starting twice is a no-op."""
        if self._httpd is not None:
            return self
        self._httpd = _HTTPServer((self.host, self._port), self)
        self._port = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": self._poll_interval},
            name=f"sandbox-{self._port}",
            daemon=True,
        )
        self._thread.start()
        logger.info("sandbox sources listening on %s", self.url)
        return self

    def stop(self) -> None:
        """Stop serving and release the port; safe to call more than once."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ---- addresses

    @property
    def port(self) -> int:
        """The bound port (the real one once started with port 0)."""
        if self._port == 0:
            raise RuntimeError("SandboxServer has no port yet: call start() first")
        return self._port

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:8765``."""
        return f"http://{self.host}:{self.port}"

    @property
    def jsonplaceholder_url(self) -> str:
        """Base URL to use in place of https://jsonplaceholder.typicode.com."""
        return self.url + JSONPLACEHOLDER_PREFIX

    @property
    def randomuser_url(self) -> str:
        """Base URL to use in place of https://randomuser.me (append /api/)."""
        return self.url + RANDOMUSER_PREFIX

    # ---- request statistics

    def _count(self, path: str) -> None:
        with self._counts_lock:
            self._counts[path] += 1

    def stats(self) -> dict[str, dict[str, int]]:
        """Data requests received per path (control requests are not counted)."""
        with self._counts_lock:
            return {"requests": dict(self._counts)}

    def reset_stats(self) -> int:
        """Forget request counts; returns the number of requests forgotten."""
        with self._counts_lock:
            total = sum(self._counts.values())
            self._counts.clear()
        return total


# --------------------------------------------------------------------------- CLI


def main(argv: Sequence[str] | None = None) -> int:
    """Serve the sandbox until Ctrl-C."""
    parser = argparse.ArgumentParser(
        prog="python -m pipeline.local.sandbox", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    server = SandboxServer(args.host, args.port, poll_interval=0.5)
    try:
        server.start()
    except OSError as exc:
        parser.exit(2, f"cannot listen on {args.host}:{args.port}: {exc}\n")
    print(f"JSONPlaceholder: {server.jsonplaceholder_url}")
    print(f"RandomUser:      {server.randomuser_url}/api/")
    print(f"Faults/stats:    {server.url}{CONTROL_PREFIX}/faults, {CONTROL_PREFIX}/stats")
    print("Ctrl-C to stop.")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
