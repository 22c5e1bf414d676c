"""A credential backend kept in one JSON file (``$KITDEMO_CREDENTIALS``):
``{"serves": [patterns], "logins": {key: {"username": …, "password": …}}}``.
It serves only the registries its file names, so every other registry keeps
using the auth files."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from skopeo.auth import AuthProvider, Credentials
from skopeo.context import SystemContext


def credentials_file() -> Path | None:
    path = os.environ.get("KITDEMO_CREDENTIALS")
    return Path(path) if path else None


def load() -> dict[str, Any]:
    path = credentials_file()
    if path is None or not path.exists():
        return {"serves": [], "logins": {}}
    data: dict[str, Any] = json.loads(path.read_text())
    data.setdefault("serves", [])
    data.setdefault("logins", {})
    return data


def save(data: dict[str, Any]) -> None:
    path = credentials_file()
    assert path is not None
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True))
    tmp.replace(path)


class FileProvider(AuthProvider):
    name = "kitdemo credentials file"
    can_store = True

    def registries(self, ctx: SystemContext) -> Sequence[str] | None:
        return list(load()["serves"])

    def get(self, registry: str, repository: str | None, ctx: SystemContext) -> Credentials | None:
        logins = load()["logins"]
        for key in (repository, registry):
            if key and key in logins:
                entry = logins[key]
                return Credentials(entry["username"], entry["password"], source=str(credentials_file()))
        return None

    def store(self, key: str, credentials: Credentials, ctx: SystemContext) -> str:
        data = load()
        data["logins"][key] = {"username": credentials.username, "password": credentials.password}
        save(data)
        return str(credentials_file())

    def erase(self, key: str, ctx: SystemContext) -> bool:
        data = load()
        found = data["logins"].pop(key, None) is not None
        if found:
            save(data)
        return found

    def erase_all(self, ctx: SystemContext) -> None:
        data = load()
        data["logins"] = {}
        save(data)
