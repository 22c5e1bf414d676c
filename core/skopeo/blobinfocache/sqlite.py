"""The blob-info cache in containers/image's SQLite file
(``blob-info-cache-v1.sqlite``, ``pkg/blobinfocache/sqlite``), shared with
podman, buildah and skopeo: the same tables, the same queries, times stored
as go-sqlite3 stores a ``time.Time``, and the same connection settings
(rollback journal, ``synchronous=FULL``, foreign keys on, every transaction
``BEGIN EXCLUSIVE``, 5 s busy timeout), so SQLite's file locks keep every
reader and writer consistent.

Where this differs from upstream, deliberately:

* Records are written once per batch (when the last :meth:`close` of a copy
  comes, or at a later close once they are ten seconds old, as in a long
  ``sync``), in one transaction, instead of one transaction each: each commit
  costs a few fsyncs (~12 ms on the development machine), which would
  otherwise dominate short copies.  Until then lookups see them in memory.
  A record that would change nothing (the same pair or compressor, a
  location seen less than five minutes ago) is not written at all, so a
  repeated copy does not write the file.
* A file that cannot be used (not a database, locked by another process for
  more than the busy timeout, or in a directory we cannot write) gives one
  warning and an in-memory cache for the rest of the run.  Upstream logs at
  debug level when the file cannot be set up, then ignores failing records.

Nothing here is imported before a cache is first used: :mod:`sqlite3` loads
when the file is first opened."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from .. import log
from ..golang import gojson
from ..golang.gotime import parse_sqlite_time, sqlite_time_text
from ..golang.oserror import path_error_text
from . import UNKNOWN_COMPRESSION
from .cache import BlobInfoCache
from .memory import MemoryFacts
from .prioritize import CompressorData

if TYPE_CHECKING:
    import sqlite3

    from .prioritize import Facts

T = TypeVar("T")

# go-sqlite3's default busy timeout, which upstream keeps.
BUSY_TIMEOUT = 5.0
# Pending records are written at a close once they are this old.
FLUSH_INTERVAL_NS = 10 * 1_000_000_000
# A location seen again within this time is not written again.
LOCATION_REFRESH_NS = 300 * 1_000_000_000

# The tables and index of upstream's schema, in its order; the last one
# existing means the schema is complete.
SCHEMA = (
    ("DigestUncompressedPairs",
     "CREATE TABLE IF NOT EXISTS DigestUncompressedPairs("
     "anyDigest TEXT PRIMARY KEY NOT NULL, uncompressedDigest TEXT NOT NULL)"),
    ("DigestUncompressedPairs_index_uncompressedDigest",
     "CREATE INDEX IF NOT EXISTS DigestUncompressedPairs_index_uncompressedDigest "
     "ON DigestUncompressedPairs(uncompressedDigest)"),
    ("DigestCompressors",
     "CREATE TABLE IF NOT EXISTS DigestCompressors(digest TEXT PRIMARY KEY NOT NULL, compressor TEXT NOT NULL)"),
    ("KnownLocations",
     "CREATE TABLE IF NOT EXISTS KnownLocations(transport TEXT NOT NULL, scope TEXT NOT NULL, "
     "digest TEXT NOT NULL, location TEXT NOT NULL, time TIMESTAMP NOT NULL, "
     "PRIMARY KEY (transport, scope, digest, location))"),
    ("DigestTOCUncompressedPairs",
     "CREATE TABLE IF NOT EXISTS DigestTOCUncompressedPairs("
     "tocDigest TEXT PRIMARY KEY NOT NULL, uncompressedDigest TEXT NOT NULL)"),
    ("DigestSpecificVariantCompressors",
     "CREATE TABLE IF NOT EXISTS DigestSpecificVariantCompressors(digest TEXT PRIMARY KEY NOT NULL, "
     "specificVariantCompressor TEXT NOT NULL, specificVariantAnnotations BLOB NOT NULL)"),
)


def _db_errors() -> tuple[type[Exception], ...]:
    """What a failing database raises (evaluated only once something failed)."""
    import sqlite3

    return (sqlite3.Error, OSError)


def connect(path: str) -> sqlite3.Connection:
    """A connection with upstream's settings; transactions are begun explicitly."""
    import sqlite3

    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT, isolation_level=None, check_same_thread=False)
    try:
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA foreign_keys = ON")
    except BaseException:
        conn.close()
        raise
    return conn


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    conn.execute("BEGIN EXCLUSIVE")
    try:
        yield conn
    except BaseException:
        try:
            conn.execute("ROLLBACK")
        except _db_errors():
            pass
        raise
    conn.execute("COMMIT")


def ensure_schema(conn: sqlite3.Connection) -> None:
    with transaction(conn):
        last = SCHEMA[-1][0]
        # sqlite_master: upstream's sqlite_schema is its newer name (SQLite 3.33),
        # and the SQLite Python links may be older than the one go-sqlite3 embeds.
        if conn.execute("SELECT 1 FROM sqlite_master WHERE name=?", (last,)).fetchone() is None:
            for _, command in SCHEMA:
                conn.execute(command)


