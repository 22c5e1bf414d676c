"""The sync partition (skopeo.shard): flag and environment grammar, the pinned
hash, stability when tags are added, and balance."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from skopeo.errors import UsageError
from skopeo.shard import Shard, image_key, parse_shard, select_shard, shard_of


@pytest.mark.parametrize(("text", "expected"), [
    ("0/1", Shard(0, 1)),
    ("0/3", Shard(0, 3)),
    ("2/3", Shard(2, 3)),
    ("06/7", Shard(6, 7)),
])
def test_parse_shard(text: str, expected: Shard) -> None:
    assert parse_shard(text) == expected
    assert str(expected) == f"{expected.index}/{expected.count}"


@pytest.mark.parametrize(("text", "message"), [
    ("3/3", 'invalid argument "3/3" for "--shard" flag: the index must be from 0 to 2'),
    ("-1/3", 'invalid argument "-1/3" for "--shard" flag: the index must be from 0 to 2'),
    ("1", 'invalid argument "1" for "--shard" flag: expected INDEX/COUNT, e.g. 0/3'),
    ("", 'invalid argument "" for "--shard" flag: expected INDEX/COUNT, e.g. 0/3'),
    ("0/0", 'invalid argument "0/0" for "--shard" flag: the shard count must be at least 1, not 0'),
    ("a/3", "invalid argument \"a/3\" for \"--shard\" flag: 'a' is not a number"),
    ("1/b", "invalid argument \"1/b\" for \"--shard\" flag: 'b' is not a number"),
    ("1/2/3", "invalid argument \"1/2/3\" for \"--shard\" flag: '2/3' is not a number"),
])
def test_parse_shard_errors(text: str, message: str) -> None:
    with pytest.raises(UsageError) as e:
        parse_shard(text)
    assert e.value.message == message


@pytest.mark.parametrize(("flag", "count", "env", "expected"), [
    (None, None, {}, None),
    ("1/4", None, {"JOB_COMPLETION_INDEX": "3", "SKOPEO_SYNC_SHARD_COUNT": "9"}, Shard(1, 4)),  # the flag wins
    ("1/4", 4, {}, Shard(1, 4)),
    (None, 5, {"JOB_COMPLETION_INDEX": "4"}, Shard(4, 5)),
    (None, None, {"JOB_COMPLETION_INDEX": "2", "SKOPEO_SYNC_SHARD_COUNT": "3"}, Shard(2, 3)),
    (None, 6, {"JOB_COMPLETION_INDEX": "2", "SKOPEO_SYNC_SHARD_COUNT": "3"}, Shard(2, 6)),  # the flag wins
    # An Indexed Job running one whole sync per index: no count, no sharding.
    (None, None, {"JOB_COMPLETION_INDEX": "2"}, None),
    (None, None, {"JOB_COMPLETION_INDEX": ""}, None),
])
def test_select_shard(flag: str | None, count: int | None, env: dict[str, str], expected: Shard | None) -> None:
    assert select_shard(flag, count, env) == expected


@pytest.mark.parametrize(("flag", "count", "env", "message"), [
    ("1/3", 2, {}, "--shard 1/3 and --shard-count 2 disagree"),
    (None, 2, {}, "--shard-count needs --shard or $JOB_COMPLETION_INDEX"),
    (None, 0, {"JOB_COMPLETION_INDEX": "0"}, "--shard-count: the shard count must be at least 1, not 0"),
    (None, 2, {"JOB_COMPLETION_INDEX": "2"}, "$JOB_COMPLETION_INDEX=2 is out of range for 2 shards"),
    (None, 2, {"JOB_COMPLETION_INDEX": "x"}, "$JOB_COMPLETION_INDEX: 'x' is not a number"),
    (None, None, {"JOB_COMPLETION_INDEX": "0", "SKOPEO_SYNC_SHARD_COUNT": "many"},
     "$SKOPEO_SYNC_SHARD_COUNT: 'many' is not a number"),
])
def test_select_shard_errors(flag: str | None, count: int | None, env: dict[str, str], message: str) -> None:
    with pytest.raises(UsageError) as e:
        select_shard(flag, count, env)
    assert e.value.message == message


@pytest.mark.parametrize(("suffix", "has_registry", "key"), [
    ("127.0.0.1:5000/many:tag07", True, "many:tag07"),
    ("docker.io/library/busybox:1.36", True, "library/busybox:1.36"),
    ("quay.io/org/app@sha256:" + "a" * 64, True, "org/app@sha256:" + "a" * 64),
    ("team/app:v1", False, "team/app:v1"),  # a dir: source's relative path is kept whole
    ("/team/app", False, "team/app"),  # as sync names it: the path after the source directory's
    ("app", False, "app"),
])
def test_image_key(suffix: str, has_registry: bool, key: str) -> None:
    assert image_key(suffix, has_registry) == key


# Pinned: workers of different versions must agree on the partition, so the
# documented formula may never change silently.
@pytest.mark.parametrize(("key", "count", "shard"), [
    ("many:tag00", 7, 2), ("many:tag01", 7, 6), ("many:tag02", 7, 4), ("many:tag49", 7, 1),
    ("library/busybox:latest", 3, 1), ("library/busybox:latest", 1, 0),
    ("org/app@sha256:" + "0" * 64, 5, 2), ("", 4, 0),
])
def test_pinned_assignments(key: str, count: int, shard: int) -> None:
    assert shard_of(key, count) == shard


def test_the_documented_formula() -> None:
    """Recomputed from docs/mirroring.md's description, for arbitrary keys."""
    rng = random.Random(7)
    for _ in range(500):
        key = "".join(rng.choice("abc:/.-_0123456789é") for _ in range(rng.randrange(40)))
        count = rng.randrange(1, 100)
        h = 0
        for byte in key.encode():
            h = (h * 257 + byte) % 2**64
        assert shard_of(key, count) == (((h * 0x9E3779B97F4A7C15) % 2**64) * count) >> 64


