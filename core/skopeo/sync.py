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

import copy as copy_mod
import os
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from typing import Any

from . import log, plugins, retry
from .context import DEST_REPOSITORY_IS_NEW, SystemContext
from .copy import CopyOptions, CopyResult, copy_image
from .digest import is_digest
from .errors import SkopeoError, UsageError, path_error_text
from .policy import PolicyContext
from .reference import DockerReference, parse_normalized
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


@dataclass
class SyncResult:
    sources: int = 0
    copied: int = 0
    skipped: int = 0
    failed: int = 0
    bytes: int = 0
    seconds: float = 0.0
    planned: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class _Job:
    source: ImageReference
    source_ctx: SystemContext
    suffix: str


@dataclass
class _Source:
    """One repository or directory tree that yields images."""

    jobs: list[_Job]


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
            return set(_docker_ref(name).list_tags(self._ctx)[1])
        except SkopeoError as e:
            if getattr(e, "status", 0) == 404:  # the repository does not exist (yet)
                return set()
            log.debug(f"Listing the tags of {name} failed, checking each image instead: {e}")
            return None


# --- enumeration -------------------------------------------------------------------
def _docker_ref(text: str) -> ImageReference:
    return plugins.parse_image_name(f"docker://{text}")


def _tags_of(name: DockerReference, ctx: SystemContext) -> list[str]:
    """The tags of repository *name* (upstream's getImageTags)."""
    log.info("Getting tags", image=name.name)
    try:
        _, tags = _docker_ref(name.name).list_tags(ctx)
    except SkopeoError as e:
        raise e.wrap(f"Error determining repository tags for repo {name.name}") from None
    return tags


def _tagged_jobs(name: DockerReference, ctx: SystemContext) -> list[_Job]:
    """A job for each tag of repository *name* (upstream's imagesToCopyFromRepo)."""
    jobs = []
    for tag in _tags_of(name, ctx):
        try:
            ref = name.with_tag(tag)
        except SkopeoError as e:
            log.error(f"Error creating a tagged reference from registry tag list: {e.message}", repo=name.name, tag=tag)
            continue
        jobs.append(_Job(_docker_ref(str(ref)), ctx, str(ref)))
    return jobs


def _image_suffix(ref: DockerReference) -> str:
    return str(ref)


def _cannot_obtain(transport: str, reference: str, e: SkopeoError) -> SkopeoError:
    return e.wrap(f"Cannot obtain a valid image reference for transport {_q(transport)} and reference {_q(reference)}")


def _q(text: str) -> str:
    from .gojson import quote

    return quote(text.encode("utf-8", "surrogateescape"))


def _docker_source(source: str, ctx: SystemContext) -> Iterator[_Source]:
    try:
        named = parse_normalized(source)
    except SkopeoError as e:
        raise _cannot_obtain("docker", source, e) from None
    log.info("Tag presence check", imagename=source, tagged=str(not named.is_name_only).lower())
    if not named.is_name_only:
        try:
            ref = _docker_ref(str(named))
        except SkopeoError as e:
            raise _cannot_obtain("docker", str(named), e) from None
        yield _Source([_Job(ref, ctx, _image_suffix(named))])
        return
    jobs = _tagged_jobs(named, ctx)
    if not jobs:
        raise SkopeoError(f"No images to sync found in {_q(source)}")
    yield _Source(jobs)


def _dir_source(source: str, ctx: SystemContext) -> Iterator[_Source]:
    """Every directory under *source* holding a manifest.json, found as
    upstream's filepath.WalkDir finds them (lexical order, not into an image's
    directory, nor past a manifest.json in a directory's remaining files)."""
    try:
        os.stat(source)
    except OSError as e:
        raise SkopeoError(f"Invalid source directory specified: {path_error_text('stat', source, e)}") from None
    found: list[str] = []
    try:
        _walk(source, os.path.isdir(source), found)
    except OSError as e:
        raise SkopeoError(f"Error walking the path {_q(source)}: {path_error_text('open', e.filename, e)}") from None
    if not found:
        raise SkopeoError(f"No images to sync found in {_q(source)}")
    jobs = []
    for dirname in found:
        suffix = dirname[len(source):] if dirname.startswith(source) else dirname
        jobs.append(_Job(plugins.parse_image_name(f"dir:{dirname}"), ctx, suffix or go_path_base(source)))
    yield _Source(jobs)


class _SkipDir(Exception):
    pass


