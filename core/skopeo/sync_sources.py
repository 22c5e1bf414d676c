"""What ``skopeo sync`` copies: the images a source names, listed as upstream
lists them (``docker`` repositories' tags, ``dir:`` trees walked as Go's
filepath.WalkDir walks them, YAML files of registries), with upstream's log
lines and errors, and Go's ``path`` functions for the names derived from them.
One difference: a YAML file's repositories are listed in the file's order
(upstream iterates a Go map: in random order)."""

from __future__ import annotations

import copy as copy_mod
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from . import log, plugins
from .context import SystemContext
from .digest import is_digest
from .errors import SkopeoError
from .golang.oserror import path_error_text
from .reference import DockerReference, parse_normalized
from .transport import ImageReference


@dataclass
class Job:
    source: ImageReference
    source_ctx: SystemContext
    suffix: str


@dataclass
class Source:
    """One repository or directory tree that yields images."""

    jobs: list[Job]


def docker_ref(text: str) -> ImageReference:
    return plugins.parse_image_name(f"docker://{text}")


def _tags_of(name: DockerReference, ctx: SystemContext) -> list[str]:
    """The tags of repository *name* (upstream's getImageTags)."""
    log.info("Getting tags", image=name.name)
    try:
        _, tags = docker_ref(name.name).list_tags(ctx)
    except SkopeoError as e:
        raise e.wrap(f"Error determining repository tags for repo {name.name}") from None
    return tags


def _tagged_jobs(name: DockerReference, ctx: SystemContext) -> list[Job]:
    """A job for each tag of repository *name* (upstream's imagesToCopyFromRepo)."""
    jobs = []
    for tag in _tags_of(name, ctx):
        try:
            ref = name.with_tag(tag)
        except SkopeoError as e:
            log.error(f"Error creating a tagged reference from registry tag list: {e.message}", repo=name.name, tag=tag)
            continue
        jobs.append(Job(docker_ref(str(ref)), ctx, str(ref)))
    return jobs


def _image_suffix(ref: DockerReference) -> str:
    return str(ref)


def _cannot_obtain(transport: str, reference: str, e: SkopeoError) -> SkopeoError:
    return e.wrap(f"Cannot obtain a valid image reference for transport {_q(transport)} and reference {_q(reference)}")


def _q(text: str) -> str:
    from .golang.gojson import quote

    return quote(text.encode("utf-8", "surrogateescape"))


def docker_source(source: str, ctx: SystemContext) -> Iterator[Source]:
    try:
        named = parse_normalized(source)
    except SkopeoError as e:
        raise _cannot_obtain("docker", source, e) from None
    log.info("Tag presence check", imagename=source, tagged=str(not named.is_name_only).lower())
    if not named.is_name_only:
        try:
            ref = docker_ref(str(named))
        except SkopeoError as e:
            raise _cannot_obtain("docker", str(named), e) from None
        yield Source([Job(ref, ctx, _image_suffix(named))])
        return
    jobs = _tagged_jobs(named, ctx)
    if not jobs:
        raise SkopeoError(f"No images to sync found in {_q(source)}")
    yield Source(jobs)


def dir_source(source: str, ctx: SystemContext) -> Iterator[Source]:
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
        jobs.append(Job(plugins.parse_image_name(f"dir:{dirname}"), ctx, suffix or go_path_base(source)))
    yield Source(jobs)


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

    from .golang import gojson

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


def _listed_jobs(registry: str, repo: str, name: DockerReference, ctx: SystemContext) -> list[Job] | None:
    log.info("Querying registry for image tags", registry=registry, repo=repo)
    try:
        return _tagged_jobs(name, ctx)
    except SkopeoError as e:
        log.error("Error processing repo, skipping", registry=registry, repo=repo)
        log.error(e.message)
        return None


def yaml_source(path: str, base_ctx: SystemContext) -> Iterator[Source]:
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
            jobs: list[Job] | None = []
            if refs:
                for entry in map(str, refs):
                    try:
                        ref = name.with_digest(entry) if is_digest(entry) else name.with_tag(entry)
                    except SkopeoError as e:
                        log.error("Error parsing ref, skipping", ref=entry)
                        log.error(e.message)
                        continue
                    jobs.append(Job(docker_ref(str(ref)), ctx, str(ref)))  # type: ignore[union-attr]
            else:
                jobs = _listed_jobs(registry, repo, name, ctx)
                if jobs is None:
                    continue
            if not jobs:
                log.warning("No refs to sync found", registry=registry, repo=repo)
                continue
            yield Source(jobs)
        yield from _filtered_sources(registry, ctx, by_regex, _regex_filter)
        yield from _filtered_sources(registry, ctx, by_semver, _semver_filter)


def _regex_filter(pattern: str) -> Any:
    from .golang.goregexp import compile_go

    return compile_go(pattern).search


def _semver_filter(constraint: str) -> Any:
    from .semver import Constraint, parse_version

    con = Constraint(constraint)

    def matches(tag: str) -> bool:
        version = parse_version(tag)
        return version is not None and con.matches(version)

    return matches


def _filtered_sources(registry: str, ctx: SystemContext, collection: dict[Any, Any], make: Any) -> Iterator[Source]:
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
        yield Source(kept)


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
