"""``skopeo sync``: mirror many images, several at a time.

Sources are enumerated first (registry tag lists, ``dir:`` trees or a YAML
file), then copied by a bounded pool of workers, each copy still moving its
blobs in parallel.  Images whose manifest is already at the destination are
skipped with one request each, so a rerun (or a resumed, interrupted sync)
only copies what is missing.  A registry destination's tags are listed once
per repository first: an image whose tag is not there needs no check at all.

Where this differs from upstream, deliberately: upstream copies one image at a
time; we copy up to ``--parallel-images`` at once, so after a failure (without
``--keep-going``) the copies already running finish, but nothing new starts and
the first failure is the one reported.  Every registry or OCI destination name
is checked before the first copy (upstream checks each one just before its
copy).  Tag-listing errors are newer upstream's: "… for repo …", and a 401 is
an error like any other (1.9.3 only warned and then found no images).
"""

from __future__ import annotations

import builtins
import copy as copy_mod
import os
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from typing import Any

from . import log, plugins, retry
from .context import SystemContext
from .copy import CopyOptions, CopyResult, copy_image
from .errors import SkopeoError, SyncError, UsageError
from .events import Emitter, SyncImageDone, SyncImageStarted
from .golang.oserror import path_error_text
from .policy import PolicyContext
from .reference import parse_normalized
from .shard import Shard, image_key
from .sync_sources import Job, Source, dir_source, docker_ref, docker_source, go_path_base, go_path_join, yaml_source
from .transport import ImageReference

SOURCE_KINDS = ("docker", "dir", "yaml")
DEST_KINDS = ("docker", "dir", "oci")
DEFAULT_PARALLEL_IMAGES = 8


@dataclass
class SyncOptions:
    source_kind: str
    dest_kind: str
    copy: CopyOptions = field(default_factory=CopyOptions)
    scoped: bool = False
    append_suffix: str = ""
    dry_run: bool = False
    keep_going: bool = False
    digestfile: str | None = None
    retry_times: int = 0
    retry_delay: float = 0.0
    parallel_images: int = DEFAULT_PARALLEL_IMAGES
    # Copy only this shard's images (``--shard``, see skopeo.shard).
    shard: Shard | None = None


# What became of each image of a sync (SyncedImage.status).
COPIED, SKIPPED, FAILED = "copied", "skipped", "failed"
# Not copied: the sync stopped at an earlier failure (without keep_going); a dry run's images.
NOT_STARTED, PLANNED = "not-started", "planned"


@dataclass
class SyncedImage:
    """One image of a sync: where from, where to, and what became of it
    (*status*: ``copied``, ``skipped`` because the destination has it,
    ``failed`` with *error*, ``not-started`` after an earlier failure, or
    ``planned`` in a dry run); *digest* is the manifest at the destination."""

    source: str
    destination: str
    status: str = NOT_STARTED
    digest: str = ""
    bytes_copied: int = 0
    error: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"Source": self.source, "Destination": self.destination, "Status": self.status,
                "Digest": self.digest, "BytesCopied": self.bytes_copied, "Error": self.error}


@dataclass
class SyncResult:
    sources: int = 0
    # Images the sources named; with a shard, how many of them were this shard's.
    images: int = 0
    shard_images: int = 0
    copied: int = 0
    skipped: int = 0
    failed: int = 0
    bytes: int = 0
    seconds: float = 0.0
    # (source, destination) of every image, in order.
    planned: list[tuple[str, str]] = field(default_factory=list)
    # What became of each image, in the same order.
    results: list[SyncedImage] = field(default_factory=list)

    def with_status(self, status: str) -> list[SyncedImage]:
        """The images that ended with *status* (``COPIED``, ``SKIPPED``, ``FAILED`` …)."""
        return [r for r in self.results if r.status == status]

    def to_json(self) -> builtins.bytes:
        """The result as JSON (the command prints none: skopeo-py's own keys)."""
        import json

        return json.dumps({
            "Sources": self.sources, "Images": self.images, "ShardImages": self.shard_images, "Copied": self.copied,
            "Skipped": self.skipped, "Failed": self.failed, "Bytes": self.bytes, "Seconds": self.seconds,
            "Results": [r.to_dict() for r in self.results],
        }, indent=4).encode() + b"\n"


