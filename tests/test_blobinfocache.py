"""The blob-info cache without a registry: upstream's candidate order and
compression rules (tables), the location rule, the memory cache, and the
SQLite file: the same schema as containers/image's, what we write read back
with upstream's own queries, what upstream's statements write read by us,
and a file that cannot be used."""

from __future__ import annotations

import io
import os
import re
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from skopeo import blobinfocache as bic
from skopeo import layertypes, plugins
from skopeo import manifest as mf
from skopeo.blobinfocache import sqlite as bic_sqlite
from skopeo.blobinfocache.prioritize import (
    Candidate,
    CandidateOptions,
    CompressorData,
    compression_matches,
    prioritized,
    template,
)
from skopeo.context import SystemContext
from skopeo.copy.decisions import LayerOperation
from skopeo.copy.reuse import record_transfer, reused_layer
from skopeo.digest import of_bytes
from skopeo.golang.gotime import parse_sqlite_time, sqlite_time_text
from skopeo.testing.require import skip_or_fail
from skopeo.transport import BlobInfo, ReusedBlob, ReuseOptions

UPSTREAM_MIRROR = os.environ.get("SKOPEO_UPSTREAM_MIRROR", "/work/.mirror/containers+skopeo/repo")
UPSTREAM_SQLITE_GO = "vendor/go.podman.io/image/v5/pkg/blobinfocache/sqlite/sqlite.go"


def d(c: str) -> str:
    return "sha256:" + c * 64


P, U, G, Z, X = d("1"), d("0"), d("2"), d("3"), d("4")  # primary, uncompressed, other variants
OCI = (mf.OCI_MANIFEST,)
DOCKER = (mf.DOCKER_V2S2,)

# The statements of upstream's pkg/blobinfocache/sqlite (checked against the
# upstream source below when the mirror is there).
UPSTREAM_READS = {
    "uncompressed": "SELECT uncompressedDigest FROM DigestUncompressedPairs WHERE anyDigest = ?",
    "is_uncompressed": "SELECT 1 FROM DigestUncompressedPairs WHERE uncompressedDigest = ?",
    "variants": "SELECT anyDigest FROM DigestUncompressedPairs WHERE uncompressedDigest = ?",
    "compressor": "SELECT compressor, specificVariantCompressor, specificVariantAnnotations "
                  "FROM DigestCompressors LEFT JOIN DigestSpecificVariantCompressors USING (digest) WHERE digest = ?",
    "locations": "SELECT location, time FROM KnownLocations "
                 "WHERE transport = ? AND scope = ? AND KnownLocations.digest = ?",
    "schema_done": "SELECT 1 FROM sqlite_schema WHERE name=?",
}
UPSTREAM_WRITES = {
    "pair": "INSERT OR REPLACE INTO DigestUncompressedPairs(anyDigest, uncompressedDigest) VALUES (?, ?)",
    "location": "INSERT OR REPLACE INTO KnownLocations(transport, scope, digest, location, time) VALUES (?, ?, ?, ?, ?)",
    "compressor": "INSERT OR REPLACE INTO DigestCompressors(digest, compressor) VALUES (?, ?)",
    "specific": "INSERT OR REPLACE INTO DigestSpecificVariantCompressors(digest, specificVariantCompressor, "
                "specificVariantAnnotations) VALUES (?, ?, ?)",
}
# The schema upstream creates: (table, [(column, type, notnull, pk position)]) and its index.
UPSTREAM_TABLES = {
    "DigestUncompressedPairs": [("anyDigest", "TEXT", 1, 1), ("uncompressedDigest", "TEXT", 1, 0)],
    "DigestCompressors": [("digest", "TEXT", 1, 1), ("compressor", "TEXT", 1, 0)],
    "KnownLocations": [("transport", "TEXT", 1, 1), ("scope", "TEXT", 1, 2), ("digest", "TEXT", 1, 3),
                       ("location", "TEXT", 1, 4), ("time", "TIMESTAMP", 1, 0)],
    "DigestTOCUncompressedPairs": [("tocDigest", "TEXT", 1, 1), ("uncompressedDigest", "TEXT", 1, 0)],
    "DigestSpecificVariantCompressors": [("digest", "TEXT", 1, 1), ("specificVariantCompressor", "TEXT", 1, 0),
                                         ("specificVariantAnnotations", "BLOB", 1, 0)],
}
UPSTREAM_INDEXES = {"DigestUncompressedPairs_index_uncompressedDigest": ("DigestUncompressedPairs", ["uncompressedDigest"])}
# go-sqlite3's text for a time.Time: "2006-01-02 15:04:05.999999999-07:00".
GO_TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d{1,9})?[+-]\d{2}:\d{2}$")


