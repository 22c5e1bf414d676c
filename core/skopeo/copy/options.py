"""What a caller asks of a copy (:class:`CopyOptions`) and what it gets back
(:class:`CopyResult`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TextIO

from .. import manifest as mf
from ..context import SystemContext

if TYPE_CHECKING:
    from ..events import Consumer
    from ..ocicrypt.config import DecryptConfig, EncryptConfig
    from ..transport import ImageReference

MULTI_ARCH_SYSTEM = "system"
MULTI_ARCH_ALL = "all"
MULTI_ARCH_INDEX_ONLY = "index-only"
DEFAULT_PARALLEL_COPIES = 6


@dataclass
class CopyOptions:
    """What a copy does beyond moving the image: its two sides' settings,
    reporting, conversions, signing and encryption (the flags of ``copy``)."""

    source_ctx: SystemContext = field(default_factory=SystemContext)
    dest_ctx: SystemContext = field(default_factory=SystemContext)
    # Where progress lines go (stdout in the CLI); None is quiet.
    report: TextIO | None = None
    # Called with each event of the copy (skopeo.events), from any thread
    # but one call at a time.
    events: Consumer | None = None
    remove_signatures: bool = False
    # Force the destination manifest MIME type (``--format``).
    manifest_type: str | None = None
    preserve_digests: bool = False
    multi_arch: str = MULTI_ARCH_SYSTEM
    # COMPRESS or DECOMPRESS every layer whatever the destination desires, for
    # any destination (the CLI's --dest-compress/--dest-decompress are dir:'s
    # settings instead: SystemContext.dir_force_compress/_decompress).
    force_layer_compression: str | None = None
    compression_format: str | None = None
    compression_level: int | None = None
    force_compression_format: bool = False
    parallel_copies: int = DEFAULT_PARALLEL_COPIES
    # ``--dest-precompute-digests``: spool a transformed layer to learn its
    # digest before uploading it, so a blob the destination has is not sent
    # (destinations with ``capabilities.skips_known_digests``: registries).
    precompute_digests: bool = False
    # Skip the copy when the destination already holds this exact manifest (sync).
    skip_existing: bool = False
    # Signatures to add to the copied image: callables given the manifest bytes.
    signers: list[Callable[[bytes, ImageReference], bytes]] = field(default_factory=list)
    # Layer encryption (``--encryption-key``): the recipients, and which layers
    # (``--encrypt-layer``; an empty list is every layer).  Both or neither.
    encryption: EncryptConfig | None = None
    encrypt_layers: list[int] | None = None
    # ``--decryption-key``: encrypted layers are decrypted with these keys.
    decryption: DecryptConfig | None = None


@dataclass
class CopyResult:
    """The manifest written (with a list, of the instance copied for this
    platform, unless the whole list was: ``multi_arch``), its MIME type and
    digest; *skipped* when the destination had it already (``skip_existing``)."""

    manifest: bytes
    mime: str
    skipped: bool = False
    # Blob bytes actually transferred (reused blobs not counted).
    bytes_copied: int = 0

    @property
    def digest(self) -> str:
        return mf.manifest_digest(self.manifest)

    def to_json(self) -> bytes:
        """The result as JSON (``skopeo copy`` prints none: skopeo-py's own
        keys; ``--digestfile`` holds the digest alone)."""
        import json

        return json.dumps({"Digest": self.digest, "MIMEType": self.mime, "Skipped": self.skipped,
                           "BytesCopied": self.bytes_copied}, indent=4).encode() + b"\n"