# What a registry destination holds for an image, from its repository's tag list.
MAYBE_PRESENT, NEW_TAG, NEW_REPOSITORY = "maybe-present", "new-tag", "new-repository"


class _DestinationTags:
    """The tags each destination repository of a registry held when the sync
    reached it, listed once per repository (several threads may ask at once)."""

    def __init__(self, ctx: SystemContext) -> None:
        self._ctx = ctx
        self._lock = threading.Lock()
        self._repos: dict[str, Future[set[str] | None]] = {}

    def status(self, dest: str) -> str:
        """NEW_TAG or NEW_REPOSITORY when *dest* (``docker://…:tag``) is certainly
        absent, else MAYBE_PRESENT (then the copy checks the manifest)."""
        ref = parse_normalized(dest[len("docker://"):])
        if ref.tag is None or ref.digest is not None:
            return MAYBE_PRESENT
        with self._lock:
            listing = self._repos.get(ref.name)
            first = listing is None
            if listing is None:
                listing = self._repos[ref.name] = Future()
        if first:  # this thread lists; the others wait for its answer
            try:
                listing.set_result(self._list(ref.name))
            except BaseException as e:
                listing.set_exception(e)
        tags = listing.result()
        if tags is None or ref.tag in tags:
            return MAYBE_PRESENT
        return NEW_TAG if tags else NEW_REPOSITORY

    def _list(self, name: str) -> set[str] | None:
        try:
            return set(docker_ref(name).list_tags(self._ctx)[1])
        except SkopeoError as e:
            if getattr(e, "status", 0) == 404:  # the repository does not exist (yet)
                return set()
            log.debug(f"Listing the tags of {name} failed, checking each image instead: {e}")
            return None


# --- destination naming ------------------------------------------------------------
def destination_name(kind: str, destination: str, suffix: str, scoped: bool, append: str) -> str:
    """Where an image goes: upstream's path.Join(destination, suffix) + append,
    the suffix cut to its last element unless scoped."""
    if not scoped:
        suffix = go_path_base(suffix)
    if kind == "oci":
        # oci: one layout holds every image, each named by its (scoped) reference.
        return f"oci:{destination}:{suffix.lstrip('/')}{append}"
    path = go_path_join(destination, suffix) + append
    return f"docker://{path}" if kind == "docker" else f"dir:{path}"


def _destination_reference(dest: str) -> ImageReference:
    """The image reference for *dest* (``transport:reference``), failing as
    upstream does for a name the transport cannot hold."""
    try:
        return plugins.parse_image_name(dest)
    except SkopeoError as e:
        transport, _, within = dest.partition(":")
        raise e.wrap(
            f'Cannot obtain a valid image reference for transport "{transport}" and reference "{within}"'
        ) from None


def _dir_destination(path: str) -> ImageReference:
    try:
        os.makedirs(path, 0o755, exist_ok=True)
    except OSError as e:
        raise SkopeoError(f"Error creating directory for image {path}: {path_error_text('mkdir', path, e)}") from None
    return _destination_reference(f"dir:{path}")


def _enumerate(source: str, options: SyncOptions) -> list[Source]:
    ctx = options.copy.source_ctx
    if options.source_kind == "docker":
        return list(docker_source(source, ctx))
    if options.source_kind == "dir":
        return list(dir_source(source, ctx))
    return list(yaml_source(source, ctx))


def check_kinds(options: SyncOptions) -> None:
    """The source and destination kinds, checked as upstream does before anything else."""
    if options.source_kind not in SOURCE_KINDS:
        raise UsageError(f'"{options.source_kind}" is not a valid source transport')
    if options.dest_kind not in DEST_KINDS:
        raise UsageError(f'"{options.dest_kind}" is not a valid destination transport')
    if options.source_kind == "dir" and options.dest_kind == "dir":
        raise UsageError("sync from 'dir' to 'dir' not implemented, consider using rsync instead")