class DbFacts:
    """The file's records, read with upstream's queries inside a transaction."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def _one(self, query: str, *params: str) -> Any:
        row = self.conn.execute(query, params).fetchone()
        return None if row is None else row[0]

    def uncompressed(self, digest: str) -> str | None:
        found = self._one("SELECT uncompressedDigest FROM DigestUncompressedPairs WHERE anyDigest = ?", digest)
        return str(found) if found else None

    def is_uncompressed(self, digest: str) -> bool:
        return self._one("SELECT 1 FROM DigestUncompressedPairs WHERE uncompressedDigest = ?", digest) is not None

    def variants(self, uncompressed: str) -> list[str]:
        rows = self.conn.execute("SELECT anyDigest FROM DigestUncompressedPairs WHERE uncompressedDigest = ?",
                                 (uncompressed,))
        return [str(r[0]) for r in rows]

    def compressor(self, digest: str) -> CompressorData:
        row = self.conn.execute(
            "SELECT compressor, specificVariantCompressor, specificVariantAnnotations "
            "FROM DigestCompressors LEFT JOIN DigestSpecificVariantCompressors USING (digest) WHERE digest = ?",
            (digest,)).fetchone()
        if row is None:
            return CompressorData()
        base, specific, annotations = row
        if specific is None or annotations is None:
            return CompressorData(str(base))
        try:
            decoded = json.loads(annotations)  # a BLOB as upstream writes it, or TEXT
        except (ValueError, TypeError):
            return CompressorData(str(base))
        if decoded is not None and not (isinstance(decoded, dict) and all(isinstance(v, str) for v in decoded.values())):
            return CompressorData(str(base))  # not a map[string]string: upstream's lookup would fail
        return CompressorData(str(base), str(specific), decoded)

    def locations(self, transport: str, scope: str, digest: str) -> list[tuple[str, int]]:
        rows = self.conn.execute(
            "SELECT location, time FROM KnownLocations WHERE transport = ? AND scope = ? AND KnownLocations.digest = ?",
            (transport, scope, digest))
        return [(str(location), parse_sqlite_time(seen)) for location, seen in rows]


class UnionFacts:
    """What this process recorded (in memory) over what the file holds."""

    def __init__(self, memory: MemoryFacts, db: DbFacts) -> None:
        self.memory = memory
        self.db = db

    def uncompressed(self, digest: str) -> str | None:
        return self.memory.uncompressed(digest) or self.db.uncompressed(digest)

    def is_uncompressed(self, digest: str) -> bool:
        return self.memory.is_uncompressed(digest) or self.db.is_uncompressed(digest)

    def variants(self, uncompressed: str) -> list[str]:
        return list(dict.fromkeys(self.memory.variants(uncompressed) + self.db.variants(uncompressed)))

    def compressor(self, digest: str) -> CompressorData:
        mine = self.memory.compressor(digest)
        return mine if mine.base != UNKNOWN_COMPRESSION else self.db.compressor(digest)

    def locations(self, transport: str, scope: str, digest: str) -> list[tuple[str, int]]:
        merged = dict(self.db.locations(transport, scope, digest))
        for location, seen in self.memory.locations(transport, scope, digest):
            merged[location] = max(seen, merged.get(location, 0))
        return list(merged.items())


def write_records(conn: sqlite3.Connection, records: list[tuple[Any, ...]]) -> None:
    """Apply *records* (see :meth:`BlobInfoCache._recorded`) in one transaction,
    with upstream's statements and warnings, skipping those that change nothing."""
    with transaction(conn):
        for record in records:
            kind = record[0]
            if kind == "pair":
                _write_pair(conn, record[1], record[2])
            elif kind == "compressor":
                _write_compressor(conn, record[1], record[2])
            elif kind == "location":
                _write_location(conn, *record[1:])


def _write_pair(conn: sqlite3.Connection, any_digest: str, uncompressed: str) -> None:
    row = conn.execute("SELECT uncompressedDigest FROM DigestUncompressedPairs WHERE anyDigest = ?",
                       (any_digest,)).fetchone()
    if row is not None:
        if row[0] == uncompressed:
            return
        log.warning(f"Uncompressed digest for blob {any_digest} previously recorded as {row[0]}, now {uncompressed}")
    conn.execute("INSERT OR REPLACE INTO DigestUncompressedPairs(anyDigest, uncompressedDigest) VALUES (?, ?)",
                 (any_digest, uncompressed))


