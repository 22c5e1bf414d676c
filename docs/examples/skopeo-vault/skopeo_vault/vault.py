"""The vault: one SQLite file holding the registry patterns it serves and a
user name and secret per credentials key (``host[:port]`` or
``host[:port]/ns/repo``, as ``skopeo login`` names them).

Its path is ``$SKOPEO_VAULT``, else ``$XDG_DATA_HOME/skopeo-vault/vault.db``
(``~/.local/share/…``).  Reading never creates it: without a file the vault
serves no registry.  The file is created with mode 0600 in a 0700 directory.
(A real backend would encrypt the secrets or keep them in a keyring; this one
shows the plugin contract, not cryptography.)"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from skopeo.errors import SkopeoError

if TYPE_CHECKING:
    import sqlite3

ENV_VAULT = "SKOPEO_VAULT"
SCHEMA = """
CREATE TABLE IF NOT EXISTS served (pattern TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS secrets (key TEXT PRIMARY KEY, username TEXT NOT NULL, secret TEXT NOT NULL);
"""


class Entry(NamedTuple):
    key: str
    username: str
    secret: str


def default_path() -> Path:
    if os.environ.get(ENV_VAULT):
        return Path(os.environ[ENV_VAULT])
    data = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(data) / "skopeo-vault" / "vault.db"


def candidate_keys(registry: str, repository: str | None) -> list[str]:
    """The keys that may hold credentials for *repository*, most specific
    first (``host/ns/repo``, ``host/ns``, ``host``), as auth.json is searched."""
    keys = []
    if repository:
        parts = repository.split("/")
        keys = ["/".join(parts[:n]) for n in range(len(parts), 1, -1)]
    return [*keys, registry]


class Vault:
    def __init__(self, path: Path | None = None) -> None:
        self.path = path or default_path()

    def exists(self) -> bool:
        return self.path.exists()

    def _connect(self, create: bool) -> sqlite3.Connection:
        import sqlite3

        if create and not self.path.exists():
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
        try:
            db = sqlite3.connect(self.path, timeout=10)
            db.executescript(SCHEMA)
        except sqlite3.Error as e:
            raise SkopeoError(f"vault {self.path}: {e}") from None
        return db

    def _read(self, query: str, args: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
        if not self.exists():
            return []
        db = self._connect(create=False)
        try:
            return list(db.execute(query, args))
        finally:
            db.close()

    def _write(self, statements: list[tuple[str, tuple[str, ...]]]) -> int:
        """Run *statements* in one transaction; the number of rows they changed."""
        db = self._connect(create=True)
        try:
            with db:
                return sum(db.execute(sql, args).rowcount for sql, args in statements)
        finally:
            db.close()

    # --- what it serves -------------------------------------------------------------------
    def patterns(self) -> list[str]:
        return [row[0] for row in self._read("SELECT pattern FROM served ORDER BY pattern")]

    def serve(self, patterns: list[str]) -> None:
        self._write([("INSERT OR IGNORE INTO served VALUES (?)", (p,)) for p in patterns])

    def stop_serving(self, patterns: list[str]) -> int:
        return self._write([("DELETE FROM served WHERE pattern = ?", (p,)) for p in patterns])

    # --- credentials ----------------------------------------------------------------------
    def entries(self) -> list[Entry]:
        return [Entry(*row) for row in self._read("SELECT key, username, secret FROM secrets ORDER BY key")]

    def find(self, registry: str, repository: str | None) -> Entry | None:
        stored = {entry.key: entry for entry in self.entries()}
        for key in candidate_keys(registry, repository):
            if key in stored:
                return stored[key]
        return None

    def put(self, key: str, username: str, secret: str) -> None:
        self._write([("INSERT OR REPLACE INTO secrets VALUES (?, ?, ?)", (key, username, secret))])

    def delete(self, key: str) -> bool:
        return self.exists() and self._write([("DELETE FROM secrets WHERE key = ?", (key,))]) > 0

    def clear(self) -> None:
        if self.exists():
            self._write([("DELETE FROM secrets", ())])