def enumerate_sources(source: str, options: SyncOptions) -> list[Source]:
    """The images *source* names (registry tag lists, ``dir:`` trees or a YAML
    file), listed with ``options.copy.source_ctx``; retried like each copy
    (--retry-times)."""
    return retry.if_necessary(lambda: _enumerate(source, options), options.retry_times, options.retry_delay)


def sync(source: str, destination: str, options: SyncOptions, policy: PolicyContext) -> SyncResult:
    """Copy every image *source* names to *destination*; see ``skopeo sync``.
    With ``options.shard``, only that shard's images."""
    check_kinds(options)
    started = time.monotonic()
    return sync_sources(enumerate_sources(source, options), destination, options, policy, started)


def sync_sources(sources: list[Source], destination: str, options: SyncOptions, policy: PolicyContext,
                 started: float | None = None) -> SyncResult:
    """Copy the enumerated *sources* to *destination*."""
    started = time.monotonic() if started is None else started
    jobs = [job for s in sources for job in s.jobs]
    result = SyncResult(sources=len(sources), images=len(jobs))
    shard = options.shard
    digestfile = _digestfile(options)
    if shard is not None:
        from_registry = options.source_kind != "dir"
        jobs = [job for job in jobs if shard.owns(image_key(job.suffix, from_registry))]
        log.info(f"Shard {shard}: {len(jobs)} of {result.images} images")
    result.shard_images = len(jobs)
    total = len(jobs)
    if digestfile and not options.dry_run:
        from .fsutil import write_file

        try:
            write_file(digestfile, b"")
        except SkopeoError as e:
            raise e.wrap("Error creating digest file") from None
    planned = _plan(jobs, destination, options, result)
    if options.dry_run:
        log.warning("Running in dry-run mode")
        for i, job, dest, _ in planned:
            log.info(f"Would have copied image ref {i + 1}/{total}", **{"from": str(job.source), "to": dest})
            result.results[i].status = PLANNED
        result.copied = total
        log.info(f"Would have synced {total} images from {len(sources)} sources")
        result.seconds = time.monotonic() - started
        return result
    _Copies(options, policy, result, total).run(planned)
    result.seconds = time.monotonic() - started
    log.info(f"Synced {result.copied + result.skipped} images from {len(sources)} sources")
    if result.failed:
        raise SyncError("Sync failed due to previous reported error(s) for one or more images", result)
    # Our own line, after upstream's last one (never between upstream's lines).
    log.info(
        f"Summary: {result.copied} copied, {result.skipped} skipped, {result.failed} failed, "
        f"{result.bytes} bytes in {result.seconds:.1f}s",
        **({"shard": str(shard)} if shard is not None else {}),
    )
    return result


def _digestfile(options: SyncOptions) -> str | None:
    """Where the digests go: ``--digestfile``, per shard when sharded (shards
    may share a volume, so each writes its own file)."""
    if options.digestfile and options.shard is not None:
        return options.digestfile + options.shard.suffix()
    return options.digestfile


# (index, job, destination name, destination reference: None for dir:, made when its copy starts)
_Planned = tuple[int, Job, str, ImageReference | None]


def _plan(jobs: list[Job], destination: str, options: SyncOptions, result: SyncResult) -> list[_Planned]:
    """Every destination name, checked before anything is copied."""
    planned: list[_Planned] = []
    for i, job in enumerate(jobs):
        dest = destination_name(options.dest_kind, destination, job.suffix, options.scoped, options.append_suffix)
        if options.dest_kind == "dir" and not options.dry_run:
            path = dest[len("dir:"):]
            if os.path.exists(path):
                raise SkopeoError(f'Refusing to overwrite destination directory "{path}"')
        # A dir: destination is parsed once its directory exists, when its copy starts.
        dest_ref = None if options.dest_kind == "dir" else _destination_reference(dest)
        if options.dest_kind == "docker":
            dest = str(dest_ref)  # as upstream names it (with the implied :latest)
        planned.append((i, job, dest, dest_ref))
        result.planned.append((str(job.source), dest))
        result.results.append(SyncedImage(str(job.source), dest))
    return planned


