"""Splitting one ``skopeo sync`` across machines: which images belong to a shard.

Every worker enumerates the whole source and keeps the images whose key hashes
to its own index, so the workers agree without talking to each other.  The
assignment of an image depends on that image alone, never on the rest of the
list.  That is the only kind of partition that stays correct when the source
changes while the workers run: workers list tags at different moments, and an
image listed by all of them is still copied by exactly one.  A tag added later
never moves an existing one to another shard, so rerunning one failed shard
copies the same images.

The key is the repository path *without* its registry, plus ``:tag`` or
``@digest`` (for ``dir:`` sources, the image's path below the source
directory): changing the mirror a source is read from does not reshuffle the
shards.  The hash is Knuth's multiplicative ("Fibonacci") hashing of a
polynomial hash of the key's bytes, then ``floor(u * COUNT)``:

    h = 0; for each byte b: h = (h * 257 + b) mod 2**64
    shard = ((h * 0x9E3779B97F4A7C15) mod 2**64) * COUNT >> 64

Any tool can compute it.  Unlike a cryptographic hash, it keeps names that
differ only in a counter (``tag07``, ``1.2.3``, ``build-1042``, dates: the usual
shape of tag lists) evenly spread, because multiplicative hashing turns an
arithmetic progression into nearly equidistant points; unrelated names still
land as if at random.  On the benchmark's 50 sequential tags the largest shard
is within 16 % of the mean for 2 to 7 shards, where SHA-256 is off by up to 40
to 70 %.  Independent per-image choices cannot promise that for every small
list (shard sizes of arbitrary names vary like a random draw, about
sqrt(n/COUNT)); over thousands of images every shard is within a few per cent.

Changing COUNT reassigns images: rerun a failed shard with the same COUNT.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from .errors import UsageError

# Kubernetes sets this in every pod of an Indexed Job (completionMode: Indexed).
ENV_JOB_INDEX = "JOB_COMPLETION_INDEX"
# The number of shards when the index comes from $JOB_COMPLETION_INDEX and
# --shard-count is not given (set it to the Job's .spec.completions).
ENV_SHARD_COUNT = "SKOPEO_SYNC_SHARD_COUNT"


@dataclass(frozen=True, slots=True)
class Shard:
    index: int  # 0-based
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def suffix(self) -> str:
        """Appended to per-shard output files (``--digestfile``)."""
        return f".shard-{self.index}-of-{self.count}"

    def owns(self, key: str) -> bool:
        return shard_of(key, self.count) == self.index


_MASK = (1 << 64) - 1
# 2**64 / golden ratio, odd: Knuth's multiplier for Fibonacci hashing.
_FIBONACCI = 0x9E3779B97F4A7C15


def shard_of(key: str, count: int) -> int:
    """The shard (0-based, of *count*) that image *key* belongs to."""
    h = 0
    for byte in key.encode():
        h = (h * 257 + byte) & _MASK
    return (((h * _FIBONACCI) & _MASK) * count) >> 64


def _parse_count(text: str, what: str) -> int:
    try:
        count = int(text, 10)
    except ValueError:
        raise UsageError(f"{what}: {text!r} is not a number") from None
    if count < 1:
        raise UsageError(f"{what}: the shard count must be at least 1, not {count}")
    return count


def parse_shard(text: str) -> Shard:
    """``INDEX/COUNT`` (``--shard``), 0 <= INDEX < COUNT."""
    index_text, sep, count_text = text.partition("/")
    what = f'invalid argument "{text}" for "--shard" flag'
    if not sep:
        raise UsageError(f"{what}: expected INDEX/COUNT, e.g. 0/3")
    count = _parse_count(count_text, what)
    try:
        index = int(index_text, 10)
    except ValueError:
        raise UsageError(f"{what}: {index_text!r} is not a number") from None
    if not 0 <= index < count:
        raise UsageError(f"{what}: the index must be from 0 to {count - 1}")
    return Shard(index, count)


def select_shard(flag: str | None, count_flag: int | None, environ: Mapping[str, str] = os.environ) -> Shard | None:
    """The shard this process works on: ``--shard``; else ``$JOB_COMPLETION_INDEX``
    with ``--shard-count`` or ``$SKOPEO_SYNC_SHARD_COUNT``; else None (the whole
    sync, also when only the index is set)."""
    if flag is not None:
        shard = parse_shard(flag)
        if count_flag is not None and count_flag != shard.count:
            raise UsageError(f"--shard {flag} and --shard-count {count_flag} disagree")
        return shard
    index_text = environ.get(ENV_JOB_INDEX)
    if index_text is None or index_text == "":
        if count_flag is not None:
            raise UsageError(f"--shard-count needs --shard or ${ENV_JOB_INDEX}")
        return None
    if count_flag is not None:
        count = count_flag
        if count < 1:
            raise UsageError(f"--shard-count: the shard count must be at least 1, not {count}")
    else:
        count_text = environ.get(ENV_SHARD_COUNT)
        if not count_text:
            # An Indexed Job may run a whole sync per index (a YAML file each, say):
            # without a count, nothing says it is sharded, so it is not, as before.
            return None
        count = _parse_count(count_text, f"${ENV_SHARD_COUNT}")
    try:
        index = int(index_text, 10)
    except ValueError:
        raise UsageError(f"${ENV_JOB_INDEX}: {index_text!r} is not a number") from None
    if not 0 <= index < count:
        raise UsageError(f"${ENV_JOB_INDEX}={index} is out of range for {count} shards")
    return Shard(index, count)


def image_key(suffix: str, has_registry: bool) -> str:
    """The shard key of a sync image from its source-relative name: a docker
    reference (``host/repo:tag``, registry dropped when *has_registry*) or a
    path below a ``dir:`` source."""
    if has_registry:
        _registry, sep, rest = suffix.partition("/")
        if sep:
            return rest
        return suffix
    return suffix.lstrip("/")  # a dir: suffix is the path after the source's, "/" included