# --- pure rules ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("required", "formats", "compression", "expected"),
    [
        (None, None, None, True),
        (None, None, "zstd", True),
        ("zstd", None, None, False),  # a required compression is never "uncompressed or unknown"
        ("zstd", None, "zstd", True),
        ("zstd", None, "zstd:chunked", True),  # a variant of the required base
        ("zstd:chunked", None, "zstd", False),
        ("gzip", None, "zstd", False),
        (None, DOCKER, "zstd", False),  # Docker manifests cannot describe zstd
        (None, DOCKER, "gzip", True),
        (None, DOCKER, None, True),
        (None, DOCKER + OCI, "zstd:chunked", True),
        (None, DOCKER, "bzip2", False),
        (None, (), "gzip", False),
    ],
)
def test_compression_matches(required: str | None, formats: tuple[str, ...] | None, compression: str | None,
                             expected: bool) -> None:
    assert compression_matches(required, formats, compression) is expected


ANY = CandidateOptions()


@pytest.mark.parametrize(
    ("options", "data", "expected"),
    [
        # Lookups without options take anything, compression unknown.
        (None, CompressorData(), (bic.UNKNOWN_COMPRESSION, None)),
        # With options, the compression must be known.
        (ANY, CompressorData(), None),
        (ANY, CompressorData("uncompressed"), ("uncompressed", None)),
        (ANY, CompressorData("gzip"), ("gzip", None)),
        (ANY, CompressorData("lz4"), None),  # not an algorithm this program knows
        (CandidateOptions(required_compression="zstd"), CompressorData("uncompressed"), None),
        (CandidateOptions(possible_manifest_formats=DOCKER), CompressorData("zstd"), None),
        # The specific variant first, when acceptable, with its annotations.
        (ANY, CompressorData("zstd", "zstd:chunked", {"a": "b"}), ("zstd:chunked", {"a": "b"})),
        (CandidateOptions(required_compression="zstd"), CompressorData("zstd", "zstd:chunked", {"a": "b"}),
         ("zstd:chunked", {"a": "b"})),
        (CandidateOptions(possible_manifest_formats=DOCKER), CompressorData("gzip", "gzip:unknownvariant", {}),
         ("gzip", None)),
    ],
)
def test_candidate_template(options: CandidateOptions | None, data: CompressorData,
                            expected: tuple[str, dict[str, str] | None] | None) -> None:
    got = template(options, P, data)
    assert (None if got is None else (got.compression, got.annotations)) == expected


def c(digest: str, location: str | None) -> Candidate:
    return Candidate(digest, "gzip", None, location)


@pytest.mark.parametrize(
    ("found", "uncompressed", "expected"),
    [
        # The primary digest first (newest first), the uncompressed digest last, others by time.
        ([(c(G, "r/a"), 5), (c(P, "r/b"), 1), (c(U, "r/c"), 9), (c(P, "r/d"), 3)], U,
         [c(P, "r/d"), c(P, "r/b"), c(G, "r/a"), c(U, "r/c")]),
        # Others: newer first, then by digest.
        ([(c(X, "r/a"), 5), (c(G, "r/b"), 5), (c(Z, "r/c"), 7)], None, [c(Z, "r/c"), c(G, "r/b"), c(X, "r/a")]),
        # Unknown locations after every known one, at most two of them, five in all.
        ([(c(P, None), 0), (c(G, None), 0), (c(Z, None), 0), (c(X, "r/a"), 1)], U,
         [c(X, "r/a"), c(P, None), c(G, None)]),
        ([(c(P, f"r/{i}"), i) for i in range(7)] + [(c(G, None), 0)], U, [c(P, f"r/{i}") for i in (6, 5, 4, 3, 2)]),
        ([(c(P, f"r/{i}"), i) for i in range(4)] + [(c(G, None), 0), (c(Z, None), 0)], U,
         [c(P, "r/3"), c(P, "r/2"), c(P, "r/1"), c(P, "r/0"), c(G, None)]),
    ],
)
def test_prioritized(found: list[tuple[Candidate, int]], uncompressed: str | None, expected: list[Candidate]) -> None:
    assert prioritized(found, P, uncompressed) == expected