def _walk(path: str, is_dir: bool, found: list[str]) -> None:
    """filepath.WalkDir's order with upstream's visit function."""
    if not is_dir:
        if os.path.basename(path) == "manifest.json":
            found.append(os.path.dirname(path) or ".")
            raise _SkipDir()  # the rest of this directory is skipped
        return
    with os.scandir(path) as it:
        entries = sorted((e.name, e.is_dir(follow_symlinks=False)) for e in it)
    for name, entry_is_dir in entries:
        try:
            _walk(go_path_join(path, name), entry_is_dir, found)
        except _SkipDir:
            if not entry_is_dir:
                return


def go_path_clean(path: str) -> str:
    """Go's path.Clean."""
    if not path:
        return "."
    cleaned = os.path.normpath(path)
    return cleaned[1:] if cleaned.startswith("//") else cleaned


def go_path_join(*parts: str) -> str:
    """Go's path.Join: the non-empty parts joined by "/", then cleaned."""
    joined = "/".join(p for p in parts if p)
    return go_path_clean(joined) if joined else ""


def go_path_base(path: str) -> str:
    """Go's path.Base."""
    if not path:
        return "."
    stripped = path.rstrip("/")
    return stripped.rsplit("/", 1)[-1] if stripped else "/"


def _go_yaml_error(e: Exception) -> str:
    """go-yaml's text for a libyaml error: ``yaml: line N: <problem>``, where N is
    the problem's 0-based line for a parser error, 1-based for a scanner error,
    else the context's line, and no line at all when that is 0."""
    import yaml

    problem = getattr(e, "problem", None) or str(e)
    mark, context = getattr(e, "problem_mark", None), getattr(e, "context_mark", None)
    line = 0
    if mark is not None and mark.line != 0:
        line = mark.line + (1 if isinstance(e, yaml.scanner.ScannerError) else 0)
    elif context is not None:
        line = context.line
    return f"yaml: line {line}: {problem}" if line else f"yaml: {problem}"


def _yaml_type_error(node: Any, go_type: str) -> str:  # node: a yaml.Node
    """go-yaml's text for a value that does not fit *go_type*."""
    tag = node.tag.rsplit(":", 1)[-1]
    value = ""
    if node.id == "scalar":
        text = str(node.value)
        value = f" `{text[:7]}...`" if len(text) > 10 else f" `{text}`"
    return f"yaml: unmarshal errors:\n  line {node.start_mark.line + 1}: cannot unmarshal !!{tag}{value} into {go_type}"


def _yaml_config(path: str) -> dict[Any, Any]:
    """The YAML file as upstream's sourceConfig: a map of registries to maps."""
    import yaml

    from . import gojson

    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise SkopeoError(path_error_text("open", path, e)) from None

    def fail(reason: str) -> SkopeoError:
        return SkopeoError(f"Failed to unmarshal {gojson.quote(path.encode())}: {reason}")

    # libyaml, as go-yaml, when PyYAML has it: the same problem texts.
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        node: Any = yaml.compose(raw, Loader=loader)
        config = yaml.load(raw, Loader=loader) or {}
    except yaml.YAMLError as e:
        raise fail(_go_yaml_error(e)) from None
    if node is not None and node.id != "mapping" and not (node.id == "scalar" and node.tag.endswith(":null")):
        raise fail(_yaml_type_error(node, "main.sourceConfig"))
    if node is not None and node.id == "mapping":
        for _key, value in node.value:
            if value.id != "mapping" and not (value.id == "scalar" and value.tag.endswith(":null")):
                raise fail(_yaml_type_error(value, "main.registrySyncConfig"))
    return config


def _repository(registry: str, repo: str) -> DockerReference | None:
    """upstream's parseRepositoryReference, logging and skipping a bad name."""
    try:
        name = parse_normalized(f"{registry}/{repo}")
        if not name.is_name_only:
            raise SkopeoError("input names a reference, not a repository")
    except SkopeoError as e:
        log.error("Error parsing repository name, skipping", registry=registry, repo=repo)
        log.error(e.message)
        return None
    log.info("Processing repo", registry=registry, repo=repo)
    return name


def _listed_jobs(registry: str, repo: str, name: DockerReference, ctx: SystemContext) -> list[_Job] | None:
    log.info("Querying registry for image tags", registry=registry, repo=repo)
    try:
        return _tagged_jobs(name, ctx)
    except SkopeoError as e:
        log.error("Error processing repo, skipping", registry=registry, repo=repo)
        log.error(e.message)
        return None