def _write_compressor(conn: sqlite3.Connection, digest: str, data: CompressorData) -> None:
    row = conn.execute("SELECT compressor FROM DigestCompressors WHERE digest = ?", (digest,)).fetchone()
    previous = None if row is None else row[0]
    warned = False
    if previous is not None and previous != data.base:
        log.warning(f"Compressor for blob with digest {digest} previously recorded as {previous}, now {data.base}")
        warned = True
    if data.base == UNKNOWN_COMPRESSION:
        conn.execute("DELETE FROM DigestCompressors WHERE digest = ?", (digest,))
        conn.execute("DELETE FROM DigestSpecificVariantCompressors WHERE digest = ?", (digest,))
    elif previous != data.base:
        conn.execute("INSERT OR REPLACE INTO DigestCompressors(digest, compressor) VALUES (?, ?)", (digest, data.base))
    if data.specific == UNKNOWN_COMPRESSION:
        return
    annotations = gojson.marshal(data.annotations)
    row = conn.execute(
        "SELECT specificVariantCompressor, specificVariantAnnotations FROM DigestSpecificVariantCompressors "
        "WHERE digest = ?", (digest,)).fetchone()
    if row is not None:
        if row[0] == data.specific and bytes(row[1]) == annotations:
            return
        if not warned and row[0] != data.specific:
            log.warning(f"Specific compressor for blob with digest {digest} previously recorded as {row[0]}, "
                        f"now {data.specific}")
    conn.execute("INSERT OR REPLACE INTO DigestSpecificVariantCompressors(digest, specificVariantCompressor, "
                 "specificVariantAnnotations) VALUES (?, ?, ?)", (digest, data.specific, annotations))


def _write_location(conn: sqlite3.Connection, transport: str, scope: str, digest: str, location: str, seen: int) -> None:
    row = conn.execute("SELECT time FROM KnownLocations WHERE transport = ? AND scope = ? AND digest = ? AND location = ?",
                       (transport, scope, digest, location)).fetchone()
    if row is not None and seen - parse_sqlite_time(row[0]) < LOCATION_REFRESH_NS:
        return
    conn.execute("INSERT OR REPLACE INTO KnownLocations(transport, scope, digest, location, time) VALUES (?, ?, ?, ?, ?)",
                 (transport, scope, digest, location, sqlite_time_text(seen)))


class SqliteCache(BlobInfoCache):
    """The cache in *path*, with this process's records in memory over it."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self._memory.warn = False  # conflicts are reported against the file, when written
        self.path = path
        self._conn: sqlite3.Connection | None = None
        self._pending: list[tuple[Any, ...]] = []
        self._pending_since = 0
        self._writer: threading.Thread | None = None
        # Set once the file failed: memory only from then on.
        self.failed = False

    def write_ahead(self) -> None:
        with self._lock:
            # Within a longer batch (sync), records wait for its end.
            if not self._pending or self._uses != 1 or self.failed or self._writer is not None:
                return
            # The writer holds the lock while it writes: lookups wait for it.
            self._writer = threading.Thread(target=self.flush, name="blob-info-cache-write", daemon=True)
            self._writer.start()

    def close(self) -> None:
        with self._lock:
            writer, self._writer = self._writer, None
        if writer is not None:
            writer.join()
        with self._lock:
            if self._uses == 0:
                return
            if self._uses == 1:
                self._flush()
                if self._conn is not None:
                    self._conn.close()
                    self._conn = None
            elif self._pending and time.time_ns() - self._pending_since >= FLUSH_INTERVAL_NS:
                self._flush()
            self._uses -= 1

    def flush(self) -> None:
        """Write the pending records now."""
        with self._lock:
            self._flush()

    def _query(self, fn: Callable[[Facts], T]) -> T:
        conn = self._connection()
        if conn is not None:
            try:
                with transaction(conn):
                    return fn(UnionFacts(self._memory, DbFacts(conn)))
            except _db_errors() as e:
                self._fail(e)
        return fn(self._memory)

    def _recorded(self, record: tuple[Any, ...]) -> None:
        if not self._pending:
            self._pending_since = time.time_ns()
        if not self.failed:
            self._pending.append(record)

    # --- the file ----------------------------------------------------------------------------
    def _connection(self) -> sqlite3.Connection | None:
        """The open connection, opened (directory and schema created) on first
        use within an open()/close() batch; None outside one or after a failure."""
        if self.failed or self._uses == 0:
            return None
        if self._conn is None:
            directory = os.path.dirname(self.path)
            try:
                os.makedirs(directory, 0o700, exist_ok=True)
            except OSError as e:
                self._fail(path_error_text("mkdir", directory, e))
                return None
            try:
                conn = connect(self.path)
                try:
                    ensure_schema(conn)
                except BaseException:
                    conn.close()
                    raise
            except _db_errors() as e:
                self._fail(e)
                return None
            log.debug(f"Using SQLite blob info cache at {self.path}")
            self._conn = conn
        return self._conn

    def _flush(self) -> None:
        if not self._pending:
            return
        conn = self._connection()
        if conn is None:
            return
        try:
            write_records(conn, self._pending)
        except _db_errors() as e:
            self._fail(e)
            return
        self._pending = []

    def _fail(self, error: object) -> None:
        if not self.failed:
            log.warning(f"Error using a SQLite blob info cache at {self.path}, using a memory-only cache: {error}")
        self.failed = True
        self._pending = []
        if self._conn is not None:
            try:
                self._conn.close()
            except _db_errors():
                pass
            self._conn = None