@pytest.mark.parametrize(
    ("override", "euid", "env", "expected"),
    [
        ("/ctx", 0, {"SKOPEO_BLOB_INFO_CACHE_DIR": "/env"}, "/ctx"),
        (None, 0, {"SKOPEO_BLOB_INFO_CACHE_DIR": "/env"}, "/env"),
        (None, 0, {"HOME": "/root"}, "/var/lib/containers/cache"),
        (None, 1000, {"XDG_DATA_HOME": "/xdg", "HOME": "/home/u"}, "/xdg/containers/cache"),
        (None, 1000, {"HOME": "/home/u"}, "/home/u/.local/share/containers/cache"),
        (None, 1000, {}, None),
    ],
)
def test_cache_dir(override: str | None, euid: int, env: dict[str, str], expected: str | None) -> None:
    assert bic.cache_dir(override, euid, env) == expected


def test_rootless_euid(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("_CONTAINERS_ROOTLESS_UID", "1000")
    assert bic.rootless_euid() == 1000
    monkeypatch.setenv("_CONTAINERS_ROOTLESS_UID", "bad")
    assert bic.rootless_euid() == 0  # as Go's Atoi failing upstream
    monkeypatch.delenv("_CONTAINERS_ROOTLESS_UID")
    assert bic.rootless_euid() == os.geteuid()


def test_go_sqlite_time_round_trip(monkeypatch: pytest.MonkeyPatch) -> None:
    now = time.time_ns()
    for zone in ("UTC", "America/New_York", "Asia/Kolkata"):
        monkeypatch.setenv("TZ", zone)
        time.tzset()
        text = sqlite_time_text(now)
        assert GO_TIME_RE.match(text), text
        assert parse_sqlite_time(text) == now
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    assert sqlite_time_text(1_700_000_000_120_000_000) == "2023-11-14 22:13:20.12+00:00"
    assert sqlite_time_text(1_700_000_000_000_000_000) == "2023-11-14 22:13:20+00:00"
    monkeypatch.delenv("TZ")
    time.tzset()
    assert parse_sqlite_time("2023-11-14 22:13:20.12+01:00") == 1_699_996_400_120_000_000
    assert parse_sqlite_time("2023-11-14T22:13:20Z") == 1_700_000_000_000_000_000
    assert parse_sqlite_time("2023-11-14") == 1_699_920_000_000_000_000
    assert parse_sqlite_time(1_700_000_000) == parse_sqlite_time(1_700_000_000_000) == 1_700_000_000_000_000_000
    assert parse_sqlite_time("not a time") == 0  # Go's zero time: oldest


# --- caches -------------------------------------------------------------------------------------
@pytest.fixture
def cache_dir(tmp_path: Path) -> Iterator[Path]:
    bic.forget()
    yield tmp_path / "cache"
    bic.forget()


def sqlite_cache(directory: Path) -> bic.BlobInfoCache:
    return bic.cache_for(SystemContext(blob_info_cache_dir=str(directory)))


def learn(cache: bic.BlobInfoCache) -> None:
    """What pushing an uncompressed layer U compressed as G to r/first, and its
    zstd form Z to r/second, teaches."""
    cache.record_digest_uncompressed_pair(G, U)
    cache.record_digest_compressor(G, CompressorData("gzip"))
    cache.record_digest_compressor(U, CompressorData("uncompressed"))
    cache.record_known_location("docker", "r", G, "r/first")
    cache.record_digest_uncompressed_pair(Z, U)
    cache.record_digest_compressor(Z, CompressorData("zstd", "zstd:chunked", {"io.x/toc": "t"}))
    cache.record_known_location("docker", "r", Z, "r/second")


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_cache_answers(kind: str, cache_dir: Path) -> None:
    cache = bic.BlobInfoCache() if kind == "memory" else sqlite_cache(cache_dir)
    cache.open()
    learn(cache)
    if kind == "sqlite":  # what follows is read from the file
        cache.close()
        bic.forget()
        cache = sqlite_cache(cache_dir)
        cache.open()
    assert cache.uncompressed_digest(G) == U
    assert cache.uncompressed_digest(U) == U  # known as the uncompressed form of something
    assert cache.uncompressed_digest(P) is None
    # Without options: only the exact digest, whatever its compression.
    assert cache.candidate_locations("docker", "r", G) == [Candidate(G, "unknown", None, "r/first")]
    assert cache.candidate_locations("docker", "other", G) == []
    # Substitutes for the uncompressed layer: both compressed forms (newest first).
    subst = CandidateOptions(can_substitute=True)
    assert cache.candidate_locations("docker", "r", U, subst) == [
        Candidate(Z, "zstd:chunked", {"io.x/toc": "t"}, "r/second"), Candidate(G, "gzip", None, "r/first"),
        Candidate(U, "uncompressed", None, None)]
    # A Docker manifest cannot describe zstd.
    docker = CandidateOptions(True, DOCKER)
    assert [x.digest for x in cache.candidate_locations("docker", "r", U, docker)] == [G, U]
    # Without substitution, only the digest asked for (location unknown: "try where you are").
    assert cache.candidate_locations("docker", "r", U, CandidateOptions()) == [Candidate(U, "uncompressed", None, None)]
    cache.close()


def test_sqlite_cache_writes_once_per_batch_and_only_what_changes(cache_dir: Path) -> None:
    cache = sqlite_cache(cache_dir)
    path = cache_dir / bic.FILENAME
    cache.open()
    learn(cache)
    assert cache.candidate_locations("docker", "r", G)  # known before it is written
    cache.close()
    conn = sqlite3.connect(path)
    version = conn.execute("PRAGMA data_version").fetchone()
    # The same knowledge again changes nothing in the file.
    cache.open()
    learn(cache)
    cache.close()
    assert conn.execute("PRAGMA data_version").fetchone() == version
    assert conn.execute("SELECT count(*) FROM KnownLocations").fetchone() == (2,)
    # New knowledge is written.
    cache.open()
    cache.record_known_location("docker", "r", G, "r/third")
    cache.close()
    assert conn.execute("PRAGMA data_version").fetchone() != version
    assert conn.execute("SELECT count(*) FROM KnownLocations").fetchone() == (3,)
    conn.close()


def test_records_outside_a_batch_stay_in_memory(cache_dir: Path) -> None:
    cache = sqlite_cache(cache_dir)
    cache.record_known_location("docker", "r", G, "r/first")  # e.g. inspect reading a config
    assert cache.candidate_locations("docker", "r", G) == [Candidate(G, "unknown", None, "r/first")]
    assert not (cache_dir / bic.FILENAME).exists()


# --- the file, as upstream reads and writes it ---------------------------------------------------
def schema_of(conn: sqlite3.Connection) -> tuple[dict[str, list[tuple[str, str, int, int]]], dict[str, tuple[str, list[str]]]]:
    tables = {}
    indexes = {}
    for name, kind, table in conn.execute("SELECT name, type, tbl_name FROM sqlite_schema ORDER BY name"):
        if kind == "table":
            tables[name] = [(r[1], r[2], r[3], r[5]) for r in conn.execute(f"PRAGMA table_info({name})")]
        elif not name.startswith("sqlite_autoindex"):
            indexes[name] = (table, [r[2] for r in conn.execute(f"PRAGMA index_info({name})")])
    return tables, indexes


def test_schema_is_upstreams(cache_dir: Path) -> None:
    cache = sqlite_cache(cache_dir)
    cache.open()
    cache.record_known_location("docker", "r", G, "r/first")
    cache.close()
    conn = sqlite3.connect(cache_dir / bic.FILENAME)
    assert schema_of(conn) == (UPSTREAM_TABLES, UPSTREAM_INDEXES)
    # Upstream's settings: a rollback journal (WAL would change the file for everyone).
    assert conn.execute("PRAGMA journal_mode").fetchone() == ("delete",)
    conn.close()


def test_what_we_write_is_read_by_upstreams_queries(cache_dir: Path) -> None:
    cache = sqlite_cache(cache_dir)
    cache.open()
    learn(cache)
    cache.close()
    conn = sqlite3.connect(cache_dir / bic.FILENAME)
    q = UPSTREAM_READS
    assert conn.execute(q["schema_done"], ("DigestSpecificVariantCompressors",)).fetchone() == (1,)
    assert conn.execute(q["uncompressed"], (G,)).fetchall() == [(U,)]
    assert conn.execute(q["is_uncompressed"], (U,)).fetchall() == [(1,), (1,)]
    assert sorted(conn.execute(q["variants"], (U,)).fetchall()) == [(G,), (Z,)]
    assert conn.execute(q["compressor"], (G,)).fetchall() == [("gzip", None, None)]
    # Annotations as Go's json.Marshal of a map[string]string.
    assert conn.execute(q["compressor"], (Z,)).fetchall() == [("zstd", "zstd:chunked", b'{"io.x/toc":"t"}')]
    rows = conn.execute(q["locations"], ("docker", "r", G)).fetchall()
    assert [r[0] for r in rows] == ["r/first"]
    assert GO_TIME_RE.match(rows[0][1]), rows[0][1]
    assert abs(parse_sqlite_time(rows[0][1]) - time.time_ns()) < 60 * 10**9
    conn.close()


def test_what_upstream_writes_is_read_by_us(cache_dir: Path) -> None:
    # The schema as upstream creates it (here: our statements; the schema test
    # above shows they are the same), rows as upstream's statements write them.
    cache = sqlite_cache(cache_dir)
    cache.open()
    cache.record_known_location("docker", "unrelated", X, "unrelated/x")
    cache.close()
    bic.forget()
    conn = sqlite3.connect(cache_dir / bic.FILENAME, isolation_level=None)
    w = UPSTREAM_WRITES
    conn.execute("BEGIN EXCLUSIVE")
    conn.execute(w["pair"], (G, U))
    conn.execute(w["pair"], (Z, U))
    conn.execute(w["compressor"], (G, "gzip"))
    conn.execute(w["compressor"], (Z, "zstd"))
    conn.execute(w["specific"], (Z, "zstd:chunked", b'{"io.github.containers.zstd-chunked.manifest-checksum":"sha256:x"}'))
    # time.Time as go-sqlite3 binds it, in two time zones: the newer is first.
    conn.execute(w["location"], ("docker", "r", G, "r/old", "2024-05-01 12:00:00.5+02:00"))
    conn.execute(w["location"], ("docker", "r", G, "r/new", "2024-05-01 10:30:00.123456789+00:00"))
    conn.execute(w["location"], ("docker", "r", Z, "r/z", "2024-05-01 09:00:00-05:00"))
    conn.execute("COMMIT")
    conn.close()
    cache = sqlite_cache(cache_dir)
    cache.open()
    assert cache.uncompressed_digest(Z) == U
    got = cache.candidate_locations("docker", "r", U, CandidateOptions(can_substitute=True))
    assert got == [
        Candidate(Z, "zstd:chunked", {"io.github.containers.zstd-chunked.manifest-checksum": "sha256:x"}, "r/z"),
        Candidate(G, "gzip", None, "r/new"), Candidate(G, "gzip", None, "r/old")]
    cache.close()


@pytest.mark.parametrize(("stored", "expected"), [
    (b'{"a":"b"}', CompressorData("zstd", "zstd:chunked", {"a": "b"})),
    ('{"a":"b"}', CompressorData("zstd", "zstd:chunked", {"a": "b"})),  # TEXT, as another writer might
    (b"null", CompressorData("zstd", "zstd:chunked", None)),
    (b"{not json", CompressorData("zstd")),
    (b'{"a":1}', CompressorData("zstd")),  # not a map[string]string
])
def test_odd_annotations_in_the_file(cache_dir: Path, stored: bytes | str, expected: CompressorData) -> None:
    cache = sqlite_cache(cache_dir)
    cache.open()
    cache.record_known_location("docker", "r", X, "r/x")
    cache.close()
    conn = sqlite3.connect(cache_dir / bic.FILENAME, isolation_level=None)
    conn.execute(UPSTREAM_WRITES["compressor"], (Z, "zstd"))
    conn.execute(UPSTREAM_WRITES["specific"], (Z, "zstd:chunked", stored))
    conn.close()
    conn = sqlite3.connect(cache_dir / bic.FILENAME)
    assert bic_sqlite.DbFacts(conn).compressor(Z) == expected
    conn.close()


def _upstream_source() -> str:
    if not os.path.isdir(UPSTREAM_MIRROR):
        skip_or_fail("upstream-mirror", f"no upstream skopeo mirror at {UPSTREAM_MIRROR}; the recorded statements are checked above")
    return subprocess.run(["git", "-C", UPSTREAM_MIRROR, "show", f"HEAD:{UPSTREAM_SQLITE_GO}"], capture_output=True,
                          text=True, check=True).stdout


def test_recorded_statements_are_upstreams() -> None:
    """Live: the statements these tests use are in upstream's source."""
    source = _upstream_source()
    joined = re.sub(r'"\s*\+\s*"', "", source)  # Go's "…" + "…" concatenations
    for statement in (*UPSTREAM_READS.values(), *UPSTREAM_WRITES.values()):
        assert statement in joined, statement


def test_schema_is_upstreams_live(tmp_path: Path) -> None:
    """Live: upstream's CREATE statements, run here, give the recorded schema."""
    source = _upstream_source()
    source = re.sub(r"//[^\n]*", "", source)
    source = re.sub(r"`\s*\+\s*`", "", source)
    statements = re.findall(r"`(CREATE (?:TABLE|INDEX) IF NOT EXISTS [^`]*)`", source)
    assert len(statements) == len(UPSTREAM_TABLES) + len(UPSTREAM_INDEXES)
    conn = sqlite3.connect(tmp_path / "upstream.sqlite")
    for statement in statements:
        conn.execute(statement)
    assert schema_of(conn) == (UPSTREAM_TABLES, UPSTREAM_INDEXES)
    conn.close()


# --- a file that cannot be used ---------------------------------------------------------------------
def test_corrupt_file_gives_one_warning_and_memory(cache_dir: Path, capfd: pytest.CaptureFixture[str]) -> None:
    cache_dir.mkdir()
    (cache_dir / bic.FILENAME).write_bytes(b"not a database\n" * 100)
    cache = sqlite_cache(cache_dir)
    for _ in range(2):
        cache.open()
        learn(cache)
        assert cache.uncompressed_digest(G) == U
        cache.close()
    err = capfd.readouterr().err
    assert err.count("level=warning") == 1, err
    assert f"Error using a SQLite blob info cache at {cache_dir / bic.FILENAME}, using a memory-only cache: " \
           "file is not a database" in err
    assert (cache_dir / bic.FILENAME).read_bytes() == b"not a database\n" * 100  # left alone


def test_locked_file_gives_one_warning_and_memory(cache_dir: Path, capfd: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bic_sqlite, "BUSY_TIMEOUT", 0.3)  # upstream's 5 s, shortened
    cache = sqlite_cache(cache_dir)
    cache.open()
    learn(cache)
    cache.close()
    holder = sqlite3.connect(cache_dir / bic.FILENAME, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        bic.forget()
        cache = sqlite_cache(cache_dir)
        cache.open()
        assert cache.candidate_locations("docker", "r", G) == []  # the file could not be read
        cache.record_known_location("docker", "r", P, "r/p")
        assert cache.candidate_locations("docker", "r", P) == [Candidate(P, "unknown", None, "r/p")]
        cache.close()
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    err = capfd.readouterr().err
    assert err.count("level=warning") == 1 and "database is locked" in err, err


def test_unusable_directory_gives_one_warning(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    bic.forget()
    (tmp_path / "file").write_text("")
    cache = sqlite_cache(tmp_path / "file" / "cache")  # mkdir fails: not a directory
    cache.open()
    learn(cache)
    assert cache.uncompressed_digest(G) == U
    cache.close()
    err = capfd.readouterr().err
    assert err.count("level=warning") == 1, err
    assert f"mkdir {tmp_path / 'file' / 'cache'}: not a directory" in err
    bic.forget()


# --- the copy engine's use ----------------------------------------------------------------------
PRESERVE, COMPRESS, DECOMPRESS, RECOMPRESS = (LayerOperation.PRESERVE, LayerOperation.COMPRESS,
                                              LayerOperation.DECOMPRESS, LayerOperation.RECOMPRESS)


@pytest.mark.parametrize(
    ("op", "detected", "target", "src", "stored", "pairs", "compressors"),
    [
        # Upstream's recordValidatedDigestData, case by case.
        (PRESERVE, "gzip", "gzip", G, G, {}, {G: "gzip"}),
        (PRESERVE, None, None, U, U, {U: U}, {U: "uncompressed"}),
        (COMPRESS, None, "gzip", U, G, {G: U}, {G: "gzip", U: "uncompressed"}),
        (COMPRESS, None, "zstd:chunked", U, Z, {Z: U}, {Z: "zstd/zstd:chunked", U: "uncompressed"}),
        (DECOMPRESS, "gzip", None, G, U, {G: U}, {U: "uncompressed", G: "gzip"}),
        # Neither digest is of the uncompressed content: no pair.
        (RECOMPRESS, "gzip", "zstd", G, Z, {}, {Z: "zstd", G: "gzip"}),
    ],
)
def test_record_transfer(op: LayerOperation, detected: str | None, target: str | None, src: str, stored: str,
                         pairs: dict[str, str], compressors: dict[str, str]) -> None:
    cache = bic.BlobInfoCache()
    record_transfer(cache, op, detected, target, True, src, stored, {"toc": "x"} if target == "zstd:chunked" else None)
    facts = cache._memory
    assert facts.uncompressed_of == pairs
    got = {k: v.base if v.specific == "unknown" else f"{v.base}/{v.specific}" for k, v in facts.compressors.items()}
    assert got == compressors
    if target == "zstd:chunked":
        assert facts.compressors[Z].annotations == {"toc": "x"}


def test_record_transfer_of_an_opaque_layer_records_nothing() -> None:
    cache = bic.BlobInfoCache()
    record_transfer(cache, COMPRESS, None, "gzip", False, U, G, None)
    assert cache._memory.uncompressed_of == {} and cache._memory.compressors == {}


@pytest.mark.parametrize(
    ("asked", "media_type", "reused", "expected"),
    [
        (G, mf.OCI_LAYER_GZIP, ReusedBlob(G, 10), (G, 10, "gzip", False, None)),
        # The uncompressed layer of a docker-archive (whatever its type says) replaced by its gzip form.
        (U, mf.DOCKER_LAYER_GZIP, ReusedBlob(G, 10, "gzip"), (G, 10, "gzip", True, None)),
        (U, mf.OCI_LAYER, ReusedBlob(Z, 9, "zstd:chunked", {"toc": "x"}), (Z, 9, "zstd:chunked", True, {"toc": "x"})),
        (G, mf.OCI_LAYER_GZIP, ReusedBlob(U, 20, "uncompressed"), (U, 20, None, True, None)),
    ],
)
def test_reused_layer(asked: str, media_type: str, reused: ReusedBlob, expected: tuple[object, ...]) -> None:
    assert reused_layer(mf.Descriptor(media_type, asked, 5), reused) == expected


@pytest.mark.parametrize(
    ("manifest", "config", "layer", "expected"),
    [
        (mf.DOCKER_V2S2, mf.DOCKER_CONFIG, mf.DOCKER_LAYER_GZIP, True),
        (mf.DOCKER_V2S2, mf.DOCKER_CONFIG, mf.DOCKER_FOREIGN_LAYER, True),
        (mf.DOCKER_V2S2, mf.DOCKER_CONFIG, "application/x-custom", False),
        (mf.OCI_MANIFEST, mf.OCI_CONFIG, mf.OCI_LAYER_ZSTD, True),
        (mf.OCI_MANIFEST, "application/vnd.example.artifact", mf.OCI_LAYER_GZIP, False),  # an artifact
        (mf.DOCKER_V2S1_SIGNED, "", "", True),
    ],
)
def test_can_change_layer_compression(manifest: str, config: str, layer: str, expected: bool) -> None:
    assert layertypes.can_change_compression(manifest, config, layer) is expected


def test_default_reuse_honours_the_options(tmp_path: Path) -> None:
    """A transport that only implements try_reusing_blob (dir:) reuses the blob
    itself, unless the options exclude its compression."""
    blob = b"\x1f\x8b\x08" + b"x" * 20
    digest = of_bytes(blob)
    dest = plugins.parse_image_name(f"dir:{tmp_path}/d").new_image_destination(SystemContext())
    dest.put_blob(io.BytesIO(blob), BlobInfo(digest, len(blob)))
    info = BlobInfo(digest, len(blob), mf.OCI_LAYER_GZIP)
    assert dest.try_reusing_blob_with_options(info, ReuseOptions(original_compression="gzip")) == ReusedBlob(digest, 23)
    assert dest.try_reusing_blob_with_options(
        info, ReuseOptions(required_compression="zstd", original_compression="gzip")) is None
    dest.close()