class _Copies:
    """The copies of one sync, a bounded number at once.  Without
    --keep-going the first failure stops the sync: no copy starts after it
    (copies already running finish), and it is the error reported."""

    def __init__(self, options: SyncOptions, policy: PolicyContext, result: SyncResult, total: int) -> None:
        self.options = options
        self.policy = policy
        self.result = result
        self.total = total
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.first_error: list[SkopeoError] = []
        self.destination_tags = _DestinationTags(options.copy.dest_ctx) if options.dest_kind == "docker" else None
        self.digestfile = _digestfile(options)
        # The sync's events and every copy's share one consumer, called one at a time.
        consumer = options.copy.events
        self.emit = Emitter(consumer)
        self.copy_options = replace(options.copy, events=self.emit.consumer)

    def run(self, planned: list[_Planned]) -> None:
        from . import blobinfocache

        workers = max(1, min(self.options.parallel_images, self.total or 1))
        # Held open across the copies: what they learn is written in one go at
        # the end (or every few seconds in a long sync), not once per image.
        cache = blobinfocache.cache_for(self.options.copy.dest_ctx)
        cache.open()
        try:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                futures = [pool.submit(self._run_one, item) for item in planned]
                wait(futures)
                for fut in futures:
                    fut.result()  # anything but a SkopeoError is a bug: let it surface
        finally:
            cache.close()
        if self.first_error:
            first = self.first_error[0]
            raise SyncError(first.message, self.result, first) from first

    def _run_one(self, item: _Planned) -> None:
        try:
            self._copy_one(*item)
        except BaseException:
            self.stop.set()  # a bug, not a failed copy: start nothing more either
            raise

    def _fail(self, err: SkopeoError) -> None:
        with self.lock:
            if not self.stop.is_set():
                self.stop.set()
                self.first_error.append(err)

    def _copy_one(self, i: int, job: Job, dest: str, dest_ref: ImageReference | None) -> None:
        options, result = self.options, self.result
        outcome = result.results[i]
        if self.stop.is_set():
            return
        if dest_ref is None:  # dir: the image's directory is created here, as upstream does
            try:
                dest_ref = _dir_destination(dest[len("dir:"):])
            except SkopeoError as e:
                self._done(i, outcome, FAILED, error=e.message)
                self._fail(e)  # fatal even with --keep-going, as upstream
                return
        log.info(f"Copying image ref {i + 1}/{self.total}", **{"from": str(job.source), "to": dest})
        self.emit(SyncImageStarted(i, self.total, outcome.source, dest))
        opts = copy_mod.copy(self.copy_options)
        opts.source_ctx = job.source_ctx
        try:
            status = self.destination_tags.status(dest) if self.destination_tags is not None else MAYBE_PRESENT
            opts.skip_existing = status == MAYBE_PRESENT
            if status == NEW_REPOSITORY:
                opts.dest_ctx = replace(opts.dest_ctx, repository_is_new=True)
            target = dest_ref
            res: CopyResult = retry.if_necessary(lambda: copy_image(self.policy, target, job.source, opts),
                                                 options.retry_times, options.retry_delay)
        except SkopeoError as e:
            with self.lock:
                result.failed += 1
            self._done(i, outcome, FAILED, error=e.message)
            if not options.keep_going:
                self._fail(e.wrap(f'Error copying ref "{job.source}"'))
                return
            log.error(f'Error copying ref "{job.source}"', error=e.message)
            return
        with self.lock:
            if res.skipped:
                result.skipped += 1
            else:
                result.copied += 1
                result.bytes += res.bytes_copied
            if self.digestfile:
                with open(self.digestfile, "a") as f:
                    f.write(f"{res.digest} {dest}\n")
        self._done(i, outcome, SKIPPED if res.skipped else COPIED, res.digest, 0 if res.skipped else res.bytes_copied)

    def _done(self, i: int, outcome: SyncedImage, status: str, digest: str = "", copied: int = 0,
              error: str = "") -> None:
        outcome.status, outcome.digest, outcome.bytes_copied, outcome.error = status, digest, copied, error
        self.emit(SyncImageDone(i, self.total, outcome.source, outcome.destination, status, digest, error))