def _yaml_source(path: str, base_ctx: SystemContext) -> Iterator[_Source]:
    """Upstream's imagesToCopyFromRegistry for each registry of the file, with its
    log lines; repositories in the file's order (upstream's order is random)."""
    for registry, spec in _yaml_config(path).items():
        registry, spec = str(registry), spec or {}
        ctx = _registry_ctx(base_ctx, spec)
        images = spec.get("images") or {}
        by_regex = spec.get("images-by-tag-regex") or {}
        by_semver = spec.get("images-by-semver") or {}
        if not images and not by_regex and not by_semver:
            log.warning("No images specified for registry", registry=registry)
            continue
        for repo, refs in images.items():
            repo = str(repo)
            name = _repository(registry, repo)
            if name is None:
                continue
            jobs: list[_Job] | None = []
            if refs:
                for entry in map(str, refs):
                    try:
                        ref = name.with_digest(entry) if is_digest(entry) else name.with_tag(entry)
                    except SkopeoError as e:
                        log.error("Error parsing ref, skipping", ref=entry)
                        log.error(e.message)
                        continue
                    jobs.append(_Job(_docker_ref(str(ref)), ctx, str(ref)))  # type: ignore[union-attr]
            else:
                jobs = _listed_jobs(registry, repo, name, ctx)
                if jobs is None:
                    continue
            if not jobs:
                log.warning("No refs to sync found", registry=registry, repo=repo)
                continue
            yield _Source(jobs)
        yield from _filtered_sources(registry, ctx, by_regex, _regex_filter)
        yield from _filtered_sources(registry, ctx, by_semver, _semver_filter)


def _regex_filter(pattern: str) -> Any:
    from .goregexp import compile_go

    return compile_go(pattern).search


def _semver_filter(constraint: str) -> Any:
    from .semver import Constraint, parse_version

    con = Constraint(constraint)

    def matches(tag: str) -> bool:
        version = parse_version(tag)
        return version is not None and con.matches(version)

    return matches


def _filtered_sources(registry: str, ctx: SystemContext, collection: dict[Any, Any], make: Any) -> Iterator[_Source]:
    """Repositories whose listed tags are filtered (by regex or semver); as
    upstream, one bad filter skips the whole collection with an error line."""
    try:
        filters = {str(repo): make(str(value)) for repo, value in collection.items()}
    except SkopeoError as e:
        log.error(e.message)
        return
    for repo, keep in filters.items():
        name = _repository(registry, repo)
        if name is None:
            continue
        jobs = _listed_jobs(registry, repo, name, ctx)
        if jobs is None:
            continue
        kept = [job for job in jobs if keep(job.suffix.rsplit(":", 1)[1])]
        if not kept:
            log.warning("No refs to sync found", registry=registry, repo=repo)
            continue
        yield _Source(kept)


def _registry_ctx(base: SystemContext, spec: dict[str, Any]) -> SystemContext:
    ctx = copy_mod.copy(base)
    creds = spec.get("credentials")
    if isinstance(creds, dict):
        ctx.username = str(creds.get("username", ""))
        ctx.password = str(creds.get("password", ""))
    if "tls-verify" in spec:
        ctx.tls_verify = bool(spec["tls-verify"])
    if spec.get("cert-dir"):
        ctx.cert_dir = str(spec["cert-dir"])
    return ctx


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


def _enumerate(source: str, options: SyncOptions) -> list[_Source]:
    ctx = options.copy.source_ctx
    if options.source_kind == "docker":
        return list(_docker_source(source, ctx))
    if options.source_kind == "dir":
        return list(_dir_source(source, ctx))
    return list(_yaml_source(source, ctx))


def check_kinds(options: SyncOptions) -> None:
    """The source and destination kinds, checked as upstream does before anything else."""
    if options.source_kind not in SOURCE_KINDS:
        raise UsageError(f'"{options.source_kind}" is not a valid source transport')
    if options.dest_kind not in DEST_KINDS:
        raise UsageError(f'"{options.dest_kind}" is not a valid destination transport')
    if options.source_kind == "dir" and options.dest_kind == "dir":
        raise UsageError("sync from 'dir' to 'dir' not implemented, consider using rsync instead")


def enumerate_sources(source: str, options: SyncOptions) -> list[_Source]:
    """The images *source* names (registry tag lists, ``dir:`` trees or a YAML
    file), listed with ``options.copy.source_ctx``; retried like each copy."""
    return retry.if_necessary(lambda: _enumerate(source, options), options.retry_times, options.retry_delay)


