"""The JSONPlaceholder fake: posts, comments, users, todos, albums and photos, as json-server does.

Every collection is built once from its own seed, so each body is identical on every call
(100 posts, 500 comments, 10 users, 200 todos, 100 albums, 5,000 photos). Supports
``/<resource>``, ``/<resource>/<id>``, ``/<parent>/<id>/<children>`` and equality filters
(``?userId=1``); anything else is a 404 with ``{}``.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

from pipeline.local.sandbox._common import NOT_FOUND_BODY, dumps, fill, split

SOURCE = "jsonplaceholder"
PREFIX = "/jsonplaceholder"

# Invented pseudo-Latin filler; deliberately not the real lorem ipsum or JSONPlaceholder text.
_LOREM = split(
    "vala, quorim, sentes, dolvira, maren, tuvis, orbanto, ficus, lenta, permis, "
    "caltro, dunem, siva, ostrum, velocar, impe, narda, quissa, tolmen, ruvia, "
    "egrata, hobis, lunare, mirva, pectus, sorbe, tandum, ulvis, varro, zetta, "
    "amblis, bruta, cenova, dorsit, elvam, fornix, galdra, hestur, ivora, jundo, "
    "kelsam, lorvis, mundi, nesto, oppra, plevis, quanta, rosmar, stilla, trevo"
)
_JP_FIRST = split("Ada, Bruno, Celia, Dario, Edda, Fabian, Greta, Hugo, Ilse, Jonas")
_JP_LAST = split("Marwick, Oldcastle, Penrose, Quill, Rainer, Stroud, Tolland, Upton, Vance, Wren")
_JP_CITIES = split("Brightwater, Elmsford, Kestrel Bay, Northmoor, Quarry Hill, Redfern")
_JP_STREETS = split("Alder Lane, Birch Row, Cobble Way, Dune Road, Ember Court, Flint Street")
_JP_TLDS = split("net, org, info, biz, io, com")
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
        "zipcode": fill(rng, "#####-####"),
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
        "phone": fill(rng, "1-###-###-#### x####"),
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
    return dumps(list(jsonplaceholder_items(resource)), pretty=True)


def _jp_filter(
    items: Sequence[dict[str, Any]], query: dict[str, list[str]]
) -> list[dict[str, Any]]:
    """json-server style equality filter: ?userId=1&userId=2 keeps either; unknown keys ignored."""
    known = {key: values for key, values in query.items() if items and key in items[0]}
    return [item for item in items if all(str(item[k]) in v for k, v in known.items())]


def _jp_item(resource: str, raw_id: str) -> tuple[int, bytes]:
    for item in jsonplaceholder_items(resource):
        if str(item["id"]) == raw_id:
            return 200, dumps(item, pretty=True)
    return 404, NOT_FOUND_BODY


def _jp_children(parent: str, raw_id: str, child: str) -> tuple[int, bytes]:
    key = _JP_PARENT_KEY.get(parent)
    items = jsonplaceholder_items(child) if child in _JP_BUILDERS else ()
    if key is None or not items or key not in items[0]:
        return 404, NOT_FOUND_BODY
    return 200, dumps(_jp_filter(items, {key: [raw_id]}), pretty=True)


def respond(path: str, query: dict[str, list[str]], base_url: str) -> tuple[int, bytes]:
    """Status and body for a path below ``/jsonplaceholder`` (e.g. ``/posts/1``).

    ``base_url`` is unused: JSONPlaceholder's bodies never point back at the server.
    """
    parts = [part for part in path.split("/") if part]
    if not parts or parts[0] not in _JP_BUILDERS:
        return 404, NOT_FOUND_BODY
    resource = parts[0]
    if len(parts) == 1:
        if not query:
            return 200, _jp_collection_body(resource)
        return 200, dumps(_jp_filter(jsonplaceholder_items(resource), query), pretty=True)
    if len(parts) == 2:
        return _jp_item(resource, parts[1])
    if len(parts) == 3:
        return _jp_children(resource, parts[1], parts[2])
    return 404, NOT_FOUND_BODY
