"""``registries.d/*.yaml``: where signatures of registry images live.

Each file may hold a ``default-docker`` section and a ``docker`` map from
namespaces (``host``, ``host/ns``, ``host/ns/repo``, ``host/ns/repo:tag``) to
sections with ``lookaside`` (read, and write unless staged), ``lookaside-staging``
(write), ``use-sigstore-attachments`` and the deprecated ``sigstore`` /
``sigstore-staging`` spellings.  Defining a namespace (or ``default-docker``) in
two files is an error.

A lookaside stores signature N (1-based) of manifest ``algo:hex`` of
``host/ns/repo`` at ``<base>/ns/repo@algo=hex/signature-N``; readers stop at the
first missing one.  ``file://`` is read-write, ``http(s)://`` read-only.

The docker transport calls :func:`lookaside_for`, :func:`read_signatures`,
:func:`write_signatures` and :func:`delete_signatures`; nothing here talks to a
registry."""

from __future__ import annotations

import itertools
import os
import posixpath
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from . import deadline, log
from . import digest as digest_mod
from .errors import SkopeoError
from .golang.oserror import path_error_text
from .reference import DockerReference

SYSTEM_REGISTRIES_D = "/etc/containers/registries.d"
ROOT_LOOKASIDE = "/var/lib/containers/sigstore"
USER_LOOKASIDE = ".local/share/containers/sigstore"
# A lookaside that claims more signatures than this is broken (upstream's limit).
MAX_LOOKASIDE_SIGNATURES = 128
MAX_SIGNATURE_SIZE = 4 * 1024 * 1024

_SECTION_KEYS = ("lookaside", "lookaside-staging", "sigstore", "sigstore-staging", "use-sigstore-attachments")


class RegistriesDError(SkopeoError):
    """A registries.d file that cannot be used."""


class Section(NamedTuple):
    lookaside: str = ""
    lookaside_staging: str = ""
    sigstore: str = ""
    sigstore_staging: str = ""
    use_sigstore_attachments: bool | None = None

    def top_level(self, write: bool) -> str:
        if write:
            if self.lookaside_staging:
                log.debug(f'  Using "lookaside-staging" {self.lookaside_staging}')
                return self.lookaside_staging
            if self.sigstore_staging:
                log.debug(f'  Using "sigstore-staging" {self.sigstore_staging}')
                return self.sigstore_staging
        if self.lookaside:
            log.debug(f'  Using "lookaside" {self.lookaside}')
            return self.lookaside
        if self.sigstore:
            log.debug(f'  Using "sigstore" {self.sigstore}')
            return self.sigstore
        return ""


@dataclass
class Config:
    """The ``registries.d`` settings: the default docker section and those
    by scope."""

    default_docker: Section | None
    docker: dict[str, Section]


class LookasideConfig(NamedTuple):
    """Signature storage for one repository: base URLs (repository path already
    appended, as upstream's ``signatureBase``) for reading and writing."""

    read_url: str
    write_url: str
    use_sigstore_attachments: bool


def default_dir() -> str:
    user = os.path.join(os.path.expanduser("~"), ".config", "containers", "registries.d")
    return user if os.path.isdir(user) else SYSTEM_REGISTRIES_D


def _section(value: Any, where: str) -> Section:
    if value is None:
        return Section()
    if not isinstance(value, dict):
        raise RegistriesDError(f"parsing {where}: section is not a mapping")
    # Unknown keys are ignored, as Go's yaml.Unmarshal does for struct fields.
    vals: dict[str, Any] = {}
    for key in _SECTION_KEYS:
        v = value.get(key)
        if key == "use-sigstore-attachments":
            if v is not None and not isinstance(v, bool):
                raise RegistriesDError(f"parsing {where}: use-sigstore-attachments must be a boolean")
        elif v is not None and not isinstance(v, str):
            raise RegistriesDError(f"parsing {where}: {key} must be a string")
        vals[key.replace("-", "_")] = v if v is not None or key == "use-sigstore-attachments" else ""
    return Section(**vals)