def sync(source: str, destination: str, options: SyncOptions, policy: PolicyContext) -> SyncResult:
    """Copy every image *source* names to *destination*; see ``skopeo sync``."""
    check_kinds(options)
    started = time.monotonic()
    return sync_sources(enumerate_sources(source, options), destination, options, policy, started)


def sync_sources(sources: list[_Source], destination: str, options: SyncOptions, policy: PolicyContext,
                 started: float | None = None) -> SyncResult:
    """Copy the enumerated *sources* to *destination*."""
    started = time.monotonic() if started is None else started
    result = SyncResult(sources=len(sources))
    jobs = [job for s in sources for job in s.jobs]
    total = len(jobs)
    lock = threading.Lock()
    if options.digestfile and not options.dry_run:
        from .fsutil import write_file

        try:
            write_file(options.digestfile, b"")
        except SkopeoError as e:
            raise e.wrap("Error creating digest file") from None

    # Every destination name is checked before anything is copied.
    planned = []
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

    if options.dry_run:
        log.warning("Running in dry-run mode")
        for i, job, dest, _ in planned:
            log.info(f"Would have copied image ref {i + 1}/{total}", **{"from": str(job.source), "to": dest})
        result.copied = total
        log.info(f"Would have synced {total} images from {len(sources)} sources")
        result.seconds = time.monotonic() - started
        return result

    destination_tags = _DestinationTags(options.copy.dest_ctx) if options.dest_kind == "docker" else None

    # Without --keep-going the first failure stops the sync: no copy starts after
    # it (copies already running finish), and it is the error reported.
    stop = threading.Event()
    first_error: list[SkopeoError] = []

    def run_one(item: tuple[int, _Job, str, ImageReference | None]) -> None:
        try:
            copy_one(*item)
        except BaseException:
            stop.set()  # a bug, not a failed copy: start nothing more either
            raise

    def fail(err: SkopeoError) -> None:
        with lock:
            if not stop.is_set():
                stop.set()
                first_error.append(err)

    def copy_one(i: int, job: _Job, dest: str, dest_ref: ImageReference | None) -> None:
        if stop.is_set():
            return
        if dest_ref is None:  # dir: the image's directory is created here, as upstream does
            try:
                dest_ref = _dir_destination(dest[len("dir:"):])
            except SkopeoError as e:
                fail(e)  # fatal even with --keep-going, as upstream
                return
        log.info(f"Copying image ref {i + 1}/{total}", **{"from": str(job.source), "to": dest})
        opts = copy_mod.copy(options.copy)
        opts.source_ctx = job.source_ctx
        try:
            status = destination_tags.status(dest) if destination_tags is not None else MAYBE_PRESENT
            opts.skip_existing = status == MAYBE_PRESENT
            if status == NEW_REPOSITORY:
                opts.dest_ctx = replace(opts.dest_ctx, extra={**opts.dest_ctx.extra, DEST_REPOSITORY_IS_NEW: True})
            target = dest_ref
            res: CopyResult = retry.if_necessary(lambda: copy_image(policy, target, job.source, opts),
                                                 options.retry_times, options.retry_delay)
        except SkopeoError as e:
            with lock:
                result.failed += 1
            if not options.keep_going:
                fail(e.wrap(f'Error copying ref "{job.source}"'))
                return
            log.error(f'Error copying ref "{job.source}"', error=e.message)
            return
        with lock:
            if res.skipped:
                result.skipped += 1
            else:
                result.copied += 1
                result.bytes += res.bytes_copied
            if options.digestfile:
                with open(options.digestfile, "a") as f:
                    f.write(f"{res.digest} {dest}\n")

    workers = max(1, min(options.parallel_images, total or 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(run_one, item) for item in planned]
        wait(futures)
        for fut in futures:
            fut.result()  # anything but a SkopeoError is a bug: let it surface
    if first_error:
        raise first_error[0]
    result.seconds = time.monotonic() - started
    log.info(f"Synced {result.copied + result.skipped} images from {len(sources)} sources")
    if result.failed:
        raise SkopeoError("Sync failed due to previous reported error(s) for one or more images")
    # Our own line, after upstream's last one (never between upstream's lines).
    log.info(
        f"Summary: {result.copied} copied, {result.skipped} skipped, {result.failed} failed, "
        f"{result.bytes} bytes in {result.seconds:.1f}s"
    )
    return result
