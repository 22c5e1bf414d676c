"""The Python API: what the command line does, for programs that import it;
the command line is a thin layer over these calls.

    >>> from skopeo import api
    >>> api.copy("oci:/images/layout:v1", "dir:/tmp/v1")
    >>> api.inspect("dir:/tmp/v1").digest

A program that makes many calls uses a :class:`Session` instead (the same
calls as methods; connections, tokens, the policy and the contexts are kept
between them).  Results are typed (:class:`~skopeo.results.ImageInfo`,
:class:`~skopeo.results.TagList`, :class:`~skopeo.copy.CopyResult`,
:class:`~skopeo.sync.SyncResult`), with ``to_json()`` giving the command's
output.  Progress comes as events (:mod:`skopeo.events`).  Every function
raises :class:`skopeo.errors.SkopeoError` subclasses with a message and an
``exit_code`` (docs/api.md says which, when); nothing here prints except the
copy progress written to ``options.report`` when one is given.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TextIO

from . import plugins, retry
from .context import SystemContext
from .errors import SkopeoError
from .transport import ImageReference, read_blob_verified

# skopeo.inspect and skopeo.manifest are imported by the calls that use them:
# login and the signing calls (their commands import this module) do not.

if TYPE_CHECKING:
    from .copy import CopyOptions, CopyResult
    from .policy import PolicyContext
    from .results import ImageInfo, LoginResult, LogoutResult, SigstoreKeyPair, TagList, VerifiedSignature
    from .session import Session
    from .sync import SyncOptions, SyncResult


def parse(name: str) -> ImageReference:
    """Parse ``transport:details`` into a reference (raises with upstream's wording)."""
    return plugins.parse_image_name(name)


def copy(
    source: str | ImageReference,
    destination: str | ImageReference,
    options: CopyOptions | None = None,
    policy: PolicyContext | None = None,
    retry_times: int = 0,
    retry_delay: float = 0.0,
    digestfile: str | None = None,
) -> CopyResult:
    """Copy an image; the result names the manifest written (``.digest``).
    *policy* defaults to the system trust policy (policy.json); *options*
    carry both ends' contexts, the copy's settings, and where progress goes
    (``events``: a consumer of :mod:`skopeo.events`; ``report``: the
    command's lines).  *retry_times* repeats the whole copy after a retryable
    failure (``--retry-times``); *digestfile* receives the digest."""
    if isinstance(source, str):
        try:
            source = parse(source)
        except SkopeoError as e:
            raise e.wrap(f"Invalid source name {source}") from None
    if isinstance(destination, str):
        try:
            destination = parse(destination)
        except SkopeoError as e:
            raise e.wrap(f"Invalid destination name {destination}") from None
    from .copy import copy_image
    from .policy import PolicyContext, load

    if policy is None:
        policy = PolicyContext(load())
    src_ref, dest_ref, pol = source, destination, policy

    def attempt() -> CopyResult:
        from .fsutil import write_file

        result = copy_image(pol, dest_ref, src_ref, options)
        if digestfile:
            try:
                write_file(digestfile, result.digest.encode())
            except SkopeoError as e:
                raise e.wrap(f'Failed to write digest to file "{digestfile}"') from None
        return result

    return retry.if_necessary(attempt, retry_times, retry_delay)


def sync(source: str, destination: str, options: SyncOptions, policy: PolicyContext | None = None) -> SyncResult:
    """``skopeo sync``: copy every image *source* names (a repository, a ``dir:``
    tree or a YAML file, per ``options.source_kind``) to *destination*.  With
    ``options.shard`` only that shard's images (see :mod:`skopeo.shard`)."""
    from .policy import PolicyContext, load
    from .sync import sync as run_sync

    if policy is None:
        policy = PolicyContext(load())
    return run_sync(source, destination, options, policy)


def _open_source(name: str, ctx: SystemContext) -> Any:
    try:
        return parse(name).new_image_source(ctx)
    except SkopeoError as e:
        from .golang.gojson import quote

        raise e.wrap(f"Error parsing image name {quote(name.encode('utf-8', 'surrogateescape'))}") from None


def inspect_raw(name: str, ctx: SystemContext | None = None, config: bool = False) -> bytes:
    """The top-level manifest bytes as stored, or with *config* the raw config blob
    of the image chosen for this platform."""
    from .inspect import resolve

    ctx = ctx or SystemContext()
    with _open_source(name, ctx) as src:
        if not config:
            from .image import checked_manifest

            try:
                raw, _ = checked_manifest(src, None)
            except SkopeoError as e:
                raise e.wrap("Error retrieving manifest for image") from None
            return bytes(raw)
        image = resolve(src, ctx.override_os, ctx.override_arch, ctx.override_variant,
                        config_context="Error reading configuration blob")
        # A schema1 image has no config blob: nothing, as upstream prints.
        return image.config_raw or b""


def inspect_config(name: str, ctx: SystemContext | None = None) -> dict[str, Any]:
    """The config of the chosen image as an OCI image structure."""
    from .inspect import oci_config, resolve

    ctx = ctx or SystemContext()
    with _open_source(name, ctx) as src:
        return oci_config(resolve(src, ctx.override_os, ctx.override_arch, ctx.override_variant,
                                  config_context="Error reading OCI-formatted configuration data"))


def inspect(name: str, ctx: SystemContext | None = None, no_tags: bool = False,
            digest_algorithm: str | None = None) -> ImageInfo:
    """What ``skopeo inspect`` prints, as an :class:`~skopeo.results.ImageInfo`
    (``to_json()`` is the command's output; ``["Digest"]`` still works); its
    digest uses *digest_algorithm* (``--manifest-digest``), by default the
    config digest's."""
    from .inspect import output, output_digest, resolve
    from .results import ImageInfo

    ctx = ctx or SystemContext()
    with _open_source(name, ctx) as src:
        image = resolve(src, ctx.override_os, ctx.override_arch, ctx.override_variant)
        digest = output_digest(image, digest_algorithm)
        dref = src.reference.docker_reference()
        tags: list[str] = []
        if not no_tags:
            try:
                tags = src.repo_tags() or []
            except SkopeoError as e:
                raise e.wrap("Error determining repository tags") from None
        return ImageInfo.from_output(output(image, dref.name if dref is not None else None, tags, digest))


def manifest_digest(data: bytes) -> str:
    """Digest of manifest bytes (the JWS payload for signed schema1)."""
    from . import manifest as mf

    try:
        return mf.manifest_digest(data)
    except SkopeoError:
        from .digest import of_bytes

        return of_bytes(data)


def list_tags(name: str, ctx: SystemContext | None = None) -> TagList:
    """The repository's tags, as a :class:`~skopeo.results.TagList`
    (``repository`` is None for transports without one; ``to_json()`` is
    ``skopeo list-tags``' output; ``["Tags"]`` still works)."""
    from .results import TagList

    ctx = ctx or SystemContext()
    _, sep, _ = name.partition(":")
    if not sep:
        raise SkopeoError(f'Invalid "{name}": does not specify a transport')
    ref = parse(name)
    repo, tags = ref.list_tags(ctx)
    return TagList(repo or None, list(tags))


def delete(name: str, ctx: SystemContext | None = None) -> None:
    """Delete the image *name* (for the transports that can)."""
    ctx = ctx or SystemContext()
    try:
        ref = parse(name)
    except SkopeoError as e:
        raise e.wrap(f'Invalid source name {name}') from None
    ref.delete_image(ctx)


# --- login, logout and the signing commands ----------------------------------------------
# Each is implemented by the plugin that has the protocol or the key format
# (register_api_calls: skopeo-docker, skopeo-gpg, skopeo-sigstore); without
# it, the call raises PluginError naming the package to install.
def login(
    registry: str,
    username: str | None = None,
    password: str | None = None,
    *,
    ctx: SystemContext | None = None,
    compat_auth_file: str | None = None,
    prompt: Callable[[str, str, str], tuple[str, str]] | None = None,
    report: TextIO | None = None,
) -> LoginResult:
    """``skopeo login``: check *username*/*password* against *registry*
    (``host[:port]``, ``host[:port]/ns/repo`` or an ``https://`` URL) and
    store them through the first credential provider serving it (the
    primary auth file unless a plugin's backend or registries.conf's
    ``credential-helpers`` say otherwise; *compat_auth_file*: that Docker
    ``config.json`` instead).  Without credentials, valid stored ones are
    reused (``reused=True``); otherwise *prompt(username, password,
    stored_username)* supplies the missing ones, and without a prompt
    :class:`~skopeo.errors.SkopeoError` says none were given.  *report*
    receives the command's lines about reusing stored credentials."""
    call = plugins.api_call("login")
    result: LoginResult = call(registry, username or "", password or "", ctx or SystemContext(),
                               compat_auth_file or "", prompt, report)
    return result


def get_login(registry: str, *, ctx: SystemContext | None = None, compat_auth_file: str | None = None) -> str:
    """``skopeo login --get-login``: the user name stored for *registry*;
    :class:`~skopeo.errors.NotLoggedInError` when there is none."""
    username: str = plugins.api_call("get_login")(registry, ctx or SystemContext(), compat_auth_file or "")
    return username


def logout(
    registry: str | None = None,
    *,
    all_registries: bool = False,
    ctx: SystemContext | None = None,
    compat_auth_file: str | None = None,
) -> LogoutResult:
    """``skopeo logout``: erase the credentials stored for *registry*, or for
    every registry with *all_registries* (each storing provider's).
    :class:`~skopeo.errors.NotLoggedInError` when none were stored."""
    call = plugins.api_call("logout")
    result: LogoutResult = call(registry, all_registries, ctx or SystemContext(), compat_auth_file or "")
    return result


def standalone_sign(manifest: bytes, docker_reference: str, fingerprint: str, *,
                    passphrase: str | None = None) -> bytes:
    """``skopeo standalone-sign``: a simple-signing signature of *manifest*
    claiming *docker_reference*, made with the GnuPG key *fingerprint*."""
    signature: bytes = plugins.api_call("standalone_sign")(manifest, docker_reference, fingerprint, passphrase)
    return signature


def standalone_verify(manifest: bytes, docker_reference: str, fingerprints: str | Sequence[str], signature: bytes,
                      *, public_keys: bytes | None = None) -> VerifiedSignature:
    """``skopeo standalone-verify``: check that *signature* signs *manifest*
    as *docker_reference* with one of *fingerprints* (a list, or the
    command's comma-separated text; ``"any"`` accepts every key of
    *public_keys*, which must then be given; without *public_keys*, GnuPG's
    own keyring is used).  Raises :class:`~skopeo.errors.SkopeoError` (``Error
    verifying signature: …``) otherwise."""
    expected = fingerprints.split(",") if isinstance(fingerprints, str) else list(fingerprints)
    call = plugins.api_call("standalone_verify")
    result: VerifiedSignature = call(manifest, docker_reference, expected, signature, public_keys)
    return result


def untrusted_signature_dump(signature: bytes) -> dict[str, Any]:
    """``skopeo untrusted-signature-dump-without-verification``: what a
    simple-signing signature claims, NOT VERIFIED (the command's JSON object,
    upstream's field names)."""
    info: dict[str, Any] = plugins.api_call("untrusted_signature_dump")(signature)
    return info


def generate_sigstore_key(output_prefix: str, passphrase: str) -> SigstoreKeyPair:
    """``skopeo generate-sigstore-key``: a new cosign-compatible key pair in
    ``PREFIX.private`` (encrypted with *passphrase*) and ``PREFIX.pub``; an
    existing file is never overwritten."""
    pair: SigstoreKeyPair = plugins.api_call("generate_sigstore_key")(output_prefix, passphrase)
    return pair


def __getattr__(name: str) -> Any:
    # Session imports this module: loaded on first use.
    if name == "Session":
        from .session import Session

        return Session
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "Session", "SystemContext", "copy", "delete", "generate_sigstore_key", "get_login", "inspect", "inspect_config",
    "inspect_raw", "list_tags", "login", "logout", "manifest_digest", "parse", "read_blob_verified",
    "standalone_sign", "standalone_verify", "sync", "untrusted_signature_dump",
]