def load(directory: str | None = None) -> Config:
    """Merge every ``*.yaml`` of *directory* (default lookup when None); a missing
    directory is an empty configuration."""
    directory = directory or default_dir()
    merged = Config(None, {})
    default_from = ""
    ns_from: dict[str, str] = {}
    try:
        names = sorted(os.listdir(directory))
    except FileNotFoundError:
        return merged
    except OSError as e:
        raise RegistriesDError(path_error_text("open", directory, e)) from None
    for name in names:
        if not name.endswith(".yaml"):
            continue
        path = os.path.join(directory, name)
        import yaml  # only when there is a file to parse (~8 ms)

        try:
            with open(path, "rb") as f:
                data = yaml.load(f, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        except FileNotFoundError:
            continue  # deleted since listdir
        except yaml.YAMLError as e:
            raise RegistriesDError(f"parsing {path}: {e}") from None
        if data is None:
            continue
        if not isinstance(data, dict):
            raise RegistriesDError(f"parsing {path}: not a mapping")
        if data.get("default-docker") is not None:
            if merged.default_docker is not None:
                raise RegistriesDError(
                    'Error parsing signature storage configuration: "default-docker" defined both in '
                    f'"{default_from}" and "{path}"'
                )
            merged.default_docker = _section(data["default-docker"], path)
            default_from = path
        docker = data.get("docker") or {}
        if not isinstance(docker, dict):
            raise RegistriesDError(f"parsing {path}: docker is not a mapping")
        for ns, section in docker.items():
            ns = str(ns)
            if ns in merged.docker:
                raise RegistriesDError(
                    f'Error parsing signature storage configuration: "docker" namespace "{ns}" defined both in '
                    f'"{ns_from[ns]}" and "{path}"'
                )
            merged.docker[ns] = _section(section, path)
            ns_from[ns] = path
    return merged


def policy_identity(ref: DockerReference) -> str:
    """The docker transport's policy identity: the reference with its tag or digest."""
    return str(ref)


def policy_namespaces(ref: DockerReference) -> list[str]:
    """Parent namespaces, most specific first: repository, its parents, the host,
    then ``*.domain`` wildcards of the host."""
    out = [ref.name]
    parts = ref.path.split("/")
    for i in range(len(parts) - 1, 0, -1):
        out.append(f"{ref.domain}/{'/'.join(parts[:i])}")
    out.append(ref.domain)
    host = ref.domain.split(":", 1)[0]
    labels = host.split(".")
    for i in range(1, len(labels)):
        out.append("*." + ".".join(labels[i:]))
    return out


def _matching_sections(config: Config, ref: DockerReference) -> list[tuple[str, Section]]:
    out: list[tuple[str, Section]] = []
    for name in [policy_identity(ref), *policy_namespaces(ref)]:
        if name in config.docker:
            out.append((f'"docker" namespace {name}', config.docker[name]))
    if config.default_docker is not None:
        out.append(('"default-docker" configuration', config.default_docker))
    return out


def _top_level(config: Config, ref: DockerReference, write: bool) -> str:
    for what, section in _matching_sections(config, ref):
        log.debug(f" Lookaside configuration: using {what}")
        url = section.top_level(write)
        if url:
            return url
    return ""


def builtin_default_lookaside() -> str:
    if os.geteuid() == 0:
        return "file://" + ROOT_LOOKASIDE
    return "file://" + os.path.join(os.path.expanduser("~"), USER_LOOKASIDE)


def _base_url(top: str, ref: DockerReference) -> str:
    if not top:
        top = builtin_default_lookaside()
        log.debug(f" No signature storage configuration found for {policy_identity(ref)}, using built-in default {top}")
    parsed = urllib.parse.urlsplit(top)
    if posixpath.normpath(ref.path) != ref.path:
        raise RegistriesDError(f"Unexpected path elements in Docker reference {ref} for signature storage")
    return urllib.parse.urlunsplit(parsed._replace(path=parsed.path + "/" + ref.path))


def lookaside_for(ref: DockerReference, registries_d_dir: str | None = None) -> LookasideConfig:
    """Where the signatures of *ref*'s repository are read and written."""
    config = load(registries_d_dir)
    use_attachments = False
    for what, section in _matching_sections(config, ref):
        if section.use_sigstore_attachments is not None:
            log.debug(f" Sigstore attachments: using {what}")
            use_attachments = section.use_sigstore_attachments
            break
    return LookasideConfig(
        read_url=_base_url(_top_level(config, ref, False), ref),
        write_url=_base_url(_top_level(config, ref, True), ref),
        use_sigstore_attachments=use_attachments,
    )


def signature_url(base_url: str, manifest_digest: str, index: int) -> str:
    """URL of signature *index* (0-based) of *manifest_digest* under *base_url*."""
    digest_mod.validate(manifest_digest)
    algo, hexpart = manifest_digest.split(":", 1)
    parsed = urllib.parse.urlsplit(base_url)
    return urllib.parse.urlunsplit(parsed._replace(path=f"{parsed.path}@{algo}={hexpart}/signature-{index + 1}"))


def _redacted(url: str) -> str:
    p = urllib.parse.urlsplit(url)
    if p.password is not None:
        netloc = f"{p.username}:xxxxx@{p.hostname}" + (f":{p.port}" if p.port else "")
        return urllib.parse.urlunsplit(p._replace(netloc=netloc))
    return url


# An HTTP GET for lookaside reads: (status, body, content-type).  The docker
# transport passes one that uses its own TLS settings; the default uses urllib.
HttpGet = Callable[[str], tuple[int, bytes, str]]


def _urllib_get(url: str) -> tuple[int, bytes, str]:
    # ~4 ms of start-up (urllib.response imports tempfile, shutil, bz2, lzma):
    # imported only for http(s) lookasides.
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=deadline.timeout(60)) as resp:
            return resp.status, resp.read(MAX_SIGNATURE_SIZE + 1), resp.headers.get("Content-Type", "")
    except urllib.error.HTTPError as e:
        return e.code, b"", ""
    except urllib.error.URLError as e:
        raise SkopeoError(f"reading signature from {_redacted(url)}: {e.reason}") from None


