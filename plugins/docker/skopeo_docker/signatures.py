"""Signatures of registry images: read from and written to the lookaside that
registries.d configures for the repository (the core's
:mod:`skopeo.registries_d` does the work; this only picks the digest and the
configuration directory).  The image classes delegate here."""

from __future__ import annotations

from skopeo import registries_d
from skopeo.context import SystemContext
from skopeo.reference import DockerReference


def lookaside_signatures(ctx: SystemContext, ref: DockerReference, manifest_digest: str) -> list[bytes]:
    """Every signature blob of *manifest_digest* in *ref*'s repository lookaside."""
    config = registries_d.lookaside_for(ref, ctx.registries_d)
    return registries_d.read_signatures(config.read_url, manifest_digest)


def store_lookaside_signatures(ctx: SystemContext, ref: DockerReference, manifest_digest: str,
                               blobs: list[bytes]) -> None:
    """Replace the signatures of *manifest_digest* at the lookaside's write location."""
    if not blobs:
        return
    config = registries_d.lookaside_for(ref, ctx.registries_d)
    registries_d.write_signatures(config.write_url, manifest_digest, blobs)
