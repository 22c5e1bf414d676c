"""Copying a manifest list (``--multi-arch all`` or ``index-only``): policy
and signatures of the list, its type, every instance (``all``), then the
first list type the destination accepts, then the list's signatures.

Instances are copied several at once when both ends allow it (their
events name the instance: the command line's consumer prints their lines in
upstream's order, :class:`~skopeo.progress.OrderedLines`), and a failure is
the first failing instance's, worded ``copying image N/M from manifest list: …``, as upstream's
sequential loop reports it."""

from __future__ import annotations

from .. import events as ev
from .. import manifest as mf
from .. import workers
from ..errors import SkopeoError, UnsupportedError
from ..workers import Future
from .decisions import list_candidates, list_type
from .options import MULTI_ARCH_ALL, CopyResult
from .session import CopySession
from .single import ImageCopier

# Instances copied at once (each copies its layers in parallel too).
MAX_PARALLEL_INSTANCES = 3


def check_supports_lists(s: CopySession) -> None:
    """Upstream's ``supportsMultipleImages``: a destination that declares its
    manifest types must accept a list type."""
    supported = s.dest.capabilities.supported_manifest_types
    if supported is not None and not any(t in mf.LISTS for t in supported):
        raise UnsupportedError(
            f'copying multiple images: destination transport "{s.dest.reference.transport.name}" '
            "does not support copying multiple images as a group"
        )


def copy_list(session: CopySession, images: ImageCopier, parsed: mf.ManifestList) -> CopyResult:
    s = session
    check_supports_lists(s)
    s.check_policy(parsed.raw, None)
    sigs = s.signatures(None, of_list=True)
    may_modify = s.may_modify(sigs)
    supported = s.dest.capabilities.supported_manifest_types
    forced = s.options.manifest_type
    chosen = list_type(parsed.mime, may_modify, supported, forced)
    if chosen is None:
        raise UnsupportedError(f"destination {s.dest.reference} does not support manifest lists")
    instances = parsed.instances
    if s.options.multi_arch == MULTI_ARCH_ALL:
        updated = _copy_instances(s, images, instances)
    else:
        s.emit(ev.CopyingInstances(0, len(instances)))
        updated = list(instances)
    s.emit(ev.WritingManifest(list=True))
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
        s.emit(ev.ManifestWritten(mf.manifest_digest(out), candidate, list=True))
        break
    else:
        raise SkopeoError(f"Uploading manifest list failed, attempted the following formats: {', '.join(errors)}")
    sigs = sigs + s.create_signatures(out)
    s.emit(ev.StoringSignatures(len(sigs), list=True))
    s.put_signatures(sigs, None)
    s.emit(ev.ListDone(mf.manifest_digest(out), candidate))
    return CopyResult(out, candidate)


def _copy_instances(s: CopySession, images: ImageCopier, instances: list[mf.Descriptor]) -> list[mf.Descriptor]:
    """Copy every instance; their updated descriptors."""
    total = len(instances)
    s.emit(ev.CopyingInstances(total, total))
    views = [s.view(i) for i in range(total)]

    def one(index: int) -> mf.Descriptor:
        d = instances[index]
        view = views[index]
        view.emit(ev.InstanceStarted(index, total, d.digest))
        copier = images.for_session(view)
        try:
            inst_raw, inst_mime = view.read_manifest(d.digest, d.media_type)
            res = copier.copy(inst_raw, inst_mime, d.digest, toplevel=False)
        except SkopeoError as e:
            error = e.wrap(f"copying image {index + 1}/{total} from manifest list")
            view.emit(ev.InstanceFailed(index, str(error)))
            raise error from None
        except Exception as e:  # cancelled because another instance failed, or a bug
            view.emit(ev.InstanceFailed(index, str(e)))
            raise
        finally:
            copier.close()
        view.emit(ev.InstanceDone(index, d.digest, res.digest))
        return d._replace(digest=res.digest, size=len(res.manifest), media_type=res.mime)

    if not s.parallel or total < 2:
        return [one(i) for i in range(total)]
    futures = workers.map_bounded(one, total, MAX_PARALLEL_INSTANCES, "instance")
    pending: set[Future[mf.Descriptor]] = set(futures)
    while pending:
        _, pending = workers.wait(pending, first_exception=True)
        failed = _failed(futures)
        if failed:
            # Upstream would have stopped at the first failing instance: the
            # later ones are cancelled (what they printed is dropped), the
            # earlier ones finish, and the first failure in order wins.
            first = min(failed)
            for later in range(first + 1, total):
                futures[later].cancel()
                views[later].cancel.set()
            pending = {f for i, f in enumerate(futures) if i < first and not f.done()}
    workers.wait(futures)  # the cancelled ones that were running have stopped too
    failed = _failed(futures)
    if failed:
        error = futures[min(failed)].exception()
        assert error is not None
        raise error
    return [f.result() for f in futures]


def _failed(futures: list[Future[mf.Descriptor]]) -> list[int]:
    """Indexes of the futures that ended with an error (not cancelled ones)."""
    return [i for i, f in enumerate(futures) if f.done() and not f.cancelled() and f.exception() is not None]