def _read_one(url: str, http_get: HttpGet | None) -> bytes | None:
    """The blob at *url*, or None when it does not exist."""
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme == "file":
        path = urllib.parse.unquote(parsed.path)
        log.debug(f"Reading {path}")
        try:
            with open(path, "rb") as f:
                return f.read()
        except FileNotFoundError:
            return None
        except OSError as e:
            raise SkopeoError(path_error_text("open", path, e)) from None
    if parsed.scheme in ("http", "https"):
        log.debug(f"GET {_redacted(url)}")
        status, body, ctype = (http_get or _urllib_get)(url)
        if status == 404:
            log.debug("... got status 404, as expected = end of signatures")
            return None
        if status != 200:
            raise SkopeoError(f"reading signature from {_redacted(url)}: received unexpected HTTP status: {status}")
        if ctype.split(";")[0].strip().lower() == "text/html":
            log.warning(f'Signature "{_redacted(url)}" has Content-Type "{ctype}", unexpected for a signature')
        if len(body) > MAX_SIGNATURE_SIZE:
            raise SkopeoError(f"reading signature from {_redacted(url)}: exceeded maximum allowed size")
        return body
    raise SkopeoError(f"Unsupported scheme when reading signature from {_redacted(url)}")


def read_signatures(base_url: str, manifest_digest: str, http_get: HttpGet | None = None) -> list[bytes]:
    """Every signature blob of *manifest_digest* at the lookaside *base_url*."""
    out: list[bytes] = []
    for i in range(MAX_LOOKASIDE_SIGNATURES + 1):
        if i == MAX_LOOKASIDE_SIGNATURES:
            raise SkopeoError(f"server provided {i} signatures, assuming that's unreasonable and a server error")
        url = signature_url(base_url, manifest_digest, i)
        blob = _read_one(url, http_get)
        if blob is None:
            break
        from .signature import InvalidSignatureError, decode  # only once there is one (start-up)

        try:
            decode(blob)
        except InvalidSignatureError as e:
            raise SkopeoError(f'parsing signature "{_redacted(url)}": {e.message}') from None
        out.append(blob)
    return out


def write_signatures(base_url: str, manifest_digest: str, blobs: list[bytes]) -> None:
    """Store *blobs* as the signatures of *manifest_digest* (file:// only) and
    remove stale ones beyond them."""
    from .signature import SIMPLE_SIGNING, decode

    if not blobs:
        return
    for blob in blobs:
        if decode(blob).kind != SIMPLE_SIGNING:
            # Upstream writes only simple signatures to a lookaside; sigstore ones
            # belong in registry attachments.
            raise SkopeoError("writing sigstore attachments is disabled by configuration")
    for i, blob in enumerate(blobs):
        path = _writable_path(signature_url(base_url, manifest_digest, i), "writing signature to")
        log.debug(f"Writing to {path}")
        from .fsutil import write_atomic

        os.makedirs(os.path.dirname(path), 0o755, exist_ok=True)
        write_atomic(path, blob)
    # Signatures beyond the new ones are stale: gone, up to the first missing one.
    delete_signatures(base_url, manifest_digest, first=len(blobs))


def delete_signatures(base_url: str, manifest_digest: str, first: int = 0) -> None:
    """Remove the signatures of *manifest_digest* at the lookaside *base_url*,
    from number *first* (0-based) up to the first missing one (upstream's
    deleteOneSignature loop, run when a registry image is deleted).  Only
    ``file://`` lookasides can be written."""
    for i in itertools.count(first):
        path = _writable_path(signature_url(base_url, manifest_digest, i), "deleting signature from")
        log.debug(f"Deleting {path}")
        try:
            os.remove(path)
        except FileNotFoundError:
            return
        except OSError as e:
            raise SkopeoError(path_error_text("remove", path, e)) from None


def _writable_path(url: str, doing: str) -> str:
    """The local path of the lookaside *url*, which must be ``file://``."""
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme in ("http", "https"):
        raise SkopeoError(
            f"Writing directly to a {parsed.scheme} lookaside {_redacted(url)} is not supported. "
            "Configure a lookaside-staging: location"
        )
    if parsed.scheme != "file":
        raise SkopeoError(f"Unsupported scheme when {doing} {_redacted(url)}")
    return urllib.parse.unquote(parsed.path)
