"""Small payload builders for tests (the sandbox serves full-size ones)."""

from __future__ import annotations

import copy
import json
import uuid
from pathlib import Path
from typing import Any

SAMPLES = Path(__file__).parent / "samples"


def posts(n: int = 3, *, title: str = "post") -> list[dict[str, Any]]:
    return [
        {"userId": 1 + i % 10, "id": i + 1, "title": f"{title} {i + 1}", "body": "b"}
        for i in range(n)
    ]


def comments(n: int = 5) -> list[dict[str, Any]]:
    return [
        {"postId": 1 + i // 5, "id": i + 1, "name": f"c{i + 1}", "email": "a@b.c", "body": "x"}
        for i in range(n)
    ]


def users(n: int = 2) -> list[dict[str, Any]]:
    base = json.loads((SAMPLES / "jsonplaceholder_user.json").read_text())
    return [base | {"id": i + 1, "name": f"User {i + 1}"} for i in range(n)]


def person(**overrides: Any) -> dict[str, Any]:
    data = json.loads((SAMPLES / "randomuser_person.json").read_text())
    data = copy.deepcopy(data)
    data["login"]["uuid"] = str(uuid.uuid4())
    data.update(overrides)
    return data


def people(n: int = 3) -> dict[str, Any]:
    return {
        "results": [person() for _ in range(n)],
        "info": {"seed": "abc", "results": n, "page": 1, "version": "1.4"},
    }
