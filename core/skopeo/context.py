"""Options that describe *how* to reach an image (credentials, TLS, daemon host,
temporary directory, platform overrides …), one per side of a copy.  This is the
analogue of containers/image's ``types.SystemContext``; transports read what they
need and ignore the rest."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .resources import Resources
    from .tlsdetails import TLSDetails


# eq=False: contexts are never compared, and each generated method costs start-up time.
@dataclass(eq=False)
class SystemContext:
    """Settings of one side of an operation.  Fields named after a transport
    (``dir_…``, ``oci_…``, ``docker_archive_…``) are read, and checked, by
    that transport alone, which lists them in its ``Transport.settings``."""

    # Credentials and registry access (docker:// and friends).
    auth_file: str | None = None
    username: str | None = None
    password: str | None = None
    no_creds: bool = False
    registry_token: str | None = None
    identity_token: str | None = None
    cert_dir: str | None = None
    # None = not given on the command line: defer to registries.conf.
    tls_verify: bool | None = None
    # --tls-details: TLS versions, cipher suites and groups for every connection.
    tls_details: TLSDetails | None = None
    registries_conf: str | None = None
    registries_d: str | None = None
    user_agent: str | None = None
    # Local transports.
    shared_blob_dir: str | None = None
    daemon_host: str | None = None
    tmpdir: str | None = None
    oci_accept_uncompressed_layers: bool = False
    docker_archive_additional_tags: list[str] = field(default_factory=list)
    # Add the image to an existing docker-archive (skopeo-py extension).
    docker_archive_append: bool = False
    # dir: compresses, or decompresses, every layer (--dest-compress/--dest-decompress).
    dir_force_compress: bool = False
    dir_force_decompress: bool = False
    # A hint for destinations: the caller saw moments ago that the target
    # repository does not exist (``sync`` lists tags first), so asking whether
    # each blob is already there would only get "no".
    repository_is_new: bool = False
    # The directory of the blob-info cache (upstream's BlobInfoCacheDir);
    # None: the default location (see skopeo.blobinfocache).
    blob_info_cache_dir: str | None = None
    # Choosing an instance from a manifest list.
    override_os: str | None = None
    override_arch: str | None = None
    override_variant: str | None = None
    # Anything a third-party transport wants to carry (keyed by its own names).
    extra: dict[str, Any] = field(default_factory=dict)
    # The session this context belongs to: what transports keep between calls
    # (connection pools, tokens; see skopeo.resources).  None: the process's.
    resources: Resources | None = None

    def tmp_directory(self) -> str:
        """Where big temporary files go: ``--tmpdir``, else /var/tmp (upstream's
        rule: $TMPDIR is not read, /tmp is often a small tmpfs)."""
        return self.tmpdir or "/var/tmp"