def _names(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    shapes = [
        lambda: f"library/img{rng.randrange(5000)}:{rng.randrange(30)}.{rng.randrange(30)}.{rng.randrange(30)}",
        lambda: f"team{rng.randrange(50)}/svc-{rng.randrange(10**6):x}:build-{rng.randrange(10**5)}",
        lambda: f"ns/app{rng.randrange(900)}@sha256:{rng.getrandbits(256):064x}",
        lambda: f"nightly/{rng.choice(['a', 'b', 'c'])}:2025-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}",
    ]
    out: set[str] = set()
    while len(out) < n:
        out.add(rng.choice(shapes)())
    return sorted(out)


def _worst_deviation(keys: list[str], count: int) -> float:
    sizes = Counter(shard_of(k, count) for k in keys)
    mean = len(keys) / count
    return max(abs(sizes[i] - mean) / mean for i in range(count))


@pytest.mark.parametrize("count", [2, 3, 5, 7, 16, 32])
def test_balance_on_ten_thousand_names(count: int) -> None:
    assert _worst_deviation(_names(10_000, seed=count), count) <= 0.2


@pytest.mark.parametrize("count", [1, 2, 3, 4, 5, 6, 7])
def test_balance_on_the_benchmark_repository(count: int) -> None:
    """shared/bench's sync-many repository: 50 tags tag00…tag49."""
    keys = [f"many:tag{i:02d}" for i in range(50)]
    assert _worst_deviation(keys, count) <= 0.2


def test_adding_tags_moves_no_existing_image() -> None:
    before = _names(2_000, seed=1)
    after = sorted(set(before) | set(_names(3_000, seed=2)))
    for count in (3, 7):
        assigned = {k: shard_of(k, count) for k in after}
        assert all(assigned[k] == shard_of(k, count) for k in before)
        # and every image is in exactly one shard
        owners = [[Shard(i, count).owns(k) for i in range(count)].count(True) for k in after]
        assert set(owners) == {1}
