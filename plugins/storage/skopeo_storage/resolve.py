"""Finding the image a reference names (containers/image's
``storageReference.resolveImage``): by ID, else by the full name, else, for a
name with a digest, an image of the same repository holding a manifest with that
digest (preferring, when the digest is a list's, the image of this platform)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from skopeo import log
from skopeo import manifest as mf
from skopeo.context import SystemContext
from skopeo.errors import ImageNotFoundError, SkopeoError
from skopeo.reference import DockerReference, parse_normalized

from .records import MANIFEST_KEY, Record, names_of

if TYPE_CHECKING:
    from .store import Store
    from .transport import StorageReference


def manifest_key(digest: str) -> str:
    return f"{MANIFEST_KEY}-{digest}"


def signature_key(digest: str) -> str:
    return "signature-" + digest.partition(":")[2]


def matches_repo(image: Record, named: DockerReference) -> bool:
    for name in names_of(image):
        try:
            if parse_normalized(name).name == named.name:
                return True
        except SkopeoError:
            continue
    return False


def _list_instance_matches(store: Store, image: Record, digest: str, ctx: SystemContext | None) -> bool:
    try:
        raw = store.image_big_data(image, manifest_key(digest))
        parsed = mf.parse(raw)
        if not isinstance(parsed, mf.ManifestList):
            return False
        ctx = ctx or SystemContext()
        chosen = parsed.choose_instance(ctx.override_os, ctx.override_arch, ctx.override_variant)
        store.image_big_data(image, manifest_key(chosen))
        return True
    except (OSError, SkopeoError, ValueError):
        return False


def resolve_image(ref: StorageReference, ctx: SystemContext | None = None) -> Record:
    store, named, image_id = ref.store, ref.named, ref.id
    loaded: Record | None = None
    if not image_id and named is not None:
        loaded = store.image(str(named))
        if loaded is not None:
            image_id = loaded["id"]
    if not image_id and named is not None and named.digest is not None:
        for image in store.images_by_digest(named.digest):
            if matches_repo(image, named) and (loaded is None or _list_instance_matches(store, image, named.digest, ctx)):
                loaded, image_id = image, image["id"]
    if not image_id:
        raise ImageNotFoundError(f'reference "{ref.string_within_transport()}" does not resolve to an image ID')
    if loaded is None:
        loaded = store.image(image_id)
        if loaded is None:
            raise SkopeoError(f'reading image "{image_id}": locating image with ID "{image_id}": image not known')
    if named is not None and not matches_repo(loaded, named):
        log.error(f'no image matching reference "{ref.string_within_transport()}" found')
        raise ImageNotFoundError("identifier is not an image")
    digests = loaded.get("big-data-digests")
    if isinstance(digests, dict) and isinstance(digests.get(MANIFEST_KEY), str):
        loaded["digest"] = digests[MANIFEST_KEY]
    if named is not None and named.digest is not None:
        from .records import image_digests

        if named.digest in image_digests(loaded):
            loaded["digest"] = named.digest
    return loaded
