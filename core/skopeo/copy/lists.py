"""Copying a manifest list (``--multi-arch all`` or ``index-only``): policy
and signatures of the list, its type, every instance (``all``), then the
first list type the destination accepts."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from .. import manifest as mf
from ..errors import SkopeoError, UnsupportedError
from .decisions import list_candidates, list_type
from .options import MULTI_ARCH_ALL, CopyResult
from .session import CopySession
from .single import ImageCopier


def copy_list(session: CopySession, images: ImageCopier, parsed: mf.ManifestList) -> CopyResult:
    s = session
    s.check_policy(parsed.raw, None)
    sigs = s.signatures(None, "image list")
    may_modify = s.may_modify(sigs)
    supported = s.dest.capabilities.supported_manifest_types
    forced = s.options.manifest_type
    chosen = list_type(parsed.mime, may_modify, supported, forced)
    if chosen is None:
        raise UnsupportedError(f"destination {s.dest.reference} does not support manifest lists")
    instances = parsed.instances
    updated = _copy_instances(s, images, instances) if s.options.multi_arch == MULTI_ARCH_ALL else list(instances)
    s.report("Writing manifest list to image destination")
    errors: list[str] = []
    for candidate in list_candidates(chosen, may_modify, supported, forced):
        if updated == instances and candidate == parsed.mime:
            out = parsed.raw
        else:
            if not may_modify:
                raise SkopeoError("Instance manifests would change but the manifest list may not be modified")
            out = parsed.serialize(candidate, updated)
        try:
            s.dest.put_manifest(out, candidate, None)
        except SkopeoError as e:
            errors.append(f"{candidate}({e})")
            continue
        break
    else:
        raise SkopeoError(f"Uploading manifest list failed, attempted the following formats: {', '.join(errors)}")
    if sigs:
        s.report("Storing list signatures")
        s.put_signatures(sigs, None)
    return CopyResult(out, candidate)


def _copy_instances(s: CopySession, images: ImageCopier, instances: list[mf.Descriptor]) -> list[mf.Descriptor]:
    """Copy every instance (at most 3 at once); their updated descriptors."""
    total = len(instances)
    s.report(f"Copying {total} images generated from {total} images in list")

    def one(index: int) -> mf.Descriptor:
        d = instances[index]
        s.report(f"Copying image {d.digest} ({index + 1}/{total})")
        try:
            inst_raw, inst_mime = s.src.get_manifest(d.digest)
            s.check_instance_digest(inst_raw, d.digest)
            res = images.copy(inst_raw, inst_mime or d.media_type or mf.guess_mime(inst_raw), d.digest, toplevel=False)
        except SkopeoError as e:
            raise e.wrap(f"copying image {index + 1}/{total} from manifest list") from None
        return d._replace(digest=res.digest, size=len(res.manifest), media_type=res.mime)

    if s.parallel and total > 1:
        with ThreadPoolExecutor(max_workers=min(total, 3)) as pool:
            return list(pool.map(one, range(total)))
    return [one(i) for i in range(total)]
